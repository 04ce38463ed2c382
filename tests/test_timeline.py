import csv
import json
import os
import re

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import expected_label
from make_test_model import STREAM_MEMORY
from media import truncate, write_vfr_video

from movinet_cli import load_classifier
from movinet_cli.cli import cli
from movinet_cli.outcomes.pipeline import Prediction, Result, Step
from movinet_cli.outcomes.timeline import Segment, pool, segments, timeline_format, timeline_text, write_timeline

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
    with pytest.raises(ValueError, match=r"\.csv, \.json, \.jsonl, \.srt or \.vtt"):
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
    assert result.exit_code == 2 and ".jsonl, .srt or .vtt" in result.stderr


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
    from movinet_cli.outputs import overlay

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(overlay, "draw_labels", interrupted)
    out = tmp_path / "out" / "annotated.mp4"
    out.parent.mkdir()
    result = run("classify", "-m", tiny_models.base, "--size", 16, "--output-video", out, colour_video("r.mp4", [(RED, 1.0)]))
    assert result.exit_code == 130
    assert os.listdir(out.parent) == []


def test_an_output_video_that_cannot_be_written_fails_its_video_and_the_other_outputs_still_come(tiny_models, colour_video, tmp_path, monkeypatch):
    from movinet_cli.errors import OutputError
    from movinet_cli.outputs import overlay

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


# --- subtitles, terminal and stdout renderings -----------------------------------------------


def parse_cues(text, format):
    """(start_s, end_s, first line, second line) per cue of SRT or WebVTT ``text``."""
    blocks = [block for block in text.split("\n\n") if block.strip()]
    if format == "vtt":
        assert blocks.pop(0).split("\n")[0] == "WEBVTT"
    cues = []
    for block in blocks:
        number, times, first, *rest = block.strip("\n").split("\n")
        assert int(number) == len(cues) + 1
        start, end = times.split(" --> ")

        def seconds(stamp):
            hours, minutes, rest_ = stamp.replace(",", ".").split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(rest_)

        cues.append((seconds(start), seconds(end), first, rest[0] if rest else ""))
    return cues


SUBTITLED = {"v.mp4": [Segment(0, 3.25, "red", 0.997, [Prediction("red", 0.997), Prediction("a<b>&c", 0.0028)]), Segment(3.25, 3661.5, "blue", 1.0, [Prediction("blue", 1.0)])]}


@pytest.mark.parametrize("format", ["srt", "vtt"])
def test_subtitles_parse_back_with_their_times_labels_and_top_k(tmp_path, format):
    path = tmp_path / f"t.{format}"
    write_timeline(path, SUBTITLED)
    text = path.read_text()
    assert parse_cues(text, format) == [
        (0.0, 3.25, "red 100%", ("a&lt;b&gt;&amp;c" if format == "vtt" else "a\u2039b\u203a&c") + " 0.3%"),
        (3.25, 3661.5, "blue 100%", ""),
    ]
    assert ("01:01:01,500" if format == "srt" else "01:01:01.500") in text


def test_subtitles_hold_one_video():
    with pytest.raises(ValueError, match="one video"):
        timeline_format("t.srt", videos=2)
    assert timeline_format("T.VTT") == "vtt" and timeline_format("t.jsonl") == "jsonl"


def test_terminal_table_and_stdout_formats():
    text = timeline_text(SUBTITLED, "table")
    assert text.split("\n")[:4] == [
        "v.mp4",
        "    start -        end  label  prob  then",
        "  0:00.00 -    0:03.25  red    100%  a<b>&c 0.3%",
        "  0:03.25 - 1:01:01.50  blue   100%",
    ]
    jsonl = [json.loads(line) for line in timeline_text(SUBTITLED, "jsonl").split("\n") if line]
    assert jsonl[1] == {"path": "v.mp4", "start_s": 3.25, "end_s": 3661.5, "label": "blue", "probability": 1.0}
    assert timeline_text(SUBTITLED, "csv").split("\n")[0] == "path,start_s,end_s,label,probability"


# --- labels in step with the frames ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["stream", "clip"])
def test_the_timeline_and_the_overlay_never_say_blue_before_the_clip_turns_blue(palette_models, colour_video, tmp_path, monkeypatch, mode):
    """Red for 3.0 s, then blue: a step's output describes the frames up to its last one, so
    neither the timeline nor the annotated video may say blue before 3.0 s (they used to from
    2.667 s in stream mode: each 8-frame chunk labelled from its start)."""
    from movinet_cli.outputs import overlay

    drawn = []  # the top label drawn on each frame, in order

    def spy(frame, labels, footer=None):
        drawn.append(labels[0][0])
        return draw_labels(frame, labels, footer)

    draw_labels = overlay.draw_labels
    monkeypatch.setattr(overlay, "draw_labels", spy)
    fps = 25
    video = colour_video("red-blue.mp4", [(RED, 3.0), (BLUE, 3.0)], fps=fps)
    model = palette_models.stream if mode == "stream" else palette_models.base
    step = ["--timeline-step", 1] if mode == "clip" else []
    out = tmp_path / "annotated.webm"
    result = run("classify", "-m", model, "--labels", palette_models.labels, "--size", 16, "--mode", mode, *step, "--timeline", tmp_path / "t.json", "--output-video", out, video)
    assert result.exit_code == 0, result.stderr
    timeline = json.load(open(tmp_path / "t.json"))
    assert [s["label"] for s in timeline] == ["red", "blue"]
    blue_from = timeline[1]["start_s"]
    classifier = load_classifier(model, labels=palette_models.labels)
    steps = classifier.classify(video, size=16, **({"window": 1.0} if mode == "clip" else {})).steps
    first_blue = next(s for s in steps if classifier.labels[int(np.argmax(s.probabilities))] == "blue")
    # From the frame after which the model's output changed: the first blue chunk's last
    # frame in stream mode, the first blue window's start in clip mode.
    model_frame = (first_blue.end_s - first_blue.start_s) / first_blue.frames
    expected = first_blue.end_s - model_frame if mode == "stream" else first_blue.start_s
    assert 3.0 <= blue_from == pytest.approx(expected, abs=1e-3)
    assert len(drawn) == 6 * fps
    first_blue_frame = drawn.index("blue")
    assert set(drawn[:first_blue_frame]) == {"red"} and set(drawn[first_blue_frame:]) == {"blue"}
    assert blue_from <= first_blue_frame / fps < blue_from + 1 / fps  # the overlay changes with the timeline


@pytest.mark.browser
def test_a_vtt_timeline_loads_as_a_track_of_a_video_in_chromium(palette_models, colour_video, tmp_path):
    from test_report import chromium

    video = colour_video("red-blue.webm", [(RED, 3.0), (BLUE, 3.0)], fps=25)
    result = run("classify", "-m", palette_models.stream, "--labels", palette_models.labels, "--size", 16, "--timeline", tmp_path / "t.vtt", "--output-video", tmp_path / "labelled.webm", video)
    assert result.exit_code == 0, result.stderr
    expected = parse_cues((tmp_path / "t.vtt").read_text(), "vtt")
    assert [cue[2].split()[0] for cue in expected] == ["red", "blue"]
    page = tmp_path / "subtitled.html"
    page.write_text(
        '<!doctype html><html><body><video id="v" src="labelled.webm" muted preload="auto">'
        '<track id="t" kind="subtitles" src="t.vtt" srclang="en" default></track></video><script>'
        'const track = document.getElementById("t");'
        'track.addEventListener("load", () => { const cues = track.track.cues;'
        ' document.body.setAttribute("data-cues", JSON.stringify(Array.from(cues, c => [c.startTime, c.endTime, c.text]))); });'
        'track.addEventListener("error", () => document.body.setAttribute("data-cues", "error"));'
        "</script></body></html>"
    )
    shown = chromium(tmp_path, "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    cues = json.loads(re.search(r'data-cues="([^"]*)"', shown.stdout).group(1).replace("&quot;", '"'))
    assert [(start, end, text.split("\n")[0]) for start, end, text in cues] == [(start, end, first) for start, end, first, _ in expected]


def test_steps_below_the_minimum_probability_are_no_clear_action_and_merge():
    steps = [step(0, 1, 10, [0.9, 0.1, 0]), step(1, 2, 10, [0.4, 0.35, 0.25]), step(2, 3, 10, [0.3, 0.45, 0.25]), step(3, 4, 10, [0.1, 0.9, 0])]
    timeline = segments(result_of(steps), LABELS, min_probability=0.5)
    assert [(s.start_s, s.end_s, s.label) for s in timeline] == [(0, 1, "a"), (1, 3, "no clear action"), (3, 4, "b")]
    assert timeline[1].probability == pytest.approx(0.425)  # the mean of the top labels' probabilities, still given
    assert [s.label for s in segments(result_of(steps), LABELS)] == ["a", "b"]  # a and b where no minimum is asked


@pytest.fixture
def palette_stream(palette_models):
    return ["--mode", "stream", "-m", palette_models.stream, "--labels", palette_models.labels, "--size", 16]


def test_a_timeline_on_stdout_follows_the_format(palette_stream, colour_video):
    video = colour_video("red-then-blue.mp4", [(RED, 3.0), (BLUE, 3.0)])
    text = run("classify", *palette_stream, video, "--timeline", "-", "--timeline-step", 1)
    assert text.exit_code == 0, text.stderr
    assert re.search(r"^\s+1\s+blue", text.stdout, re.M)  # the top-k table, then the timeline's
    assert re.search(r"^\s+0:00.00 - 0:03.00\s+red\s+100%", text.stdout, re.M) and re.search(r"^\s+0:03.00 - 0:06.00\s+blue", text.stdout, re.M)
    rows = list(csv.DictReader(run("classify", *palette_stream, video, "--timeline", "-", "--timeline-step", 1, "-f", "csv").stdout.splitlines()))
    assert [(row["label"], row["start_s"], row["end_s"]) for row in rows] == [("red", "0.0", "3.0"), ("blue", "3.0", "6.0")]
    lines = run("classify", *palette_stream, video, "--timeline", "-", "--timeline-step", 1, "-f", "json").stdout.splitlines()
    assert [json.loads(line)["label"] for line in lines] == ["red", "blue"]
    both = run("classify", *palette_stream, video, "--timeline", "-", "-f", "csv", "--report", "/dev/stdout")
    assert both.exit_code == 2 and "same file" in both.stderr


def test_batch_writes_a_timeline_per_video(palette_stream, colour_video, tmp_path):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    for name in ("a.mp4", "a.avi", "sub/b.mp4"):
        os.rename(colour_video("v" + os.path.splitext(name)[1], [(RED, 1.0), (BLUE, 1.0)]), videos / name)
    out = tmp_path / "timelines"
    out.mkdir()
    result = run("batch", videos, "-o", tmp_path / "r.csv", *palette_stream, "--timelines", out, "--timeline-format", "vtt")
    assert result.exit_code == 0, result.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.vtt")) == ["a.avi.vtt", "a.mp4.vtt", "sub/b.vtt"]
    cues = (out / "sub" / "b.vtt").read_text()
    assert cues.startswith("WEBVTT") and "red" in cues and "blue" in cues
    assert run("batch", videos, "-o", tmp_path / "r2.csv", *palette_stream, "--timelines", tmp_path / "nope").exit_code == 2


def test_the_batch_timeline_formats_are_the_timelines():
    from movinet_cli.cli.batch import TIMELINE_CHOICES
    from movinet_cli.outcomes.timeline import TIMELINE_FORMATS

    assert set(TIMELINE_CHOICES) == set(TIMELINE_FORMATS.values())


@pytest.mark.parametrize("step_s", [5e-324, 1e-300, 0.0009, float("nan")])
def test_a_bin_too_small_to_mean_anything_is_refused_in_one_line(step_s):
    """Issue 22: --timeline-step 5e-324 gave "unexpected OverflowError" (the bin index of a
    step was infinite)."""
    from movinet_cli.outcomes.pipeline import Step
    from movinet_cli.outcomes.timeline import bin_seconds, pool

    steps = [Step(t, t + 0.5, 6, np.array([1.0, 0.0], np.float32)) for t in (0.0, 0.5)]
    for call in (lambda: pool(steps, step_s), lambda: bin_seconds("stream", step_s)):
        with pytest.raises(ValueError, match="timeline step must be a finite number of seconds from 0.001"):
            call()
    assert len(pool(steps, 0.001)) == 1000 and len(pool(steps, 1.0)) == 1  # steps cut at the bin edges


def test_a_tiny_timeline_step_is_a_usage_error(palette_models, colour_video, tmp_path):
    video = colour_video("red.mp4", [((255, 0, 0), 1.0)])
    result = CliRunner().invoke(
        cli, ["classify", "--mode", "stream", "-m", palette_models.stream, "--labels", palette_models.labels, video, "--timeline", str(tmp_path / "t.csv"), "--timeline-step", "5e-324"]
    )
    assert result.exit_code == 2 and "--timeline-step" in result.stderr and "0.001" in result.stderr
    assert "unexpected" not in result.stderr


def test_a_no_clear_action_cue_names_the_labels_it_weighed():
    from movinet_cli.outcomes.timeline import subtitles

    unclear = Segment(0, 1, "no clear action", 0.83, [Prediction("black", 0.83), Prediction("red", 0.17)])
    cue = subtitles([unclear], "vtt").split("\n")
    assert cue[4:6] == ["no clear action 83%", "black 83%, red 17%"]


def old_style_segments(steps, labels, bin_s):
    """The timeline from ``pool``'s every bin, as segments were made before ``pooled``."""
    from movinet_cli.outcomes import timeline

    original = timeline.pooled
    try:
        timeline.pooled = timeline.pool
        return segments(result_of(steps), labels, bin_s)
    finally:
        timeline.pooled = original


@pytest.mark.parametrize("bin_s", [0.001, 0.07, 0.5, 1.0, 2.5])
def test_bins_alike_within_a_step_make_the_timeline_every_bin_makes(bin_s):
    rng = np.random.default_rng(3)
    edges = np.concatenate([[0.0], np.cumsum(rng.uniform(0.05, 1.5, 40))])
    steps = [step(start, end, int(rng.integers(1, 9)), rng.dirichlet([0.3] * 3)) for start, end in zip(edges[:-1], edges[1:])]
    steps.append(step(edges[-1], edges[-1], 1, [0.1, 0.1, 0.8]))  # a step of no length
    expected, found = old_style_segments(steps, LABELS, bin_s), segments(result_of(steps), LABELS, bin_s)
    assert [(s.start_s, s.end_s, s.label) for s in found] == [(s.start_s, s.end_s, s.label) for s in expected]
    assert [s.probability for s in found] == pytest.approx([s.probability for s in expected], abs=1e-5)
    for old, new in zip(expected, found):
        assert [p.label for p in new.predictions] == [p.label for p in old.predictions]


def test_a_fine_timeline_step_keeps_memory_to_the_steps_not_the_bins():
    """Issue 32: --timeline-step 0.001 over a 10-minute stream with a 600-class model peaked
    at 4.8 GB (every bin kept, each with its 600 probabilities). 120 one-second chunks at
    0.001 s are 120,000 bins: 288 MB of probabilities kept before; now a few per chunk."""
    import tracemalloc

    rng = np.random.default_rng(4)
    steps = [Step(float(t), t + 1.0, 8, rng.dirichlet([0.1] * 600).astype(np.float32)) for t in range(120)]
    result = Result(None, [], steps[-1].probabilities, 120.0, 960, steps, "m", "e", "stream", 0.0)
    tracemalloc.start()
    try:
        timeline = segments(result, [f"class {n}" for n in range(600)], 0.001)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert timeline[0].start_s == 0 and timeline[-1].end_s == 120.0
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB"
