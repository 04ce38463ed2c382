"""Output formats: one row shape per video (ok or error) and the writers of every format:
an aligned text table, a JSON document, CSV and JSON lines.
CSV cells are made safe for spreadsheets by ``movinet_cli.text``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from movinet_cli.text import csv_text, printable

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from movinet_cli.outcomes.result import Outcome, Result
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
