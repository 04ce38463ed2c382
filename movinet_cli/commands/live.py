"""Live classification of a camera, a video file or a stream, with a stream model.

Three threads: a *grabber* reads the source, keeps the newest frame (for display) and
queues the frames due at the model's frame rate (by timestamp); an *inference* thread feeds
every queued due frame to the stream model at each step, as one chunk, carrying its states,
and publishes updates; the caller's thread displays or prints them. Feeding chunks keeps the
model's view of the video at its own frame rate even when one call takes longer than a
frame, and a chunk costs far less per frame than single frames. Only a backlog of more than
one second of due frames is dropped (the states then reset), so lag and memory stay bounded.
A file can instead be read as fast as the model goes (``realtime=False``): the grabber then
waits instead of dropping, and every due frame is classified.

Chunk lengths are powers of two (a backlog of 7 is fed as 4 + 2 + 1), so that the engine
compiles a handful of shapes, all of them at start, never mid-session.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from movinet_cli.errors import MovinetError, one_line
from movinet_cli.inputs.capture import Capture, open_capture
from movinet_cli.inputs.frames import fit_frame, to_model_input
from movinet_cli.inputs.sampling import FrameSampler
from movinet_cli.model import engines, registry
from movinet_cli.options import NO_CLEAR_ACTION, ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier
from movinet_cli.outcomes.result import LiveUpdate
from movinet_cli.outputs.encoding import VideoFileWriter, check_video_output
from movinet_cli.outputs.overlay import annotate

# Mean absolute change of a model-input frame (RGB in [0, 1]) taken as a new scene.
SCENE_CHANGE = 0.3
UPDATES_KEPT = 256
_POLL_S = 0.05


def chunk_lengths(frames: int) -> list[int]:
    """``frames`` as a sum of powers of two, largest first (7 -> [4, 2, 1])."""
    return [1 << bit for bit in range(frames.bit_length() - 1, -1, -1) if frames >> bit & 1]


def plan_chunks(images: list[np.ndarray], previous: np.ndarray | None, restart: bool) -> list[tuple[int, int, bool]]:
    """How one step feeds its due frames to the model: ``(first frame, frames, reset
    before)`` per model call. The states reset before the first frame if ``restart`` (the
    session's start, a drop, a request) and before any frame that differs from the one
    before it (``previous`` before the first; frames [H, W, 3] float32 in [0, 1]) by more than
    ``SCENE_CHANGE``: a call never spans a reset. Between resets, frames go as chunks of
    ``chunk_lengths`` (powers of two, largest first)."""
    resets = {0} if restart else set()
    for i, image in enumerate(images):
        if previous is not None and np.abs(image - previous).mean() > SCENE_CHANGE:
            resets.add(i)
        previous = image
    bounds = sorted(resets | {0}) + [len(images)]
    pieces = []
    for first, end in zip(bounds, bounds[1:]):
        at = first
        for length in chunk_lengths(end - first):
            pieces.append((at, length, at in resets))
            at += length
    return pieces


class Smoother:
    """An exponential moving average of probabilities whose past fades by ``smoothing`` per
    frame (0: off), so a chunk of n frames weighs the past ``smoothing ** n``: the same
    answer however the frames were chunked."""

    def __init__(self, smoothing: float):
        self.smoothing = smoothing
        self._smoothed: np.ndarray | None = None

    def add(self, probabilities: np.ndarray, frames: int) -> np.ndarray:
        """Probabilities [C] after a chunk of ``frames`` frames -> the smoothed ones [C]."""
        if self._smoothed is not None and self.smoothing:
            weight = self.smoothing**frames
            probabilities = weight * self._smoothed + (1 - weight) * probabilities
        self._smoothed = probabilities
        return probabilities

    def reset(self) -> None:
        self._smoothed = None


class _Backlog:
    """Due frames read but not yet fed, at most ``bound``. Past the bound ``put`` either
    drops the whole backlog (counted in ``dropped``; the next ``take`` says so, for the
    states to be reset) or, when ``block`` is set, waits for the reader."""

    def __init__(self, bound: int, block: bool):
        self.bound, self._block = bound, block
        self._items: collections.deque = collections.deque()
        self._changed = threading.Condition()
        self._gap = False  # frames were dropped since the last take
        self._closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item, stop: threading.Event) -> None:
        with self._changed:
            while len(self._items) >= self.bound:
                if not self._block:
                    self.dropped += len(self._items)
                    self._items.clear()
                    self._gap = True
                elif stop.is_set():
                    return
                else:
                    self._changed.wait(_POLL_S)
            self._items.append(item)
            self._changed.notify_all()

    def close(self) -> None:
        """No more items: ``take`` returns None once the backlog is empty."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def take(self, timeout: float) -> tuple[list, bool] | None:
        """Every waiting item and whether frames were dropped before them; ([], False) after
        ``timeout`` seconds without any; None once closed and empty."""
        with self._changed:
            if not self._items and not self._closed:
                self._changed.wait(timeout)
            if not self._items:
                return None if self._closed else ([], False)
            items, gap = list(self._items), self._gap
            self._items.clear()
            self._gap = False
            self._changed.notify_all()
            return items, gap


class LiveSession:
    """Classifies ``source`` live with a stream ``classifier``; see the module docstring.

    Args:
        classifier: a Classifier whose model is a stream model.
        source: camera index ("0"), stream URL, video file path, or an opened ``capture.Capture``.
        realtime: play a file at its own speed (dropping a backlog of more than a second of
            due frames); False feeds every due frame as fast as the model goes. Cameras are
            always real time.
        smoothing: weight of the past in an exponential moving average of probabilities
            (0 = off, 0.9 = heavy).
        min_probability: below this top probability the label is NO_CLEAR_ACTION.
        top_k: predictions per update.
        record: a video file to save the annotated source frames to.
        read: what to read (``options.ReadOptions``: fps, size and resize apply; the
            model's fps and size by default); ``**read_options`` sets its fields, for short
            (``fps=5``).
        clock, sleep: the session's time in seconds and its way to wait for it (``time.monotonic``
            and ``time.sleep``): when a file's frames are due, and the latency and model speed
            that updates give. A test gives its own, so that what it asserts holds on any machine.
    """

    def __init__(
        self,
        classifier: Classifier,
        source: str | Capture,
        *,
        realtime: bool = True,
        smoothing: float = 0.0,
        min_probability: float = RunOptions.min_probability,
        top_k: int = RunOptions.top_k,
        record: str | None = None,
        read: ReadOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **read_options,
    ):
        variant = classifier.source.variant
        registry.check_kind(classifier.source.name, engines.kind_of(classifier.model), "stream", variant.model_id if variant else None, command="live")
        self.classifier = classifier
        self._clock, self._sleep = clock, sleep
        self._source = open_capture(source) if isinstance(source, str) else source
        self.name = self._source.name
        self.realtime = realtime or not self._source.is_file
        self.smoothing, self.min_probability, self.top_k, self.record = smoothing, min_probability, top_k, record
        if record:
            check_video_output(record)  # an extension no browser plays fails now, not mid-session
        read = classifier.reading(dataclasses.replace(read or ReadOptions(), **read_options))
        self.read = read
        self.fps, self.size = read.fps, read.size
        # Updates for a consumer that prints them; the oldest go if nobody reads (a window).
        self.updates: queue.Queue[LiveUpdate] = queue.Queue(maxsize=UPDATES_KEPT)
        self.latest_update: LiveUpdate | None = None
        self.end_reason = ""  # why the source ended
        self.failure = ""  # set if reading or the model failed
        self._stop = threading.Event()
        self._finished = threading.Event()
        # At most one second of due frames waits; round(fps) frames, at least one.
        self._due = _Backlog(max(1, round(self.fps)), block=not self.realtime)
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
        """Prepares the model (conversion, compilation of every chunk length up to the
        backlog's bound) with one step per length on blank frames, then starts reading, so
        that no real frame waits for one-time work."""
        state = self.classifier.stream_state()
        all_lengths = (1 << self._due.bound.bit_length()) - 1  # 0b1111 for a bound of 8 to 15: 8, 4, 2, 1
        for length in chunk_lengths(all_lengths):
            state.step(np.zeros((length, self.size, self.size, 3), np.float32))
        for thread in self._threads:
            thread.start()
        return self

    def follow(self) -> Iterator[LiveUpdate]:
        """Each update as it comes, until the source has ended and every update was taken
        (for a consumer that prints them; a window reads ``latest_update`` instead)."""
        while True:
            try:
                yield self.updates.get(timeout=2 * _POLL_S)
            except queue.Empty:
                if self.finished and self.updates.empty():
                    return

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
            now = self._clock()
            if self.realtime and self._source.is_file:
                playback_origin = now - time_s if playback_origin is None else playback_origin
                if playback_origin + time_s > now:
                    self._sleep(playback_origin + time_s - now)
                    now = self._clock()
            yield time_s, now, frame
        self.end_reason = f"end of {self.name}" if self._source.is_file else f"{self.name} stopped sending frames"

    def _grab(self) -> None:
        sampler = FrameSampler(self.fps)
        try:
            for time_s, read_at, frame in self._frames():
                self._newest = (time_s, frame)
                if self.record:
                    self._write(self.record, frame)
                if sampler.take(time_s):
                    self._due.put((time_s, read_at, frame), self._stop)
        except Exception as error:  # reported to the caller through ``failure``
            self.failure = f"{self.name}: {type(error).__name__}: {error}"
        finally:
            self._due.close()

    def _write(self, record: str, frame: np.ndarray) -> None:
        """Appends ``frame`` with the latest labels drawn on it to the recording ``record``."""
        if self._recorder is None:
            self._recorder = self._files.enter_context(VideoFileWriter(record, self._source.fps))
        self._recorder.write(annotate(frame.copy(), self.latest_update))

    # --- the inference thread -------------------------------------------------------------

    def _infer(self) -> None:
        state, smoother, previous = self.classifier.stream_state(), Smoother(self.smoothing), None
        steps, recent = 0, list[tuple[float, int, float]]()  # recent: (end, frames, seconds) of the model calls of the last 2 s
        try:
            while True:
                taken = self._due.take(timeout=_POLL_S)
                if taken is None or (not taken[0] and self._stop.is_set()):
                    return
                items, gap = taken
                if not items:
                    continue
                images = [to_model_input(fit_frame(frame, self.size, self.read.resize, self.classifier.crop_scale)) for _, _, frame in items]
                restart = not steps or gap or self._reset_requested.is_set()
                self._reset_requested.clear()
                pieces = plan_chunks(images, previous, restart)
                previous = images[-1]
                for at, length, reset in pieces:
                    if reset:
                        state.reset()
                        smoother.reset()
                    began = self._clock()
                    probabilities = smoother.add(state.step(np.stack(images[at : at + length])), length)
                    done = self._clock()
                    steps += length
                    recent = [call for call in recent if call[0] > done - 2.0] + [(done, length, done - began)]
                    time_s, read_at, _ = items[at + length - 1]
                    self._publish(
                        time_s, probabilities, inference_ms=(done - began) * 1000, latency_s=done - read_at,
                        model_fps=sum(call[1] for call in recent) / max(sum(call[2] for call in recent), 1e-9),
                        steps=steps, dropped=self._due.dropped, reset=reset and steps > length,
                        frames=length, backlog=len(items) - at - length + len(self._due), fps=self.fps,
                    )
        except MovinetError as error:  # a NaN output, say: one line, never shown as a label
            self.failure = f"the model failed: {one_line(error)}"
        except Exception as error:
            self.failure = f"the model failed: {type(error).__name__}: {error}"
        finally:
            self._finished.set()

    def _publish(self, time_s: float, probabilities: np.ndarray, **pace) -> None:
        """Makes the update for ``probabilities`` (after the frame at ``time_s``) the latest
        and queues it, the oldest queued going if nobody reads."""
        predictions = self.classifier.predictions(probabilities, self.top_k)
        label = predictions[0].label if predictions[0].probability >= self.min_probability else NO_CLEAR_ACTION
        update = LiveUpdate(time_s=time_s, predictions=predictions, label=label, **pace)
        self.latest_update = update
        if self.updates.full():
            with contextlib.suppress(queue.Empty):
                self.updates.get_nowait()
        self.updates.put_nowait(update)
