"""Loading a model: where its functions are found."""

import subprocess
import sys

import pytest

import movinet_cli
from movinet_cli.outcomes import loading, pipeline


def test_the_package_exports_the_loaders_and_the_pipeline():
    assert movinet_cli.load_classifier is loading.load_classifier and movinet_cli.prepare_model is loading.prepare_model
    assert movinet_cli.classify_video is loading.classify_video and movinet_cli.classify_many is pipeline.classify_many
    assert set(movinet_cli.__all__) <= set(dir(movinet_cli))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        movinet_cli.no_such_name  # noqa: B018


def test_the_package_loads_no_pipeline_until_asked():
    code = "import sys, movinet_cli; print('numpy' in sys.modules); movinet_cli.load_classifier; print('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
