"""movinet train: class folders in, a MODEL_DIR out that --model takes."""

import dataclasses
import json
import os
import re
import stat

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import needs_sklearn
from test_report import index_of

from movinet_cli.cli import cli
from movinet_cli.commands.train import HELD_OUT_MIN, check_output_dir, summarise, write_model_dir
from movinet_cli.model.head import Backbone, Head, load_head

pytestmark = needs_sklearn  # every test trains, or checks its folders after finding scikit-learn

# Three classes of colour, each video a shade of its class (the palette model's pooled
# features are the mean colour, so a linear head separates them).
CLASSES = {"sunset": (220, 90, 40), "forest": (40, 170, 60), "ocean": (30, 70, 200)}


def shades(base, count, rng):
    return [tuple(int(np.clip(c + rng.integers(-30, 31), 0, 255)) for c in base) for _ in range(count)]


@pytest.fixture
def class_folders(labelled_folders):
    """``class_folders(per_class)`` -> DIR/<class>/<n>.mp4 of shades of each class's colour."""

    def make(per_class=4, classes=CLASSES):
        rng = np.random.default_rng(1)
        return labelled_folders({name: shades(base, per_class, rng) for name, base in classes.items()})

    return make


def palette(models, kind="base"):
    return ["--model", getattr(models, kind), "--labels", models.labels]


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def test_train_reaches_full_accuracy_and_writes_a_model_dir(class_folders, palette_models, tmp_path):
    model_dir = tmp_path / "my-classes"
    result = invoke("train", class_folders(4), "-o", model_dir, *palette(palette_models), "--size", 16, "-q")
    assert result.exit_code == 0, result.output
    assert "accuracy: 100.0% (4-fold cross-validation" in result.output
    assert "confusion matrix" in result.output and re.search(r"\nsunset +100.0% +100.0% +4\n", result.output)  # a line per class
    head = load_head(model_dir)
    assert head.labels == sorted(CLASSES) and head.weights.shape == (3, 3)
    assert head.backbone.kind == "base" and head.backbone.size == 16
    summary = json.loads((model_dir / "summary.json").read_text())
    assert summary["confusion"] == [[4, 0, 0], [0, 4, 0], [0, 0, 4]]
    assert "Confusion matrix" in (model_dir / "report.html").read_text()


@pytest.mark.slow
def test_a_held_out_split_when_classes_are_large_enough(class_folders, palette_models, tmp_path):
    result = invoke("train", class_folders(HELD_OUT_MIN, dict(list(CLASSES.items())[:2])), "-o", tmp_path / "m", *palette(palette_models), "--size", 16, "-q")
    assert result.exit_code == 0, result.output
    assert "accuracy: 100.0% (held-out 20%" in result.output


@pytest.mark.slow
def test_classify_and_batch_with_the_model_dir_print_the_users_labels(class_folders, palette_models, tmp_path, colour_video):
    model_dir = tmp_path / "my-classes"
    assert invoke("train", class_folders(3), "-o", model_dir, *palette(palette_models), "--size", 16, "-q").exit_code == 0
    video = colour_video("new.mp4", [((35, 180, 70), 1.0)], fps=10, size=(24, 16))
    result = invoke("classify", "--model", model_dir, "-k", 1, "-q", "--format", "json", video)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (entry,) = document["results"] if "results" in document else [document]
    assert entry["predictions"][0]["label"] == "forest"
    videos = tmp_path / "videos"
    videos.mkdir()
    colour_video("videos/a.mp4", [((25, 60, 210), 1.0)], fps=10, size=(24, 16))
    rows = tmp_path / "rows.csv"
    result = invoke("batch", videos, "-o", rows, "--model", model_dir, "-k", 1, "-q")
    assert result.exit_code == 0, result.output
    assert "a.mp4,ok,,ocean," in rows.read_text()


def test_a_base_head_is_refused_in_stream_mode(class_folders, palette_models, tmp_path, colour_video):
    model_dir = tmp_path / "my-classes"
    assert invoke("train", class_folders(2), "-o", model_dir, *palette(palette_models), "--size", 16, "-q").exit_code == 0
    video = colour_video("new.mp4", [((35, 180, 70), 1.0)], fps=10, size=(24, 16))
    result = invoke("classify", "--model", model_dir, "--mode", "stream", video)
    assert result.exit_code == 2
    assert "head trained on" in result.output and "--model" in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_stream_head_runs_in_stream_mode(class_folders, palette_models, tmp_path, colour_video):
    model_dir = tmp_path / "live-classes"
    result = invoke("train", class_folders(3), "-o", model_dir, *palette(palette_models, "stream"), "--size", 16, "-q")
    assert result.exit_code == 0, result.output
    video = colour_video("new.mp4", [((215, 95, 45), 1.0)], fps=10, size=(24, 16))
    result = invoke("classify", "--model", model_dir, "-k", 1, video)
    assert result.exit_code == 0, result.output
    assert "sunset" in result.output


@pytest.mark.parametrize(
    "classes, per_class, message",
    [({"only": (200, 0, 0)}, 3, "at least 2"), (CLASSES, 1, "at least 2 videos; too few in forest (1)")],
)
def test_too_few_classes_or_videos_are_refused_in_one_line(class_folders, palette_models, tmp_path, classes, per_class, message):
    result = invoke("train", class_folders(per_class, classes), "-o", tmp_path / "m", *palette(palette_models))
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 + result.output.count("Usage") * 2  # click's usage lines, then one error line
    assert not (tmp_path / "m").exists()


def test_an_existing_directory_is_never_replaced(class_folders, palette_models, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = invoke("train", class_folders(2), "-o", mine, *palette(palette_models), "--overwrite")
    assert result.exit_code == 2 and "not a trained model directory" in result.output
    assert (mine / "notes.txt").read_text() == "keep me"


def test_a_second_run_reads_the_cached_features(class_folders, palette_models, tmp_path, monkeypatch):
    folders = class_folders(2)
    assert invoke("train", folders, "-o", tmp_path / "a", *palette(palette_models), "--size", 16, "-q").exit_code == 0
    import movinet_cli.outcomes.pipeline as classify_module

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(classify_module.Classifier, "open", no_decoding)
    result = invoke("train", folders, "-o", tmp_path / "b", *palette(palette_models), "--size", 16, "--seed", 3, "-q")
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_live_with_a_stream_model_dir_prints_the_users_classes(class_folders, palette_models, tmp_path, colour_video):
    model_dir = tmp_path / "live-classes"
    assert invoke("train", class_folders(3), "-o", model_dir, *palette(palette_models, "stream"), "--size", 16, "-q").exit_code == 0
    video = colour_video("sunset-then-ocean.mp4", [((215, 95, 45), 1.5), ((25, 60, 210), 1.5)], fps=10, size=(24, 16))
    result = invoke("live", video, "--model", model_dir, "--no-window", "--as-fast-as-possible", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    steps = [json.loads(line) for line in result.stdout.split("\n") if line]
    assert {label for step in steps for label in [step["label"], *(p["label"] for p in step["predictions"])]} <= set(CLASSES)
    assert steps[0]["label"] == "sunset" and steps[-1]["label"] == "ocean"
    assert all(step["frames"] for step in steps)


def test_live_refuses_a_base_model_dir_in_one_line(class_folders, palette_models, tmp_path, colour_video):
    model_dir = tmp_path / "my-classes"
    assert invoke("train", class_folders(2), "-o", model_dir, *palette(palette_models), "--size", 16, "-q").exit_code == 0
    video = colour_video("new.mp4", [((35, 180, 70), 1.0)], fps=10, size=(24, 16))
    result = invoke("live", video, "--model", model_dir, "--no-window", "--as-fast-as-possible")
    assert result.exit_code == 2 and "head trained on" in result.stderr
    assert "for live train one on a stream model" in result.stderr and "--mode stream" not in result.stderr  # live has no --mode
    assert len(result.stderr.strip().split("\n")) == 1 + result.stderr.count("Usage") * 2


@pytest.mark.slow
def test_batch_and_report_with_the_model_dir_show_the_users_classes(class_folders, palette_models, tmp_path, colour_video):
    model_dir = tmp_path / "my-classes"
    assert invoke("train", class_folders(3), "-o", model_dir, *palette(palette_models), "--size", 16, "-q").exit_code == 0
    videos = tmp_path / "videos"
    videos.mkdir()
    colour_video("videos/a.mp4", [((25, 60, 210), 1.0)], fps=10, size=(24, 16))
    colour_video("videos/b.mp4", [((215, 95, 45), 1.0)], fps=10, size=(24, 16))
    rows, report = tmp_path / "rows.jsonl", tmp_path / "report.html"
    result = invoke("batch", videos, "-o", rows, "--model", model_dir, "-q", "--report", report)
    assert result.exit_code == 0, result.output
    assert [row["answer"] for row in index_of(report.read_text("utf-8"))] == ["ocean", "sunset"]  # the user's classes, none of Kinetics
    again = tmp_path / "again.html"
    result = invoke("report", rows, "--videos", videos, "-o", again, "-q")
    assert result.exit_code == 0, result.output
    assert [row["answer"] for row in index_of(again.read_text("utf-8"))] == ["ocean", "sunset"]


def test_models_describes_a_model_dir(class_folders, palette_models, tmp_path):
    model_dir = tmp_path / "my-classes"
    assert invoke("train", class_folders(2), "-o", model_dir, *palette(palette_models), "--size", 16, "-q").exit_code == 0
    result = invoke("models", model_dir)
    assert result.exit_code == 0, result.output
    assert f"{model_dir}: a head trained by movinet train" in result.stdout
    assert f"backbone: {palette_models.base} (base, read at 12 frames/s, 16 px, --resize crop)" in result.stdout
    assert "classes (3): forest, ocean, sunset" in result.stdout and "training accuracy: 100.0% (2-fold" in result.stdout
    assert "a5-base" not in result.stdout  # only what was named: no registry table
    document = json.loads(invoke("models", model_dir, "a0-base", "--format", "json").stdout)
    assert [row["name"] for row in document["models"]] == ["a0-base"]
    (trained,) = document["trained"]
    assert trained["labels"] == sorted(CLASSES) and trained["accuracy"] == 1.0 and trained["backbone"]["model"] == palette_models.base
    refused = invoke("models", tmp_path / "not-a-model")
    assert refused.exit_code == 2 and "neither in the registry nor a trained MODEL_DIR" in refused.stderr


@pytest.mark.slow
def test_prepare_a_model_dir_converts_its_backbone_at_the_heads_size(class_folders, palette_models, tmp_path, monkeypatch):
    from movinet_cli.model.engines import is_prepared

    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))  # nothing converted yet
    model_dir = tmp_path / "live-classes"
    assert invoke("train", class_folders(2), "-o", model_dir, *palette(palette_models, "stream"), "--size", 24, "-q").exit_code == 0
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "fresh"))
    assert not is_prepared(palette_models.stream, "stream", 24)
    result = invoke("models", "--prepare", model_dir, "-q")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{model_dir}: ready\n"
    assert is_prepared(palette_models.stream, "stream", 24)


def test_models_describes_the_default_model_when_it_is_a_model_dir(class_folders, palette_models, tmp_path, monkeypatch):
    model_dir = tmp_path / "my-classes"
    assert invoke("train", class_folders(2), "-o", model_dir, *palette(palette_models), "--size", 16, "-q").exit_code == 0
    monkeypatch.setenv("MOVINET_MODEL", str(model_dir))
    result = invoke("models")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{model_dir}: a head trained by movinet train (the default model)\n")
    assert re.search(r"^  a5-base ", result.stdout, re.M) and not re.search(r"^\* ", result.stdout, re.M)  # the registry, none starred
    assert f"the default model ($MOVINET_MODEL) is the MODEL_DIR {model_dir}" in result.stdout
    (trained,) = json.loads(invoke("models", "--format", "json").stdout)["trained"]
    assert trained["default"] is True and trained["labels"] == sorted(CLASSES)
    assert json.loads(invoke("models", model_dir / ".", "--format", "json").stdout)["trained"][0]["default"] is True  # however spelled


# Letterboxing a 24x16 video into 16x16 (pad) blacks out 5 of 16 rows: the palette model's
# features (the mean colour) are 11/16 of the colour's. Trained so, a grey of 150 reads as
# 103, "dim"; read with crop it would be 150, about a padded "bright" one.
GREYS = {"bright": [(v, v, v) for v in (210, 220, 230)], "dim": [(v, v, v) for v in (140, 150, 160)]}


@pytest.mark.slow
def test_a_model_dir_reads_videos_with_the_resize_mode_it_was_trained_with(labelled_folders, palette_models, tmp_path, colour_video):
    clips = labelled_folders(GREYS)
    model_dir = tmp_path / "greys"
    result = invoke("train", clips, "-o", model_dir, *palette(palette_models), "--size", 16, "--resize", "pad", "-q")
    assert result.exit_code == 0, result.output
    assert load_head(model_dir).backbone.resize == "pad"
    video = colour_video("grey.mp4", [((150, 150, 150), 1.0)], fps=10, size=(24, 16))
    result = invoke("classify", "--model", model_dir, "-k", 1, "-q", "--format", "json", video)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["predictions"][0]["label"] == "dim"
    assert invoke("classify", "--model", model_dir, "--resize", "pad", "-k", 1, "-q", video).exit_code == 0  # its own, named
    refused = invoke("classify", "--model", model_dir, "--resize", "crop", video)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert f"Error: {model_dir} was trained on videos read with --resize pad, not crop: leave --resize out" in refused.stderr
    assert len(refused.stderr.strip().split("\n")) == 1 + refused.stderr.count("Usage") * 2
    refused = invoke("batch", tmp_path / "clips", "-o", tmp_path / "rows.csv", "--model", model_dir, "--resize", "squash")
    assert refused.exit_code == 2 and "not squash" in refused.stderr and not (tmp_path / "rows.csv").exists()  # before any output
    evaluated = invoke("eval", tmp_path / "clips", "--model", model_dir, "-q", "--format", "json")
    assert evaluated.exit_code == 0 and json.loads(evaluated.stdout)["read"]["resize"] == "pad"


def test_a_head_of_an_unknown_resize_mode_is_refused_in_one_line(class_folders, palette_models, tmp_path, colour_video):
    model_dir = tmp_path / "my-classes"
    assert invoke("train", class_folders(2), "-o", model_dir, *palette(palette_models), "--size", 16, "-q").exit_code == 0
    document = json.loads((model_dir / "head.json").read_text())
    document["backbone"]["resize"] = "zoom"
    (model_dir / "head.json").write_text(json.dumps(document))
    result = invoke("classify", "--model", model_dir, colour_video("new.mp4", [((35, 180, 70), 1.0)], fps=10, size=(24, 16)))
    assert result.exit_code == 1 and result.stderr == f"Error: {model_dir}: the head's resize mode 'zoom' is none of crop, squash, pad; train it again\n"


@pytest.mark.slow
def test_live_reads_with_the_resize_mode_a_stream_head_was_trained_with(labelled_folders, palette_models, tmp_path, colour_video):
    model_dir = tmp_path / "live-greys"
    result = invoke("train", labelled_folders(GREYS), "-o", model_dir, *palette(palette_models, "stream"), "--size", 16, "--resize", "pad", "-q")
    assert result.exit_code == 0, result.output
    video = colour_video("grey.mp4", [((150, 150, 150), 1.5)], fps=10, size=(24, 16))
    result = invoke("live", video, "--model", model_dir, "--no-window", "--as-fast-as-possible", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["label"] for line in result.stdout.split("\n") if line} == {"dim"}


def test_many_classes_write_a_model_dir_that_loads_and_output_that_stays_bounded(tmp_path):
    """3,300 classes of 2 videos: what train writes and prints stays small and loads (fabricated
    features' answers: running a model per clip would be too slow)."""
    classes, rng = 3300, np.random.default_rng(0)
    labels = [f"class-{number:04d}" for number in range(classes)]
    targets = np.repeat(np.arange(classes), 2)
    paths = [f"{label}/{number}.mp4" for label in labels for number in range(2)]
    predicted = np.where(rng.random(len(targets)) < 0.5, targets, rng.integers(0, classes, len(targets)))
    summary = summarise("2-fold cross-validation", labels, paths, targets, np.arange(len(targets)), predicted)
    backbone = Backbone(str(tmp_path), "base", "identity", 5.0, 172, "crop")  # a directory that is there
    weights = rng.standard_normal((16, classes)).astype(np.float32)
    head = Head(labels, weights, np.zeros(classes, np.float32), backbone, dataclasses.asdict(summary))
    write_model_dir(tmp_path / "m", head, summary, str(tmp_path))
    loaded = load_head(tmp_path / "m")
    assert loaded.labels == labels and loaded.description()["accuracy"] == summary.accuracy
    sizes = {name: (tmp_path / "m" / name).stat().st_size for name in ["head.json", "summary.json", "report.html"]}
    assert sizes["head.json"] < 200_000 and sizes["summary.json"] < 2_000_000 and sizes["report.html"] < 3_000_000, sizes
    text = summary.text()
    assert len(text.split("\n")) < 60 and len(text) < 10_000
    assert "3300 classes: the 20 of lowest recall" in text and "too many to show" in text
    assert "Most frequent confusions" in (tmp_path / "m" / "report.html").read_text()
    assert json.loads((tmp_path / "m" / "summary.json").read_text())["recall"] == summary.recall



def test_a_hidden_class_folder_left_out_is_named_in_one_notice(labelled_folders, palette_models, tmp_path):
    rng = np.random.default_rng(1)
    clips = labelled_folders({name: shades(base, 2, rng) for name, base in {**CLASSES, ".drafts": (200, 200, 200)}.items()})
    result = invoke("train", clips, "-o", tmp_path / "m", *palette(palette_models), "--size", 16)
    assert result.exit_code == 0, result.output
    notice = f"note: left out 1 hidden folder(s) of {clips}: .drafts (a name starting with '.'; rename it to use its videos)\n"
    assert result.stderr.count(notice) == 1 and load_head(tmp_path / "m").labels == sorted(CLASSES)


def fabricated_model(backbone_dir, labels=("a", "b")):
    """A Head and its Summary for write_model_dir, without a model or videos (``backbone_dir``: any directory)."""
    classes = len(labels)
    summary = summarise("by hand", list(labels), [f"{label}/0.mp4" for label in labels], np.arange(classes), np.arange(classes), np.arange(classes))
    backbone = Backbone(str(backbone_dir), "base", "identity", 5.0, 172, "crop")
    return Head(list(labels), np.eye(classes, dtype=np.float32), np.zeros(classes, np.float32), backbone, dataclasses.asdict(summary)), summary


def test_overwrite_through_a_link_writes_its_target_and_keeps_the_link(tmp_path):
    head, summary = fabricated_model(tmp_path)
    write_model_dir(tmp_path / "v1", head, summary, str(tmp_path))
    (tmp_path / "current").symlink_to("v1")
    newer, summary = fabricated_model(tmp_path, ("c", "d", "e"))
    check_output_dir(tmp_path / "current", overwrite=True)
    write_model_dir(tmp_path / "current", newer, summary, str(tmp_path))
    assert (tmp_path / "current").is_symlink() and os.readlink(tmp_path / "current") == "v1"
    assert load_head(tmp_path / "v1").labels == ["c", "d", "e"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["current", "v1"]  # no staging or old copy left


@pytest.mark.parametrize("mask, mode", [(0o022, 0o755), (0o077, 0o700), (0o002, 0o775)])
def test_the_model_dir_honours_the_umask(tmp_path, mask, mode):
    head, summary = fabricated_model(tmp_path)
    before = os.umask(mask)
    try:
        write_model_dir(tmp_path / "m", head, summary, str(tmp_path))
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "m" / "head.json").stat().st_mode) == 0o666 & ~mask


def test_a_class_folder_name_cannot_forge_a_line_of_the_output(class_folders, palette_models, tmp_path):
    """Class folder names are printed as they are, escaped: a line break in one printed raw
    could add a line such as "accuracy: 100.0% (FORGED)" to train's, eval's or models' output."""
    forged = "accuracy: 100.0% (FORGED)"
    classes = {f"{name}\n{forged}" if index == 0 else name: colour for index, (name, colour) in enumerate(CLASSES.items())}
    model_dir = tmp_path / "forged"
    trained = invoke("train", class_folders(4, classes), "-o", model_dir, *palette(palette_models), "--size", 16, "-q")
    assert trained.exit_code == 0, trained.output
    described = invoke("models", model_dir)
    assert described.exit_code == 0, described.output
    for output in (trained.output, described.output):
        assert forged in output and not any(line.startswith(forged) for line in output.split("\n")), output


def test_a_features_cache_that_cannot_be_written_is_said_once_and_training_goes_on(class_folders, palette_models, tmp_path, monkeypatch):
    """It ended in "unexpected OSError: Read-only file system .../features"."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "features").write_text("a file where the features cache goes")  # as a read-only or full disk refuses it
    result = invoke("train", class_folders(4), "-o", tmp_path / "model", *palette(palette_models), "--size", 16)
    assert result.exit_code == 0 and "accuracy: 100.0%" in result.stdout, result.output
    assert result.stderr.count("the features cache") == 1 and "training without caching" in result.stderr, result.stderr


def test_a_full_disk_under_the_model_dir_names_it_and_leaves_nothing(class_folders, palette_models, tmp_path, monkeypatch):
    """It said "cannot write to stdout: No space left on device" (the wrong file)."""
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)  # the disk fills as head.npz is written
    model_dir = tmp_path / "model"
    result = invoke("train", class_folders(4), "-o", model_dir, *palette(palette_models), "--size", 16, "-q")
    assert result.exit_code == 1 and f"Error: cannot write {model_dir}: No space left on device" in result.stderr, result.output
    assert "stdout" not in result.stderr
    assert not [name for name in os.listdir(tmp_path) if name.startswith((".model", "model"))]  # no MODEL_DIR, no staging left
