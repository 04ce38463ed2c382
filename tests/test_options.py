import math
import re

import pytest
from click.testing import CliRunner

from movinet_cli.cli import cli
from movinet_cli.options import MAX_CHUNK, MAX_FPS, MODEL_RESIZE, ModelOptions, Reading, ReadOptions, RunOptions, with_overrides


@pytest.mark.parametrize(
    "fields",
    [
        {"fps": 0}, {"fps": MAX_FPS + 1}, {"fps": math.nan}, {"fps": math.inf}, {"size": 4}, {"size": 10_000},
        {"resize": "stretch"}, {"start": -1.0}, {"start": math.nan}, {"start": 5.0, "end": 5.0}, {"end": math.inf},
    ],
)
def test_read_options_refuse_values_that_break_reading(fields):
    with pytest.raises(ValueError):
        ReadOptions(**fields)


@pytest.mark.parametrize(
    "fields", [{"top_k": 0}, {"chunk": 0}, {"chunk": MAX_CHUNK + 1}, {"window": 0.0}, {"window": math.nan}, {"aggregate": "max"}]
)
def test_run_options_refuse_values_that_break_running(fields):
    with pytest.raises(ValueError):
        RunOptions(**fields)


def test_the_model_fills_only_what_the_options_leave_open():
    assert ReadOptions().for_model(12, 320) == Reading(fps=12, size=320, resize=MODEL_RESIZE)
    assert ReadOptions(fps=5, resize="pad").for_model(12, 320, "squash") == Reading(fps=5, size=320, resize="pad")


def test_overrides_set_fields_of_either_value_and_refuse_unknown_names():
    read, run = with_overrides(ReadOptions(fps=5), None, {"size": 16, "top_k": 3})
    assert read == ReadOptions(fps=5, size=16) and run == RunOptions(top_k=3)
    with pytest.raises(TypeError, match="unknown option.*colour"):
        with_overrides(None, None, {"colour": "red"})
    with pytest.raises(ValueError):
        with_overrides(None, None, {"chunk": -1})


@pytest.mark.parametrize(
    "command, option, default",
    [
        ("classify", "--chunk", RunOptions.chunk),
        ("classify", "--aggregate", RunOptions.aggregate),
        ("classify", "--top-k", RunOptions.top_k),
        ("batch", "--top-k", RunOptions.top_k),
        ("classify", "--engine", ModelOptions.engine),
        ("batch", "--precision", ModelOptions.precision),
    ],
)
def test_the_command_line_shows_the_library_defaults(command, option, default):
    """Each default is written once (options.py): --help shows that one."""
    assert re.search(rf"\[default: {re.escape(str(default))}[;\]]", help_entry(command, option))


def test_the_resize_default_is_the_models_own():
    assert f"Default: {MODEL_RESIZE}; for a MODEL_DIR of movinet train, the one it was trained with" in " ".join(help_entry("classify", "--resize").split())


def help_entry(command, option):
    """``option``'s entry in ``command --help``, its wrapped lines included."""
    output = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
    entries = re.split(r"\n  (?=-)", output.split("Options:")[1])
    [entry] = [entry for entry in entries if f"{option} " in entry]
    return entry
