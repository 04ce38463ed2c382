import json
import os
import re
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from make_sample_videos import write_video

from movinet_cli import load_classifier
from movinet_cli.cli import cli
from movinet_cli.errors import ModelKindError
from movinet_cli.live import NO_ACTION, LiveSession

RED, BLUE, RED_MAGENTA = (255, 0, 0), (0, 0, 255), (255, 0, 150)


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def palette_stream(palette_models):
    return ["-m", palette_models.stream, "--labels", palette_models.labels, "--size", "16"]


def printed_labels(stdout):
    """[(seconds, label)] from the terminal lines ``   2.0 s  blue  (100%)``."""
    lines = [re.fullmatch(r"\s*([\d.]+) s  (.+)  \(\d+%\)", line) for line in stdout.splitlines()]
    return [(float(line[1]), line[2]) for line in lines]


def test_terminal_prints_a_line_when_the_label_changes(palette_stream, colour_video):
    video = colour_video("red-blue.mp4", [(RED, 2.0), (BLUE, 2.0)])
    result = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible")
    assert result.exit_code == 0, result.stderr
    (red_s, red), (blue_s, blue) = printed_labels(result.stdout)
    assert (red, blue) == ("red", "blue")
    assert red_s < 0.7 and 2.0 <= blue_s < 2.7  # a line per chunk (up to 8 frames), cut at the scene change
    assert f"live: end of {video}: 48 frames classified, 0 dropped (0%)" in result.stderr  # 4 s at 12 fps


def test_jsonl_prints_every_step_and_resets_on_a_scene_change(palette_stream, colour_video):
    video = colour_video("red-blue.mp4", [(RED, 2.0), (BLUE, 2.0)])
    result = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible", "--format", "jsonl", "--fps", 10)
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(step["frames"] for step in steps) == 40 and all(step["dropped"] == 0 for step in steps)
    # The chunk after the reset starts at the scene change.
    (first_after_reset,) = [step["time_s"] - (step["frames"] - 1) / 10 for step in steps if step["reset"]]
    assert abs(first_after_reset - 2.0) < 0.05  # the video's frames are not exactly 0.1 s apart
    assert all(step["backlog"] >= 0 for step in steps)
    assert steps[-1]["label"] == "blue" and steps[-1]["predictions"][0]["probability"] > 0.9


def test_threshold_shows_no_action(palette_stream, tmp_path):
    half_red_half_green = np.zeros((48, 64, 3), np.uint8)
    half_red_half_green[:, :32], half_red_half_green[:, 32:] = RED, (0, 255, 0)
    video = write_video(str(tmp_path / "undecided.avi"), [half_red_half_green] * 20, 20)  # 4 corners tie
    result = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible", "--threshold", 0.9)
    assert [label for _, label in printed_labels(result.stdout)] == [NO_ACTION]
    confident = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible", "--threshold", 0.2)
    assert NO_ACTION not in confident.stdout


def test_smoothing_delays_the_change(palette_stream, colour_video):
    video = colour_video("red-magenta.mp4", [(RED, 2.0), (RED_MAGENTA, 2.0)])

    def change_time(*extra):
        result = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible", *extra)
        (changed,) = [t for t, label in printed_labels(result.stdout) if label == "magenta"]
        return changed

    plain, smoothed = change_time(), change_time("--smoothing", 0.9)
    # 0.9 ** 7 < 0.5: the 7th magenta frame (2.5 s) outweighs the red past, however chunked.
    assert 2.0 <= plain < 2.7 and smoothed >= max(2.5, plain)


def test_a_file_plays_at_its_own_speed(palette_stream, colour_video):
    video = colour_video("red.mp4", [(RED, 2.0)])
    began = time.monotonic()
    result = run("live", video, *palette_stream, "--no-window")
    assert result.exit_code == 0 and 1.8 < time.monotonic() - began < 10


class SlowModel:
    """The tiny stream model, made slower: ``delay_s`` per call, whatever its frames. Records
    the frames of each call after ``start`` (which prepares the chunk lengths)."""

    def __init__(self, model, delay_s):
        self.model, self.delay_s = model, delay_s
        self.engine, self.num_classes = model.engine, model.num_classes
        self.chunks = []

    def init_states(self, chunk_shape):
        return self.model.init_states(chunk_shape)

    def step(self, frames, states):
        time.sleep(self.delay_s)
        self.chunks.append(len(frames))
        return self.model.step(frames, states)


def play(classifier, video, **options):
    """Every update of a live session on ``video`` (at its own speed unless told)."""
    updates = []
    with LiveSession(classifier, video, size=16, fps=12, **options) as session:
        classifier.model.chunks.clear()  # the blank steps of start
        while not session.finished or not session.updates.empty():
            try:
                updates.append(session.updates.get(timeout=0.1))
            except Exception:
                continue
    return updates


def test_a_slow_model_gets_every_due_frame_in_chunks(palette_models, colour_video):
    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    classifier.model = SlowModel(classifier.model, delay_s=0.15)  # slower than a frame at 12 fps
    video = colour_video("red-blue.mp4", [(RED, 2.0), (BLUE, 2.0)], fps=30)
    updates = play(classifier, video)
    assert sum(classifier.model.chunks) == 48 and max(classifier.model.chunks) > 1  # 4 s at 12 fps, none skipped
    assert set(classifier.model.chunks) <= {1, 2, 4, 8}  # the lengths compiled at start
    assert updates[-1].steps == 48 and updates[-1].dropped == 0
    assert max(update.latency_s for update in updates) < 1.0
    assert updates[-1].label == "blue" and updates[-1].time_s > 3.9


def test_a_model_too_slow_even_for_chunks_drops_a_backlog_and_resets(palette_models, colour_video):
    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    classifier.model = SlowModel(classifier.model, delay_s=0.6)  # 12 frames take 8 + 4: 1.2 s
    video = colour_video("red.mp4", [(RED, 4.0)], fps=30)
    updates = play(classifier, video)
    assert updates[-1].dropped >= 12 and updates[-1].steps + updates[-1].dropped == 48
    assert any(update.reset for update in updates)  # the states restart after a drop
    assert max(update.latency_s for update in updates) < 3.5  # one second of backlog and its chunk


def test_chunks_give_the_results_of_frame_by_frame(palette_models, colour_video):
    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    video = colour_video("red-magenta.mp4", [(RED, 2.0), (RED_MAGENTA, 2.0)], fps=12)  # no scene change
    frame_by_frame = classifier.classify(video, chunk=1, fps=12, size=16)
    classifier.model = SlowModel(classifier.model, delay_s=0.15)
    final = play(classifier, video)[-1]
    assert max(classifier.model.chunks) > 1 and final.steps == frame_by_frame.frames == 48
    expected = {p.label: p.probability for p in frame_by_frame.predictions}
    for prediction in final.predictions:
        assert abs(prediction.probability - expected[prediction.label]) < 1e-4, (final.predictions, expected)


def test_record_saves_the_annotated_video(palette_stream, colour_video, tmp_path):
    video = colour_video("red.mp4", [(RED, 1.0)], size=(320, 240))
    out = tmp_path / "recorded.avi"
    result = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible", "--record", out)
    assert result.exit_code == 0
    capture = cv2.VideoCapture(str(out))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    assert len(frames) == 25 and frames[0].shape == (240, 320, 3)
    assert (frames[-1][:40, :100].min(axis=2) > 200).sum() > 50  # the overlay's white text


def test_sources_that_cannot_be_opened_are_one_line(palette_stream, tmp_path):
    camera = run("live", "7", *palette_stream)
    assert camera.exit_code == 1 and "cannot open camera 7" in camera.stderr and "movinet live 1" in camera.stderr
    missing = run("live", tmp_path / "none.mp4", *palette_stream)
    assert missing.exit_code == 1 and "none.mp4: no such file" in missing.stderr


def test_live_needs_a_stream_model(tiny_models, colour_video):
    result = run("live", colour_video("red.mp4", [(RED, 1.0)]), "-m", tiny_models.base, "--no-window")
    assert result.exit_code == 2 and "stream model" in result.stderr
    with pytest.raises(ModelKindError, match="live needs a stream model"):
        LiveSession(load_classifier(tiny_models.base), colour_video("red.mp4", [(RED, 1.0)]))


# --- the window, on a virtual X display -----------------------------------------------------


@pytest.fixture
def x_display():
    """An Xvfb display (installed by .ci/run from the distribution's packages)."""
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("Xvfb and xdotool are needed for the window test (.ci/run installs them)")
    display = ":93"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "800x600x24", "-nolisten", "tcp"], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    yield display
    server.terminate()
    server.wait()


def find_window(display, name, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--name", name], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True)
        if found.stdout.strip():
            return found.stdout.split()[0]
        time.sleep(0.3)
    raise AssertionError(f"no window named {name!r} appeared")


@pytest.mark.window
def test_window_shows_the_overlay_and_q_closes_it(x_display, palette_models, colour_video):
    from PIL import ImageGrab

    video = colour_video("blue.mp4", [(BLUE, 30.0)], fps=10, size=(320, 240))
    env = {**os.environ, "DISPLAY": x_display}
    command = [sys.executable, "-m", "movinet_cli", "live", video, "-m", palette_models.stream, "--labels", palette_models.labels, "--size", "16"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        window = find_window(x_display, "movinet live")
        time.sleep(2.0)  # let a few labelled frames be drawn
        screen = np.asarray(ImageGrab.grab(xdisplay=x_display).convert("RGB")).astype(int)
        bar = (np.abs(screen - (80, 200, 80)).max(axis=2) < 30).sum()  # the probability bar
        text = (screen.min(axis=2) > 220).sum()  # white label text
        video_pixels = (np.abs(screen - BLUE).max(axis=2) < 30).sum()
        assert bar > 100 and text > 100 and video_pixels > 10000, (bar, text, video_pixels)
        subprocess.run(["xdotool", "key", "--window", window, "q"], env=env, check=True)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in process.stderr.read()


def test_a_file_at_its_own_speed_classifies_its_last_due_frame(palette_models, colour_video):
    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    video = colour_video("red.mp4", [(RED, 4.0)], fps=5)  # 20 frames, all due at 5 fps, the file ends at the last
    with LiveSession(classifier, video, size=16, fps=5) as session:
        while not session.finished:
            time.sleep(0.05)
    assert session.latest_update.steps == 20 and session.latest_update.dropped == 0
    assert session.summary.endswith("20 frames classified, 0 dropped (0%)")


@pytest.mark.parametrize("display", [None, ":98765"])
def test_a_window_that_cannot_open_falls_back_to_the_terminal_in_one_line(palette_stream, colour_video, display):
    """Qt aborts the process when it finds no X server: the window is not tried at all."""
    from conftest import ROOT

    video = colour_video("red.mp4", [(RED, 1.0)], fps=12)
    environment = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environment.update({"PYTHONPATH": str(ROOT)}, **({"DISPLAY": display} if display else {}))
    command = [sys.executable, "-m", "movinet_cli", "live", video, *palette_stream, "--window", "--as-fast-as-possible"]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    notes = [line for line in done.stderr.splitlines() if line.startswith("note: no window")]
    assert len(notes) == 1 and ("DISPLAY is not set" if display is None else "no X server answers at DISPLAY=:98765") in notes[0]
    assert printed_labels(done.stdout)[0][1] == "red"


def test_a_display_is_one_whose_x_server_answers(x_display, monkeypatch):
    from movinet_cli.live import display_problem

    monkeypatch.setenv("DISPLAY", x_display)
    assert display_problem() is None
    monkeypatch.setenv("DISPLAY", ":98765")
    assert display_problem() == "no X server answers at DISPLAY=:98765"


@pytest.mark.parametrize("model", ["a0-base", "base"])
def test_live_refuses_a_base_model_in_its_own_words(palette_models, colour_video, model):
    video = colour_video("red.mp4", [(RED, 1.0)], fps=12)
    chosen = palette_models.base if model == "base" else model
    result = CliRunner().invoke(cli, ["live", video, "-m", chosen, "--no-window"])
    assert result.exit_code == 2 and "live needs a stream model" in result.stderr and "--mode" not in result.stderr, result.stderr
