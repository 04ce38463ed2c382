"""A run's results file: a CSV or JSON-lines row per video (``ResultsSink``), the output of
``movinet batch -o``.

Rows are written and flushed one at a time as the outcomes come, so an interrupted run leaves
a valid file of complete rows; a finished run sorts them into the videos' order. One run writes
a results file at a time (``claim.Claim``). ``resume`` keeps the complete ``ok`` rows of an
earlier run, when they were made as this run makes them (``claim.check_recipe``), so that the
run classifies only the others (``todo``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING

from movinet_cli.errors import OutputError, UsageError
from movinet_cli.files import check_output_path, is_special, read_text
from movinet_cli.options import BATCH_FORMATS
from movinet_cli.outputs.claim import Claim, already_exists, check_recipes, left_untouched, open_text, probe
from movinet_cli.outputs.formats import rows_text
from movinet_cli.outputs.results_file import LATER_COLUMNS, RESULTS_LIMIT_BYTES, ROW_START, starts_as_results
from movinet_cli.outputs.results_file import parse_rows as parse_results_rows
from movinet_cli.outputs.rows import MalformedResultsError, Row, columns, decode
from movinet_cli.outputs.sinks import ResultsOutput, asked_wrongly

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from movinet_cli.outcomes.result import Outcome

RESULTS_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}  # what batch writes, by the file's name


def results_output(
    path: str, format: str | None = None, *, resume: bool = False, overwrite: bool = False, timelines: bool = False, directory: str | None = None,
    command: str = "batch",
) -> ResultsOutput:
    """The results output that ``-o path`` names: a database for a ``.db``, ``.sqlite`` or
    ``.sqlite3`` file (``database_sink.DatabaseSink``, with each video's timeline if
    ``timelines``; ``directory``: where the videos' paths start, to record their files), else
    a CSV or JSON-lines file (``ResultsSink``; ``format``: see ``results_format``)."""
    from movinet_cli.outputs.database import DATABASE_EXTENSIONS

    if format is None and os.path.splitext(path)[1].lower() in DATABASE_EXTENSIONS:
        from movinet_cli.outputs.database_sink import DatabaseSink

        return DatabaseSink(path, resume=resume, overwrite=overwrite, timelines=timelines, directory=directory, command=command)
    return ResultsSink(path, format, resume=resume, overwrite=overwrite)


class ResultsFileError(UsageError):
    """The results file cannot be created, resumed or overwritten as asked (before any work)."""


class ForeignResultsError(ResultsFileError):
    """``--resume`` was pointed at a file that is not a batch results file (left untouched)."""


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
        raise ResultsFileError(already_exists(path))
    probe(path, "batch")
    try:
        with open_text(path, "r") as handle:
            head = handle.read(len(ROW_START[format]))
    except OSError as error:
        raise ResultsFileError(f"cannot read {path}: {error.strerror}") from None
    if resume and not starts_as_results(head, format):
        raise _foreign(path, format, "it does not start as one")


def _foreign(path: str, format: str, where: str) -> ForeignResultsError:
    return ForeignResultsError(left_untouched(path, f"movinet batch results file in {format} format", where))


def parse_rows(text: str, path: str, format: str) -> tuple[list[str] | None, list[dict]]:
    """``results_file.parse_rows``, with a file that is not a results file refused as
    ForeignResultsError (a usage error: it is left untouched)."""
    try:
        return parse_results_rows(text, path, format)
    except MalformedResultsError as error:
        raise _foreign(path, format, error.where) from None


class ResultsSink(ResultsOutput):
    """Where a batch's rows go: a CSV or JSON-lines file (or stdout for ``path == "-"``).

    Built at the edge and ``check``ed before the model loads; ``open``ed once it has loaded
    (the file is then claimed until ``close``: a second run on it is refused); each outcome
    ``add``ed is a row, written and flushed. A symbolic link is followed (the link stays); a
    device or FIFO is written in place. ``resume`` keeps the complete ``ok`` rows of an
    existing results file (``kept``; error rows are retried, a row cut short by a crash is
    dropped) and refuses a file that is not one (ForeignResultsError, the file untouched);
    otherwise an existing file is replaced only with ``overwrite``.
    """

    def __init__(self, path: str, format: str | None = None, *, resume: bool = False, overwrite: bool = False):
        super().__init__()
        self.path: str = path
        self.format = results_format(path, format)
        if self.format not in BATCH_FORMATS:
            raise ValueError(f"format must be one of {BATCH_FORMATS}, got {self.format!r}")
        self.resume, self.overwrite = resume, overwrite
        self.header: list[str] = []
        self._closed = False
        self._claim: Claim | None = None  # of the regular file written, if any
        self._stream: IO[str] | None = None  # stdout, a device or a FIFO

    def check(self) -> None:
        asked_wrongly(lambda: check_results_path(self.path, self.format, self.resume, self.overwrite))

    def open(self, top_k: int, recipe: Mapping[str, object] | None = None, order: Iterable[str] = ()) -> ResultsSink:
        """See ``ResultsOutput.open``; stdout, a device or a FIFO is written as it is."""
        self.top_k, self.order, self.header = top_k, list(order), columns(top_k)
        check_results_path(self.path, self.format, self.resume, self.overwrite)
        if self.path == "-" or is_special(self.path):
            self._stream = sys.stdout if self.path == "-" else self._opened()
            self._append(self._text([], header=True))
            return self
        self._claim = Claim(self.path, "batch")
        try:
            kept = self._kept_rows({**(recipe or {}), "--top-k": top_k})
            self._rewrite([encoded for encoded, _ in kept])
        except BaseException:
            self.close(False)
            raise
        self.kept = [row for _, row in kept]
        return self

    def as_read(self, row: Row) -> Row:
        """``row`` as reading the file back gives it (numbers rounded as written)."""
        return decode(row.encode(self.format, self.top_k), self.path, self.format, 1)

    @property
    def _handle(self) -> IO[str]:
        handle = self._claim.handle if self._claim else self._stream
        assert handle is not None, "open the results file first"
        return handle

    def _opened(self) -> IO[str]:
        try:
            return open_text(self.path, "a")
        except OSError as error:
            raise OutputError(f"cannot write {self.path}: {error.strerror}") from None

    def _kept_rows(self, ours: Mapping[str, object]) -> list[tuple[dict, Row]]:
        """The rows of the claimed file that this run keeps (as written, and read back):
        complete, ``ok``, and made as ``ours`` says."""
        if not os.fstat(self._handle.fileno()).st_size or self.overwrite:
            return []
        if not self.resume:  # another run made it since the first check
            raise ResultsFileError(already_exists(self.path))
        found, rows = parse_rows(self._handle.read(), self.path, self.format)
        self._check_columns(found)
        kept = list({row["path"]: row for row in rows if row["status"] == "ok"}.values())
        decoded = []
        for number, row in enumerate(kept, 1):  # every value as movinet writes it, before any is kept
            try:
                decoded.append((row, decode(row, self.path, self.format, number)))
            except MalformedResultsError as error:
                raise _foreign(self.path, self.format, error.where) from None
        check_recipes(self.path, (made.recipe for _, made in decoded), ours)
        return decoded

    def _check_columns(self, found: list[str] | None) -> None:
        """Refuses to resume a file whose columns are not this run's (None: JSON lines, no header)."""
        if found is None or found == self.header:
            return
        missing = [column for column in self.header if column not in found]
        if missing and set(missing) <= set(LATER_COLUMNS):
            raise ResultsFileError(
                f"{self.path} was written by an earlier movinet, without the {', '.join(missing)} column(s) of this run's rows; "
                "it cannot be resumed: pass --overwrite, or choose another --output"
            )
        raise ResultsFileError(
            f"{self.path} has other columns than this run would write (another --top-k?); resume with the same options, or pass --overwrite"
        )

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

    def _append(self, text: str) -> None:
        try:
            self._handle.write(text)
            self._handle.flush()
        except BrokenPipeError:  # the reader went away (`-o - | head`): the command ends quietly
            raise
        except OSError as error:
            raise OutputError(f"cannot write {'to stdout' if self.path == '-' else self.path}: {error.strerror}") from None

    @property
    def sortable(self) -> bool:  # type: ignore[override]  # known once open: a regular file
        return self._claim is not None

    def add(self, outcome: Outcome) -> Outcome:
        self.write(Row.of(outcome, self.context.info).encode(self.format, self.top_k))
        return outcome

    def write(self, row: dict) -> None:
        """Appends one row (``Row.encode``d) and flushes it."""
        self._append(self._text([row]))

    def close(self, finished: bool = True) -> None:
        """Ends the file: ``finished``, sorted into ``order`` (rows of other paths last), so
        that a resumed run ends with the same file as an uninterrupted one; then lets another
        run take it. Only the first close counts."""
        if self._closed:
            return
        self._closed = True
        try:
            if finished and self._claim is not None:
                text = read_text(self._claim.target, "results file", RESULTS_LIMIT_BYTES, errors="surrogateescape")
                _, rows = parse_rows(text, self.path, self.format)
                rank = {path: index for index, path in enumerate(self.order)}
                self._rewrite(sorted(rows, key=lambda row: rank.get(row["path"], len(rank))))
        finally:
            self._release()

    def _release(self) -> None:
        if self._claim is not None:
            self._claim.release()
        elif self._stream is not None and self._stream is not sys.stdout and not self._stream.closed:
            # Rows are flushed one by one, so all that can be left is a row whose write
            # already failed and was reported (OutputError): it is dropped, not raised again.
            with contextlib.suppress(OSError):
                self._stream.close()
