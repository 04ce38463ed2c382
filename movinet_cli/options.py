"""What to read from a video and how to run the model on it: small frozen values, built once
at the edge (the command line, a library call) and taken by every command and backend.

Each default and limit is written here and nowhere else; the command line's options show
them. This module imports nothing heavy, so that ``movinet --help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TypeVar

RESIZE_MODES = ("crop", "squash", "pad")  # see frames.fit_frame
MODEL_RESIZE = "crop"  # a MoViNet's own: the Kinetics eval recipe (a MODEL_DIR's: what its head was trained on)
AGGREGATES = ("last", "mean")  # a stream model's answer: its latest output, or the mean of every step's
ENGINES = ("auto", "openvino", "tensorflow")  # auto: TensorFlow where it sees a GPU, else OpenVINO
PRECISIONS = ("auto", "f32", "bf16")  # OpenVINO's; auto: bf16 where the CPU has it natively, else f32
OUTPUT_FORMATS = ("text", "json", "csv")  # movinet classify's
BATCH_FORMATS = ("csv", "jsonl")  # movinet batch's rows
VIDEO_EXTENSIONS = ("3gp", "avi", "flv", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts", "ts", "webm", "wmv")
DEFAULT_WORKERS = 2  # movinet batch: videos decoded ahead of the one being classified
CLIP_SECONDS = 10  # every MoViNet variant was trained on 10-second clips
NO_CLEAR_ACTION = "no clear action"  # the answer when the top label is below --min-probability
RAY_TIMEOUT_S = 30.0  # seconds to reach a Ray cluster's address before giving up
MAX_DOWNLOAD_BYTES = 2 * 1024**3  # --max-download: a VIDEO's URL or standard input, a long HD video and not a disk's worth

MIN_FPS = 0.01  # frames/s: one frame every 100 s
MAX_FPS = 60  # frames/s: 5x the fastest variant's 12; a 10-s window at 60 fps of A5 input is 737 MB
MIN_SIZE = 8  # pixels
MAX_SIZE = 640  # pixels: 2x the largest variant's 320; a frame at 640 is 4.7 MB of float32
MAX_CHUNK = 128  # stream frames per call: results do not depend on it, memory does
# --timeline-step, seconds: timestamps are rounded to a millisecond, and a bin width far below
# it made a bin index overflow (5e-324 s: "cannot convert float infinity to integer").
MIN_TIMELINE_STEP_S = 0.001
MIN_SEARCH_PROBABILITY = 0.1  # search: a label a top-k lists far below its first is no answer


@dataclass(frozen=True)
class ModelOptions:
    """Which model to load and how: ``loading.load_classifier``'s arguments.

    Attributes:
        model: registry name (``a5-base``), bare variant (``a5``), URL or SavedModel
            directory; None for a5-base (a5-stream in stream mode).
        mode: "clip" or "stream"; None accepts either kind of model.
        engine: one of ``ENGINES``.
        precision: one of ``PRECISIONS`` (OpenVINO's).
        labels: a label file (one per line, in logit order); None for Kinetics-600.
    """

    model: str | None = None
    mode: str | None = None
    engine: str = "auto"
    precision: str = "auto"
    labels: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """What to read from each video.

    Attributes:
        fps: frames/s fed to the model; None for the model's own.
        size: frame size in pixels (square); None for the model's own.
        resize: one of ``RESIZE_MODES``: "crop" (the Kinetics eval recipe), "squash", "pad";
            None for the model's own (``MODEL_RESIZE``, or what a trained head was trained on).
        start, end: classify only [start, end) of the video, seconds (end None: to its end).
    """

    fps: float | None = None
    size: int | None = None
    resize: str | None = None
    start: float = 0.0
    end: float | None = None

    def __post_init__(self):
        if self.fps is not None and not (math.isfinite(self.fps) and MIN_FPS <= self.fps <= MAX_FPS):
            raise ValueError(f"fps must be from {MIN_FPS} to {MAX_FPS}, got {self.fps!r}")
        if self.size is not None and not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"size must be from {MIN_SIZE} to {MAX_SIZE} pixels, got {self.size!r}")
        if self.resize is not None and self.resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {self.resize!r}")
        if not (math.isfinite(self.start) and self.start >= 0):
            raise ValueError(f"start must be a finite number of seconds >= 0, got {self.start!r}")
        if self.end is not None and not (math.isfinite(self.end) and self.end > self.start):
            raise ValueError(f"end ({self.end!r}) must be after start ({self.start!r})")

    def for_model(self, fps: float, size: int, resize: str = MODEL_RESIZE) -> Reading:
        """These options with a model's own frame rate (frames/s), size (pixels) and resize
        mode where they name none: the one place where those defaults are taken."""
        return Reading(**{**dataclasses.asdict(self), "fps": self.fps or fps, "size": self.size or size, "resize": self.resize or resize})


@dataclass(frozen=True)
class Reading(ReadOptions):
    """``ReadOptions`` with the frame rate, size and resize mode settled (``ReadOptions.for_model``)."""

    fps: float = 0.0
    size: int = 0
    resize: str = MODEL_RESIZE


@dataclass(frozen=True)
class RunOptions:
    """How to run the model on each video.

    Attributes:
        top_k: predictions kept per video.
        chunk: stream mode: frames per model call (the result does not depend on it).
        window: clip mode: window length, seconds (one training clip at most is what the base
            models were trained on).
        aggregate: stream mode: one of ``AGGREGATES``.
        min_probability: a video (or timeline segment) whose top label is less probable than
            this is NO_CLEAR_ACTION, its probability still given (0: always the top label).
    """

    top_k: int = 5
    chunk: int = 8  # chosen by measurement (docs/performance.md#chunk-length): files 8 (16-32: 5-8% less CPU, more memory); live what is due
    window: float = CLIP_SECONDS
    aggregate: str = "last"
    min_probability: float = 0.0

    def __post_init__(self):
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k!r}")
        if not 1 <= self.chunk <= MAX_CHUNK:
            raise ValueError(f"chunk must be from 1 to {MAX_CHUNK} frames, got {self.chunk!r}")
        if not (math.isfinite(self.window) and self.window > 0):
            raise ValueError(f"window must be a positive number of seconds, got {self.window!r}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")
        if not (math.isfinite(self.min_probability) and 0 <= self.min_probability <= 1):
            raise ValueError(f"min_probability must be from 0 to 1, got {self.min_probability!r}")

    def window_frames(self, fps: float) -> int:
        """Frames in one clip-mode window at ``fps`` frames/s (at least one)."""
        return max(1, round(self.window * fps))


Options = TypeVar("Options", "ReadOptions", "RunOptions")


def with_overrides(read: ReadOptions | None, run: RunOptions | None, overrides: dict) -> tuple[ReadOptions, RunOptions]:
    """``read`` and ``run`` (their defaults where None) with the fields named in ``overrides``
    (keyword arguments of a library call, e.g. ``fps=5, top_k=3``) replaced; TypeError for a
    name that is neither's field."""
    read, run = read or ReadOptions(), run or RunOptions()
    fields = {name for value in (read, run) for name in _fields(value)}
    if set(overrides) - fields:
        raise TypeError(f"unknown option(s): {', '.join(sorted(set(overrides) - fields))}")
    return _replaced(read, overrides), _replaced(run, overrides)


def _replaced(value: Options, overrides: dict) -> Options:
    """``value`` with those of ``overrides`` that are its fields replaced."""
    return dataclasses.replace(value, **{k: v for k, v in overrides.items() if k in _fields(value)})


def _fields(value: ReadOptions | RunOptions) -> set[str]:
    return {field.name for field in dataclasses.fields(value)}
