"""The formats a run's rows are written in (``rows.Row`` each): an aligned text table, a JSON
document, CSV and JSON lines. CSV cells are made safe for spreadsheets by ``movinet_cli.text``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from movinet_cli.outputs.rows import Row, columns
from movinet_cli.text import csv_text, printable

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from movinet_cli.outcomes.result import Outcome, Result


def rows_text(format: str, rows: list[dict], header: list[str], with_header: bool = False) -> str:
    """``rows`` as "csv" records of ``header`` (the header line first if asked) or "jsonl" lines."""
    if format == "csv":
        return csv_text(rows, header, with_header)
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


class Writer:
    """Writes each video's ``Outcome`` to ``emit`` as it comes, in ``format``: "text" (a
    table per classified video; a failed one is the caller's to report), "csv" or "jsonl"
    (``Row.encode``, CSV with its header first), or "json" (one document of ``context`` and
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
            row = Row.of(outcome, self.info).encode(self.format, self.top_k)
            if self.format == "json":
                self._rows.append(row)
            else:
                self._emit(rows_text(self.format, [row], columns(self.top_k), with_header=not self._written))
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
