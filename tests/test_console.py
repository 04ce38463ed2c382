"""The console of a run: the library's log as notices on stderr (not with --quiet), details with
--verbose, and the library's logger left as it was found."""

import logging

from click.testing import CliRunner

from movinet_cli.cli import cli

RED = (220, 30, 30)


def classify(model, video, *options):
    return CliRunner().invoke(cli, ["classify", "-m", model, "--size", "16", *options, video])


def test_a_conversion_is_said_on_stderr_and_not_with_quiet(tiny_models, colour_video, tmp_path, monkeypatch):
    video = colour_video("red.mp4", [(RED, 1.0)])
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "first"))
    said = classify(tiny_models.base, video)
    assert said.exit_code == 0 and "Converting the model for OpenVINO" in said.stderr and "converted in" in said.stderr, said.stderr
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "second"))  # a conversion again, quietly
    quiet = classify(tiny_models.base, video, "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert quiet.stdout.splitlines()[1:] == said.stdout.splitlines()[1:]  # the same answer (the first line says the seconds taken)


def test_verbose_says_which_model_engine_and_precision_run(tiny_models, colour_video):
    result = classify(tiny_models.base, colour_video("red.mp4", [(RED, 1.0)]), "-v")
    lines = [line.split(":")[0] for line in result.stderr.splitlines()]
    assert result.exit_code == 0 and {"model", "engine", "precision", "expected"} <= set(lines), result.stderr


def test_the_librarys_logger_is_left_as_it_was_found(tiny_models, colour_video):
    library = logging.getLogger("movinet_cli")
    before = (library.level, library.propagate, list(library.handlers))
    classify(tiny_models.base, colour_video("red.mp4", [(RED, 1.0)]))
    assert (library.level, library.propagate, list(library.handlers)) == before
