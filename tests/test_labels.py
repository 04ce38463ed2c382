"""Label files: bounded reading, lines split on "\\n" only."""

import os

import pytest

from movinet_cli.errors import LabelsError
from movinet_cli.model.labels import check_labels, load_labels

EIGHT = ["black", "blue", "green", "cyan", "red", "magenta", "yellow", "white"]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_fifo_or_a_device_is_refused_at_once_in_one_line(tmp_path, special):
    """Issue 22: a FIFO hung for ever and /dev/zero was read until the kernel killed us."""
    if special == "fifo":
        special = str(tmp_path / "labels.fifo")
        os.mkfifo(special)  # no writer: opening it for reading blocks without O_NONBLOCK
    with pytest.raises(LabelsError) as raised:
        load_labels(special)
    assert str(raised.value) == f"cannot read labels file {special}: it is not a regular file (a FIFO, device or socket)"


@pytest.mark.parametrize("inside", ["\u2028", "\f", "\x85", "\u2029", "\v"])
def test_a_line_break_other_than_newline_is_part_of_its_label(tmp_path, inside):
    """Issue 22: a form feed or U+2028 inside a label gave "has 9 labels" for 8 lines."""
    labels = [*EIGHT[:3], f"cy{inside}an", *EIGHT[4:]]
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    assert load_labels(path) == labels
    check_labels(load_labels(path), 8, path)


def test_crlf_a_byte_order_mark_and_trailing_blank_lines_are_ignored(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(EIGHT).encode() + b"\r\n\r\n\n")
    assert load_labels(path) == EIGHT
