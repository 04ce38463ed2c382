"""Reading results files back: the CSV or JSON lines that ``movinet batch`` writes (and
``classify --format csv/jsonl``), and the JSON document of ``classify --format json``; and
timeline files (``read_timeline``: ``--timeline``, ``batch --timelines``) for the report.

One reader for every command that reads rows: ``batch --resume`` and its final sort
(``parse_rows``), and the report (``read_results``, rows as typed ``rows.Row``s). A file is
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
import re
from collections.abc import Callable

from movinet_cli.files import read_text
from movinet_cli.outcomes.result import Prediction
from movinet_cli.outcomes.timeline import COLUMNS as TIMELINE_COLUMNS
from movinet_cli.outcomes.timeline import SUBTITLE_FORMATS, Segment, timeline_format
from movinet_cli.outputs.rows import MAX_SECONDS, MAX_TEXT, STATUSES, MalformedResultsError, Row, columns, decode
from movinet_cli.text import read_csv

# How every results file starts: the CSV header's first columns, or a JSON-lines row.
ROW_START = {"csv": "path,status,error,label_1,", "jsonl": '{"path": '}
RESULTS_LIMIT_BYTES = 512_000_000  # a results file read back: about 2 million rows
# Columns that results files written by earlier versions lack (a row read from one has none of them).
LATER_COLUMNS = ("precision", "action", "warnings", "fps", "size", "resize")
TIMELINE_LIMIT_BYTES = 64_000_000  # a timeline read back: a day of video in 0.1 s segments is about 50 MB


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
    if "\r" in text and "\n" not in text:  # read as one row cut short, its rows would all be dropped
        raise MalformedResultsError(path, format, "its lines end in a carriage return only, not as movinet writes them")
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


def _check_columns(found: list[str], path: str) -> None:
    """Raises MalformedResultsError, naming the first column out of place, unless ``found``
    are ``rows.columns(top_k)`` for some top-k, or those of a file movinet wrote before some of
    ``LATER_COLUMNS`` existed (read as they are: ``batch --resume`` itself wants this run's)."""
    ranks = max(1, sum(column.startswith("label_") for column in found))
    expected = columns(ranks)
    if found == expected or found == [column for column in expected if column in found or column not in LATER_COLUMNS]:
        return
    expected = [column for column in expected if column in found or column not in LATER_COLUMNS]
    for index, (column, wanted) in enumerate(zip(found + [""] * len(expected), expected), 1):
        if column != wanted:
            what = f"{column[:40]!r}" if column else "missing"
            raise MalformedResultsError(path, "csv", f"header, column {index}: {what} where {wanted} belongs")
    raise MalformedResultsError(path, "csv", f"header: {len(found)} columns, more than the {len(expected)} of a results file")


def _json(text: str, path: str, format: str, where: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        why = "nested too deeply" if isinstance(error, RecursionError) else "not JSON"
        raise MalformedResultsError(path, format, f"{where} is {why}") from None


def format_of(text: str) -> str:
    """"jsonl", "json" (a ``classify --format json`` document) or "csv", told by content."""
    if text.startswith(ROW_START["jsonl"]):
        return "jsonl"
    return "json" if text.lstrip().startswith("{") else "csv"


def read_results(path: str | os.PathLike) -> tuple[list[Row], dict]:
    """The rows of a results file (any format ``movinet`` writes, told by content), typed and
    checked, and the context of a JSON document (its "model", "engine", "mode"), which rows
    lacking their own take. Raises ReadError (not a regular file, too large, unreadable) or
    MalformedResultsError (one line: the file, the row, the column)."""
    name = os.fsdecode(path)
    text = read_text(path, "results file", RESULTS_LIMIT_BYTES, errors="surrogateescape")
    format = format_of(text)
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
    return [decode({**context, **row}, name, format, number) for number, row in enumerate(rows, 1)], context


# --- timelines -----------------------------------------------------------------------------

_CUE_TIMES = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{3}) --> (\d+):(\d\d):(\d\d)[,.](\d{3})")
_SHOWN = re.compile(r"(.+?) (<0\.1|\d+(?:\.\d+)?)%(?:, |$)")  # "label 42%" (text.percent), runners-up joined by ", "


def read_timeline(path: str | os.PathLike, video: str) -> list[Segment]:
    """The segments of ``video`` in a timeline file that movinet wrote (``timeline.write_timeline``,
    ``batch --timelines``), its format told by its extension. CSV, JSON and JSON lines give a
    segment's label and probability (its one prediction: they hold no runners-up); subtitles
    (.srt, .vtt: one video's) its top-k as the cue shows them (whole percent from 1%; "<0.1%"
    reads as 0). Raises ReadError (not a regular file, too large, unreadable) or
    MalformedResultsError naming the file and what in it is not what we write (as for a
    file holding no segment of ``video``)."""
    name = os.fsdecode(path)
    try:
        format = timeline_format(name)
    except ValueError as error:
        raise MalformedResultsError(name, "any", str(error), "timeline") from None
    text = read_text(path, "timeline", TIMELINE_LIMIT_BYTES, errors="surrogateescape")

    def bad(where: str) -> MalformedResultsError:
        return MalformedResultsError(name, format, where, "timeline")

    if format in SUBTITLE_FORMATS:
        timeline = _cues(text, format, bad)
    else:
        timeline = [segment_of(row, number, bad) for number, row in enumerate(_timeline_rows(text, format, bad), 1) if row.get("path") == video]
    if not timeline:
        raise bad(f"no segment of {video}")
    for number, (before, after) in enumerate(zip(timeline, timeline[1:]), 2):
        if after.start_s < before.start_s:
            raise bad(f"segment {number} starts before the one before it")
    return timeline


def _timeline_rows(text: str, format: str, bad: Callable[[str], MalformedResultsError]) -> list[dict]:
    """The rows of a CSV, JSON or JSON-lines timeline, as dicts of ``timeline.COLUMNS``."""
    if format == "csv":
        try:
            columns, records, _ = read_csv(text)
        except csv.Error as error:
            raise bad(f"not CSV: {error}") from None
        if columns != TIMELINE_COLUMNS:
            raise bad(f"its header is not {','.join(TIMELINE_COLUMNS)}")
        return [dict(zip(columns, record)) for record in records]
    try:
        if format == "json":
            rows = _json(text, "", format, "the document") if text.strip() else []
        else:
            rows = [_json(line, "", format, f"line {number}") for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    except MalformedResultsError as error:  # said of the timeline instead
        raise bad(error.where) from None
    if not (isinstance(rows, list) and all(isinstance(row, dict) for row in rows)):
        raise bad("not a list of rows")
    return rows


def segment_of(row: dict, number: int, bad: Callable[[str], MalformedResultsError]) -> Segment:
    """One timeline row (CSV, JSON, or a database's) as a Segment, checked: its prediction is
    its label; ``bad`` makes the error that names row ``number``."""
    values = []
    for column, top in (("start_s", MAX_SECONDS), ("end_s", MAX_SECONDS), ("probability", 1.0)):
        value = row.get(column)
        try:
            value = float(value) if isinstance(value, str) and value else value
        except ValueError:
            value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and 0 <= value <= top):
            raise bad(f"row {number}, column {column}: not a number between 0 and {top:g}")
        values.append(float(value))
    label = row.get("label")
    if not (isinstance(label, str) and label and len(label) <= MAX_TEXT):
        raise bad(f"row {number}, column label: not a label")
    start_s, end_s, probability = values
    if end_s < start_s:
        raise bad(f"row {number}: ends before it starts")
    return Segment(start_s, end_s, label, probability, [Prediction(label, probability)])


def _cues(text: str, format: str, bad: Callable[[str], MalformedResultsError]) -> list[Segment]:
    """The cues of SubRip or WebVTT subtitles that ``timeline.subtitles`` wrote, as Segments."""
    blocks = [block.strip("\r\n") for block in text.replace("\r\n", "\n").split("\n\n")]
    blocks = [block for block in blocks if block and not block.startswith("WEBVTT")]
    timeline = []
    for number, block in enumerate(blocks, 1):
        lines = block.split("\n")
        times = _CUE_TIMES.fullmatch(lines[1]) if len(lines) >= 3 else None
        if times is None:
            raise bad(f"cue {number} is not a number, times and a label")
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(part) for part in times.groups())
        start_s, end_s = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        shown = [_shown(line, format, number, bad) for line in lines[2:4]]
        if len(shown[0]) != 1 or end_s < start_s or len(lines) > 4:
            raise bad(f"cue {number} is not a label and its probability over a time range")
        predictions = [prediction for line in shown for prediction in line]
        timeline.append(Segment(start_s, end_s, predictions[0].label, predictions[0].probability, predictions))
    return timeline


def _shown(line: str, format: str, number: int, bad: Callable[[str], MalformedResultsError]) -> list[Prediction]:
    """``"label 42%, other 0.3%"`` as Predictions (a cue's labels, WebVTT's escapes undone)."""
    if format == "vtt":
        line = line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    predictions, position = [], 0
    while position < len(line):
        match = _SHOWN.match(line, position)
        if match is None:
            raise bad(f"cue {number}: {line[position:position + 40]!r} is not a label and its probability")
        value = 0.0 if match[2] == "<0.1" else float(match[2]) / 100
        if value > 1:
            raise bad(f"cue {number}: a probability over 100%")
        predictions.append(Prediction(match[1], value))
        position = match.end()
    return predictions
