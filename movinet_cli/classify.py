"""The classification pipeline: a video (file or frames) in, top-k Kinetics labels out.

``load_classifier`` finds, fetches and opens a model once; ``Classifier.classify`` runs it
on one video. Base models see windows of at most one training clip (10 s); the video's
answer is the mean of the windows' probabilities weighted by their frame counts. Stream
models see chunks of frames with their states carried from chunk to chunk across the
whole video; the answer is the latest output (``aggregate="last"``) or the frame-weighted
mean of every step's probabilities (``aggregate="mean"``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from . import engines, labels as labels_module, models
from .errors import VideoError
from .isolated import IsolatedReader
from .saved_model import describe
from .video import MIN_FRAMES, windows

AGGREGATES = ("last", "mean")
DEFAULT_TOP_K = 5
DEFAULT_CHUNK = 8  # stream-model frames per call: one call per frame costs far more per frame
STREAM_CHUNKS_AHEAD = 4  # chunks decoded ahead of the stream model
MODE_OF_KIND = {kind: mode for mode, kind in models.MODES.items()}


@dataclass
class Prediction:
    label: str
    probability: float  # softmax probability in [0, 1]


@dataclass
class Step:
    """One model output: a window (clip mode) or a chunk of frames (stream mode)."""

    start_s: float  # video time of the step's first frame, seconds
    end_s: float  # video time just after its last frame, seconds
    frames: int
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

    def to_dict(self) -> dict:
        """A JSON-ready summary (no per-step data)."""
        return {
            "path": self.path,
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
class FrameSource:
    """One video's frames at the model's rate, opened by ``Classifier.open``."""

    path: str | None  # None for frames passed as an array
    fps: float  # frames/s of ``frames``
    frames: Iterable[tuple[float, np.ndarray]]  # (time_s, [H, W, 3] float32 RGB in [0, 1])
    expected_end_s: float | None  # where the frames are expected to end, seconds
    reader: IsolatedReader | None = None

    def close(self) -> None:
        """Stops a background reader of ``frames`` (if any), then releases the file."""
        stop = getattr(self.frames, "close", None)
        if stop:
            stop()
        if self.reader:
            self.reader.close()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities [C] float32 from logits [C]."""
    shifted = np.exp(logits - np.max(logits))
    return (shifted / shifted.sum()).astype(np.float32)


class Classifier:
    """A loaded model with its labels and input settings; reusable across videos.

    Attributes:
        model: the engine's clip or stream model (see ``movinet_cli.engines``).
        labels: one name per logit.
        source: where the model came from.
        fps, size: the model's frame rate (frames/s) and input size (pixels, square).
        crop_scale: the eval recipe's shorter side before the central crop, as a multiple of
            the size (the variant's; A5's for a model of unknown variant).
        engine_reason: why this engine was chosen.
    """

    def __init__(self, model, labels: list[str], source: models.ModelSource, engine_reason: str = ""):
        self.model = model
        self.labels = labels
        self.source = source
        variant = source.variant or models.VARIANTS[models.DEFAULT_MODEL]
        self.fps, self.size, self.crop_scale = variant.fps, variant.size, variant.crop_scale
        self.engine_reason = engine_reason

    @property
    def mode(self) -> str:
        return MODE_OF_KIND[engines.kind_of(self.model)]

    def frames_ahead(self, *, fps: float | None = None, window: float = models.CLIP_SECONDS, chunk: int = DEFAULT_CHUNK) -> int:
        """Frames to decode ahead of the model: one window (clip mode, ``window`` seconds at
        ``fps``) or ``STREAM_CHUNKS_AHEAD`` chunks of ``chunk`` frames (stream mode)."""
        if self.mode == "clip":
            return max(1, round(window * (fps or self.fps)))
        return STREAM_CHUNKS_AHEAD * chunk

    def open(
        self,
        video: str | os.PathLike | np.ndarray,
        *,
        fps: float | None = None,
        size: int | None = None,
        resize: str = "crop",
        start: float = 0.0,
        end: float | None = None,
        ahead: int | None = None,
    ) -> FrameSource:
        """Opens a video for ``run``: a file path, or frames [T, H, W, 3] float32 RGB in
        [0, 1] already at ``fps``. Options as for ``classify``; a file is decoded in a child
        process (see ``isolated``) up to ``ahead`` frames ahead of the model (default: one
        10-s window in clip mode, ``STREAM_CHUNKS_AHEAD`` default chunks in stream mode).
        Raises VideoError for a file that cannot be opened (one with too few frames, or one
        that crashes the decoder, raises while its frames are read)."""
        fps, size = fps or self.fps, size or self.size
        if isinstance(video, np.ndarray):
            if video.ndim != 4 or video.shape[-1] != 3 or len(video) < MIN_FRAMES:
                raise VideoError("<array>", f"expected frames [T>={MIN_FRAMES}, H, W, 3], got shape {video.shape}")
            frames = ((index / fps, frame) for index, frame in enumerate(video.astype(np.float32)))
            return FrameSource(None, fps, frames, len(video) / fps)
        ahead = self.frames_ahead(fps=fps) if ahead is None else ahead
        reader = IsolatedReader(video, ahead=ahead, fps=fps, size=size, resize=resize, crop_scale=self.crop_scale, start_s=start, end_s=end)
        return FrameSource(reader.path, fps, reader.frames(), end or reader.info.claimed_duration_s, reader)

    def run(
        self,
        source: FrameSource,
        *,
        top_k: int = DEFAULT_TOP_K,
        aggregate: str = "last",
        chunk: int = DEFAULT_CHUNK,
        window: float = models.CLIP_SECONDS,
        progress: Callable[[float, float | None], None] | None = None,
    ) -> Result:
        """Classifies an opened video (see ``classify``) and closes it."""
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        began = time.perf_counter()
        report = (lambda done: progress(done, source.expected_end_s)) if progress else None
        if report:
            report(0.0)
        try:
            if self.mode == "stream":
                probabilities, steps = self._run_stream(windows(source.frames, chunk, source.fps), aggregate, report)
            else:
                probabilities, steps = self._run_clip(windows(source.frames, max(1, round(window * source.fps)), source.fps), report)
        finally:
            source.close()
        order = np.argsort(probabilities)[::-1][:top_k]
        total_frames = sum(step.frames for step in steps)
        stats = source.reader.stats if source.reader else None
        return Result(
            path=source.path,
            predictions=[Prediction(self.labels[i], float(probabilities[i])) for i in order],
            probabilities=probabilities,
            duration_s=stats.duration_s if stats else total_frames / source.fps,
            frames=total_frames,
            steps=steps,
            model=self.source.name,
            engine=self.model.engine,
            precision=self.model.precision,
            mode=self.mode,
            seconds=time.perf_counter() - began,
            warnings=list(stats.warnings) if stats else [],
        )

    def classify(
        self,
        video: str | os.PathLike | np.ndarray,
        *,
        top_k: int = DEFAULT_TOP_K,
        fps: float | None = None,
        size: int | None = None,
        resize: str = "crop",
        start: float = 0.0,
        end: float | None = None,
        aggregate: str = "last",
        chunk: int = DEFAULT_CHUNK,
        window: float = models.CLIP_SECONDS,
        progress: Callable[[float, float | None], None] | None = None,
    ) -> Result:
        """Classifies one video.

        Args:
            video: a file path, or frames [T, H, W, 3] float32 RGB in [0, 1] already at ``fps``.
            top_k: number of predictions to return.
            fps, size: override the model's frame rate (frames/s) and input size (pixels).
            resize: "crop" (Kinetics eval), "squash" or "pad" (letterbox).
            start, end: classify only [start, end) of the video, seconds.
            aggregate: stream mode only: "last" output or "mean" of every step.
            chunk: stream mode only: frames per model call.
            window: clip mode only: window length, seconds (one training clip by default).
            progress: called at the start and after each step with the video time reached
                and the expected end time (seconds; None if unknown).

        Raises VideoError for a video that cannot be classified.
        """
        ahead = self.frames_ahead(fps=fps, window=window, chunk=chunk)
        source = self.open(video, fps=fps, size=size, resize=resize, start=start, end=end, ahead=ahead)
        return self.run(source, top_k=top_k, aggregate=aggregate, chunk=chunk, window=window, progress=progress)

    def _run_clip(self, clips: Iterator, progress) -> tuple[np.ndarray, list[Step]]:
        steps = []
        for window in clips:
            probabilities = softmax(self.model.logits(window.frames))
            steps.append(Step(window.start_s, window.end_s, len(window.frames), probabilities))
            if progress:
                progress(window.end_s)
        return frame_weighted_mean(steps), steps

    def _run_stream(self, chunks: Iterator, aggregate: str, progress) -> tuple[np.ndarray, list[Step]]:
        steps, states = [], None
        for chunk in chunks:
            if states is None:
                states = self.model.init_states(chunk.frames.shape[:3])
            logits, states = self.model.step(chunk.frames, states)
            steps.append(Step(chunk.start_s, chunk.end_s, len(chunk.frames), softmax(logits)))
            if progress:
                progress(chunk.end_s)
        return (steps[-1].probabilities if aggregate == "last" else frame_weighted_mean(steps)), steps


def frame_weighted_mean(steps: list[Step]) -> np.ndarray:
    """The steps' probabilities [C] averaged, each weighted by its frame count."""
    weights = np.array([step.frames for step in steps], np.float32)
    return (np.stack([step.probabilities for step in steps]) * weights[:, None]).sum(0) / weights.sum()


def load_classifier(
    model: str | None = None,
    *,
    mode: str | None = None,
    engine: str = "auto",
    precision: str = "auto",
    labels: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
) -> Classifier:
    """Finds, fetches (once, into the cache) and opens a model.

    Args:
        model: registry name (``a5-base``), bare variant (``a5``), URL or SavedModel
            directory; the default is ``a5-base`` (``a5-stream`` in stream mode).
        mode: "clip" or "stream"; None accepts either kind of model.
        engine: "auto", "openvino" or "tensorflow".
        precision: "auto" (bf16 where the CPU has it natively, else f32), "f32" or "bf16"
            (OpenVINO only); the one used is ``classifier.model.precision``.
        labels: a label file (one per line, in logit order); Kinetics-600 if None.
        log: called with progress messages (downloads, conversions, engine choice).

    Raises ModelError or LabelsError with a one-line explanation.
    """
    source = models.resolve_model(model, mode)
    directory = models.model_directory(source, log=log)
    kind = describe(directory).kind  # from saved_model.pb: a model of the wrong kind is refused before it loads
    models.check_kind(source.name, kind, mode, source.variant.model_id if source.variant else None)
    opened, reason = engines.open_model(directory, engine=engine, precision=precision, log=log, variant=source.variant)
    names = labels_module.load_labels(labels)
    labels_module.check_labels(names, opened.num_classes, labels)
    return Classifier(opened, names, source, reason)


def prepare_model(model: str, *, log: Callable[[str], None] | None = None) -> str:
    """Does now the slow part of a model's first run on a CPU: downloads it (once) and
    converts it for OpenVINO (once), both into the cache. ``model`` is anything
    ``load_classifier`` takes. Returns its SavedModel directory; raises ModelError."""
    source = models.resolve_model(model)
    directory = models.model_directory(source, log=log)
    variant = source.variant or models.VARIANTS[models.DEFAULT_MODEL]  # the size a run would use
    engines.prepare(directory, variant.size, log=log, variant=source.variant)
    return directory


def classify_video(video: str | os.PathLike | np.ndarray, model: str | None = None, **options) -> Result:
    """One-shot convenience: ``load_classifier(model)`` then ``classify(video, **options)``."""
    load_options = {key: options.pop(key) for key in ("mode", "engine", "precision", "labels") if key in options}
    return load_classifier(model, **load_options).classify(video, **options)
