import csv
import json
import os

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import expected_label
from make_test_model import STREAM_MEMORY
from media import truncate, write_vfr_video

from movinet_cli import load_classifier
from movinet_cli.classify import Result, Step
from movinet_cli.cli import cli
from movinet_cli.timeline import Segment, pool, segments, timeline_format, write_timeline

RED, BLUE = (255, 0, 0), (0, 0, 255)
LABELS = ["a", "b", "c"]


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def step(start, end, frames, probabilities):
    return Step(start, end, frames, np.array(probabilities, np.float32))


def result_of(steps):
    return Result(None, [], steps[-1].probabilities, steps[-1].end_s, sum(s.frames for s in steps), steps, "m", "e", "clip", 0.0)


def test_consecutive_steps_with_the_same_label_merge():
    steps = [step(0, 1, 10, [0.9, 0.1, 0]), step(1, 2, 10, [0.7, 0.3, 0]), step(2, 3, 10, [0.2, 0.8, 0])]
    assert segments(result_of(steps), LABELS) == [Segment(0, 2, "a", 0.8), Segment(2, 3, "b", pytest.approx(0.8))]


def test_steps_pool_into_bins_weighted_by_frames():
    steps = [step(0.0, 0.5, 3, [1, 0, 0]), step(0.5, 1.0, 1, [0, 1, 0]), step(1.0, 1.5, 2, [0, 0, 1])]
    pooled = pool(steps, 1.0)
    assert [(s.start_s, s.end_s, s.frames) for s in pooled] == [(0.0, 1.0, 4), (1.0, 1.5, 2)]
    np.testing.assert_allclose(pooled[0].probabilities, [0.75, 0.25, 0])
    assert pool(steps, None) is steps


def test_timeline_files_by_extension(tmp_path):
    timelines = {"v.mp4": [Segment(0, 2, "a", 0.8), Segment(2, 3, "b", 0.75)]}
    write_timeline(tmp_path / "t.csv", timelines)
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert rows[1] == {"path": "v.mp4", "start_s": "2", "end_s": "3", "label": "b", "probability": "0.75"}
    write_timeline(tmp_path / "t.json", timelines)
    assert json.load(open(tmp_path / "t.json"))[0] == {"path": "v.mp4", "start_s": 0, "end_s": 2, "label": "a", "probability": 0.8}
    with pytest.raises(ValueError, match=".csv or .json"):
        timeline_format("t.txt")


def change_point(timeline):
    """End of the first (red) segment and start of the last (blue) segment."""
    return timeline[0].end_s, timeline[-1].start_s


def test_clip_mode_timeline_changes_at_the_right_second(tiny_models, colour_video):
    video = colour_video("red-blue.mp4", [(RED, 5.0), (BLUE, 5.0)], fps=25)
    result = load_classifier(tiny_models.base).classify(video, size=16, window=1.0)
    timeline = segments(result, load_classifier(tiny_models.base).labels)
    assert [s.label for s in timeline] == [expected_label(RED), expected_label(BLUE)]
    assert change_point(timeline) == (5.0, 5.0)


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_stream_mode_timeline_changes_near_the_right_second(tiny_models, colour_video, engine):
    classifier = load_classifier(tiny_models.stream, engine=engine)
    video = colour_video("red-blue.mp4", [(RED, 5.0), (BLUE, 5.0)], fps=25)
    result = classifier.classify(video, size=16, fps=10, chunk=1)
    timeline = segments(result, classifier.labels)
    assert timeline[0].label == expected_label(RED) and timeline[-1].label == expected_label(BLUE)
    red_end, blue_start = change_point(timeline)
    assert 5.0 <= red_end <= 5.1 + 1e-6  # the first blue frame already tips the memory's mean
    assert blue_start <= 5.0 + STREAM_MEMORY / 10  # once the memory holds only blue frames
    assert timeline[-1].end_s == pytest.approx(10.0)


def test_cli_writes_timelines_for_both_modes(tiny_models, colour_video, tmp_path):
    video = colour_video("red-blue.mp4", [(RED, 2.0), (BLUE, 2.0)])
    clip = run("classify", "-m", tiny_models.base, "--size", 16, "--timeline", tmp_path / "clip.csv", "--timeline-step", 1, video)
    assert clip.exit_code == 0, clip.stderr
    rows = list(csv.DictReader(open(tmp_path / "clip.csv")))
    assert [(r["start_s"], r["end_s"], r["label"]) for r in rows] == [("0.0", "2.0", expected_label(RED)), ("2.0", "4.0", expected_label(BLUE))]
    stream = run("classify", "-m", tiny_models.stream, "--size", 16, "--timeline", tmp_path / "s.json", "--timeline-step", 0.5, video)
    assert stream.exit_code == 0, stream.stderr
    segments_ = json.load(open(tmp_path / "s.json"))
    assert segments_[0]["label"] == expected_label(RED) and segments_[-1]["label"] == expected_label(BLUE)
    assert all(s["start_s"] * 2 == int(s["start_s"] * 2) for s in segments_)  # on the 0.5 s grid


def test_bad_timeline_extension_is_a_usage_error(tmp_path):
    result = run("classify", "--timeline", tmp_path / "t.txt", "x.mp4")
    assert result.exit_code == 2 and ".csv or .json" in result.stderr


def test_output_video_has_the_input_size_rate_and_the_labels(tiny_models, colour_video, tmp_path):
    video = colour_video("red-blue.mp4", [(RED, 1.0), (BLUE, 1.0)], fps=20, size=(320, 240))
    out = tmp_path / "annotated.mp4"
    result = run("classify", "-m", tiny_models.base, "--size", 16, "--timeline-step", 1, "--output-video", out, video)
    assert result.exit_code == 0, result.stderr
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FPS) == 20
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 40 and frames[0].shape == (240, 320, 3)
    for frame, colour in ((frames[5], RED), (frames[35], BLUE)):
        panel, picture = frame[:40, :100], frame[-40:, -100:]
        assert (panel.min(axis=2) > 200).sum() > 50  # white text on the panel
        assert np.abs(picture.mean(axis=(0, 1)) - colour[::-1]).max() < 20  # the video itself, untouched


def test_output_video_takes_one_video(tmp_path):
    result = run("classify", "--output-video", tmp_path / "o.mp4", "a.mp4", "b.mp4")
    assert result.exit_code == 2 and "one VIDEO" in result.stderr


def test_an_interrupted_output_video_leaves_no_file(tiny_models, colour_video, tmp_path, monkeypatch):
    from movinet_cli import overlay

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(overlay, "draw_labels", interrupted)
    out = tmp_path / "out" / "annotated.mp4"
    out.parent.mkdir()
    result = run("classify", "-m", tiny_models.base, "--size", 16, "--output-video", out, colour_video("r.mp4", [(RED, 1.0)]))
    assert result.exit_code == 130
    assert os.listdir(out.parent) == []


def test_an_output_video_that_cannot_be_written_fails_its_video_and_the_other_outputs_still_come(tiny_models, colour_video, tmp_path, monkeypatch):
    from movinet_cli import overlay
    from movinet_cli.errors import OutputError

    def full_disk(*args, **kwargs):
        raise OutputError("cannot write a video to annotated.mp4: No space left on device")

    monkeypatch.setattr(overlay, "annotate_video", full_disk)
    timeline, out = tmp_path / "t.csv", tmp_path / "annotated.mp4"
    video = colour_video("r.mp4", [(RED, 1.0)])
    result = run("classify", "-m", tiny_models.base, "--size", 16, "-f", "json", "--timeline", timeline, "--output-video", out, video)
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    [row] = json.loads(result.stdout)["results"]
    assert row["status"] == "error" and row["error"] == "cannot write a video to annotated.mp4: No space left on device"
    assert timeline.exists()


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_stream_mode_on_truncated_and_variable_rate_files(tiny_models, colour_video, tmp_path, engine):
    classifier = load_classifier(tiny_models.stream, engine=engine)
    cut = truncate(colour_video("cut.avi", [(RED, 2.0)]), 0.5)
    result = classifier.classify(cut, size=16)
    assert result.predictions[0].label == expected_label(RED) and result.warnings
    vfr = write_vfr_video(tmp_path / "vfr.mp4", [(RED, 2.0, 30), (BLUE, 2.0, 10)])
    result = classifier.classify(vfr, size=16, fps=10, chunk=1)
    assert result.frames == 40 and result.predictions[0].label == expected_label(BLUE)
    timeline = segments(result, classifier.labels)
    assert 2.0 <= timeline[0].end_s <= 2.1 + 1e-6


def test_a_clip_step_longer_than_a_training_clip_pools_10_s_windows(palette_models, colour_video, tmp_path):
    video = colour_video("red-blue.mp4", [(RED, 10.0), (BLUE, 5.0)], fps=10)
    out = tmp_path / "t.json"
    result = run("classify", "-m", palette_models.base, "--labels", palette_models.labels, "--size", 16, "--timeline", out, "--timeline-step", 15, video)
    assert result.exit_code == 0, result.stderr
    (segment,) = json.load(open(out))
    # Windows of 10 s (red) and 5 s (blue) pooled by frames: 2/3 red. One 15-s window would
    # show the model a mean colour it was never trained on as one clip.
    assert segment["label"] == "red" and segment["probability"] == pytest.approx(2 / 3, abs=0.02)
    assert (segment["start_s"], segment["end_s"]) == (0.0, 15.0)


@pytest.mark.parametrize("step_s", [5e-324, 1e-300, 0.0009, float("nan")])
def test_a_bin_too_small_to_mean_anything_is_refused_in_one_line(step_s):
    """Issue 22: --timeline-step 5e-324 gave "unexpected OverflowError" (the bin index of a
    step was infinite)."""
    from movinet_cli.classify import Step
    from movinet_cli.timeline import bin_seconds, pool

    steps = [Step(t, t + 0.5, 6, np.array([1.0, 0.0], np.float32)) for t in (0.0, 0.5)]
    for call in (lambda: pool(steps, step_s), lambda: bin_seconds("stream", step_s)):
        with pytest.raises(ValueError, match="timeline step must be a finite number of seconds from 0.001"):
            call()
    assert len(pool(steps, 0.001)) == 2 and len(pool(steps, 1.0)) == 1


def test_a_tiny_timeline_step_is_a_usage_error(palette_models, colour_video, tmp_path):
    video = colour_video("red.mp4", [((255, 0, 0), 1.0)])
    result = CliRunner().invoke(
        cli, ["classify", "--mode", "stream", "-m", palette_models.stream, "--labels", palette_models.labels, video, "--timeline", str(tmp_path / "t.csv"), "--timeline-step", "5e-324"]
    )
    assert result.exit_code == 2 and "--timeline-step" in result.stderr and "0.001" in result.stderr
    assert "unexpected" not in result.stderr
