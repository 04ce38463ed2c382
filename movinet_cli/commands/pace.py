"""Whether a model keeps pace with video on this machine: measuring a stream model's time per
frame, remembering it per machine in the cache, and choosing the live model from it.

A stream model *keeps up* when it classifies frames ``HEADROOM`` times faster than they come:
its seconds per frame, measured in chunks of up to half a second of frames (live's chunks
when it keeps up), times its frame rate, times ``HEADROOM``, is at most 1. The headroom
leaves room for decoding, drawing and other programs; a model without it falls behind
under the first extra load, and live then drops frames and its labels trail the picture.

``choose`` is the decision, pure: measured times in, the largest variant that keeps up and
why out. ``pick`` asks for the measurements one variant at a time, largest first, so that
only the variants it needs are measured. ``measure`` times a loaded stream model on blank
frames. ``Measurements`` is the remembered book (``pace.json`` in the cache): one entry per
machine, model, size, engine and precision, read bounded and validated (a damaged file is
ignored, and rewritten by the next measurement). ``live_classifier`` puts them together:
the model ``movinet live`` runs, and the lines that say why.

Imports nothing heavy: ``movinet live --help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from movinet_cli.machine import MachineBook, positive_number
from movinet_cli.model import registry
from movinet_cli.options import ModelOptions, ReadOptions

if TYPE_CHECKING:
    from movinet_cli.outcomes.pipeline import Classifier

HEADROOM = 1.5  # a live model must classify frames at least 1.5 times as fast as they come
LIVE_DEFAULT = "a5-stream"  # live's model when no stream model is downloaded (the largest)
MEASURED_STEPS = 3  # timed steps after the warm-up one; their median counts
PACE_FILE = "pace.json"
PACE_FILE_LIMIT = 1 << 20  # bytes: thousands of entries
_VERSION = 1


@dataclass(frozen=True)
class Choice:
    """Which stream model live runs and why."""

    name: str  # a registry name (``a3-stream``)
    reason: str  # one line: why this one
    keeps_up: bool | None  # None when nothing was measured


def allowed_s(fps: float, headroom: float = HEADROOM) -> float:
    """Seconds per frame a model may take to keep ``fps`` frames/s with ``headroom``."""
    return 1.0 / (fps * headroom)


def keeps_up(seconds_per_frame: float, fps: float, headroom: float = HEADROOM) -> bool:
    """Whether a model taking ``seconds_per_frame`` keeps ``fps`` frames/s with ``headroom``."""
    return seconds_per_frame <= allowed_s(fps, headroom)


def stream_variants() -> list[registry.Variant]:
    """The registry's stream variants, largest (most accurate) first: a5 ... a0."""
    return sorted((v for v in registry.VARIANTS.values() if v.kind == "stream"), key=lambda v: v.model_id, reverse=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def verdict(name: str, seconds_per_frame: float, fps: float, headroom: float = HEADROOM) -> str:
    """``name``'s measured time against what ``fps`` allows, in words (for notices)."""
    return (
        f"{name} takes {_ms(seconds_per_frame)} per frame here ({1 / seconds_per_frame:.1f} frames/s); "
        f"{fps:g} frames/s with {headroom:g}x headroom allow {_ms(allowed_s(fps, headroom))}"
    )


def choose(measured: dict[str, tuple[float, float]], headroom: float = HEADROOM) -> Choice:
    """The live model from measurements: ``measured`` maps registry names, in order of
    preference (largest first), to ``(seconds per frame, frames/s)`` measured on this machine.
    The first that keeps up is chosen; if none does, the one closest to keeping up (the least
    seconds per frame against its frame rate). Raises ValueError when ``measured`` is empty."""
    if not measured:
        raise ValueError("nothing measured to choose from")
    slower: list[str] = []
    for name, (seconds, fps) in measured.items():
        if keeps_up(seconds, fps, headroom):
            why = verdict(name, seconds, fps, headroom)
            if slower:
                why += f" ({', '.join(slower)} too slow here)"
            return Choice(name, f"{name}, the largest downloaded stream model that keeps up: {why}", True)
        slower.append(f"{name} {_ms(seconds)}")
    name = min(measured, key=lambda n: measured[n][0] * measured[n][1])
    return Choice(
        name,
        f"{name}, the closest to keeping up of the downloaded stream models; none keeps up here "
        f"({verdict(name, *measured[name], headroom)}): frames will be dropped",
        False,
    )


def pick(candidates: Iterable[registry.Variant], timing: Callable[[registry.Variant], tuple[float, float]], headroom: float = HEADROOM) -> Choice:
    """``choose`` over ``candidates`` (largest first), asking ``timing`` for each one's
    ``(seconds per frame, frames/s)`` only until one keeps up: smaller ones are not measured."""
    measured = {}
    for variant in candidates:
        measured[variant.name] = timing(variant)
        if keeps_up(*measured[variant.name], headroom):
            break
    return choose(measured, headroom)


class _Pacer:
    """What ``live_classifier``'s steps share: the session's model options and reading, the
    remembered ``Measurements``, and the model loaded last (kept for the session if it is the
    one chosen: one model in memory at a time)."""

    def __init__(self, load: ModelOptions, read: ReadOptions, open_model: Callable[[ModelOptions], Classifier], detail: Callable[[str], None] | None):
        self.load, self.read, self.open_model, self.detail = load, read, open_model, detail
        self.book = Measurements()
        self.loaded: dict[str, Classifier] = {}

    def load_named(self, name: str) -> Classifier:
        """The registry model ``name``, opened with the session's options."""
        self.loaded.clear()  # one model in memory at a time
        self.loaded[name] = self.open_model(dataclasses.replace(self.load, model=name))
        return self.loaded[name]

    def timing(self, variant: registry.Variant, classifier: Classifier | None = None) -> tuple[float, float]:
        """(seconds per frame, frames/s) of a registry variant at the session's size and rate:
        remembered, else measured now on ``classifier`` (default: the variant, loaded)."""
        reading = self.read.for_model(variant.fps, variant.size)  # the variant's own where none is asked for
        measured = self.book.get(variant.name, reading.size, self.load.engine, self.load.precision)
        how = f"remembered from {measured.measured_at}" if measured else "measured now"
        if measured is None:
            seconds = measure(classifier or self.load_named(variant.name), reading.size, reading.fps)
            measured = self.book.remember(variant.name, reading.size, self.load.engine, self.load.precision, seconds)
        if self.detail:
            self.detail(f"pace: {verdict(variant.name, measured.seconds_per_frame, reading.fps)} ({how})")
        return measured.seconds_per_frame, reading.fps

    def known_to_keep_up(self, variant: registry.Variant) -> bool:
        """Whether ``variant`` was measured keeping up here (never measures)."""
        reading = self.read.for_model(variant.fps, variant.size)
        measured = self.book.get(variant.name, reading.size, self.load.engine, self.load.precision)
        return measured is not None and keeps_up(measured.seconds_per_frame, reading.fps)

    def check(self, classifier: Classifier, available: list[registry.Variant], warn: Callable[[str], None]) -> None:
        """Warns, in one line, if ``classifier`` (a model named, or the default) cannot keep up
        here, naming one of the ``available`` variants known to keep up."""
        reading, variant = classifier.reading(self.read), classifier.source.variant
        if variant is not None and classifier.source.handle == variant.url:  # a registry model: remembered
            seconds, fps = self.timing(variant, classifier)
        else:  # another model: measured now, not remembered (its directory may hold another model next time)
            seconds, fps = measure(classifier, reading.size, reading.fps), reading.fps
            if self.detail:
                self.detail(f"pace: {verdict(classifier.source.name, seconds, fps)} (measured now)")
        if not keeps_up(seconds, fps):
            known = [v.name for v in available if v.name != classifier.source.name and self.known_to_keep_up(v)]
            better = f"; {known[0]} keeps up here (--model {known[0]})" if known else ""
            warn(f"warning: {verdict(classifier.source.name, seconds, fps)}: it cannot keep up, due frames will be dropped{better}")


def live_classifier(
    load: ModelOptions,
    read: ReadOptions,
    open_model: Callable[[ModelOptions], Classifier],
    *,
    notice: Callable[[str], None],
    detail: Callable[[str], None] | None = None,
    warn: Callable[[str], None],
) -> Classifier:
    """The live model, opened with ``open_model``. With ``load.model`` None: the largest
    downloaded stream variant that keeps up here (``pick``; each variant measured once per
    machine and remembered in ``Measurements``), said in one ``notice``; ``LIVE_DEFAULT``
    when none is downloaded (never a download of several). A model named, or the default,
    runs as asked, with one ``warn`` line if it cannot keep up, naming a downloaded variant
    known to keep up. ``detail`` gets each measurement (--verbose)."""
    pacer = _Pacer(load, read, open_model, detail)
    available = [variant for variant in stream_variants() if registry.is_cached(variant.url)]
    if load.model is None and available:
        if pacer.book.damaged and detail:
            detail(f"pace: {pacer.book.path} is not a valid measurements file; measuring again")
        choice = pick(available, pacer.timing)
        notice(f"live: {choice.reason}")
        return pacer.loaded.get(choice.name) or pacer.load_named(choice.name)
    if load.model is None:
        notice(
            f"live: {LIVE_DEFAULT}, the default: no stream model is downloaded yet to measure and choose from "
            "(`movinet models --prepare a3-stream a0-stream` gives live smaller ones)"
        )
        load = dataclasses.replace(load, model=LIVE_DEFAULT)
    classifier = open_model(load)
    pacer.check(classifier, available, warn)
    return classifier


def remaining_s(done_s: float, total_s: float | None, elapsed_s: float) -> float | None:
    """Wall-clock seconds left to classify a video of ``total_s`` seconds, ``done_s`` of it
    classified in ``elapsed_s``, at the pace measured so far (the first window or chunk tells
    it); None until something is done or while the length is unknown."""
    if not total_s or done_s <= 0:
        return None
    return max(0.0, total_s - done_s) * elapsed_s / done_s


def measuring_chunk(fps: float) -> int:
    """Frames per timed step: the largest power of two up to half a second of frames (A5 at
    12 frames/s: 4), the chunks live feeds a model that keeps up; at least 1."""
    frames = max(1, int(fps / 2))
    return 1 << (frames.bit_length() - 1)


def measure(classifier, size: int, fps: float, steps: int = MEASURED_STEPS) -> float:
    """Seconds per frame of a loaded stream ``classifier`` at ``size`` x ``size`` pixels, in
    chunks of ``measuring_chunk(fps)`` blank frames: one untimed step (compiling the shape),
    then the median of ``steps`` timed ones, the model's states carried as in a session."""
    import numpy as np

    chunk = measuring_chunk(fps)
    blank = np.zeros((chunk, size, size, 3), np.float32)
    state = classifier.stream_state()
    state.step(blank)
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        state.step(blank)
        times.append(time.perf_counter() - began)
    return statistics.median(times) / chunk


@dataclass(frozen=True)
class Measurement:
    """One remembered measurement of a model on this machine."""

    seconds_per_frame: float
    measured_at: str  # ISO 8601, local time, to the second

    def seconds_per_minute(self, fps: float) -> float:
        """Seconds of model time per minute of video at ``fps`` frames/s."""
        return self.seconds_per_frame * fps * 60


def _key(model: str, size: int, engine: str, precision: str) -> str:
    return f"{model} {size}px {engine} {precision}"


def _valid_entry(entry) -> bool:
    return isinstance(entry, dict) and positive_number(entry.get("seconds_per_frame"), 3600) and isinstance(entry.get("measured_at"), str)


class Measurements(MachineBook):
    """The remembered measurements in ``path`` (default: ``pace.json`` in the cache), for
    this ``machine()``: ``get`` one, ``remember`` one (see ``MachineBook``)."""

    def __init__(self, path: str | os.PathLike | None = None):
        super().__init__(Path(path) if path is not None else registry.cache_dir() / PACE_FILE, "measurements file", PACE_FILE_LIMIT, _VERSION, _valid_entry)

    def get(self, model: str, size: int, engine: str, precision: str) -> Measurement | None:
        """What was measured of registry ``model`` at ``size`` px with the ``engine`` and
        ``precision`` options (as given: "auto" stays "auto") on this machine, or None."""
        entry = self.entry(_key(model, size, engine, precision))
        return Measurement(float(entry["seconds_per_frame"]), entry["measured_at"]) if entry else None

    def remember(self, model: str, size: int, engine: str, precision: str, seconds_per_frame: float) -> Measurement:
        """Records a measurement and writes the file (atomically; the cache made if needed).
        A file that cannot be written costs only the memory of it: OutputError is not raised."""
        measured = Measurement(seconds_per_frame, datetime.datetime.now().isoformat(timespec="seconds"))
        self.record(_key(model, size, engine, precision), {"seconds_per_frame": seconds_per_frame, "measured_at": measured.measured_at})
        return measured
