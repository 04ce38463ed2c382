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
    """Writes each video's ``Outcome`` to ``emit`` as it comes (``write``), then ends the
    output (``close``); ``get_writer`` gives the writer of a format. ``top_k`` predictions per
    row; ``info`` (``Classifier.info``) is what a failed video's row says ran; ``context`` the
    head of a JSON document."""

    def __init__(self, emit: Callable[[str], None], top_k: int, info: dict, context: dict | None = None):
        self._emit, self.top_k, self.info, self.context = emit, top_k, info, context or {}
        self._written = 0

    def write(self, outcome: Outcome) -> None:
        self._write(outcome)
        self._written += 1

    def _write(self, outcome: Outcome) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Ends the output (a JSON document is written here)."""


class TextWriter(Writer):
    """An aligned table per classified video (``text_table``); a failed one is the caller's to report."""

    def _write(self, outcome: Outcome) -> None:
        if outcome.result:
            self._emit(("\n" if self._written else "") + text_table(outcome.result, outcome.video) + "\n")


class CsvWriter(Writer):
    """A CSV record per video (``Row.encode``), the header first."""

    def _write(self, outcome: Outcome) -> None:
        row = Row.of(outcome, self.info).encode("csv", self.top_k)
        self._emit(csv_text([row], columns(self.top_k), with_header=not self._written))


class JsonLinesWriter(Writer):
    """A JSON object per video on a line of its own (``Row.encode``)."""

    def _write(self, outcome: Outcome) -> None:
        self._emit(json.dumps(Row.of(outcome, self.info).encode("jsonl", self.top_k), ensure_ascii=False) + "\n")


class JsonWriter(Writer):
    """One JSON document at the end: ``context``, then "results", a row per video."""

    def __init__(self, *args, **options):
        super().__init__(*args, **options)
        self._rows: list[dict] = []

    def _write(self, outcome: Outcome) -> None:
        self._rows.append(Row.of(outcome, self.info).encode("json", self.top_k))

    def close(self) -> None:
        self._emit(json.dumps({**self.context, "results": self._rows}, indent=2, ensure_ascii=False) + "\n")


WRITERS: dict[str, type[Writer]] = {"text": TextWriter, "csv": CsvWriter, "jsonl": JsonLinesWriter, "json": JsonWriter}


def get_writer(format: str, emit: Callable[[str], None], top_k: int, info: dict, context: dict | None = None) -> Writer:
    """The writer of ``format`` (a key of ``WRITERS``: "text", "csv", "jsonl", "json") to ``emit``."""
    return WRITERS[format](emit, top_k, info, context)


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
