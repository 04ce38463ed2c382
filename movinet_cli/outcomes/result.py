"""What a run finds in a video, and how model outputs become an answer: ``Prediction``,
``Step``, ``Result`` (classification), ``Span``, ``Embedding`` (features), ``Outcome`` (one
video of a run: what was found, or why nothing was); ``softmax``, ``top_predictions`` and
the frame-weighted means that aggregate steps.

Plain values and NumPy only: the timeline, output, report and results modules take these
without loading the pipeline (``classify``) that makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from movinet_cli.errors import ModelError
from movinet_cli.options import NO_CLEAR_ACTION


@dataclass
class Prediction:
    label: str
    probability: float  # softmax probability in [0, 1]


@dataclass
class Step:
    """One model output: a window (clip mode) or a chunk of frames (stream mode)."""

    start_s: float  # video time of the step's first frame, seconds
    end_s: float  # video time just after its last frame, seconds
    frames: float  # its frames: a whole number, but for a timeline bin's share of steps (``timeline.bins``)
    probabilities: np.ndarray  # [classes] float32: the window's, or the stream's after this chunk


@dataclass
class Result:
    """What ``Classifier.classify`` found in one video."""

    path: str | None  # None for frames passed as an array
    predictions: list[Prediction]  # top-k, most probable first
    probabilities: np.ndarray  # [classes] float32, the video's answer
    duration_s: float  # seconds of video classified
    frames: int  # frames fed to the model
    steps: list[Step]
    model: str
    engine: str
    mode: str  # "clip" or "stream"
    seconds: float  # wall-clock time taken
    warnings: list[str] = field(default_factory=list)
    precision: str = "f32"  # what the engine computed in: "f32" or "bf16"
    min_probability: float = 0.0  # below it, the answer is NO_CLEAR_ACTION (``RunOptions``)
    fps: float = 0.0  # how its frames were read: frames/s, size x size pixels, resize mode ("" unknown)
    size: int = 0
    resize: str = ""

    @property
    def action(self) -> str:
        """The answer: the top label, or NO_CLEAR_ACTION when it is below ``min_probability``."""
        top = self.predictions[0]
        return top.label if top.probability >= self.min_probability else NO_CLEAR_ACTION

    def to_dict(self) -> dict:
        """A JSON-ready summary (no per-step data)."""
        return {
            "path": self.path,
            "action": self.action,
            "predictions": [{"label": p.label, "probability": round(p.probability, 6)} for p in self.predictions],
            "duration_s": round(self.duration_s, 3),
            "frames": self.frames,
            "model": self.model,
            "engine": self.engine,
            "precision": self.precision,
            "mode": self.mode,
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
        }


@dataclass
class Span:
    """One window (clip mode) or chunk (stream mode) of an embedding."""

    start_s: float  # video time of its first frame, seconds
    end_s: float  # video time just after its last frame, seconds
    frames: int
    vector: np.ndarray  # [F] float32: the pooled features of the window, or of the stream after this chunk


@dataclass
class Embedding:
    """What ``Classifier.embed`` found in one video."""

    path: str | None  # None for frames passed as an array
    vector: np.ndarray  # [F] float32: the video's pooled features (aggregated as a Result's probabilities are)
    spans: list[Span]
    duration_s: float  # seconds of video embedded
    model: str
    engine: str
    mode: str  # "clip" or "stream"
    seconds: float  # wall-clock time taken
    warnings: list[str] = field(default_factory=list)


Found = TypeVar("Found", Result, Embedding)  # what a run finds in each video


@dataclass
class Outcome(Generic[Found]):
    """One video of ``classify_many``: its result, or why it has none."""

    video: str  # as given
    result: Found | None  # None when the video failed (an Embedding from classify_many(embed=True))
    error: str = ""  # one line when it failed (without the video's name), else ""
    seconds: float = 0.0  # wall-clock time taken
    exception: Exception | None = None  # an unexpected error behind ``error`` (a bug, not a bad file), for its traceback

    @property
    def ok(self) -> bool:
        return self.result is not None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities [C] float32 from logits [C] (any float dtype).

    Computed in float64, where no float32 logit can overflow (float32 logits of +-3e38
    overflowed the subtraction, with NumPy's RuntimeWarning). Raises ModelError if a logit
    is NaN or infinite: such an output is no answer (a damaged model, or an input that
    breaks it), and that video fails rather than show "nan%"."""
    logits = np.asarray(logits, np.float64)
    finite = np.isfinite(logits)
    if not finite.all():
        what = "NaN" if np.isnan(logits).any() else "infinite"
        raise ModelError(
            f"the model's output is not finite ({what} in {logits.size - int(finite.sum())} of {logits.size} logits); "
            "the model (or its OpenVINO cache) may be damaged"
        )
    shifted = np.exp(logits - logits.max())
    return (shifted / shifted.sum()).astype(np.float32)


def top_predictions(probabilities: np.ndarray, labels: list[str], k: int) -> list[Prediction]:
    """The ``k`` most probable of ``probabilities`` [C] with their ``labels``, most probable first."""
    order = np.argsort(probabilities)[::-1][:k]
    return [Prediction(labels[i], float(probabilities[i])) for i in order]


def frame_weighted_mean(steps: list[Step]) -> np.ndarray:
    """The steps' probabilities [C] averaged, each weighted by its frame count."""
    return weighted_mean([step.probabilities for step in steps], [step.frames for step in steps])


def weighted_mean(vectors: list[np.ndarray], frames: list[float]) -> np.ndarray:
    """Vectors [n] averaged, each weighted by its frame count."""
    weights = np.array(frames, np.float32)
    return (np.stack(vectors) * weights[:, None]).sum(0) / weights.sum()


@dataclass
class LiveUpdate:
    """What the model says after one model call on a chunk of ``frames`` due frames."""

    time_s: float  # the chunk's last frame's time in the source, seconds
    predictions: list[Prediction]  # top-k after smoothing, most probable first
    label: str  # the top label, or NO_CLEAR_ACTION below the minimum probability
    inference_ms: float  # time of this model call
    latency_s: float  # from reading the chunk's last frame to this update
    model_fps: float  # frames the model classifies per second of its own time, recently (what it could keep)
    steps: int  # frames classified so far
    dropped: int  # due frames skipped because the backlog passed its bound
    reset: bool  # states were reset before this chunk (scene change, drop or request)
    frames: int = 1  # due frames fed in this model call
    backlog: int = 0  # due frames read but not yet fed, after this call
    fps: float = 0.0  # frames/s due: the model's own frame rate (or the one asked for)

    def to_dict(self) -> dict:
        """A JSON-ready record of this update (``live --format jsonl``'s line)."""
        return {
            "time_s": round(self.time_s, 3),
            "label": self.label,
            "predictions": [{"label": p.label, "probability": round(p.probability, 6)} for p in self.predictions],
            "inference_ms": round(self.inference_ms, 1),
            "latency_s": round(self.latency_s, 3),
            "model_fps": round(self.model_fps, 1),
            "fps": self.fps,
            "frames": self.frames,
            "backlog": self.backlog,
            "dropped": self.dropped,
            "reset": self.reset,
        }
