"""Classifying a directory of videos into a CSV or JSON-lines file, resumably.

Rows are written and flushed one at a time, so an interrupted run leaves a valid file of
complete rows, and a run with ``resume`` skips the videos that already have an ``ok`` row.
One run writes a results file at a time (it is locked). Each video is decoded in a child
process (a decoder crash costs one error row), and the next ones are decoded ahead while
the model works.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

from movinet_cli.errors import MovinetError, OutputError, UsageError
from movinet_cli.files import check_output_path, is_special, read_text
from movinet_cli.options import BATCH_FORMATS, DEFAULT_WORKERS, VIDEO_EXTENSIONS, Reading, ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier, classify_many
from movinet_cli.outputs.claim import Claim, check_recipe, open_text, probe
from movinet_cli.outputs.formats import rows_text
from movinet_cli.outputs.results_file import LATER_COLUMNS, RESULTS_LIMIT_BYTES, ROW_START, starts_as_results
from movinet_cli.outputs.results_file import parse_rows as parse_results_rows
from movinet_cli.outputs.rows import MalformedResultsError, Row, columns, decode
from movinet_cli.outputs.sinks import RunContext, Sink, passed


class ResultsFileError(MovinetError):
    """The results file cannot be created, resumed or overwritten as asked."""


class ForeignResultsError(ResultsFileError, UsageError):
    """``--resume`` was pointed at a file that is not a batch results file (left untouched)."""


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


RESULTS_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}  # what batch writes, by the file's name


def results_format(path: str, format: str | None = None) -> str:
    """The row format of a results file: ``format`` if given, else by ``path``'s extension
    (``RESULTS_EXTENSIONS``; "csv" for stdout, a device or a FIFO). UsageError for a file
    whose extension names a format that batch does not write (``res.json`` would get CSV)."""
    if format is not None:
        return format
    extension = os.path.splitext(path)[1].lower()
    if extension in RESULTS_EXTENSIONS:
        return RESULTS_EXTENSIONS[extension]
    if path == "-" or is_special(path):
        return "csv"
    raise UsageError(
        f"--output {path}: batch writes CSV (.csv) or JSON lines (.jsonl, .ndjson); name the file so, "
        "or pass --format to write one of them under this name"
    )


def check_results_path(path: str, format: str, resume: bool, overwrite: bool) -> None:
    """Raises ResultsFileError if ``path`` (or "-" for stdout) cannot take this run's rows
    as asked (another run holds it, say), ForeignResultsError if ``resume`` would rewrite a
    file that does not start as a results file: cheap, before loading a model. A device,
    FIFO or descriptor (``/dev/stdout``) is written in place."""
    if path == "-":
        if resume:
            raise ResultsFileError("--resume needs a results file, not stdout (-o -)")
        return
    if is_special(path):
        if resume:
            raise ResultsFileError(f"cannot resume from {path}: it is not a regular file (a device, FIFO or descriptor)")
        return
    check_output_path(path, "--output")
    if not os.path.exists(path):
        return
    if not (resume or overwrite):
        raise ResultsFileError(f"{path} already exists: pass --resume to finish that run, or --overwrite to replace it")
    probe(path, "batch")
    try:
        with open_text(path, "r") as handle:
            head = handle.read(len(ROW_START[format]))
    except OSError as error:
        raise ResultsFileError(f"cannot read {path}: {error.strerror}") from None
    if resume and not starts_as_results(head, format):
        raise _foreign(path, format, "it does not start as one")


def _foreign(path: str, format: str, where: str) -> ForeignResultsError:
    return ForeignResultsError(
        f"{path} is not a movinet batch results file in {format} format ({where}); it was left untouched: "
        "choose another --output, or pass --overwrite to replace it"
    )


def parse_rows(text: str, path: str, format: str) -> tuple[list[str] | None, list[dict]]:
    """``results_file.parse_rows``, with a file that is not a results file refused as
    ForeignResultsError (a usage error: it is left untouched)."""
    try:
        return parse_results_rows(text, path, format)
    except MalformedResultsError as error:
        raise _foreign(path, format, error.where) from None


class ResultsFile:
    """Where batch rows go: a CSV or JSON-lines file (or stdout for ``path == "-"``).

    One writer per file: a results file is claimed (``claim.Claim``) while this object is
    open, and a second run on it is refused. A symbolic link is followed (the link stays); a device or
    FIFO is written in place. ``resume`` keeps the complete ``ok`` rows of an existing
    results file (dropping error rows, which are retried, and a row cut short by a crash) and
    refuses a file that is not one (ForeignResultsError, the file untouched); otherwise an
    existing file is replaced only with ``overwrite``. ``done`` holds the paths that already
    have an ``ok`` row. With ``model`` (the name rows give it) and ``reading`` (the frame rate,
    size and resize mode the videos are read at), a file resumed with rows made otherwise is
    refused (``claim.check_recipe``), so that one file never mixes two kinds of answers.
    """

    def __init__(
        self, path: str, format: str, top_k: int, resume: bool = False, overwrite: bool = False, model: str | None = None, reading: Reading | None = None
    ):
        if format not in BATCH_FORMATS:
            raise ValueError(f"format must be one of {BATCH_FORMATS}, got {format!r}")
        self.path, self.format, self.top_k, self.header = path, format, top_k, columns(top_k)
        check_results_path(path, format, resume, overwrite)
        self.done: set[str] = set()
        self.kept: list[dict] = []  # the ok rows of an earlier run that this one keeps (resume)
        self._claim: Claim | None = None  # of the regular file written, if any
        if path == "-" or is_special(path):
            self._stream: IO[str] = sys.stdout if path == "-" else self._opened(path)
            self._start()
            return
        self._claim = Claim(path, "batch")
        try:
            kept = self._kept_rows(resume, overwrite, self._recipe(model, reading))
            self._rewrite(kept)
        except BaseException:
            self.close()
            raise
        self.done, self.kept = {row["path"] for row in kept}, kept

    @property
    def _handle(self) -> IO[str]:
        return self._claim.handle if self._claim else self._stream

    def _opened(self, path: str) -> IO[str]:
        try:
            return open_text(path, "a")
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {error.strerror}") from None

    @staticmethod
    def _recipe(model: str | None, reading: Reading | None) -> dict:
        """What this run's rows are made with, as far as it is given (see ``claim.check_recipe``)."""
        recipe: dict = {"--model": model} if model else {}
        if reading is not None:
            recipe.update({"--fps": reading.fps, "--size": reading.size, "--resize": reading.resize})
        return recipe

    def _kept_rows(self, resume: bool, overwrite: bool, ours: dict) -> list[dict]:
        """The rows of the locked file that this run keeps: complete, ``ok``, and made as ``ours`` says."""
        if not os.fstat(self._handle.fileno()).st_size or overwrite:
            return []
        if not resume:  # another run made it since the first check
            raise ResultsFileError(f"{self.path} already exists: pass --resume to finish that run, or --overwrite to replace it")
        columns, rows = parse_rows(self._handle.read(), self.path, self.format)
        missing = [column for column in self.header if column not in (columns or self.header)]
        if columns is not None and missing and set(missing) <= set(LATER_COLUMNS):
            raise ResultsFileError(
                f"{self.path} was written by an earlier movinet, without the {', '.join(missing)} column(s) of this run's rows; "
                "it cannot be resumed: pass --overwrite, or choose another --output"
            )
        if columns is not None and columns != self.header:
            raise ResultsFileError(
                f"{self.path} has other columns than this run would write (another --top-k?); "
                "resume with the same options, or pass --overwrite"
            )
        kept = list({row["path"]: row for row in rows if row["status"] == "ok"}.values())
        recipes: dict[tuple, dict] = {}  # each way the kept rows were made, once
        for number, row in enumerate(kept, 1):  # every value as movinet writes it, before any is kept
            try:
                decoded = decode(row, self.path, self.format, number)
            except MalformedResultsError as error:
                raise _foreign(self.path, self.format, error.where) from None
            if len(decoded.predictions) != self.top_k:
                raise ResultsFileError(
                    f"{self.path} has rows of {len(decoded.predictions)} predictions, not the {self.top_k} this run writes (another --top-k?); "
                    "resume with the same options, or pass --overwrite"
                )
            made = {"--model": decoded.model, "--fps": decoded.fps, "--size": decoded.size, "--resize": decoded.resize}
            recipes.setdefault(tuple(made.values()), made)
        for theirs in recipes.values():
            check_recipe(self.path, theirs, ours)
        return kept

    def _rewrite(self, rows: list[dict]) -> None:
        """Replaces the claimed file atomically with ``rows``, keeping the claim."""
        assert self._claim is not None

        def write(staging: str) -> None:
            with open_text(staging, "w") as handle:
                handle.write(self._text(rows, header=True))

        try:
            self._claim.replace(write)
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {error.strerror}") from None

    def _text(self, rows: list[dict], header: bool = False) -> str:
        return rows_text(self.format, rows, self.header, with_header=header)

    def _start(self) -> None:
        self._append(self._text([], header=True))

    def _append(self, text: str) -> None:
        try:
            self._handle.write(text)
            self._handle.flush()
        except BrokenPipeError:  # the reader went away (`-o - | head`): the command ends quietly
            raise
        except OSError as error:
            raise OutputError(f"cannot write {'to stdout' if self.path == '-' else self.path}: {error.strerror}") from None

    @property
    def sortable(self) -> bool:
        """Whether ``sort`` can put the rows in order afterwards (a regular file), so that
        rows may be written in the order they come."""
        return self._claim is not None

    def todo(self, paths: list[str]) -> list[str]:
        """The ``paths`` that this run still has to classify (no ``ok`` row yet)."""
        return [path for path in paths if path not in self.done]

    def write(self, row: dict) -> None:
        """Appends one row (``Row.encode``d) and flushes it."""
        self._append(self._text([row]))

    def sort(self, order: list[str]) -> None:
        """Rewrites the file with its rows in ``order`` (rows of other paths last), so that a
        resumed run ends with the same file as an uninterrupted one."""
        if self._claim is None:
            return
        _, rows = parse_rows(read_text(self._claim.target, "results file", RESULTS_LIMIT_BYTES, errors="surrogateescape"), self.path, self.format)
        rank = {path: index for index, path in enumerate(order)}
        self._rewrite(sorted(rows, key=lambda row: rank.get(row["path"], len(rank))))

    def close(self) -> None:
        """Closes the file, which lets another run take it."""
        if self._claim is not None:
            self._claim.release()
        elif self._stream is not sys.stdout and not self._stream.closed:
            # Rows are flushed one by one, so all that can be left is a row whose write
            # already failed and was reported (OutputError): it is dropped, not raised again.
            with contextlib.suppress(OSError):
                self._stream.close()


def run_batch(
    classifier: Classifier,
    directory: str | os.PathLike,
    results: ResultsFile,
    paths: list[str],
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    workers: int = DEFAULT_WORKERS,
    on_start: Callable[[str], None] | None = None,
    on_video: Callable[[dict], None] | None = None,
    sinks: Sequence[Sink] = (),
) -> Summary:
    """Classifies ``paths`` (relative to ``directory``) not already in ``results.done``,
    writing a row per video (see ``write_rows``), with ``workers`` videos decoded ahead of
    the one being classified; ``on_start`` is told when each one starts and ``on_video``
    gets each row written. The rows hold ``results.top_k`` predictions. Each outcome goes
    through ``sinks`` (more outputs, ``sinks.drain``'s way) before it is a row."""
    run = dataclasses.replace(run, top_k=results.top_k)
    outcomes = classify_many(classifier, results.todo(paths), read, run, directory=directory, ahead=workers, on_start=on_start)
    through = passed(outcomes, sinks, RunContext.of(classifier, run))
    # Both closed here, whatever stops the rows (a reader of stdout gone, a full disk): the
    # sinks end now, and the decoders stop now, not when the generators are collected at exit.
    with contextlib.closing(outcomes), contextlib.closing(through):
        rows = (Row.of(outcome, classifier.info).encode(results.format, results.top_k) for outcome in through)
        return write_rows(results, paths, rows, on_video)


def write_rows(results: ResultsFile, paths: list[str], rows: Iterable[dict], on_video: Callable[[dict], None] | None = None) -> Summary:
    """Writes ``rows`` (one per path of ``results.todo(paths)``, in any order) as they come,
    each flushed, then sorts the file into the order of ``paths`` (rows of an earlier run
    included). ``on_video`` gets each row after it is written. Returns the counts and the
    seconds taken (until the last row)."""
    summary = Summary(skipped=len(paths) - len(results.todo(paths)))
    began = time.perf_counter()
    try:
        for row in rows:
            results.write(row)
            summary.ok += row["status"] == "ok"
            summary.failed += row["status"] != "ok"
            if on_video:
                on_video(row)
    finally:
        summary.seconds = time.perf_counter() - began
    results.sort(paths)
    return summary
