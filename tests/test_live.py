import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import find_window, screenshot, windows_shown, xdotool, xvfb
from make_sample_videos import write_video

from movinet_cli import load_classifier
from movinet_cli.cli import cli
from movinet_cli.commands.live import LiveSession
from movinet_cli.errors import ModelError, ModelKindError
from movinet_cli.options import NO_CLEAR_ACTION as NO_ACTION

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
    confident = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible", "--min-probability", 0.2)
    assert NO_ACTION not in confident.stdout


def test_a_scene_change_or_a_restart_resets_and_cuts_the_chunks():
    from movinet_cli.commands.live import plan_chunks

    dark, bright = np.zeros((4, 4, 3), np.float32), np.ones((4, 4, 3), np.float32)
    images = [dark] * 5 + [bright] * 7
    assert plan_chunks(images, None, True) == [(0, 4, True), (4, 1, False), (5, 4, True), (9, 2, False), (11, 1, False)]
    assert plan_chunks(images[5:], dark, False) == [(0, 4, True), (4, 2, False), (6, 1, False)]  # the change at the first frame
    assert plan_chunks(images[5:], bright, False) == [(0, 4, False), (4, 2, False), (6, 1, False)]


def smoothed_change(takes, smoothing, change=24, frames=48):
    """The frame after which the top label first says the new class, when a scripted stream
    model answers the class of the last frame it was fed (class 0 before ``change``, 1 from
    it) and the due frames come in ``takes`` (frames per step, as the backlog hands them over)."""
    from movinet_cli.commands.live import Smoother, plan_chunks

    smoother, fed = Smoother(smoothing), 0
    image = np.zeros((2, 2, 3), np.float32)
    for take in takes:
        for at, length, reset in plan_chunks([image] * take, image if fed else None, not fed):
            if reset:
                smoother.reset()
            last = fed + at + length - 1
            if np.argmax(smoother.add(np.eye(2, dtype=np.float32)[int(last >= change)], length)) == 1:
                return last
        fed += take
    return None


@pytest.mark.parametrize("takes", [[1] * 48, [2] * 24, [8] * 6, [3, 5, 7, 9, 11, 13], [24, 1, 1, 1, 1, 1, 1, 1, 1, 16]])
def test_smoothing_delays_the_change_however_the_frames_are_chunked(takes):
    plain, smoothed = smoothed_change(takes, 0.0), smoothed_change(takes, 0.9)
    assert 24 <= plain <= smoothed  # never before the change, and smoothing never hastens it
    if all(take == 1 for take in takes[2:]) or takes[0] == 24:  # frame by frame after the change
        assert smoothed == 24 + 6  # 0.9 ** 7 < 0.5: the 7th new frame outweighs the past


@pytest.mark.slow
def test_smoothing_runs_end_to_end(palette_stream, colour_video):
    video = colour_video("red-magenta.mp4", [(RED, 2.0), (RED_MAGENTA, 2.0)])
    for extra in ((), ("--smoothing", 0.9)):
        result = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible", *extra)
        assert result.exit_code == 0, result.stderr
        (changed,) = [t for t, label in printed_labels(result.stdout) if label == "magenta"]
        assert changed >= 2.0  # labels come after the frames they describe


def test_a_file_plays_at_its_own_speed(palette_models, colour_video):
    """Paced: each frame is read when it is due (the session's clock, here the test's, moves
    only by what the session waits), never faster than the file plays."""
    from conftest import Clock

    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    video = colour_video("red.mp4", [(RED, 2.0)])  # 50 frames at 25 fps: the last at 1.96 s
    clock = Clock()
    began = clock()
    with LiveSession(classifier, video, size=16, clock=clock, sleep=clock.sleep) as session:
        updates = list(session.follow())
    assert updates and updates[-1].label == "red"
    assert clock() - began == pytest.approx(49 / 25)  # waited until the last frame was due
    assert len(clock.slept) == 49 and clock.slept == pytest.approx([1 / 25] * 49)  # a frame's time for each frame after the first
    fast = Clock()
    with LiveSession(classifier, video, size=16, realtime=False, clock=fast, sleep=fast.sleep) as session:
        list(session.follow())
    assert fast.slept == []  # --as-fast-as-possible: never waits


class SteppedClock:
    """Time for a live session's two threads that moves only when neither can act: the
    grabber waits for its next frame's time, and the model thread either runs a slow model's
    step (``spend``) or waits for frames with none due. It then moves to the earliest time
    one of them waits for and wakes that one alone (the grabber first on a tie: a frame due
    when a step ends is there for the next). A session on it reads, chunks, drops and
    reports the same on any machine, however loaded; the test's timeout bounds it."""

    def __init__(self):
        self.now = 0.0
        self._changed = threading.Condition()
        self._waits: dict[int, float] = {}  # thread id -> the time it waits for
        self._woken: set[int] = set()
        self._idle = False  # the model thread found no frame due (and has taken none since)
        self._session: LiveSession | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self._session is None or threading.current_thread() not in self._session._threads:
            return  # the blank steps of start, before the session's threads: no time
        me = threading.get_ident()
        with self._changed:
            self._waits[me] = self.now + max(seconds, 0.0)
            self._changed.notify_all()  # a frame may have been put before: the model thread looks again
            while me not in self._woken:
                self._changed.wait()
            self._woken.discard(me)
            del self._waits[me]

    spend = sleep  # a slow model's step

    def drive(self, session: LiveSession) -> threading.Thread:
        """Starts moving time for ``session`` (not yet started), until it has finished. The
        model thread's wait for frames goes through the clock, so that finding none due and
        being taken as idle happen at once (under the clock's lock)."""
        self._session = session
        grabber, model = session._threads
        backlog, take = session._due, session._due.take

        def take_on_the_clock(timeout):
            with self._changed:
                while True:
                    taken = take(0)  # what is due now, without waiting
                    if taken is None or taken[0]:
                        self._idle = False
                        return taken
                    self._idle = True
                    if not self._changed.wait(timeout):
                        return taken  # nothing: the model thread looks whether to stop, and comes back

        backlog.take = take_on_the_clock

        def blocked(thread: threading.Thread) -> bool:
            ended = thread.ident is not None and not thread.is_alive()  # not one yet to start: the grabber may not run ahead
            return ended or (thread.ident in self._waits and thread.ident not in self._woken)

        def run():
            while not session.finished:
                with self._changed:
                    if blocked(grabber) and (blocked(model) or (self._idle and not len(backlog))) and self._waits:
                        _, _, first = min((at, thread is not grabber, thread.ident) for thread in (grabber, model) if (at := self._waits.get(thread.ident)) is not None)
                        self.now = max(self.now, self._waits[first])
                        self._woken.add(first)
                        self._changed.notify_all()
                    else:
                        self._changed.wait(0.001)  # a thread is at work: look again

        driver = threading.Thread(target=run, daemon=True)
        driver.start()
        return driver


class SlowModel:
    """The tiny stream model, made slower: ``delay_s`` per call on ``clock``, whatever its
    frames. Records the frames of each call after ``start`` (which prepares the chunk lengths)."""

    def __init__(self, model, delay_s, clock):
        self.model, self.delay_s, self.clock = model, delay_s, clock
        self.engine, self.num_classes = model.engine, model.num_classes
        self.setup_seconds = 0.0
        self.chunks = []

    def init_states(self, chunk_shape):
        return self.model.init_states(chunk_shape)

    def step(self, frames, states):
        if threading.current_thread().name == "movinet-infer":  # not the blank steps of start
            self.clock.spend(self.delay_s)
            self.chunks.append(len(frames))
        return self.model.step(frames, states)


def play(classifier, video, clock, **options):
    """Every update of a live session on ``video`` at its own speed on ``clock``."""
    session = LiveSession(classifier, video, size=16, fps=12, clock=clock, sleep=clock.sleep, **options)
    driver = clock.drive(session)
    with session:
        updates = list(session.follow())
    driver.join()
    return updates


def test_a_slow_model_gets_every_due_frame_in_chunks(palette_models, colour_video):
    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    clock = SteppedClock()
    classifier.model = SlowModel(classifier.model, delay_s=0.15, clock=clock)  # slower than a frame at 12 fps
    video = colour_video("red-blue.mp4", [(RED, 2.0), (BLUE, 2.0)], fps=30)
    updates = play(classifier, video, clock)
    assert sum(classifier.model.chunks) == 48 and max(classifier.model.chunks) > 1  # 4 s at 12 fps, none skipped
    assert set(classifier.model.chunks) <= {1, 2, 4, 8}  # the lengths compiled at start
    assert updates[-1].steps == 48 and updates[-1].dropped == 0
    assert max(update.latency_s for update in updates) <= 2 * 0.15  # the step under way, then its own: on the session's clock
    assert updates[-1].label == "blue" and updates[-1].time_s > 3.9


def test_a_model_too_slow_even_for_chunks_drops_a_backlog_and_resets(palette_models, colour_video):
    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    clock = SteppedClock()
    classifier.model = SlowModel(classifier.model, delay_s=0.6, clock=clock)  # 12 frames take 8 + 4: 1.2 s
    video = colour_video("red.mp4", [(RED, 4.0)], fps=30)
    updates = play(classifier, video, clock)
    assert updates[-1].dropped >= 12 and updates[-1].steps + updates[-1].dropped == 48
    assert any(update.reset for update in updates)  # the states restart after a drop
    assert max(update.latency_s for update in updates) <= 1.0 + 3 * 0.6  # a second of backlog, the step under way, its chunk's 8 + 4


def test_chunks_give_the_results_of_frame_by_frame(palette_models, colour_video):
    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    video = colour_video("red-magenta.mp4", [(RED, 2.0), (RED_MAGENTA, 2.0)], fps=12)  # no scene change
    frame_by_frame = classifier.classify(video, chunk=1, fps=12, size=16)
    clock = SteppedClock()
    classifier.model = SlowModel(classifier.model, delay_s=0.15, clock=clock)
    final = play(classifier, video, clock)[-1]
    assert max(classifier.model.chunks) > 1 and final.steps == frame_by_frame.frames == 48
    expected = {p.label: p.probability for p in frame_by_frame.predictions}
    for prediction in final.predictions:
        assert abs(prediction.probability - expected[prediction.label]) < 1e-4, (final.predictions, expected)


def test_record_saves_the_annotated_video(palette_stream, colour_video, tmp_path):
    video = colour_video("red.mp4", [(RED, 1.0)], size=(320, 240))
    out = tmp_path / "recorded.mp4"
    refused = run("live", video, *palette_stream, "--no-window", "--record", tmp_path / "recorded.avi")
    assert refused.exit_code == 2 and "use .mp4 (H.264) or .webm (VP9)" in refused.stderr  # browsers play no .avi we write
    result = run("live", video, *palette_stream, "--no-window", "--as-fast-as-possible", "--record", out)
    assert result.exit_code == 0
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"  # what browsers play
    capture = cv2.VideoCapture(str(out))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    assert len(frames) == 25 and frames[0].shape == (240, 320, 3)
    # The overlay's white text: the labels, or "Waiting for action..." on frames read before the
    # first step (how many depends on how busy the machine is): either way, text on the top band.
    assert (frames[-1][:60, :].min(axis=2) > 200).sum() > 50


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
    with xvfb(800, 600) as display:
        yield display


@pytest.mark.window
def test_window_shows_the_overlay_and_q_closes_it(x_display, palette_models, colour_video, tmp_path):
    # Long enough that a busy machine draws labelled frames before the file ends (q ends it sooner).
    video = colour_video("blue.mp4", [(BLUE, 120.0)], fps=10, size=(320, 240))
    env = {**os.environ, "DISPLAY": x_display}
    command = [sys.executable, "-m", "movinet_cli", "live", video, "-m", palette_models.stream, "--labels", palette_models.labels, "--size", "16"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        window = find_window(x_display, "movinet live")
        while True:  # polled until labelled frames are drawn, however busy the machine (pytest-timeout bounds it)
            shot = screenshot(x_display)
            screen = np.asarray(shot).astype(int)
            bar = (np.abs(screen - (80, 200, 80)).max(axis=2) < 30).sum()  # the probability bar
            text = (screen.min(axis=2) > 220).sum()  # white label text
            video_pixels = (np.abs(screen - BLUE).max(axis=2) < 30).sum()
            if bar > 100 and text > 100 and video_pixels > 10000:
                break
            if process.poll() is not None:
                shot.save(tmp_path / "last-seen.png")
                seen = f"last seen ({tmp_path / 'last-seen.png'}): {bar} bar, {text} text, {video_pixels} video pixels; windows: {windows_shown(x_display, 'movinet')}"
                raise AssertionError((process.stderr.read(), seen))
            time.sleep(0.1)
        xdotool(x_display, "key", "--window", window, "q")
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in process.stderr.read()


def test_a_file_at_its_own_speed_classifies_its_last_due_frame(palette_models, colour_video):
    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    video = colour_video("red.mp4", [(RED, 4.0)], fps=5)  # 20 frames, all due at 5 fps, the file ends at the last
    clock = SteppedClock()  # at the file's own speed on any machine: the model's steps take no time on it
    session = LiveSession(classifier, video, size=16, fps=5, clock=clock, sleep=clock.sleep)
    clock.drive(session)
    with session:
        list(session.follow())
    assert clock() == pytest.approx(19 / 5)  # played to its last frame
    assert session.latest_update.steps == 20 and session.latest_update.dropped == 0
    assert session.summary.endswith("20 frames classified, 0 dropped (0%)")


# --- the live model: the largest downloaded stream variant that keeps up here -----------------


@pytest.fixture
def downloaded(tiny_models, tmp_path, monkeypatch):
    """``downloaded(*names)``: registry stream variants "downloaded" (the tiny stream model in
    their cache directories) into an empty cache, with any download an error."""
    from movinet_cli.model import registry

    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))

    def no_download(url):
        raise AssertionError(f"downloaded {url}")

    monkeypatch.setattr(registry, "_download", no_download)

    def install(*names):
        for name in names:
            shutil.copytree(tiny_models.stream, registry.cached_model_dir(registry.VARIANTS[name].url))
        return tmp_path / "cache" / "pace.json"

    return install


def machine_speed(monkeypatch, seconds_per_frame):
    """Fakes the one measuring function: each variant's seconds per frame; returns the names measured."""
    from movinet_cli.commands import pace

    measured = []

    def measure(classifier, size, fps, steps=pace.MEASURED_STEPS):
        measured.append(classifier.source.name)
        return seconds_per_frame[classifier.source.name]

    monkeypatch.setattr(pace, "measure", measure)
    return measured


def live_jsonl(video, *args):
    return run("live", video, "--size", 16, "--no-window", "--as-fast-as-possible", "--format", "jsonl", *args)


@pytest.mark.slow
def test_a_fast_machine_keeps_a5(downloaded, monkeypatch, colour_video):
    downloaded("a5-stream", "a3-stream", "a0-stream")
    measured = machine_speed(monkeypatch, {"a5-stream": 0.030, "a3-stream": 0.010, "a0-stream": 0.002})
    result = live_jsonl(colour_video("red.mp4", [(RED, 1.0)]), "-v")
    assert result.exit_code == 0, result.stderr
    assert measured == ["a5-stream"]
    notice = [line for line in result.stderr.splitlines() if line.startswith("live: a5-stream")]
    assert len(notice) == 1 and "the largest downloaded stream model that keeps up" in notice[0] and "30 ms per frame" in notice[0]
    assert "model: a5-stream" in result.stderr and "pace: a5-stream takes 30 ms per frame" in result.stderr  # --verbose
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all(line["fps"] == 12 and line["model_fps"] > 0 for line in lines)  # measured against the model's own


@pytest.mark.slow
def test_a_slow_machine_gets_a_smaller_variant_and_remembers_why(downloaded, monkeypatch, colour_video):
    remembered = downloaded("a5-stream", "a4-stream", "a3-stream", "a0-stream")
    measured = machine_speed(monkeypatch, {"a5-stream": 0.200, "a4-stream": 0.100, "a3-stream": 0.040, "a0-stream": 0.002})
    video = colour_video("red.mp4", [(RED, 1.0)])
    result = live_jsonl(video, "-v")
    assert result.exit_code == 0, result.stderr
    assert measured == ["a5-stream", "a4-stream", "a3-stream"]  # a0 neither loaded nor measured
    assert "live: a3-stream, the largest downloaded stream model that keeps up" in result.stderr
    assert "(a5-stream 200 ms, a4-stream 100 ms too slow here)" in result.stderr
    assert "model: a3-stream" in result.stderr and "model: a0-stream" not in result.stderr
    assert len(json.loads(remembered.read_text())["machines"]) == 1
    # Next time the measurements are remembered: nothing is measured, the same choice is made.
    again = live_jsonl(video, "-v")
    assert again.exit_code == 0 and measured == ["a5-stream", "a4-stream", "a3-stream"]
    assert "live: a3-stream" in again.stderr and "(remembered from " in again.stderr
    assert "model: a5-stream" not in again.stderr  # the slow ones are not loaded again
    # An explicit model that cannot keep up runs as asked, with one line naming one that does.
    asked = live_jsonl(video, "--model", "a5-stream", "-v")
    assert asked.exit_code == 0 and "model: a5-stream" in asked.stderr
    warnings = [line for line in asked.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "a5-stream takes 200 ms per frame" in warnings[0] and "a3-stream keeps up here (--model a3-stream)" in warnings[0]


@pytest.mark.slow
def test_offline_only_downloaded_variants_are_candidates(downloaded, monkeypatch, colour_video):
    downloaded("a2-stream", "a0-stream")
    measured = machine_speed(monkeypatch, {"a2-stream": 0.010, "a0-stream": 0.002})
    result = live_jsonl(colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 0, result.stderr
    assert measured == ["a2-stream"] and "live: a2-stream, the largest downloaded" in result.stderr


@pytest.mark.slow
def test_a_damaged_measurements_file_is_measured_again_and_rewritten(downloaded, monkeypatch, colour_video):
    remembered = downloaded("a0-stream")
    remembered.parent.mkdir(parents=True, exist_ok=True)
    remembered.write_text('{"version": 1, "machines": {"x": {"a0-stream 16px auto auto": {"seconds_per_frame": "fast"}}}}')
    measured = machine_speed(monkeypatch, {"a0-stream": 0.002})
    result = live_jsonl(colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 0 and measured == ["a0-stream"]
    assert "a0-stream 16px auto auto" in json.loads(remembered.read_text())["machines"][__import__("movinet_cli.machine").machine.machine()]


def test_with_no_stream_model_downloaded_live_takes_a5_and_downloads_only_it(downloaded, monkeypatch, colour_video, tmp_path):
    downloaded()
    machine_speed(monkeypatch, {})
    result = live_jsonl(colour_video("red.mp4", [(RED, 1.0)]))
    assert result.exit_code == 1
    assert "live: a5-stream, the default: no stream model is downloaded yet" in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Downloading")] == [
        f"Downloading a5-stream from https://tfhub.dev/tensorflow/movinet/a5/stream/kinetics-600/classification/3 into {tmp_path / 'cache' / 'tfhub'} (once)..."
    ]  # the one download tried


def test_the_footer_says_the_models_pace_against_its_frame_rate():
    from movinet_cli.outcomes.pipeline import Prediction
    from movinet_cli.outcomes.result import LiveUpdate
    from movinet_cli.outputs.overlay import annotate

    update = LiveUpdate(
        time_s=1.0, predictions=[Prediction("red", 0.9)], label="red", inference_ms=50.0, latency_s=0.1,
        model_fps=17.94, steps=12, dropped=0, reset=False, frames=4, fps=12,
    )
    assert update.to_dict()["model_fps"] == 17.9 and update.to_dict()["fps"] == 12
    frame = annotate(np.zeros((360, 640, 3), np.uint8), update)
    assert frame.any()


def test_a_model_whose_output_is_nan_fails_with_one_line_and_shows_no_nan(palette_models, colour_video):
    class NanModel(SlowModel):
        broken = "always"  # or "on frames": NaN from the first real (not blank) frames on

        def step(self, frames, states):
            logits, states = self.model.step(frames, states)
            broken = self.broken == "always" or np.any(frames)
            return (np.full_like(logits, np.nan) if broken else logits), states

    classifier = load_classifier(palette_models.stream, labels=palette_models.labels)
    classifier.model = NanModel(classifier.model, delay_s=0, clock=None)  # its steps do not call the clock
    video = colour_video("red.mp4", [(RED, 1.0)], fps=12)
    with pytest.raises(ModelError, match=r"^the model's output is not finite \(NaN in 8 of 8 logits\)"):
        LiveSession(classifier, video, size=16, fps=12, realtime=False).__enter__()  # at start, on blank frames
    classifier.model.broken = "on frames"  # the start's blank frames pass; the video's fail: mid-session
    updates = []
    with LiveSession(classifier, video, size=16, fps=12, realtime=False) as session:
        while not session.finished or not session.updates.empty():
            with contextlib.suppress(queue.Empty):
                updates.append(session.updates.get(timeout=0.1))
    assert all(np.isfinite(p.probability) for update in updates for p in update.predictions)  # before the fault, if any
    assert session.failure.startswith("the model failed: the model's output is not finite (NaN in 8 of 8 logits)")


@pytest.mark.slow
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
    from movinet_cli.outputs.display import display_problem

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
