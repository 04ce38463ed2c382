"""movinet eval: folders named by the model's labels in, top-1/top-5, recall and the confusion matrix out."""

import json
import re

import pytest
from click.testing import CliRunner
from conftest import needs_sklearn

from movinet_cli.cli import cli

# Palette labels and their colours (the palette model answers a clip's mean colour).
COLOURS = {"red": (230, 20, 20), "green": (20, 230, 20), "blue": (20, 20, 230), "yellow": (230, 230, 20)}


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def palette(models, kind="base"):
    return ["--model", getattr(models, kind), "--labels", models.labels]


@pytest.fixture
def folders(labelled_folders):
    """``folders({folder: [colour name, ...]})`` -> DIR/<folder>/<n>.mp4, one video per colour named."""
    return lambda layout, root="clips": labelled_folders({folder: [COLOURS[name] for name in names] for folder, names in layout.items()}, root)


def test_correct_folders_score_full_accuracy(folders, palette_models):
    clips = folders({"red": ["red", "red"], "green": ["green", "green"], "blue": ["blue"]})
    result = invoke("eval", clips, *palette(palette_models), "--size", 16, "-q", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    document = json.loads(result.stdout)
    assert document["top1"] == 1.0 and document["top5"] == 1.0 and document["videos"] == 5
    assert document["labels"] == ["blue", "green", "red"] and document["support"] == [1, 2, 2]
    assert document["recall"] == [1.0, 1.0, 1.0]
    # the 8-label model has labels beyond the folders: their answers get one "other" column
    assert document["confusion"] == [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]]
    assert document["read"]["size"] == 16 and document["mode"] == "clip"


def test_a_misnamed_folder_lowers_top1_and_shows_in_the_matrix(folders, palette_models):
    # 2 of 6 videos are yellow in a folder named "green": top-1 4/6; the answers name yellow,
    # which no folder names ("other"), and green's recall is 0 of 2.
    clips = folders({"red": ["red", "red"], "blue": ["blue", "blue"], "green": ["yellow", "yellow"]})
    result = invoke("eval", clips, *palette(palette_models), "--size", 16, "-q")
    assert result.exit_code == 0, result.output + result.stderr
    assert "top-1 accuracy: 66.7% (4 of 6 video(s))" in result.stdout
    assert re.search(r"\ngreen +0.0% +2\n", result.stdout)
    assert re.search(r"\ngreen +0 +0 +0 +2\n", result.stdout)  # rows blue, green, red, then any other label
    assert "then any other label" in result.stdout
    result = invoke("eval", clips, *palette(palette_models), "--size", 16, "-q", "--format", "json")
    document = json.loads(result.stdout)
    assert document["top1"] == pytest.approx(4 / 6)
    assert sorted(item["predicted"] for item in document["misclassified"]) == ["yellow", "yellow"]


def test_a_video_that_fails_is_counted_apart(folders, palette_models, tmp_path):
    clips = folders({"red": ["red", "red"]})
    (clips / "red" / "broken.mp4").write_bytes(b"not a video")
    output = tmp_path / "eval.json"
    result = invoke("eval", clips, *palette(palette_models), "--size", 16, "--format", "json", "-o", output)
    assert result.exit_code == 1
    assert "Error: red/broken.mp4:" in result.stderr
    document = json.loads(output.read_text())
    assert document["top1"] == 1.0 and document["videos"] == 2  # not a wrong answer
    assert [item["path"] for item in document["failed"]] == ["red/broken.mp4"]


@pytest.mark.slow
@needs_sklearn
def test_a_trained_model_dir_on_its_own_classes(folders, palette_models, tmp_path):
    training = folders({"warm": ["red", "red", "yellow", "yellow"], "cool": ["blue", "blue", "green", "green"]}, root="train")
    model_dir = tmp_path / "my-classes"
    assert invoke("train", training, "-o", model_dir, *palette(palette_models), "--size", 16, "-q").exit_code == 0
    held = folders({"warm": ["red", "yellow"], "cool": ["blue", "green"]}, root="held")
    result = invoke("eval", held, "--model", model_dir, "-q", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    document = json.loads(result.stdout)
    assert document["labels"] == ["cool", "warm"] and document["top1"] == 1.0
    assert document["k"] == 2 and document["confusion"] == [[2, 0], [0, 2]]  # no other label: no other column


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "no class folder with videos"),
        ({"red": ["red"], "purple": ["blue"]}, "folder 'purple' names no label of the model"),
    ],
)
def test_bad_folders_are_refused_in_one_line(folders, palette_models, tmp_path, layout, message):
    clips = folders(layout) if layout else tmp_path
    result = invoke("eval", clips, *palette(palette_models))
    assert result.exit_code == 2 and message in result.stderr
    assert result.stdout == "" and len(result.stderr.strip().split("\n")) == 1 + result.stderr.count("Usage") * 2  # any usage lines, one error line


def test_a_file_instead_of_a_directory_is_refused(tmp_path, palette_models):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    result = invoke("eval", video, *palette(palette_models))
    assert result.exit_code == 2 and "is a file" in result.stderr


def test_underscores_stand_for_spaces(tiny_models, tmp_path, colour_video):
    (tmp_path / "clips" / "playing_guitar").mkdir(parents=True)
    colour_video("clips/playing_guitar/a.mp4", [((10, 10, 10), 0.6)], fps=10, size=(24, 16))
    result = invoke("eval", tmp_path / "clips", "--model", tiny_models.base, "--size", 16, "-q", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(result.stdout)["labels"] == ["playing guitar"]


def test_a_stream_model_is_evaluated_over_the_whole_video(folders, palette_models):
    clips = folders({"red": ["red"], "blue": ["blue"]})
    result = invoke("eval", clips, *palette(palette_models, "stream"), "--size", 16, "-q", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    document = json.loads(result.stdout)
    assert document["mode"] == "stream" and document["read"]["aggregate"] == "last" and document["top1"] == 1.0


def test_hidden_folders_left_out_are_named_in_one_notice(folders, palette_models, caplog):
    """Library side: evaluate logs the notice (the command line shows the library's log on stderr)."""
    from movinet_cli.commands.evaluate import evaluate
    from movinet_cli.commands.labelled import find_labelled
    from movinet_cli.options import ReadOptions
    from movinet_cli.outcomes.loading import load_classifier

    clips = folders({"red": ["red"], ".blue": ["blue"], ".green": ["green"]})
    examples = find_labelled(clips)
    assert examples.labels == ["red"] and examples.hidden == [".blue", ".green"]
    with caplog.at_level("INFO", logger="movinet_cli"):
        evaluation = evaluate(load_classifier(palette_models.base, labels=palette_models.labels), examples, ReadOptions(size=16))
    assert evaluation.videos == 1
    assert [record.getMessage() for record in caplog.records if record.name == "movinet_cli.commands.evaluate"] == [f"note: left out 2 hidden folder(s) of {clips}: .blue, .green (a name starting with '.'; rename it to use its videos)"]
