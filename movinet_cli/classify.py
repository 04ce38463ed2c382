"""The classification pipeline: videos (files or frames) in, top-k Kinetics labels out.

``loading.load_classifier`` finds, fetches and opens a model once, as a ``Classifier``;
``Classifier.classify`` runs it on one video, and ``classify_many`` on many, yielding each
one's result or error (every command and backend goes through it). ``Classifier.embed``
(and ``classify_many(embed=True)``) give the model's pooled features before its classifier
instead (``engines.features``). Base models see windows of at most one training clip
(10 s); the video's answer is the mean of the windows' probabilities weighted by their frame
counts. Stream models see chunks of frames with their states carried from chunk to chunk
across the whole video (``StreamState``, which ``live`` uses too); the answer is the latest
output (``aggregate="last"``) or the frame-weighted mean of every step's probabilities
(``aggregate="mean"``).

What to read and how to run are ``options.ReadOptions`` and ``options.RunOptions``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import engines, models
from .errors import ModelError, MovinetError, UsageError, VideoError, one_line
from .isolated import IsolatedReader, stall_override_s
from .options import MODEL_RESIZE, NO_CLEAR_ACTION, ModelOptions, ReadOptions, RunOptions, with_overrides
from .video import MIN_FRAMES, TIMESTAMP_TOLERANCE_S, windows

STREAM_CHUNKS_AHEAD = 4  # chunks decoded ahead of the stream model

Progress = Callable[[float, "float | None"], None]  # (video time reached, expected end), seconds


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
    min_probability: float = 0.0  # below it, the answer is NO_CLEAR_ACTION (``RunOptions``)

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


@dataclass
class Outcome:
    """One video of ``classify_many``: its result, or why it has none."""

    video: str  # as given
    result: Result | Embedding | None  # None when the video failed (an Embedding from classify_many(embed=True))
    error: str = ""  # one line when it failed (without the video's name), else ""
    seconds: float = 0.0  # wall-clock time taken
    exception: Exception | None = None  # an unexpected error behind ``error`` (a bug, not a bad file), for its traceback

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass
class OpenedVideo:
    """One video's frames at the model's rate, opened by ``Classifier.open``."""

    path: str | None  # None for frames passed as an array
    fps: float  # frames/s of ``frames``
    frames: Iterable[tuple[float, np.ndarray]]  # (time_s, [H, W, 3] float32 RGB in [0, 1])
    expected_end_s: float | None  # where the frames are expected to end, seconds
    reader: IsolatedReader | None = None
    start_s: float = 0.0  # the range asked for (--start, --end), seconds
    end_s: float | None = None

    def duration_s(self, frames: int) -> float:
        """Seconds of video decoded within the range asked for (a reader starts at the
        keyframe before the start and stops at the first frame past the end); for frames
        passed as an array, ``frames`` of them at ``fps``. Complete once the frames have been consumed."""
        if self.reader is None:
            return frames / self.fps
        stats = self.reader.stats
        if stats.first_timestamp_s is None:
            return 0.0
        end = (stats.last_timestamp_s or 0.0) + (stats.frame_period_s or 0.0)  # set with first_timestamp_s
        if self.end_s is not None:
            end = min(end, self.end_s)
        return max(0.0, end - max(stats.first_timestamp_s, self.start_s))

    def close(self) -> None:
        """Stops a background reader of ``frames`` (if any), then releases the file."""
        stop = getattr(self.frames, "close", None)
        if stop:
            stop()
        if self.reader:
            self.reader.close()


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


class StreamState:
    """A stream model's memory of the frames it has seen: ``step`` feeds it frames and returns
    the probabilities after them; ``reset`` forgets them (the next step starts afresh)."""

    def __init__(self, model: engines.StreamModel):
        self._model = model
        self._states: object = None  # the engine's, None before the first step

    def step(self, frames: np.ndarray) -> np.ndarray:
        """Frames [n, H, W, 3] float32 RGB in [0, 1] -> probabilities [C] float32 after them."""
        if self._states is None:
            self._states = self._model.init_states(frames.shape[:3])
        logits, self._states = self._model.step(frames, self._states)
        return softmax(logits)

    def features(self, frames: np.ndarray) -> np.ndarray:
        """Like ``step``, returning the pooled features [F] float32 after the frames."""
        if self._states is None:
            self._states = self._model.init_states(frames.shape[:3])
        features, self._states = self._model.step_features(frames, self._states)
        return features

    def reset(self) -> None:
        self._states = None


class Classifier:
    """A loaded model with its labels and input settings; reusable across videos.

    Attributes:
        model: the engine's clip or stream model (see ``movinet_cli.engines``).
        labels: one name per logit.
        source: where the model came from.
        fps, size: the model's frame rate (frames/s) and input size (pixels, square).
        crop_scale: the eval recipe's shorter side before the central crop, as a multiple of
            the size (the variant's; A5's for a model of unknown variant).
        resize: how frames are fitted to the size where ``ReadOptions`` names no way
            (``options.RESIZE_MODES``); with ``resize_fixed`` (a MODEL_DIR's head, whose
            features were read so), the only way it takes.
        engine_reason: why this engine was chosen.
    """

    def __init__(self, model, labels: list[str], source: models.ModelSource, engine_reason: str = ""):
        self.model = model
        self.labels = labels
        self.source = source
        variant = source.variant or models.VARIANTS[models.DEFAULT_MODEL]
        self.fps: float = variant.fps
        self.size, self.crop_scale = variant.size, variant.crop_scale
        self.resize, self.resize_fixed = MODEL_RESIZE, False
        self.engine_reason = engine_reason

    @property
    def mode(self) -> str:
        """"clip" (a base model) or "stream"."""
        return models.mode_of(engines.kind_of(self.model))

    @property
    def info(self) -> dict:
        """What runs: model (as named), engine, precision and mode; rows of failed videos carry it."""
        return {"model": self.source.name, "engine": self.model.engine, "precision": self.model.precision, "mode": self.mode}

    def reading(self, read: ReadOptions) -> ReadOptions:
        """``read`` with this model's frame rate, size and resize mode where it names none.
        Raises UsageError if it names another resize mode than the one a trained head's
        features were read with (``resize_fixed``): the head would answer for pictures it
        was not trained on."""
        if self.resize_fixed and read.resize not in (None, self.resize):
            raise UsageError(
                f"{self.source.name} was trained on videos read with --resize {self.resize}, not {read.resize}: "
                f"leave --resize out, or train it again with --resize {read.resize}"
            )
        return read.for_model(self.fps, self.size, self.resize)

    def frames_ahead(self, read: ReadOptions, run: RunOptions) -> int:
        """Frames to decode ahead of the model: one window (clip mode) or
        ``STREAM_CHUNKS_AHEAD`` chunks (stream mode). Raises what ``reading`` raises, so that
        ``classify_many`` refuses such a ``read`` before any video."""
        read = self.reading(read)
        if self.mode == "clip":
            return run.window_frames(read.fps)
        return STREAM_CHUNKS_AHEAD * run.chunk

    def predictions(self, probabilities: np.ndarray, k: int) -> list[Prediction]:
        """The top ``k`` of ``probabilities`` [C] with their labels."""
        return top_predictions(probabilities, self.labels, k)

    def stream_state(self) -> StreamState:
        """Fresh memory for this (stream) model."""
        return StreamState(self.model)

    def warm_up(self, read: ReadOptions = ReadOptions(), run: RunOptions = RunOptions()) -> None:
        """Compiles now, on blank frames, the input shape that a video's steps take (a whole
        window at ``read``'s frame rate and size, or a chunk), so that the first video costs
        no more than the others."""
        read = self.reading(read)
        if self.mode == "stream":
            self.stream_state().step(np.zeros((run.chunk, read.size, read.size, 3), np.float32))
            return
        frames = run.window_frames(read.fps)
        if read.end is not None:  # a window holds at most the frames of --start/--end
            frames = min(frames, max(1, math.ceil((read.end - read.start - TIMESTAMP_TOLERANCE_S) * read.fps)))
        self.model.logits(np.zeros((frames, read.size, read.size, 3), np.float32))

    def open(self, video: str | os.PathLike | np.ndarray, read: ReadOptions = ReadOptions(), *, ahead: int | None = None) -> OpenedVideo:
        """Opens a video for ``run``: a file path, or frames [T, H, W, 3] float32 RGB in
        [0, 1] already at the frame rate. A file is decoded in a child process (see
        ``isolated``) up to ``ahead`` frames ahead of the model (default: one 10-s window in
        clip mode, ``STREAM_CHUNKS_AHEAD`` default chunks in stream mode). Raises VideoError
        for a file that cannot be opened (one with too few frames, or one that crashes the
        decoder, raises while its frames are read)."""
        read = self.reading(read)
        if isinstance(video, np.ndarray):
            if video.ndim != 4 or video.shape[-1] != 3 or len(video) < MIN_FRAMES:
                raise VideoError("<array>", f"expected frames [T>={MIN_FRAMES}, H, W, 3], got shape {video.shape}")
            frames = ((index / read.fps, frame) for index, frame in enumerate(video.astype(np.float32)))
            return OpenedVideo(None, read.fps, frames, len(video) / read.fps)
        ahead = self.frames_ahead(read, RunOptions()) if ahead is None else ahead
        reader = IsolatedReader(
            video, ahead=ahead, fps=read.fps, size=read.size, resize=read.resize, crop_scale=self.crop_scale, start_s=read.start, end_s=read.end
        )
        return OpenedVideo(reader.path, read.fps, reader.frames(), read.end or reader.info.claimed_duration_s, reader, read.start, read.end)

    def run(self, opened: OpenedVideo, run: RunOptions = RunOptions(), progress: Progress | None = None) -> Result:
        """Classifies an opened video (see ``classify``) and closes it."""
        began, setup_before = time.perf_counter(), self.model.setup_seconds
        steps = [Step(*output) for output in self._outputs(opened, run, progress, features=False)]
        probabilities = steps[-1].probabilities if self._takes_last(run) else frame_weighted_mean(steps)
        total_frames = sum(step.frames for step in steps)
        stats = opened.reader.stats if opened.reader else None
        return Result(
            path=opened.path,
            predictions=self.predictions(probabilities, run.top_k),
            probabilities=probabilities,
            duration_s=opened.duration_s(total_frames),
            frames=total_frames,
            steps=steps,
            model=self.source.name,
            engine=self.model.engine,
            precision=self.model.precision,
            mode=self.mode,
            seconds=self.video_seconds(began, setup_before),
            warnings=list(stats.warnings) if stats else [],
            min_probability=run.min_probability,
        )

    def video_seconds(self, began: float, setup_before: float) -> float:
        """Wall-clock seconds since ``began`` less the model's one-time work meanwhile
        (converting, compiling a new input shape): what the video itself cost."""
        return time.perf_counter() - began - (self.model.setup_seconds - setup_before)

    def classify(
        self,
        video: str | os.PathLike | np.ndarray,
        read: ReadOptions | None = None,
        run: RunOptions | None = None,
        *,
        progress: Progress | None = None,
        **options,
    ) -> Result:
        """Classifies one video.

        Args:
            video: a file path, or frames [T, H, W, 3] float32 RGB in [0, 1] already at the
                frame rate.
            read, run: what to read and how to run (``options.ReadOptions``, ``RunOptions``).
            progress: called at the start and after each step with the video time reached
                and the expected end time (seconds; None if unknown).
            **options: fields of either to set, for short: ``classify(path, top_k=3, fps=5)``.

        Raises VideoError for a video that cannot be classified.
        """
        read, run = with_overrides(read, run, options)
        opened = self.open(video, read, ahead=self.frames_ahead(read, run))
        return self.run(opened, run, progress)

    def embed(
        self,
        video: str | os.PathLike | np.ndarray,
        read: ReadOptions | None = None,
        run: RunOptions | None = None,
        *,
        progress: Progress | None = None,
        **options,
    ) -> Embedding:
        """The model's pooled features (before its classifier) for one video, as ``classify``
        takes it: per window (clip mode) or chunk (stream mode) in ``spans``, and for the
        whole video in ``vector`` (the windows' frame-weighted mean; in stream mode the
        latest, or the mean with ``aggregate="mean"``). Raises VideoError."""
        read, run = with_overrides(read, run, options)
        return self.embed_opened(self.open(video, read, ahead=self.frames_ahead(read, run)), run, progress)

    def embed_opened(self, opened: OpenedVideo, run: RunOptions = RunOptions(), progress: Progress | None = None) -> Embedding:
        """Embeds an opened video (see ``embed``) and closes it."""
        began, setup_before = time.perf_counter(), self.model.setup_seconds
        spans = [Span(*output) for output in self._outputs(opened, run, progress, features=True)]
        vector = spans[-1].vector if self._takes_last(run) else weighted_mean([span.vector for span in spans], [span.frames for span in spans])
        stats = opened.reader.stats if opened.reader else None
        return Embedding(
            path=opened.path,
            vector=vector,
            spans=spans,
            duration_s=opened.duration_s(sum(span.frames for span in spans)),
            model=self.source.name,
            engine=self.model.engine,
            mode=self.mode,
            seconds=self.video_seconds(began, setup_before),
            warnings=list(stats.warnings) if stats else [],
        )

    def _takes_last(self, run: RunOptions) -> bool:
        """Whether a video's answer is its last step's (a stream model's latest), not the mean of its steps'."""
        return self.mode == "stream" and run.aggregate == "last"

    def _outputs(self, opened: OpenedVideo, run: RunOptions, progress: Progress | None, features: bool) -> list[tuple[float, float, int, np.ndarray]]:
        """Runs the model over an opened video, then closes it: (start_s, end_s, frames,
        output) per window (clip mode) or chunk (stream mode), the output being the
        probabilities [C], or with ``features`` the pooled features [F]."""
        if progress:
            progress(0.0, opened.expected_end_s)
        if self.mode == "stream":
            state = self.stream_state()
            output, length = (state.features if features else state.step), run.chunk
        else:
            output = self.model.features if features else (lambda frames: softmax(self.model.logits(frames)))
            length = run.window_frames(opened.fps)
        outputs = []
        try:
            for window in windows(opened.frames, length, opened.fps):
                outputs.append((window.start_s, window.end_s, len(window.frames), output(window.frames)))
                if progress:
                    progress(window.end_s, opened.expected_end_s)
        finally:
            opened.close()
        return outputs


def classify_many(
    classifier: Classifier,
    videos: Iterable[str],
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    directory: str | os.PathLike | None = None,
    ahead: int = 0,
    on_start: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    embed: bool = False,
) -> Iterator[Outcome]:
    """Classifies each of ``videos`` (paths, relative to ``directory`` if given) and yields
    its ``Outcome``, in order. A video that fails gets a one-line error and the others go
    on, whatever the failure (a decoder crash included); Ctrl-C stops.

    Each video is decoded in a child process, at most one window (or a few chunks) ahead of
    the model; with ``ahead > 0``, that many videos after the current one are decoded ahead
    too. ``on_start`` is told each video as it starts; ``progress`` is ``classify``'s, for
    the video running. With ``embed``, each result is the video's ``Embedding`` instead. A
    caller that may stop early (an output that fails) closes the generator
    (``contextlib.closing``), so that the decoders ahead stop then, not whenever the
    generator is collected (at exit, when their pipes may already be gone).
    """
    if isinstance(videos, (str, bytes, os.PathLike)):
        raise TypeError("videos must be an iterable of paths, not one path")
    stall_override_s()  # a bad $MOVINET_DECODER_STALL_S: one UsageError, not one per video
    frames_ahead = classifier.frames_ahead(read, run)

    def start(video: str) -> OpenedVideo | Exception:
        try:
            return classifier.open(Path(directory, video) if directory is not None else video, read, ahead=frames_ahead)
        except Exception as error:  # raised in turn, as that video's outcome
            return error

    remaining = iter(videos)
    opened: list[tuple[str, OpenedVideo | Exception]] = []  # started, not yet run
    try:
        while True:
            while len(opened) < ahead + 1 and (video := next(remaining, None)) is not None:
                opened.append((video, start(video)))
            if not opened:
                return
            video, source = opened.pop(0)
            if on_start:
                on_start(video)
            began, setup_before = time.perf_counter(), classifier.model.setup_seconds
            try:
                if isinstance(source, Exception):
                    raise source
                result = (classifier.embed_opened if embed else classifier.run)(source, run, progress)
            except VideoError as error:
                yield Outcome(video, None, error.reason, classifier.video_seconds(began, setup_before))
            except MovinetError as error:
                yield Outcome(video, None, one_line(error), classifier.video_seconds(began, setup_before))
            except Exception as error:  # a broken file must not stop the others
                yield Outcome(video, None, f"unexpected {type(error).__name__}: {one_line(error)}", classifier.video_seconds(began, setup_before), error)
            else:
                yield Outcome(video, result, "", classifier.video_seconds(began, setup_before))
    finally:
        with contextlib.ExitStack() as decoders:  # each one closed, even if another's close fails
            for _, source in opened:
                if isinstance(source, OpenedVideo):
                    decoders.callback(source.close)


def frame_weighted_mean(steps: list[Step]) -> np.ndarray:
    """The steps' probabilities [C] averaged, each weighted by its frame count."""
    return weighted_mean([step.probabilities for step in steps], [step.frames for step in steps])


def weighted_mean(vectors: list[np.ndarray], frames: list[int]) -> np.ndarray:
    """Vectors [n] averaged, each weighted by its frame count."""
    weights = np.array(frames, np.float32)
    return (np.stack(vectors) * weights[:, None]).sum(0) / weights.sum()


def classify_video(video: str | os.PathLike | np.ndarray, model: str | None = ModelOptions.model, **options) -> Result:
    """One-shot convenience: ``load_classifier(model, ...)`` then ``classify(video, ...)``;
    ``options`` are the fields of ``ModelOptions`` (mode, engine, precision, labels) and of
    ``ReadOptions`` and ``RunOptions``."""
    from .loading import load_classifier

    load_fields = {field.name for field in dataclasses.fields(ModelOptions)}
    load = {key: options.pop(key) for key in list(options) if key in load_fields}
    return load_classifier(model, **load).classify(video, **options)


def __getattr__(name: str) -> object:
    """``load_classifier`` and ``prepare_model``, which moved to ``loading``, still importable from here."""
    if name in ("load_classifier", "prepare_model"):
        from . import loading

        return getattr(loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
