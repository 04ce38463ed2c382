"""Live sources: cameras, streams and files for ``movinet live``."""

import pytest

from movinet_cli.errors import MovinetError
from movinet_cli.inputs.capture import open_capture


@pytest.mark.parametrize("source", ["99999999999999999999", "2147483648"])
def test_a_camera_index_beyond_a_c_int_is_one_line(source):
    with pytest.raises(MovinetError, match=f"^no camera {source}: cameras are numbered 0, 1, 2"):
        open_capture(source)
