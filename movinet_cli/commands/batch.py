"""Classifying a directory of videos into a results file (``sinks.ResultsOutput``: CSV, JSON lines or a database),
resumably, here or on a Ray cluster (``distributed.Actors``): ``run_batch``.

Each video is decoded in a child process (a decoder crash costs one error row), and the next
ones are decoded ahead while the model works. Every outcome goes through the run's other
outputs (timelines, report) and then is a row of the results file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING

from movinet_cli.options import DEFAULT_WORKERS, VIDEO_EXTENSIONS, ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier, classify_many
from movinet_cli.outcomes.result import Outcome
from movinet_cli.outputs.sinks import ResultsOutput, RunContext, Sink, passed

if TYPE_CHECKING:  # Ray is optional
    from movinet_cli.commands.distributed import Actors


def find_videos(directory: str | os.PathLike[str], extensions: Iterable[str] = VIDEO_EXTENSIONS, recursive: bool = True) -> list[str]:
    """Video files under ``directory`` by extension (case-insensitive), as sorted POSIX paths
    relative to it. Symbolic links are followed, but each real directory is visited once."""
    suffixes = {"." + extension.lower().lstrip(".") for extension in extensions}
    found: list[str] = []
    visited: set[tuple[int, int]] = set()
    for folder, subfolders, files in os.walk(directory, followlinks=True):
        status = os.stat(folder)
        if (status.st_dev, status.st_ino) in visited:
            subfolders[:] = []
            continue
        visited.add((status.st_dev, status.st_ino))
        subfolders[:] = sorted(subfolders) if recursive else []
        relative = PurePath(os.path.relpath(folder, directory))
        for name in files:
            if PurePath(name).suffix.lower() in suffixes and not os.path.isdir(os.path.join(folder, name)):
                found.append((relative / name).as_posix())
    return sorted(found, key=lambda path: PurePath(path).parts)


@dataclass
class Summary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # already done in an earlier run (resume)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)  # the videos that failed, in the order they did

    @property
    def videos_per_minute(self) -> float:
        return 60 * (self.ok + self.failed) / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (
            f"{self.ok} ok, {self.failed} failed, {self.skipped} skipped (already done) "
            f"in {self.seconds:.1f} s: {self.videos_per_minute:.1f} videos/min"
        )


def max_workers() -> int:
    """The most videos worth decoding ahead: each decodes in a process of its own, so more
    than the CPUs only holds more frames in memory."""
    return max(2, os.cpu_count() or 1)


def run_batch(
    classifier: Classifier,
    directory: str | os.PathLike,
    results: ResultsOutput,
    paths: list[str],
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    workers: int = DEFAULT_WORKERS,
    sinks: Sequence[Sink] = (),
    actors: Actors | None = None,
    on_start: Callable[[str], None] | None = None,
    on_video: Callable[[Outcome], None] | None = None,
) -> Summary:
    """Classifies the ``paths`` (relative to ``directory``) that ``results`` has no ``ok`` row
    for, each outcome going through ``sinks`` (more outputs, ``sinks.drain``'s way) and then
    into ``results``, a row each (opened here with ``run.top_k`` and the classifier's
    ``recipe``, unless opened already). Here, ``workers`` videos are decoded ahead of the one
    being classified; with ``actors`` (``distributed.Actors``, started on a Ray cluster) they
    classify instead, and the rows come in the order they finish (in the videos' order for a
    file that cannot be sorted at the end, such as stdout). ``on_start`` is told when each
    video starts here; ``on_video`` gets each outcome once it is written. Returns the counts
    and the seconds taken (until the last row)."""
    if not results.opened:
        results.open(run.top_k, classifier.recipe(read), paths)
    run = dataclasses.replace(run, top_k=results.top_k)
    todo = results.todo(paths)
    if actors is None:
        outcomes: Generator[Outcome, None, None] = classify_many(classifier, todo, read, run, directory=directory, ahead=workers, on_start=on_start)
    else:
        classifier.reading(read)  # a read the model refuses (a trained head's): here, not in every actor
        outcomes = actors.outcomes(todo, run.top_k, classifier.source.name)
        outcomes = outcomes if results.sortable else in_order(outcomes, todo)
    summary = Summary(skipped=len(paths) - len(todo))
    began = time.perf_counter()
    # Closed here, whatever stops the rows (a reader of stdout gone, a full disk): the
    # sinks end now, and the decoders stop now, not when the generators are collected at exit.
    through = passed(outcomes, [*sinks, results], RunContext.of(classifier, run))
    with contextlib.closing(outcomes), contextlib.closing(through):
        try:
            for outcome in through:
                summary.ok += outcome.ok
                summary.failed += not outcome.ok
                summary.failures += [] if outcome.ok else [outcome.video]
                if on_video:
                    on_video(outcome)
        finally:
            summary.seconds = time.perf_counter() - began
    return summary


def in_order(outcomes: Iterable[Outcome], order: list[str]) -> Generator[Outcome, None, None]:
    """``outcomes`` (one per video of ``order``, in any order) in the order of ``order``:
    each held until those before it have come."""
    held: dict[str, Outcome] = {}
    position = 0
    for outcome in outcomes:
        held[outcome.video] = outcome
        while position < len(order) and order[position] in held:
            yield held.pop(order[position])
            position += 1
