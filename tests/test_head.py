"""A MODEL_DIR's head (model/head.py): a damaged or hand-edited one is refused in one line
naming the MODEL_DIR and what is wrong, before any video is read."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from movinet_cli.cli import cli
from movinet_cli.model.engines.cache import saved_model_identity
from movinet_cli.model.head import Backbone, Head

LABELS = ["blue", "green", "red"]


@pytest.fixture
def model_dir(palette_models, tmp_path):
    """A MODEL_DIR of a 3-class head on the palette model's 3 features (the mean colour)."""
    directory = tmp_path / "my-classes"
    directory.mkdir()
    backbone = Backbone(palette_models.base, "base", saved_model_identity(palette_models.base), 5.0, 16, "crop")
    weights = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.float32) * 10  # the largest channel wins
    Head(LABELS, weights, np.zeros(3, np.float32), backbone, {"accuracy": 1.0, "method": "by hand", "videos": 3}).save(directory)
    return directory


@pytest.fixture
def red(colour_video):
    return colour_video("red.mp4", [((220, 20, 20), 1.0)], fps=10, size=(24, 16))


def classify(model_dir, video):
    return CliRunner().invoke(cli, ["classify", "--model", str(model_dir), str(video), "-q"])


def edit(model_dir, change):
    document = json.loads((model_dir / "head.json").read_text())
    (model_dir / "head.json").write_text(json.dumps(change(document)))


def test_a_head_written_by_hand_runs(model_dir, red):
    result = classify(model_dir, red)
    assert result.exit_code == 0 and result.stdout.split("\n")[1].split()[1] == "red", result.output


def backbone(name, value):
    def change(document):
        document["backbone"][name] = value
        return document

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda document: [document], "head.json is not a movinet-head version 2 file"),
        (lambda document: "movinet-head", "head.json is not a movinet-head version 2 file"),
        (backbone("fps", 1000), "the head's backbone fps 1000 is not a frame rate from 0.01 to 60 frames/s"),
        (backbone("fps", "x"), "the head's backbone fps 'x' is not a frame rate from 0.01 to 60 frames/s"),
        (backbone("size", 0), "the head's backbone size 0 is not a whole number of pixels from 8 to 640"),
        (backbone("size", 32.5), "the head's backbone size 32.5 is not a whole number of pixels from 8 to 640"),
        (backbone("model", 5), "the head's backbone model 5 is not a model name, URL or directory"),
        (backbone("kind", "weird"), "the head's backbone kind 'weird' is not base or stream"),
        (lambda document: {**document, "labels": ["x", "x", "x"]}, "the head's labels name 'x' more than once in head.json"),
        (lambda document: {**document, "labels": "xyz"}, "the head's labels are not a list of class names in head.json"),
        (lambda document: {**document, "backbone": [1]}, "the head's backbone in head.json is not an object of model, kind, identity"),
    ],
)
def test_a_hand_edited_head_is_refused_in_one_line_before_any_video(model_dir, change, message):
    edit(model_dir, change)
    result = classify(model_dir, "missing.mp4")  # never opened: the head is checked first
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {model_dir}: {message}") and result.stderr.count("\n") == 1, result.stderr
    assert "unexpected" not in result.stderr


def test_a_truncated_npz_is_refused_in_one_line(model_dir):
    weights = model_dir / "head.npz"
    weights.write_bytes(weights.read_bytes()[:200])
    result = classify(model_dir, "missing.mp4")
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {model_dir}: head.npz is damaged") and result.stderr.count("\n") == 1, result.stderr


def test_a_moved_backbone_is_named_with_its_model_dir(model_dir, tmp_path):
    edit(model_dir, backbone("model", str(tmp_path / "moved-away")))
    result = classify(model_dir, "missing.mp4")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"Error: {model_dir}: its backbone is missing: the model it was trained on was at {tmp_path / 'moved-away'}; ")
