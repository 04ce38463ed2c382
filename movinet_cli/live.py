"""Live classification of a camera, a video file or a stream, with a stream model.

Three threads never wait on each other's backlog: a *grabber* reads the source and keeps
only the newest frame (for display) and the newest frame that is due at the model's frame
rate (by timestamp); an *inference* thread feeds due frames to the stream model, carrying
its states, and publishes updates; the caller's thread displays or prints them. When the
model is slower than real time, due frames are dropped, not queued, so lag and memory stay
bounded. A file can instead be read as fast as the model goes (``realtime=False``), every
due frame then being classified.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from .classify import Classifier, Prediction, softmax
from .errors import ModelKindError, MovinetError
from .overlay import OVERLAY_LABELS, draw_labels
from .video import FrameSampler, VideoFileWriter, VideoReader, fit_frame, to_model_input

# Mean absolute change of a model-input frame (RGB in [0, 1]) taken as a new scene.
SCENE_CHANGE = 0.3
NO_ACTION = "no action"
UPDATES_KEPT = 256
_POLL_S = 0.05


def has_display() -> bool:
    """Whether a window can be shown (an X11 or Wayland display on Linux and the BSDs)."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass
class Source:
    """A video source: ``frames`` yields (time_s, BGR uint8 frame) until it ends."""

    name: str
    is_file: bool
    fps: float  # nominal frames/s, 0.0 if unknown
    frames: Iterator[tuple[float, np.ndarray]]
    close: Callable[[], None]


def open_source(source: str) -> Source:
    """Opens a camera index ("0"), a stream URL or a video file; raises MovinetError (or
    VideoError, for files) with the reason and what to try instead."""
    if not source.isdigit() and "://" not in source:
        reader = VideoReader(source)
        return Source(reader.path, True, reader.info.nominal_fps, reader.raw_frames(), reader.close)
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        if source.isdigit():
            raise MovinetError(
                f"cannot open camera {source} (none there, or in use): choose another with "
                "'movinet live 1' (2, ...), or give a video file or a stream URL (rtsp://..., http://...)"
            )
        raise MovinetError(f"cannot open stream {source}: check the URL and that the stream is live")
    fps = capture.get(cv2.CAP_PROP_FPS)
    name = f"camera {source}" if source.isdigit() else source
    return Source(name, False, fps if 0 < fps < 1000 else 0.0, _wall_clock_frames(capture), capture.release)


def _wall_clock_frames(capture: cv2.VideoCapture) -> Iterator[tuple[float, np.ndarray]]:
    """A live source's frames, timed by the clock from the first one (camera timestamps vary
    by driver)."""
    started = None
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        now = time.monotonic()
        started = now if started is None else started
        yield now - started, frame


@dataclass
class LiveUpdate:
    """What the model says after one frame."""

    time_s: float  # the frame's time in the source, seconds
    predictions: list[Prediction]  # top-k after smoothing, most probable first
    label: str  # the top label, or NO_ACTION below the threshold
    inference_ms: float  # time of this model step
    latency_s: float  # from reading the frame to this update
    model_fps: float  # model steps per second, recently
    steps: int  # frames classified so far
    dropped: int  # due frames skipped because the model was busy
    reset: bool  # states were reset before this frame (scene change or request)


class _Slot:
    """Holds at most one item: ``put`` replaces (and counts) an unread one, or waits for the
    reader when ``block`` is set."""

    def __init__(self, block: bool):
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._block = block
        self.replaced = 0

    def put(self, item, stop: threading.Event, block: bool | None = None) -> None:
        """Puts ``item``, waiting for the reader if ``block`` (default: the slot's own setting)."""
        block = self._block if block is None else block
        while not stop.is_set():
            try:
                self._queue.put(item, block=block, timeout=_POLL_S if block else None)
                return
            except queue.Full:
                if not block:
                    try:
                        self._queue.get_nowait()
                        self.replaced += 1
                    except queue.Empty:
                        pass

    def get(self, timeout: float):
        return self._queue.get(timeout=timeout)


class LiveSession:
    """Classifies ``source`` live with a stream ``classifier``; see the module docstring.

    Args:
        classifier: a Classifier whose model is a stream model.
        source: camera index ("0"), stream URL, video file path, or an opened Source.
        realtime: play a file at its own speed (dropping frames the model has no time for);
            False feeds every due frame as fast as the model goes. Cameras are always real time.
        smoothing: weight of the past in an exponential moving average of probabilities
            (0 = off, 0.9 = heavy).
        threshold: below this top probability the label is NO_ACTION.
        top_k: predictions per update.
        record: a video file to save the annotated source frames to.
        fps, size: override the model's frame rate (frames/s) and input size (pixels).
    """

    def __init__(
        self,
        classifier: Classifier,
        source: str | Source,
        *,
        realtime: bool = True,
        smoothing: float = 0.0,
        threshold: float = 0.0,
        top_k: int = 5,
        record: str | None = None,
        fps: float | None = None,
        size: int | None = None,
    ):
        if classifier.mode != "stream":
            variant = classifier.source.variant
            twin = f"{variant.model_id}-stream" if variant else "a stream model"
            raise ModelKindError(f"live needs a stream model; {classifier.source.name} is a base model (use {twin})")
        self.classifier = classifier
        self._source = open_source(source) if isinstance(source, str) else source
        self.name = self._source.name
        self.realtime = realtime or not self._source.is_file
        self.smoothing, self.threshold, self.top_k, self.record = smoothing, threshold, top_k, record
        self.fps, self.size = fps or classifier.fps, size or classifier.size
        # Updates for a consumer that prints them; the oldest go if nobody reads (a window).
        self.updates: queue.Queue[LiveUpdate] = queue.Queue(maxsize=UPDATES_KEPT)
        self.latest_update: LiveUpdate | None = None
        self.end_reason = ""  # why the source ended
        self.failure = ""  # set if reading or the model failed
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._due = _Slot(block=not self.realtime)
        self._newest: tuple[float, np.ndarray] | None = None
        self._reset_requested = threading.Event()
        self._recorder: VideoFileWriter | None = None
        self._files = contextlib.ExitStack()  # the recording, complete on stop
        self._threads = [
            threading.Thread(target=self._grab, name="movinet-grab", daemon=True),
            threading.Thread(target=self._infer, name="movinet-infer", daemon=True),
        ]

    @property
    def finished(self) -> bool:
        """True once the source ended (or stop() was called) and every due frame was classified."""
        return self._finished.is_set()

    @property
    def summary(self) -> str:
        """One line: why the session ended and how many due frames were classified or dropped."""
        update = self.latest_update
        if update is None:
            return self.end_reason or "no frame was classified"
        due = update.steps + update.dropped
        counts = f"{update.steps} frames classified, {update.dropped} dropped ({100 * update.dropped / due:.0f}%)"
        return f"{self.end_reason}: {counts}" if self.end_reason else counts

    def newest_frame(self) -> tuple[float, np.ndarray] | None:
        """``(time_s, BGR uint8 frame)`` most recently read, for display."""
        return self._newest

    def start(self) -> LiveSession:
        """Prepares the model (conversion, compilation) with one step on a blank frame, then
        starts reading, so that no real frame waits for one-time work."""
        blank = np.zeros((1, self.size, self.size, 3), np.float32)
        self.classifier.model.step(blank, self.classifier.model.init_states(blank.shape[:3]))
        for thread in self._threads:
            thread.start()
        return self

    def reset(self) -> None:
        """Asks for the model's states (and smoothing) to be reset before the next frame."""
        self._reset_requested.set()

    def stop(self) -> None:
        """Stops reading, waits for the threads, and completes the recording."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join()
        self._source.close()
        self._files.close()

    def __enter__(self) -> LiveSession:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- the grabber thread ---------------------------------------------------------------

    def _frames(self) -> Iterator[tuple[float, float, np.ndarray]]:
        """Yields (time_s, monotonic read time, frame), a file paced to its own speed."""
        playback_origin = None
        for time_s, frame in self._source.frames:
            if self._stop.is_set():
                return
            now = time.monotonic()
            if self.realtime and self._source.is_file:
                playback_origin = now - time_s if playback_origin is None else playback_origin
                if playback_origin + time_s > now:
                    time.sleep(playback_origin + time_s - now)
                    now = time.monotonic()
            yield time_s, now, frame
        self.end_reason = f"end of {self.name}" if self._source.is_file else f"{self.name} stopped sending frames"

    def _grab(self) -> None:
        sampler = FrameSampler(self.fps)
        try:
            for time_s, read_at, frame in self._frames():
                self._newest = (time_s, frame)
                if self.record:
                    self._write(frame)
                if sampler.take(time_s):
                    self._due.put((time_s, read_at, frame), self._stop)
        except Exception as error:  # reported to the caller through ``failure``
            self.failure = f"{self.name}: {type(error).__name__}: {error}"
        finally:
            self._due.put(None, self._stop, block=True)  # the end waits: the last due frame is never replaced

    def _write(self, frame: np.ndarray) -> None:
        """Appends ``frame`` with the latest labels drawn on it to the recording."""
        if self._recorder is None:
            self._recorder = self._files.enter_context(VideoFileWriter(self.record, self._source.fps))
        self._recorder.write(annotate(frame.copy(), self.latest_update))

    # --- the inference thread -------------------------------------------------------------

    def _infer(self) -> None:
        model, size = self.classifier.model, self.size
        states, previous, smoothed = None, None, None
        steps, recent = 0, []
        try:
            while True:
                try:
                    item = self._due.get(timeout=_POLL_S)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                if item is None:
                    return
                time_s, read_at, frame = item
                image = to_model_input(fit_frame(frame, size, crop_scale=self.classifier.crop_scale))
                reset = states is None or self._reset_requested.is_set()
                if previous is not None and np.abs(image - previous).mean() > SCENE_CHANGE:
                    reset = True
                if reset:
                    self._reset_requested.clear()
                    states, smoothed = model.init_states((1, size, size)), None
                previous = image
                began = time.monotonic()
                logits, states = model.step(image[np.newaxis], states)
                done = time.monotonic()
                probabilities = softmax(logits)
                if smoothed is not None and self.smoothing:
                    probabilities = self.smoothing * smoothed + (1 - self.smoothing) * probabilities
                smoothed = probabilities
                steps += 1
                recent = [t for t in recent if t > done - 2.0] + [done]
                order = np.argsort(probabilities)[::-1][: self.top_k]
                predictions = [Prediction(self.classifier.labels[i], float(probabilities[i])) for i in order]
                update = LiveUpdate(
                    time_s=time_s,
                    predictions=predictions,
                    label=predictions[0].label if predictions[0].probability >= self.threshold else NO_ACTION,
                    inference_ms=(done - began) * 1000,
                    latency_s=done - read_at,
                    model_fps=(len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0,
                    steps=steps,
                    dropped=self._due.replaced,
                    reset=reset and steps > 1,
                )
                self.latest_update = update
                if self.updates.full():
                    with contextlib.suppress(queue.Empty):
                        self.updates.get_nowait()
                self.updates.put_nowait(update)
        except Exception as error:
            self.failure = f"the model failed: {type(error).__name__}: {error}"
        finally:
            self._finished.set()


def annotate(frame: np.ndarray, update: LiveUpdate | None) -> np.ndarray:
    """The overlay shown live: top labels with bars and the model's pace, or a waiting note."""
    if update is None:
        return draw_labels(frame, [("Waiting for action...", 0.0)])
    lines = [(p.label, p.probability) for p in update.predictions[:OVERLAY_LABELS]]
    if update.label == NO_ACTION:
        lines = [(NO_ACTION, update.predictions[0].probability)] + lines[:2]
    footer = f"model {update.model_fps:4.1f} fps, {update.inference_ms:4.0f} ms/step, dropped {update.dropped}"
    return draw_labels(frame, lines, footer)
