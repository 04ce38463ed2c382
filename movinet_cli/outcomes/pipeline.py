"""The classification pipeline: videos (files or frames) in, top-k Kinetics labels out.

``loading.load_classifier`` finds, fetches and opens a model once, as a ``Classifier``;
``Classifier.classify`` runs it on one video, and ``classify_many`` on many, yielding each
one's result or error (every command and backend goes through it). ``Classifier.embed``
(and ``classify_many(embed=True)``) give the model's pooled features before its classifier
instead (``engines.features``). Base models see windows of at most one training clip
(10 s); the video's answer is the mean of the windows' probabilities weighted by their frame
counts. Stream models see chunks of frames with their states carried from chunk to chunk
across the whole video (``stream_state.StreamState``, which ``live`` uses too); the answer is
the latest output (``aggregate="last"``) or the frame-weighted mean of every step's
probabilities (``aggregate="mean"``). A video being read is an ``opened_video.OpenedVideo``.

What to read and how to run are ``options.ReadOptions`` and ``options.RunOptions``; what
a run finds (``Result``, ``Embedding``, ``Outcome``) is in ``outcomes``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable, Generator, Iterable
from typing import Any, Literal, overload

import numpy as np

from movinet_cli import environment
from movinet_cli.errors import MovinetError, UsageError, VideoError, one_line
from movinet_cli.inputs import decoding, sources
from movinet_cli.inputs.sampling import TIMESTAMP_TOLERANCE_S, windows
from movinet_cli.inputs.video import MIN_FRAMES
from movinet_cli.model import engines, registry
from movinet_cli.options import MODEL_RESIZE, Reading, ReadOptions, RunOptions, with_overrides
from movinet_cli.outcomes.opened_video import OpenedVideo
from movinet_cli.outcomes.result import Embedding, Outcome, Prediction, Result, Span, Step, frame_weighted_mean, softmax, top_predictions, weighted_mean
from movinet_cli.outcomes.stream_state import StreamState

STREAM_CHUNKS_AHEAD = 4  # chunks decoded ahead of the stream model

Progress = Callable[[float, "float | None"], None]  # (video time reached, expected end), seconds


def reader_options(reading: Reading, crop_scale: float) -> dict:
    """``IsolatedReader``'s keyword arguments (but ``ahead``) for a video read as ``reading``
    says, for a model of ``crop_scale`` (``Classifier.crop_scale``)."""
    return {"fps": reading.fps, "size": reading.size, "resize": reading.resize, "crop_scale": crop_scale, "start_s": reading.start, "end_s": reading.end}


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

    def __init__(self, model, labels: list[str], source: registry.ModelSource, engine_reason: str = ""):
        self.model = model
        self.labels = labels
        self.source = source
        variant = source.variant or registry.VARIANTS[registry.DEFAULT_MODEL]
        self.fps: float = variant.fps
        self.size, self.crop_scale = variant.size, variant.crop_scale
        self.resize, self.resize_fixed = MODEL_RESIZE, False
        self.engine_reason = engine_reason
        self.clock: Callable[[], float] = time.perf_counter  # what a video's seconds are read from (tests give their own)

    @property
    def mode(self) -> str:
        """"clip" (a base model) or "stream"."""
        return registry.mode_of(engines.kind_of(self.model))

    def bounded(self, run: RunOptions) -> RunOptions:
        """``run`` with its top-k at most this model's class count: where every command bounds it."""
        return run if run.top_k <= len(self.labels) else dataclasses.replace(run, top_k=len(self.labels))

    @property
    def info(self) -> dict:
        """What runs: model (as named), engine, precision and mode; rows of failed videos carry it."""
        return {"model": self.source.name, "engine": self.model.engine, "precision": self.model.precision, "mode": self.mode}

    def reading(self, read: ReadOptions) -> Reading:
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

    def recipe(self, read: ReadOptions) -> dict:
        """How this model makes a row of a video read with ``read``, as the options that say
        so (``{"--model": "a0-base", "--fps": 5.0, "--size": 172, "--resize": "crop"}``): what a
        resumed file's rows must have been made with (``claim.check_recipe``)."""
        reading = self.reading(read)
        return {"--model": self.source.name, "--fps": reading.fps, "--size": reading.size, "--resize": reading.resize}

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
        reading = self.reading(read)
        if self.mode == "stream":
            self.stream_state().step(np.zeros((run.chunk, reading.size, reading.size, 3), np.float32))
            return
        frames = run.window_frames(reading.fps)
        if reading.end is not None:  # a window holds at most the frames of --start/--end
            frames = min(frames, max(1, math.ceil((reading.end - reading.start - TIMESTAMP_TOLERANCE_S) * reading.fps)))
        self.model.logits(np.zeros((frames, reading.size, reading.size, 3), np.float32))

    def open(self, video: str | os.PathLike | np.ndarray, read: ReadOptions = ReadOptions(), *, ahead: int | None = None) -> OpenedVideo:
        """Opens a video for ``run``: a file path (or ``-``, a URL: ``inputs.sources``), or
        frames [T, H, W, 3] float32 RGB in [0, 1] already at the frame rate. A file is
        decoded in a child process (see ``isolated``) up to ``ahead`` frames ahead of the model (default: one 10-s window in
        clip mode, ``STREAM_CHUNKS_AHEAD`` default chunks in stream mode). Raises VideoError
        for a file that cannot be opened (one with too few frames, or one that crashes the
        decoder, raises while its frames are read)."""
        reading = self.reading(read)
        if isinstance(video, np.ndarray):
            if video.ndim != 4 or video.shape[-1] != 3 or len(video) < MIN_FRAMES:
                raise VideoError("<array>", f"expected frames [T>={MIN_FRAMES}, H, W, 3], got shape {video.shape}")
            frames = ((index / reading.fps, frame) for index, frame in enumerate(video.astype(np.float32)))
            return OpenedVideo(None, reading.fps, frames, len(video) / reading.fps, size=reading.size, resize=reading.resize)
        ahead = self.frames_ahead(reading, RunOptions()) if ahead is None else ahead
        reader = decoding.reader(video, ahead=ahead, **reader_options(reading, self.crop_scale))  # one prefetched (``loading.prefetch``), if so read
        return OpenedVideo(
            reader.path, reading.fps, reader.frames(), reading.end or reader.info.claimed_duration_s, reader, reading.start, reading.end, reading.size, reading.resize
        )

    def run(self, opened: OpenedVideo, run: RunOptions = RunOptions(), progress: Progress | None = None) -> Result:
        """Classifies an opened video (see ``classify``) and closes it."""
        began, setup_before = self.clock(), self.model.setup_seconds
        steps = [Step(*output) for output in self._outputs(opened, run, progress, features=False)]
        probabilities = steps[-1].probabilities if self._takes_last(run) else frame_weighted_mean(steps)
        total_frames = round(sum(step.frames for step in steps))  # a run's steps hold whole frames
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
            fps=opened.fps,
            size=opened.size,
            resize=opened.resize,
        )

    def video_seconds(self, began: float, setup_before: float) -> float:
        """Wall-clock seconds since ``began`` less the model's one-time work meanwhile
        (converting, compiling a new input shape): what the video itself cost."""
        return self.clock() - began - (self.model.setup_seconds - setup_before)

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
            video: a file path (or ``-``, a URL: ``inputs.sources``), or frames
                [T, H, W, 3] float32 RGB in [0, 1] already at the frame rate.
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
        began, setup_before = self.clock(), self.model.setup_seconds
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
        compile_ahead = getattr(self.model, "compile_ahead", None)  # OpenVINO's: the first input shape compiled while it is decoded
        expected = (opened.expected_frames or 0) if opened.reader else 0
        if compile_ahead and not features and expected >= MIN_FRAMES:
            # A video shorter than a window is one window of all its frames: the count the
            # container claims (a wrong guess costs only a compile in the background).
            compile_ahead((min(length, expected), opened.size, opened.size, 3))
        outputs = []
        try:
            for window in windows(opened.frames, length, opened.fps):
                outputs.append((window.start_s, window.end_s, len(window.frames), output(window.frames)))
                if progress:
                    progress(window.end_s, opened.expected_end_s)
        finally:
            opened.close()
        return outputs


@overload
def classify_many(classifier: Classifier, videos: Iterable[str], read: ReadOptions = ..., run: RunOptions = ..., *, directory: str | os.PathLike | None = ...,
                  ahead: int = ..., on_start: Callable[[str], None] | None = ..., progress: Progress | None = ..., embed: Literal[False] = ...) -> Generator[Outcome[Result], None, None]: ...
@overload
def classify_many(classifier: Classifier, videos: Iterable[str], read: ReadOptions = ..., run: RunOptions = ..., *, directory: str | os.PathLike | None = ...,
                  ahead: int = ..., on_start: Callable[[str], None] | None = ..., progress: Progress | None = ..., embed: Literal[True]) -> Generator[Outcome[Embedding], None, None]: ...
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
) -> Generator[Outcome[Any], None, None]:  # as the overloads say, by ``embed``
    """Classifies each of ``videos`` (paths, relative to ``directory`` if given, ``-`` or
    URLs: see ``inputs.sources``) and yields its ``Outcome``, in order, named as
    ``sources.name_of`` names it. A video that fails gets a one-line error and the others go
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
    environment.decoder_stall_s()  # a bad $MOVINET_DECODER_STALL_S: one UsageError, not one per video
    frames_ahead = classifier.frames_ahead(read, run)
    remaining = iter(videos)
    opened: list[tuple[str, OpenedVideo | Exception]] = []  # started, not yet run
    try:
        while True:
            while len(opened) < ahead + 1 and (video := next(remaining, None)) is not None:
                opened.append((video, open_video(classifier, video, read, directory=directory, ahead=frames_ahead)))
            if not opened:
                return
            video, source = opened.pop(0)
            name = sources.name_of(video)  # "<stdin>" for "-"
            if on_start:
                on_start(name)
            yield outcome_of(classifier, name, source, run, progress, embed=embed)
    finally:
        with contextlib.ExitStack() as decoders:  # each one closed, even if another's close fails
            for _, source in opened:
                decoders.callback(close_video, source)


def open_video(
    classifier: Classifier, video: str, read: ReadOptions = ReadOptions(), *, directory: str | os.PathLike | None = None, ahead: int | None = None
) -> OpenedVideo | Exception:
    """``classifier.open(video)`` (relative to ``directory`` if given): its decoding starts
    now, ``ahead`` frames ahead at most; or the error that opening raised, to be that video's
    outcome (see ``outcome_of``) when its turn comes. The caller closes what it does not run."""
    try:
        return classifier.open(sources.resolve(video, directory), read, ahead=ahead)
    except Exception as error:  # raised in turn, as that video's outcome
        return error


def close_video(source: OpenedVideo | Exception) -> None:
    """Closes what ``open_video`` returned, if it is an open video (its decoder stops)."""
    if isinstance(source, OpenedVideo):
        source.close()


def outcome_of(
    classifier: Classifier, video: str, source: OpenedVideo | Exception, run: RunOptions = RunOptions(), progress: Progress | None = None, *, embed: bool = False
) -> Outcome:
    """The ``Outcome`` of one video from ``open_video``: its result (``embed``: its
    ``Embedding``), or why it has none, whatever the failure; the video is closed."""
    began, setup_before = classifier.clock(), classifier.model.setup_seconds
    try:
        if isinstance(source, Exception):
            raise source
        result = (classifier.embed_opened if embed else classifier.run)(source, run, progress)
    except VideoError as error:
        return Outcome(video, None, error.reason, classifier.video_seconds(began, setup_before))
    except MovinetError as error:
        return Outcome(video, None, one_line(error), classifier.video_seconds(began, setup_before))
    except Exception as error:  # a broken file must not stop the others
        return Outcome(video, None, f"unexpected {type(error).__name__}: {one_line(error)}", classifier.video_seconds(began, setup_before), error)
    return Outcome(video, result, "", classifier.video_seconds(began, setup_before))

