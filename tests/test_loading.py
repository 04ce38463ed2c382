"""Loading a model: where its functions are found."""

import subprocess
import sys

import pytest

import movinet_cli
from movinet_cli import classify, loading


def test_loading_is_importable_where_it_was_before_it_had_its_module():
    from movinet_cli.classify import load_classifier, prepare_model  # as users' code has it

    assert movinet_cli.load_classifier is classify.load_classifier is load_classifier is loading.load_classifier
    assert movinet_cli.prepare_model is prepare_model is loading.prepare_model
    assert {"load_classifier", "prepare_model", "classify_many"} <= set(dir(movinet_cli))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        classify.no_such_name  # noqa: B018


def test_the_package_loads_no_pipeline_until_asked():
    code = "import sys, movinet_cli; print('numpy' in sys.modules); movinet_cli.load_classifier; print('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
