"""Reading results files back: the CSV or JSON lines that ``movinet batch`` writes (and
``classify --format csv/jsonl``), and the JSON document of ``classify --format json``.

One reader for every command that reads rows: ``batch --resume`` and its final sort
(``parse_rows``), and the report (``read_results``, rows as typed ``ResultRow``s). A file is
read bounded (``files.read_text``: a FIFO, device or huge file is refused at once), lines
are split on ``"\\n"`` only (JSON leaves U+2028 raw inside a string), and anything that is
not what we write is a ``MalformedResultsError`` whose one line names the file, the row and
the column.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field

from .classify import Prediction
from .errors import MovinetError
from .files import read_text
from .output import WARNINGS_SEPARATOR, csv_header, legacy_csv_headers, read_csv

STATUSES = ("ok", "error")
# How every results file starts: the CSV header's first columns, or a JSON-lines row.
ROW_START = {"csv": "path,status,error,label_1,", "jsonl": '{"path": '}
RESULTS_LIMIT_BYTES = 512_000_000  # a results file read back: about 2 million rows
MAX_SECONDS = 1e9  # a duration or time taken beyond this (31 years) is not one we wrote
MAX_TEXT = 100_000  # characters in one text value: we write error messages of 300, paths of 4096


class MalformedResultsError(MovinetError):
    """A file that is not a results file, or a row of one that is not what we write. Its
    message is one line naming the file, the row and the column (``where``)."""

    def __init__(self, path: str, format: str, where: str):
        self.path, self.format, self.where = path, format, where
        super().__init__(f"{path} is not a movinet results file in {format} format ({where})")


def starts_as_results(text: str, format: str) -> bool:
    """Whether ``text`` starts as a results file does, or is the start of one cut short."""
    start = ROW_START[format]
    return text.startswith(start) or start.startswith(text)


def parse_rows(text: str, path: str, format: str) -> tuple[list[str] | None, list[dict]]:
    """The header (CSV; None for JSON lines or an empty file) and the complete rows of a
    results file's ``text`` ("csv" or "jsonl"): dicts of the file's own values (strings for
    CSV). Blank lines are skipped, and a last row cut short by a crash is left out. Raises
    MalformedResultsError for anything else, so that a file that is not ours is never
    rewritten."""
    if not starts_as_results(text[: len(ROW_START[format])], format):
        if format == "csv" and text.startswith("path,"):  # our columns, but not in our order
            _check_columns(text.split("\n", 1)[0].rstrip("\r").split(","), path)
        raise MalformedResultsError(path, format, "it does not start as one")
    if format == "jsonl":
        *lines, cut = text.split("\n")  # what follows the last line break was cut short
        rows = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = _json(line, path, format, f"line {number}")
            if not (isinstance(row, dict) and isinstance(row.get("path"), str) and row.get("status") in STATUSES):
                raise MalformedResultsError(path, format, f"line {number} is not a results row")
            rows.append(row)
        if not starts_as_results(cut[: len(ROW_START[format])], format):
            raise MalformedResultsError(path, format, "its last line is not a results row")
        return None, rows
    try:
        columns, records, _ = read_csv(text)
    except csv.Error as error:
        raise MalformedResultsError(path, format, f"not CSV: {error}") from None
    if not columns:
        return None, []
    _check_columns(columns, path)
    for number, record in enumerate(records, 1):
        if len(record) != len(columns):
            raise MalformedResultsError(path, format, f"row {number} has {len(record)} cells, not the {len(columns)} columns")
        if record[1] not in STATUSES:
            raise MalformedResultsError(path, format, f"row {number}, column status: {record[1][:40]!r} is neither ok nor error")
    return columns, [dict(zip(columns, record)) for record in records]


def _check_columns(columns: list[str], path: str) -> None:
    """Raises MalformedResultsError, naming the first column out of place, unless ``columns``
    are ``csv_header``'s (or an older layout, ``legacy_csv_headers``) for some top-k."""

    def layouts(top_k: int) -> list[list[str]]:
        return [csv_header(top_k), *legacy_csv_headers(top_k)]

    for index in range(len(layouts(1))):
        ranks = (len(columns) - len(layouts(1)[index])) // 2 + 1
        if ranks >= 1 and columns == layouts(ranks)[index]:
            return
    ranks = max(1, sum(column.startswith("label_") for column in columns))
    current, before_warnings, before_precision = layouts(ranks)
    expected = current if "warnings" in columns else before_warnings if "precision" in columns else before_precision
    for index, (found, wanted) in enumerate(zip(columns + [""] * len(expected), expected), 1):
        if found != wanted:
            what = f"{found[:40]!r}" if found else "missing"
            raise MalformedResultsError(path, "csv", f"header, column {index}: {what} where {wanted} belongs")
    raise MalformedResultsError(path, "csv", f"header: {len(columns)} columns, more than the {len(expected)} of a results file")


def _json(text: str, path: str, format: str, where: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        why = "nested too deeply" if isinstance(error, RecursionError) else "not JSON"
        raise MalformedResultsError(path, format, f"{where} is {why}") from None


@dataclass
class ResultRow:
    """One video's row of a results file, typed (see ``output.result_row`` for what is written)."""

    path: str  # as given to the command, or relative to batch's directory
    status: str = "ok"  # "ok" or "error"
    error: str = ""
    predictions: list[Prediction] = field(default_factory=list)  # top-k, most probable first
    duration_s: float | None = None  # seconds of video classified
    frames: int | None = None
    model: str = ""
    engine: str = ""
    precision: str = ""
    mode: str = ""  # "clip" or "stream"
    seconds: float | None = None  # wall-clock seconds the classification took
    warnings: list[str] = field(default_factory=list)
    action: str = ""  # the top label, or NO_CLEAR_ACTION below the run's minimum probability ("" in older files)


def results_format(text: str) -> str:
    """"jsonl", "json" (a ``classify --format json`` document) or "csv", told by content."""
    if text.startswith(ROW_START["jsonl"]):
        return "jsonl"
    return "json" if text.lstrip().startswith("{") else "csv"


def read_results(path: str | os.PathLike) -> tuple[list[ResultRow], dict]:
    """The rows of a results file (any format ``movinet`` writes, told by content), typed and
    checked, and the context of a JSON document (its "model", "engine", "mode"), which rows
    lacking their own take. Raises ReadError (not a regular file, too large, unreadable) or
    MalformedResultsError (one line: the file, the row, the column)."""
    name = os.fsdecode(path)
    text = read_text(path, "results file", RESULTS_LIMIT_BYTES, errors="surrogateescape")
    format = results_format(text)
    context: dict = {}
    if format == "json":
        document = _json(text, name, format, "the document")
        if not (isinstance(document, dict) and isinstance(document.get("results"), list)):
            raise MalformedResultsError(name, format, 'no "results" list')
        context = {key: document[key] for key in ("model", "engine", "mode") if isinstance(document.get(key), str)}
        rows = document["results"]
        for number, row in enumerate(rows, 1):
            if not (isinstance(row, dict) and isinstance(row.get("path"), str) and row.get("status") in STATUSES):
                raise MalformedResultsError(name, format, f"result {number} is not a results row")
    else:
        _, rows = parse_rows(text, name, format)
    return [typed_row({**context, **row}, name, format, number) for number, row in enumerate(rows, 1)], context


def typed_row(row: dict, path: str, format: str, number: int) -> ResultRow:
    """``row`` (as ``parse_rows`` gives it) as a ResultRow; MalformedResultsError naming
    ``path``, row ``number`` and the column for a value that is not what we write."""

    def bad(column: str, why: str) -> MalformedResultsError:
        return MalformedResultsError(path, format, f"row {number}, column {column}: {why}")

    def text(column: str) -> str:
        value = row.get(column)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise bad(column, "not text")
        if len(value) > MAX_TEXT:
            raise bad(column, f"{len(value)} characters, more than the {MAX_TEXT} of any value we write")
        return value

    def number_in(column: str, top: float, integer: bool = False) -> float | None:
        cell = row.get(column)
        if cell is None or cell == "":
            return None
        value = cell
        if isinstance(cell, str):
            try:
                value = int(cell) if integer else float(cell)
            except ValueError:
                raise bad(column, f"{cell[:40]!r} is not a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise bad(column, "not a number")
        if not (math.isfinite(value) and 0 <= value <= top):
            raise bad(column, f"{value:g} is not between 0 and {top:g}")
        return value

    def count(column: str) -> int | None:
        value = number_in(column, 1e15, integer=True)
        return None if value is None else int(value)

    if format == "csv":
        ranks = sum(column.startswith("label_") for column in row)
        predictions = []
        for rank in range(1, ranks + 1):
            label = text(f"label_{rank}")
            probability = number_in(f"prob_{rank}", 1.0)
            if bool(label) != (probability is not None):
                raise bad(f"prob_{rank}" if label else f"label_{rank}", f"label_{rank} and prob_{rank} must both be given or both be empty")
            if probability is not None:
                predictions.append(Prediction(label, probability))
        warnings = [warning for warning in text("warnings").split(WARNINGS_SEPARATOR) if warning]
    else:
        entries = row.get("predictions") or []
        if not isinstance(entries, list):
            raise bad("predictions", "not a list")
        predictions = []
        for rank, entry in enumerate(entries, 1):
            name = entry.get("label") if isinstance(entry, dict) else None
            value = entry.get("probability") if isinstance(entry, dict) else None
            if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad("predictions", f"entry {rank} is not a label and a probability")
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise bad("predictions", f"entry {rank}'s probability {value:g} is not between 0 and 1")
            predictions.append(Prediction(name, float(value)))
        warnings = row.get("warnings") or []
        if not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
            raise bad("warnings", "not a list of text")
    return ResultRow(
        path=text("path"),
        status=row["status"],
        error=text("error"),
        predictions=predictions,
        duration_s=number_in("duration_s", MAX_SECONDS),
        frames=count("frames"),
        model=text("model"),
        engine=text("engine"),
        precision=text("precision"),
        mode=text("mode"),
        seconds=number_in("seconds", MAX_SECONDS),
        warnings=list(warnings),
        action=text("action"),
    )
