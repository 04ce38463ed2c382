"""Classifying a directory of videos into a CSV or JSON-lines file, resumably.

Rows are written and flushed one at a time, so an interrupted run leaves a valid file of
complete rows, and a run with ``resume`` skips the videos that already have an ``ok`` row.
While one video runs through the model, the next ones are decoded in background threads.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, Callable, Iterable, Iterator

from .classify import Classifier, FrameSource, Result
from .errors import MovinetError, VideoError
from .files import atomic_writer
from .output import csv_header, csv_row
from .prefetch import Prefetched

VIDEO_EXTENSIONS = ("3gp", "avi", "flv", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "mts", "ts", "webm", "wmv")
BATCH_FORMATS = ("csv", "jsonl")
STREAM_CHUNKS_AHEAD = 4  # decoded chunks kept ready per video in stream mode


class ResultsFileError(MovinetError):
    """The results file cannot be created, resumed or overwritten as asked."""


def find_videos(directory: str | os.PathLike, extensions: Iterable[str] = VIDEO_EXTENSIONS, recursive: bool = True) -> list[str]:
    """Video files under ``directory`` by extension (case-insensitive), as sorted POSIX paths
    relative to it. Symbolic links are followed, but each real directory is visited once."""
    suffixes = {"." + extension.lower().lstrip(".") for extension in extensions}
    found, visited = [], set()
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

    @property
    def videos_per_minute(self) -> float:
        return 60 * (self.ok + self.failed) / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (
            f"{self.ok} ok, {self.failed} failed, {self.skipped} skipped (already done) "
            f"in {self.seconds:.1f} s: {self.videos_per_minute:.1f} videos/min"
        )


def check_results_path(path: str, resume: bool, overwrite: bool) -> None:
    """Raises ResultsFileError if ``path`` (or "-" for stdout) cannot take this run's rows
    as asked: before loading a model, this fails fast."""
    if path == "-" and resume:
        raise ResultsFileError("--resume needs a results file, not stdout (-o -)")
    if path != "-" and os.path.exists(path) and not (resume or overwrite):
        raise ResultsFileError(f"{path} already exists: pass --resume to finish that run, or --overwrite to replace it")


class ResultsFile:
    """Where batch rows go: a CSV or JSON-lines file (or stdout for ``path == "-"``).

    ``resume`` keeps the complete ``ok`` rows of an existing file (dropping error rows, which
    are retried, and any row cut short by a crash); otherwise an existing file is replaced
    only with ``overwrite``. ``done`` holds the paths that already have an ``ok`` row.
    """

    def __init__(self, path: str, format: str, top_k: int, resume: bool = False, overwrite: bool = False):
        if format not in BATCH_FORMATS:
            raise ValueError(f"format must be one of {BATCH_FORMATS}, got {format!r}")
        self.path, self.format, self.top_k, self.header = path, format, top_k, csv_header(top_k)
        check_results_path(path, resume, overwrite)
        self.done: set[str] = set()
        self._handle: IO[str] = sys.stdout
        if path == "-":
            self._start()
            return
        kept = [row for row in self._read_rows() if row.get("status") == "ok"] if resume and os.path.exists(path) else []
        kept = list({row["path"]: row for row in kept}.values())
        self._rewrite(kept)
        self.done = {row["path"] for row in kept}

    def _read_rows(self) -> list[dict]:
        """The complete rows of the file (a row cut short by a crash is left out)."""
        with open(self.path, newline="", encoding="utf-8") as handle:
            if self.format == "jsonl":
                rows = []
                for line in handle:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
                return [row for row in rows if isinstance(row, dict) and "path" in row]
            reader = csv.DictReader(handle)
            if reader.fieldnames != self.header:
                raise ResultsFileError(
                    f"{self.path} has other columns than this run would write (another --top-k?); "
                    "resume with the same options, or pass --overwrite"
                )
            return [row for row in reader if None not in row and None not in row.values()]

    def _rewrite(self, rows: list[dict]) -> None:
        """Replaces the file atomically with ``rows``, then keeps it open for appending."""
        with atomic_writer(self.path, newline="", encoding="utf-8") as handle:
            self._handle = handle
            self._start()
            for row in rows:
                self._write(row)
        self._handle = open(self.path, "a", newline="", encoding="utf-8")

    def _start(self) -> None:
        if self.format == "csv":
            self._handle.write(",".join(self.header) + "\n")
            self._handle.flush()

    def _write(self, row: dict) -> None:
        if self.format == "csv":
            csv.DictWriter(self._handle, fieldnames=self.header, lineterminator="\n").writerow(row)
        else:
            self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def write(self, path: str, result: Result | None, error: str, classifier: Classifier, seconds: float) -> None:
        """Appends one video's row and flushes it."""
        if self.format == "csv":
            row = csv_row(self.top_k, path, result, error)
        else:
            row = {"path": path, "status": "error" if error else "ok", "error": error}
            if result:
                row.update({key: value for key, value in result.to_dict().items() if key != "path"})
        if not result:
            row.update(model=classifier.source.name, engine=classifier.model.engine, mode=classifier.mode, seconds=round(seconds, 3))
        self._write(row)
        self._handle.flush()

    def sort(self, order: list[str]) -> None:
        """Rewrites the file with its rows in ``order`` (rows of other paths last), so that a
        resumed run ends with the same file as an uninterrupted one."""
        if self._handle is sys.stdout:
            return
        self._handle.close()
        rank = {path: index for index, path in enumerate(order)}
        self._rewrite(sorted(self._read_rows(), key=lambda row: rank.get(row["path"], len(rank))))

    def close(self) -> None:
        if self._handle is not sys.stdout:
            self._handle.close()


def classify_all(
    classifier: Classifier,
    directory: str | os.PathLike,
    paths: list[str],
    *,
    workers: int = 2,
    open_options: dict | None = None,
    run_options: dict | None = None,
    on_start: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, Result | None, str, float]]:
    """Yields ``(path, result, error, seconds)`` for each relative path, in order.

    A video that fails gets ``result=None`` and a one-line ``error``; the others go on.
    With ``workers > 0``, that many videos after the current one are decoded ahead in
    background threads, each keeping at most one window (or a few chunks) of frames ready.
    """
    open_options, run_options = open_options or {}, run_options or {}
    if classifier.mode == "clip":
        window_s = run_options.get("window") or 10
        depth = round(window_s * (open_options.get("fps") or classifier.fps))
    else:
        depth = STREAM_CHUNKS_AHEAD * run_options.get("chunk", 8)

    def start(path: str) -> FrameSource | MovinetError:
        try:
            source = classifier.open(Path(directory, path), **open_options)
        except MovinetError as error:
            return error
        if workers:
            source.frames = Prefetched(source.frames, depth)
        return source

    remaining, ahead = iter(paths), deque()
    try:
        while True:
            while len(ahead) < workers + 1:
                path = next(remaining, None)
                if path is None:
                    break
                ahead.append((path, start(path)))
            if not ahead:
                return
            path, source = ahead.popleft()
            if on_start:
                on_start(path)
            began = time.perf_counter()
            try:
                if isinstance(source, MovinetError):
                    raise source
                result = classifier.run(source, **run_options)
            except VideoError as error:
                yield path, None, error.reason, time.perf_counter() - began
            except MovinetError as error:
                yield path, None, str(error), time.perf_counter() - began
            except Exception as error:  # a broken file must not stop the batch
                yield path, None, f"unexpected {type(error).__name__}: {error}", time.perf_counter() - began
            else:
                yield path, result, "", time.perf_counter() - began
    finally:
        for _, source in ahead:
            if isinstance(source, FrameSource):
                source.close()


def run_batch(
    classifier: Classifier,
    directory: str | os.PathLike,
    results: ResultsFile,
    paths: list[str],
    *,
    workers: int = 2,
    open_options: dict | None = None,
    run_options: dict | None = None,
    on_start: Callable[[str], None] | None = None,
    on_video: Callable[[str, Result | None, str], None] | None = None,
) -> Summary:
    """Classifies ``paths`` (relative to ``directory``) not already in ``results.done``,
    writing a row per video; ``on_start`` and ``on_video`` are told when each one starts
    and finishes."""
    summary = Summary(skipped=sum(path in results.done for path in paths))
    todo = [path for path in paths if path not in results.done]
    began = time.perf_counter()
    try:
        for path, result, error, seconds in classify_all(
            classifier, directory, todo, workers=workers, open_options=open_options, run_options=run_options, on_start=on_start
        ):
            results.write(path, result, error, classifier, seconds)
            summary.ok += result is not None
            summary.failed += result is None
            if on_video:
                on_video(path, result, error)
    finally:
        summary.seconds = time.perf_counter() - began
    results.sort(paths)
    return summary
