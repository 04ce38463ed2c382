"""The results database: a run's rows in one SQLite file that any tool reads (``sqlite3``,
Datasette, pandas), and that ``movinet search`` and ``movinet report`` query.

A movinet database is told from any other SQLite file by ``PRAGMA application_id``
(``APPLICATION_ID``); its schema (``SCHEMA``, with its comments: ``.schema`` in ``sqlite3``
shows them; docs/formats.md) has the version ``PRAGMA user_version`` (``SCHEMA_VERSION``). A
file that is not one, is damaged or has another version is refused in one line
(``ForeignDatabaseError``) and never written. A video's row and its top-k hold exactly what
its CSV row holds: ``read_rows`` gives the same ``rows.Row``s as reading that CSV back.

Readers open the file read-only (``opened``), so a search may run while a batch writes; the
writer is ``database_sink.DatabaseSink``. Text that is not UTF-8 (a file name's bytes) is
kept as a BLOB of those bytes (``stored``, ``loaded``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import urllib.parse
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING

from movinet_cli.errors import UsageError
from movinet_cli.files import ReadError
from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outcomes.result import Prediction
from movinet_cli.outputs.claim import left_untouched
from movinet_cli.outputs.results_file import segment_of
from movinet_cli.outputs.rows import STATUSES, MalformedResultsError, Row, decode, decode_predictions

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from movinet_cli.outcomes.timeline import Segment

SCHEMA_VERSION = 1
APPLICATION_ID = 0x4D4F5649  # "MOVI": PRAGMA application_id of every movinet database
SQLITE_HEADER = b"SQLite format 3\x00"  # how every SQLite database file starts
WHAT = "movinet results database"
FORMAT = "SQLite"  # as messages name the format of a database's rows
DATABASE_EXTENSIONS = (".db", ".sqlite", ".sqlite3")

SCHEMA = """
-- One row per video of a run: what its CSV row holds (docs/formats.md), and its file.
CREATE TABLE videos (
    id INTEGER PRIMARY KEY,      -- predictions.video_id and segments.video_id refer to it
    path TEXT NOT NULL UNIQUE,   -- as the run named it (batch: relative to its DIRECTORY); a BLOB of its bytes where not UTF-8
    position INTEGER NOT NULL,   -- its place in the run's order of videos (then id): how rows are read back
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    error TEXT NOT NULL,         -- why it failed, one line; '' when ok
    action TEXT NOT NULL,        -- the top label, or 'no clear action' below --min-probability; '' when failed
    duration_s REAL,             -- seconds of video classified; NULL when failed
    frames INTEGER,              -- frames fed to the model; NULL when failed
    model TEXT NOT NULL,         -- the model as the run was given it, and how it ran
    engine TEXT NOT NULL,
    precision TEXT NOT NULL,     -- 'f32' or 'bf16'
    mode TEXT NOT NULL,          -- 'clip' or 'stream'
    seconds REAL,                -- wall-clock seconds the video took
    warnings TEXT NOT NULL,      -- a JSON list of text
    fps REAL,                    -- how it was read: frames/s, size x size pixels, resize mode; NULL/'' when failed
    size INTEGER,
    resize TEXT NOT NULL,
    file_bytes INTEGER,          -- the video file's size and modification time (Unix seconds) when classified
    file_mtime REAL              -- NULL where it could not be read
);
CREATE INDEX videos_failed ON videos (position) WHERE status = 'error';

-- A video's top-k: rank 1 is the most probable. Failed videos have none.
CREATE TABLE predictions (
    video_id INTEGER NOT NULL REFERENCES videos (id),
    rank INTEGER NOT NULL,
    label TEXT NOT NULL,
    probability REAL NOT NULL,   -- softmax probability in [0, 1], 6 decimals
    PRIMARY KEY (video_id, rank)
) WITHOUT ROWID;
CREATE INDEX predictions_by_label ON predictions (label, probability DESC);

-- Timeline segments (runs asked for timelines): a run of equal top labels over time.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    video_id INTEGER NOT NULL REFERENCES videos (id),
    start_s REAL NOT NULL,       -- seconds into the video
    end_s REAL NOT NULL,
    label TEXT NOT NULL,         -- the top label, or 'no clear action' below --min-probability
    probability REAL NOT NULL,   -- its frame-weighted mean probability over the segment
    runners_up TEXT NOT NULL     -- a JSON list of {"label", "probability"}: the rest of the segment's top-k
);
CREATE INDEX segments_by_label ON segments (label, probability DESC);
CREATE INDEX segments_by_video ON segments (video_id, start_s);

-- Every label of the models that made the rows: what a search may ask for.
CREATE TABLE labels (label TEXT PRIMARY KEY) WITHOUT ROWID;
"""
VIDEO_COLUMNS = ("path", "status", "error", "action", "duration_s", "frames", "model", "engine", "precision", "mode", "seconds", "warnings", "fps", "size", "resize")


class DatabaseFileError(UsageError):
    """A results database cannot be created, resumed or overwritten as asked (found before any work)."""


class ForeignDatabaseError(DatabaseFileError):
    """A file that is not a movinet results database this movinet reads: not SQLite, another
    program's, damaged, or of another schema version (``where`` says which). It is never
    written; ``writing``: the message says so, and what the user may do."""

    def __init__(self, path: str, where: str, writing: bool = False):
        self.path, self.where = path, where
        super().__init__(left_untouched(path, WHAT, where) if writing else f"{path} is not a {WHAT} ({where})")


def is_database(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file that starts as a SQLite database (of any program)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def header_problem(path: str) -> str | None:
    """Why the file ``path`` is not a movinet database of this schema, told from its first
    100 bytes without SQLite (which could write to it); None if it is one, or is empty."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(100)
    except OSError as error:
        raise ReadError(f"cannot read {path}: {error.strerror}") from None
    if not head:
        return None
    if not head.startswith(SQLITE_HEADER):
        return "it is not a SQLite database"
    if len(head) < 100:
        return "its SQLite header is cut short"
    if int.from_bytes(head[68:72], "big") != APPLICATION_ID:
        return "it is a SQLite database of another program"
    return _version_problem(int.from_bytes(head[60:64], "big"))


def _version_problem(version: int) -> str | None:
    if version == SCHEMA_VERSION:
        return None
    newer = " by a newer movinet" if version > SCHEMA_VERSION else ""
    return f"its schema is version {version}{newer}; this movinet reads version {SCHEMA_VERSION}"


def connect(path: str, readonly: bool) -> sqlite3.Connection:
    """A connection to the existing database file ``path``, in autocommit (transactions are
    begun and committed explicitly), read-only if asked. sqlite3.Error as SQLite raises it."""
    uri = "file:" + urllib.parse.quote(os.fsencode(os.path.abspath(path))) + ("?mode=ro" if readonly else "?mode=rw")
    return sqlite3.connect(uri, uri=True, isolation_level=None)


def failure(path: str, error: sqlite3.Error, writing: bool = False) -> Exception:
    """The error, one line, of SQLite's ``error`` on ``path``: a file that cannot be opened or
    is busy is a ReadError; one that SQLite finds damaged a ForeignDatabaseError."""
    text = " ".join(str(error).split())
    if "unable to open" in text or "locked" in text or "readonly" in text or "disk I/O" in text:
        return ReadError(f"cannot read {path}: {text} (SQLite)")
    return ForeignDatabaseError(path, f"SQLite finds it damaged: {text}", writing)


@cache
def expected_columns() -> dict[str, list[str]]:
    """Each table of ``SCHEMA``: its columns, in order."""
    memory = sqlite3.connect(":memory:")
    try:
        memory.executescript(SCHEMA)
        return columns_of(memory)
    finally:
        memory.close()


def columns_of(connection: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {table: [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')] for table in tables}


def check_schema(connection: sqlite3.Connection, path: str, writing: bool = False) -> None:
    """Raises ForeignDatabaseError unless ``connection``'s database is a movinet one of this
    schema version, with the tables and columns of ``SCHEMA``. sqlite3.Error as SQLite raises it."""
    application_id, version = (connection.execute(f"PRAGMA {pragma}").fetchone()[0] for pragma in ("application_id", "user_version"))
    if application_id != APPLICATION_ID:
        raise ForeignDatabaseError(path, "it is a SQLite database of another program", writing)
    if where := _version_problem(version):
        raise ForeignDatabaseError(path, where, writing)
    found = columns_of(connection)
    for table, columns in expected_columns().items():
        if found.get(table) != columns:
            where = f"it has no table {table}" if table not in found else f"its table {table} has other columns than movinet's"
            raise ForeignDatabaseError(path, where, writing)


@contextlib.contextmanager
def opened(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """The movinet database ``path``, open read-only and checked (``check_schema``): a run may
    be writing it meanwhile. Raises ReadError (not a regular file, unreadable) or
    ForeignDatabaseError; a SQLite error while the block reads is one of them too."""
    name = os.fsdecode(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ReadError(f"cannot read {name}: it is not a regular file")
    except OSError as error:
        raise ReadError(f"cannot read {name}: {error.strerror}") from None
    if (where := header_problem(name)) or os.path.getsize(name) == 0:
        raise ForeignDatabaseError(name, where or "it is empty")
    try:
        connection = connect(name, readonly=True)
    except sqlite3.Error as error:
        raise failure(name, error) from None
    try:
        check_schema(connection, name)
        yield connection
    except sqlite3.Error as error:
        raise failure(name, error) from None
    finally:
        connection.close()


def stored(text: str) -> str | bytes:
    """``text`` as the database keeps it: as it is, or, where it holds the undecodable bytes
    of a file name (surrogate escapes), a BLOB of its bytes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return text


def loaded(value: object) -> object:
    """A value read from the database: a BLOB as the text it was (``stored``), the rest as they are."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def read_rows(path: str | os.PathLike) -> list[Row]:
    """The rows of the database ``path`` in the run's order of videos: the same ``Row``s as
    reading back the CSV of the same run. Raises ReadError, ForeignDatabaseError or
    MalformedResultsError (a value that is not what movinet writes)."""
    with opened(path) as connection:
        return rows_of(connection, os.fsdecode(path))


def rows_of(connection: sqlite3.Connection, path: str, only_ok: bool = False) -> list[Row]:
    """The rows (only the ``ok`` ones if asked) of an open movinet database, checked by
    ``rows.decode``; ``path`` names it in messages."""
    predictions: dict[int, list[dict]] = {}
    for video_id, label, probability in connection.execute("SELECT video_id, label, probability FROM predictions ORDER BY video_id, rank"):
        predictions.setdefault(video_id, []).append({"label": loaded(label), "probability": probability})
    where = "WHERE status = 'ok'" if only_ok else ""
    rows = []
    for number, (video_id, *values) in enumerate(connection.execute(f"SELECT id, {', '.join(VIDEO_COLUMNS)} FROM videos {where} ORDER BY position, id"), 1):
        record = {column: loaded(value) for column, value in zip(VIDEO_COLUMNS, values) if value is not None}
        if record.get("status") not in STATUSES:
            raise MalformedResultsError(path, FORMAT, f"row {number}, column status: neither ok nor error")
        record["warnings"] = _json(record.get("warnings", "[]"), path, f"row {number}, column warnings")
        record["predictions"] = predictions.get(video_id, [])
        rows.append(decode(record, path, FORMAT, number))
    return rows


def _json(text: object, path: str, where: str) -> object:
    try:
        if not isinstance(text, str):
            raise json.JSONDecodeError("not text", "", 0)
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise MalformedResultsError(path, FORMAT, f"{where}: not JSON") from None


def read_segments(path: str | os.PathLike) -> dict[str, list[Segment]]:
    """``{video path: its timeline}`` of the database ``path``: its segments in time order,
    each with its top-k (label, then runners-up); a video without segments is not a key.
    Raises as ``read_rows``."""
    with opened(path) as connection:
        return segments_of(connection, os.fsdecode(path))


def segments_of(connection: sqlite3.Connection, path: str) -> dict[str, list[Segment]]:
    """``read_segments`` of an open movinet database, each segment checked as a timeline file's."""

    def bad(where: str) -> MalformedResultsError:
        return MalformedResultsError(path, FORMAT, f"segments, {where}", "results database")

    query = (
        "SELECT v.path, s.start_s, s.end_s, s.label, s.probability, s.runners_up FROM segments s JOIN videos v ON v.id = s.video_id "
        "ORDER BY v.position, v.id, s.start_s"
    )
    timelines: dict[str, list[Segment]] = {}
    for number, (video, start_s, end_s, label, probability, runners_up) in enumerate(connection.execute(query), 1):
        segment = segment_of({"start_s": start_s, "end_s": end_s, "label": loaded(label), "probability": probability}, number, bad)
        others = decode_predictions(_json(loaded(runners_up), path, f"segment {number}"), path, FORMAT, f"segment {number}", "runners_up")
        segment.predictions = others if segment.label == NO_CLEAR_ACTION else [Prediction(segment.label, segment.probability), *others]
        timelines.setdefault(str(loaded(video)), []).append(segment)
    return timelines


def known_labels(connection: sqlite3.Connection) -> list[str]:
    """The labels of the models that made the rows of an open movinet database, sorted."""
    return [str(loaded(label)) for (label,) in connection.execute("SELECT label FROM labels ORDER BY label")]
