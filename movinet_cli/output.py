"""Output formats: one row shape per video (ok or error) and the writers of every format:
an aligned text table, a JSON document, CSV and JSON lines.

CSV cells are made safe for spreadsheets (OWASP's advice on CSV injection): a text cell
that starts with ``= + - @``, a tab or a line break gets an apostrophe in front, which
spreadsheets show as text instead of running a formula (and so does one that starts with an
apostrophe before such a character or another apostrophe). ``read_cell`` takes it off again,
so every value reads back exactly as it was, and files written before the escaping read as
they did.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from .outcomes import Outcome, Result
# Starts of a cell that a spreadsheet would run as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# After an apostrophe, what makes it an escape (the apostrophe itself too, so reading is exact).
_ESCAPED = (*FORMULA_STARTS, "'")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to show on a terminal: control characters (escape sequences that could
    retitle or rewrite the terminal, line breaks inside a one-line message) as ``\\x1b``,
    ``\\n`` and so on. For what people read, not for machine-readable output."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def percent(probability: float) -> str:
    """A probability in [0, 1] as people read it: whole percent from 1% on ("42%"), one
    decimal below ("0.3%"), so that a small probability never reads as "0%"."""
    if probability <= 0:
        return "0%"
    if probability < 0.0005:
        return "<0.1%"
    return f"{probability:.1%}" if probability < 0.0095 else f"{probability:.0%}"


def csv_header(top_k: int) -> list[str]:
    """Columns of a result row: one (label_i, prob_i) pair per rank."""
    ranked = [column for i in range(1, top_k + 1) for column in (f"label_{i}", f"prob_{i}")]
    return ["path", "status", "error", *ranked, *RUN_COLUMNS]


# The columns after the predictions. Results files written before the warnings, or before the
# precision, were recorded lack those columns, and still read (``legacy_csv_headers``).
RUN_COLUMNS = ("duration_s", "frames", "model", "engine", "precision", "mode", "seconds", "action", "warnings")
WARNINGS_SEPARATOR = " | "  # between a row's warnings in its CSV cell


def legacy_csv_headers(top_k: int) -> list[list[str]]:
    """``csv_header`` as it was before the action and warnings columns, and before the precision column."""
    before_warnings = [column for column in csv_header(top_k) if column not in ("action", "warnings")]
    return [before_warnings, [column for column in before_warnings if column != "precision"]]


def csv_row(top_k: int, path: str, result: Result | None = None, error: str = "") -> dict:
    """A row for ``csv_header(top_k)``: a result's predictions, or an error."""
    row: dict = dict.fromkeys(csv_header(top_k), "")
    row.update(path=path, status="error" if error else "ok", error=error)
    if result is not None:
        for rank, prediction in enumerate(result.predictions[:top_k], 1):
            row[f"label_{rank}"] = prediction.label
            row[f"prob_{rank}"] = f"{prediction.probability:.6f}"
        row.update(
            duration_s=f"{result.duration_s:.3f}",
            frames=result.frames,
            model=result.model,
            engine=result.engine,
            precision=result.precision,
            mode=result.mode,
            seconds=f"{result.seconds:.3f}",
            action=result.action,
            warnings=WARNINGS_SEPARATOR.join(" ".join(warning.split()) for warning in result.warnings),
        )
    return row


def result_row(format: str, top_k: int, outcome: Outcome, info: dict) -> dict:
    """One video's row, the same for every command and format: path, status ("ok" or
    "error") and error, then its predictions (``csv_header``'s columns for "csv", a
    ``Result.to_dict`` for the others), or, for a failed video, ``info`` (the model, engine,
    precision and mode that failed on it) and the seconds taken. Plain strings and numbers,
    so a row travels as JSON (from a Ray actor, say) unchanged."""
    result = outcome.result
    if format == "csv":
        row = csv_row(top_k, outcome.video, result, outcome.error)
    else:
        row = {"path": outcome.video, "status": "ok" if result else "error", "error": outcome.error}
        if result:
            row.update({key: value for key, value in result.to_dict().items() if key != "path"})
    if not result:
        row.update(info, seconds=round(outcome.seconds, 3))
        if format != "csv":
            row["warnings"] = []
    return row


def rows_text(format: str, rows: list[dict], header: list[str], with_header: bool = False) -> str:
    """``rows`` as "csv" records of ``header`` (the header line first if asked) or "jsonl" lines."""
    if format == "csv":
        return csv_text(rows, header, with_header)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


class Writer:
    """Writes each video's ``Outcome`` to ``emit`` as it comes, in ``format``: "text" (a
    table per classified video; a failed one is the caller's to report), "csv" or "jsonl"
    (``result_row``s, CSV with its header first), or "json" (one document of ``context`` and
    the rows, at ``close``)."""

    def __init__(self, format: str, emit: Callable[[str], None], top_k: int, info: dict, context: dict | None = None):
        self.format, self._emit, self.top_k, self.info, self.context = format, emit, top_k, info, context or {}
        self._rows: list[dict] = []
        self._written = 0

    def write(self, outcome: Outcome) -> None:
        if self.format == "text":
            if outcome.result:
                self._emit(("\n" if self._written else "") + text_table(outcome.result, outcome.video) + "\n")
        else:
            row = result_row("csv" if self.format == "csv" else "jsonl", self.top_k, outcome, self.info)
            if self.format == "json":
                self._rows.append(row)
            else:
                self._emit(rows_text(self.format, [row], csv_header(self.top_k), with_header=not self._written))
        self._written += 1

    def close(self) -> None:
        if self.format == "json":
            self._emit(json.dumps({**self.context, "results": self._rows}, indent=2, ensure_ascii=False) + "\n")


def safe_cell(value):
    """``value`` as a spreadsheet shows it as text: an apostrophe before a formula start."""
    if isinstance(value, str) and (value.startswith(FORMULA_STARTS) or (value[:1] == "'" and value[1:].startswith(_ESCAPED))):
        return "'" + value
    return value


def read_cell(cell: str) -> str:
    """The value that ``safe_cell`` wrote as ``cell``."""
    return cell[1:] if cell[:1] == "'" and cell[1:].startswith(_ESCAPED) else cell


def csv_line(values: list) -> str:
    """One CSV record ending in ``\\n``, its cells made safe by ``safe_cell``. A cell with a
    carriage return is quoted too (Python's csv quotes only the line terminator's characters,
    and a bare CR in a file name would otherwise read back as a line break)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(value) for value in values])
    return buffer.getvalue()[:-2] + "\n"


def csv_text(rows: list[dict], header: list[str], with_header: bool) -> str:
    """CSV records for ``rows`` (dicts keyed by ``header``), the header line first if asked."""
    lines = [csv_line(header)] if with_header else []
    lines += [csv_line([row.get(column, "") for column in header]) for row in rows]
    return "".join(lines)


def read_csv(text: str) -> tuple[list[str], list[list[str]], str]:
    """Parses what ``csv_text`` wrote: ``(header, records, cut)``, the values as they were
    before ``safe_cell``; blank lines are skipped. A last record that does not end with a
    line break (a crash while writing) is left out and returned as ``cut``, the text it had.
    Raises csv.Error, naming the line, for text that is not CSV."""
    # Quotes come in pairs in complete CSV (doubled inside a quoted cell): an odd count means
    # the text ends inside a quoted cell.
    complete = not text or (text.endswith("\n") and text.count('"') % 2 == 0)
    cut = ""
    if not complete:
        cut_at = _last_record_start(text)
        text, cut = text[:cut_at], text[cut_at:]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = [[read_cell(cell) for cell in record] for record in reader if record]
    except csv.Error as error:  # a cell over csv.field_size_limit(), say: where it is
        raise csv.Error(f"line {reader.line_num}: {error}") from None
    return (records[0] if records else []), records[1:], cut


def _last_record_start(text: str) -> int:
    """Where the last record of ``text`` starts: after the last line break outside quotes."""
    end = len(text)
    while (end := text.rfind("\n", 0, end)) >= 0:
        if text.count('"', 0, end) % 2 == 0:
            return end + 1
    return 0


def text_table(result: Result, name: str) -> str:
    """``name`` with its duration and model, then one aligned line per prediction."""
    lines = [
        f"{printable(name)}  ({result.duration_s:.1f} s, {result.frames} frames, {printable(result.model)}, "
        f"{result.mode} mode on {result.engine}, {result.seconds:.1f} s)"
    ]
    if result.action != result.predictions[0].label:
        lines.append(f"  {result.action} (no label reaches {result.min_probability:.0%})")
    labels = [printable(p.label) for p in result.predictions]
    width = max(len(label) for label in labels)
    for rank, (label, prediction) in enumerate(zip(labels, result.predictions), 1):
        lines.append(f"  {rank:>2}  {label:<{width}}  {prediction.probability:7.2%}")
    return "\n".join(lines)
