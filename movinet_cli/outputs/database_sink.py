"""Writing a results database (``database``) as a run goes: ``DatabaseSink``, one of a run's
outputs (``sinks.Sink``), under the same rules as a CSV results file.

One writer: the file is claimed (``claim.Claim``, an exclusive ``flock``) for the whole run,
and a second run on it is refused. ``resume`` keeps the ``ok`` rows of an existing database
(failed videos are deleted, and retried) when they were made as this run makes them
(``claim.check_recipes``) and their files are the ones classified (the same size and
modification time: a video changed since is classified again); a file that is not a movinet database of this schema, or that
SQLite finds damaged, is refused in one line and left as it was. Without ``resume``, an
existing file is replaced only with ``overwrite``.

Each video is committed in a transaction of its own, in WAL mode with ``synchronous=NORMAL``:
a kill loses at most the video being written, and a commit costs no ``fsync`` (an operating
system crash may lose the last videos, never the file). At the end the database goes back to
a rollback journal, so that the finished file is one file, to be copied as it is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from movinet_cli.errors import OutputError
from movinet_cli.files import check_output_path, is_special
from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outputs.claim import Claim, already_exists, check_recipes, probe
from movinet_cli.outputs.database import (
    APPLICATION_ID,
    SCHEMA,
    SCHEMA_VERSION,
    DatabaseFileError,
    ForeignDatabaseError,
    check_schema,
    connect,
    failure,
    header_problem,
    loaded,
    rows_of,
    stored,
)
from movinet_cli.outputs.rows import Row, decode
from movinet_cli.outputs.sinks import ResultsOutput, RunContext, asked_wrongly

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from movinet_cli.outcomes.result import Outcome
    from movinet_cli.outcomes.timeline import Segment

logger = logging.getLogger(__name__)  # notices: the command line shows them on stderr
SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's files beside a database: an overwritten one's must go with it


def check_database_path(path: str, resume: bool, overwrite: bool, command: str = "batch") -> None:
    """Raises DatabaseFileError if ``path`` cannot take this run's rows as asked (it is not a
    regular file, exists without ``resume`` or ``overwrite``, another run holds it),
    ForeignDatabaseError if ``resume`` would write a file that is not a movinet database of
    this schema. Cheap: before loading a model (``DatabaseSink`` checks it all again under its claim)."""
    if path == "-" or is_special(path):
        raise DatabaseFileError(f"--output {path}: a results database is a regular file, not stdout, a device or a FIFO")
    try:
        check_output_path(path, "--output")
    except OutputError as error:
        raise DatabaseFileError(str(error)) from None
    if not os.path.exists(path):
        return
    if not (resume or overwrite):
        raise DatabaseFileError(already_exists(path))
    probe(path, command)
    if resume and (where := header_problem(path)):
        raise ForeignDatabaseError(path, where, writing=True)


class DatabaseSink(ResultsOutput):
    """A run's rows into the results database ``path`` (see the module's docstring), each
    video's as it comes (``add``), with its timeline's segments if ``timelines``; a
    ``sinks.ResultsOutput`` (check, open, todo, kept, close) as a CSV results file is. Its
    errors are usage errors: nothing was written.

    Args:
        path: the database file (through a symbolic link: the link stays).
        resume, overwrite: --resume and --overwrite.
        timelines: write each video's timeline (``timeline.segments`` with the run's bins).
        directory: what the videos' paths are relative to, to record each file's size and
            modification time; None: the working directory.
        command: the command that writes, as a second writer's refusal names it.
    """

    path: str

    def __init__(
        self, path: str, *, resume: bool = False, overwrite: bool = False, timelines: bool = False, directory: str | None = None, command: str = "batch",
    ):
        super().__init__()
        self.path, self.resume, self.overwrite = path, resume, overwrite
        self.timelines, self.directory, self.command = timelines, directory, command
        self.rank: dict[str, int] = {}
        self.ours: dict = {}
        self._connection: sqlite3.Connection | None = None
        self._claim: Claim | None = None
        self._next: int | None = None  # without an order, the next row's position

    def check(self) -> None:
        asked_wrongly(lambda: check_database_path(self.path, self.resume, self.overwrite, self.command))

    def open(self, top_k: int, recipe: Mapping[str, object] | None = None, order: Iterable[str] = ()) -> DatabaseSink:
        """See ``ResultsOutput.open``; rows kept are put in ``order`` (others after them)."""
        self.top_k, self.order = top_k, list(order)
        self.ours = {**(recipe or {}), "--top-k": top_k}
        self.rank = {video: index for index, video in enumerate(self.order)}
        check_database_path(self.path, self.resume, self.overwrite, self.command)
        self._claim = Claim(self.path, self.command)
        try:
            self._open(self.resume, self.overwrite)
        except BaseException:
            self.close()
            raise
        return self

    def as_read(self, row: Row) -> Row:
        return decode(row.encode("json", self.top_k), self.path, "jsonl", 1)

    def _open(self, resume: bool, overwrite: bool) -> None:
        """Connects to the claimed file: made new (empty, or ``overwrite``) or resumed."""
        assert self._claim is not None
        target = self._claim.target
        made = os.fstat(self._claim.handle.fileno()).st_size > 0
        if made and overwrite:
            self._claim.replace(lambda staging: _remove_side_files(target))  # an empty file: a new database
            made = False
        if made and not resume:  # another run made it since the first check
            raise DatabaseFileError(already_exists(self.path))
        if made and (where := header_problem(target)):
            raise ForeignDatabaseError(self.path, where, writing=True)
        if not made:  # an empty file of ours: journal files beside it are a deleted database's, which SQLite would replay into it
            _remove_side_files(target)
        try:
            self._connection = connect(target, readonly=False)
            if made:
                self._resume(self._connection)
            else:
                self._connection.executescript(f"BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; PRAGMA application_id = {APPLICATION_ID}; COMMIT;")
            # Only now: the header that says it is ours was committed to the file itself, not to a WAL a kill could leave behind.
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as error:
            raise failure(self.path, error, writing=True) from None

    def _resume(self, connection: sqlite3.Connection) -> None:
        """Checks the file (schema, ``quick_check``, the kept rows' recipes) before writing a
        byte, then deletes its failed videos and puts the rest in this run's order."""
        check_schema(connection, self.path, writing=True)
        problems = [problem for (problem,) in connection.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise ForeignDatabaseError(self.path, f"SQLite finds it damaged: {' '.join(' '.join(map(str, problems)).split())}", writing=True)
        changed = self._changed(connection)
        if changed:
            logger.warning(f"{self.path}: {len(changed)} video(s) changed since they were classified (size or modification time): classified again")
        self.kept = [row for row in rows_of(connection, self.path, only_ok=True) if row.path not in changed]
        check_recipes(self.path, (row.recipe for row in self.kept), self.ours)
        connection.execute("BEGIN")
        failed = "SELECT id FROM videos WHERE status != 'ok'"
        connection.execute(f"DELETE FROM predictions WHERE video_id IN ({failed})")
        connection.execute(f"DELETE FROM segments WHERE video_id IN ({failed})")
        connection.execute("DELETE FROM videos WHERE status != 'ok'")
        if self.rank:
            connection.executemany("UPDATE videos SET position = ? WHERE path = ?", [(self._position(row.path), stored(row.path)) for row in self.kept])
        connection.execute("COMMIT")

    def _changed(self, connection: sqlite3.Connection) -> set[str]:
        """The videos with an ``ok`` row whose file is not the one classified: its size or
        modification time differs from the ones recorded (a file edited or replaced since, or
        another DIRECTORY's of the same name). A row that recorded neither, or whose file
        cannot be read now, is not judged."""
        changed = set()
        for path, size, mtime in connection.execute("SELECT path, file_bytes, file_mtime FROM videos WHERE status = 'ok' AND file_bytes IS NOT NULL"):
            video = str(loaded(path))
            now = self._file(video)
            if now != (None, None) and now != (size, mtime):
                changed.add(video)
        return changed

    def _position(self, video: str) -> int:
        """Where ``video``'s row goes: its place in the run's order, the others after them (as
        they come); without an order, after the rows already there."""
        if self.rank:
            return self.rank.get(video, len(self.rank))
        if self._next is None:
            assert self._connection is not None
            self._next = self._connection.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM videos").fetchone()[0]
        self._next += 1
        return self._next - 1

    def start(self, context: RunContext) -> None:
        super().start(context)
        self._write(lambda connection: connection.executemany("INSERT OR IGNORE INTO labels (label) VALUES (?)", [(stored(label),) for label in context.labels]))

    def add(self, outcome: Outcome) -> Outcome:
        """Writes the video's row (and with ``timelines`` its segments), committed."""
        timeline: list[Segment] = []
        if self.timelines and outcome.result is not None:
            from movinet_cli.outcomes.timeline import segments

            timeline = segments(outcome.result, self.context.labels, self.context.bin_s, self.top_k)
        self.add_row(Row.of(outcome, self.context.info), timeline)
        return outcome

    def add_row(self, row: Row, timeline: Sequence[Segment] = ()) -> None:
        """Writes ``row`` (replacing a row of the same path) and its timeline, in one
        transaction: for rows that come made (a Ray actor's). OutputError if it cannot be written."""
        record = row.encode("json", self.top_k)  # numbers rounded as every results file has them
        size, mtime = self._file(row.path)
        values = [record["status"], record["error"], record.get("action", ""), record.get("duration_s"), record.get("frames"), record["model"]]
        values += [record["engine"], record["precision"], record["mode"], record["seconds"], json.dumps(record["warnings"], ensure_ascii=False)]
        values += [record.get("fps"), record.get("size"), record.get("resize", "")]

        def write(connection: sqlite3.Connection) -> None:
            _delete_video(connection, stored(row.path))
            video_id = connection.execute(
                "INSERT INTO videos (path, position, status, error, action, duration_s, frames, model, engine, precision, mode, seconds, warnings, "
                "fps, size, resize, file_bytes, file_mtime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [stored(row.path), self._position(row.path), *(stored(value) if isinstance(value, str) else value for value in values), size, mtime],
            ).lastrowid
            predictions = record.get("predictions", [])
            connection.executemany(
                "INSERT INTO predictions (video_id, rank, label, probability) VALUES (?, ?, ?, ?)",
                [(video_id, rank, stored(p["label"]), p["probability"]) for rank, p in enumerate(predictions, 1)],
            )
            connection.executemany(
                "INSERT INTO segments (video_id, start_s, end_s, label, probability, runners_up) VALUES (?, ?, ?, ?, ?, ?)",
                [(video_id, s.start_s, s.end_s, stored(s.label), s.probability, _runners_up(s)) for s in timeline],
            )

        self._write(write)

    def _file(self, video: str) -> tuple[int | None, float | None]:
        """The video file's size (bytes) and modification time (Unix seconds); None, None if unknown."""
        try:
            status = os.stat(os.path.join(self.directory, video) if self.directory else video)
        except (OSError, ValueError):
            return None, None
        return status.st_size, status.st_mtime

    def _write(self, write) -> None:
        """Runs ``write(connection)`` in a transaction of its own, committed (``_commit``)."""
        assert self._connection is not None, "the database is closed"
        try:
            self._connection.execute("BEGIN")
            write(self._connection)
            self._commit()
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
            raise OutputError(f"cannot write {self.path}: {error}") from None

    def _commit(self) -> None:
        assert self._connection is not None
        self._connection.execute("COMMIT")

    def close(self, finished: bool = False) -> None:
        """Ends the database (all that was added is committed already) and lets another run
        take it. The WAL is folded into the file where no reader holds it."""
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("PRAGMA busy_timeout = 0")  # a reader (a search) keeps its WAL: do not wait for it
                self._connection.execute("PRAGMA journal_mode = DELETE")
            self._connection.close()
            self._connection = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None


def _delete_video(connection: sqlite3.Connection, path: str | bytes) -> None:
    """Deletes the row of ``path``, if any, with its predictions and segments."""
    for (video_id,) in connection.execute("SELECT id FROM videos WHERE path = ?", (path,)).fetchall():
        connection.execute("DELETE FROM predictions WHERE video_id = ?", (video_id,))
        connection.execute("DELETE FROM segments WHERE video_id = ?", (video_id,))
        connection.execute("DELETE FROM videos WHERE id = ?", (video_id,))


def _runners_up(segment: Segment) -> str | bytes:
    """The JSON of the segment's top-k after its label (all of it for no clear action, whose
    top-k does not start with its label), probabilities to 6 decimals."""
    others = segment.predictions if segment.label == NO_CLEAR_ACTION else segment.predictions[1:]
    return stored(json.dumps([{"label": p.label, "probability": round(p.probability, 6)} for p in others], ensure_ascii=False, separators=(",", ":")))


def _remove_side_files(target: str) -> None:
    """Removes the journal files beside ``target`` (another database's, overwritten or deleted): SQLite would replay them into a new one."""
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target + suffix)


