"""One row per video, the one shape every output and reader shares: its columns, its CSV and
JSON encodings, and the typed row read back.

``Row`` is a video's row, ok or failed (``Row.of`` an ``Outcome``). ``Row.encode`` gives what
``classify -f csv/json/jsonl``, ``batch``'s results file and a Ray actor write (plain strings
and numbers: a row travels as JSON unchanged); ``decode`` reads one back, checked (resume, the
report). ``columns(top_k)`` are the CSV columns: ``path, status, error``, a ``label_i, prob_i``
pair per rank, then ``RUN_COLUMNS``. A new column is a field of ``Row`` and a line in each of
``encode`` and ``decode``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from movinet_cli.errors import MovinetError
from movinet_cli.outcomes.result import Prediction

if TYPE_CHECKING:
    from movinet_cli.outcomes.result import Outcome

STATUSES = ("ok", "error")
RUN_COLUMNS = ("duration_s", "frames", "model", "engine", "precision", "mode", "seconds", "action", "warnings", "fps", "size", "resize")
WARNINGS_SEPARATOR = " | "  # between a row's warnings in its CSV cell
MAX_SECONDS = 1e9  # a duration or time taken beyond this (31 years) is not one we wrote
MAX_TEXT = 100_000  # characters in one text value: we write error messages of 300, paths of 4096


def columns(top_k: int) -> list[str]:
    """The CSV columns of a row with ``top_k`` ranks: one (label_i, prob_i) pair per rank."""
    ranked = [column for i in range(1, top_k + 1) for column in (f"label_{i}", f"prob_{i}")]
    return ["path", "status", "error", *ranked, *RUN_COLUMNS]


class MalformedResultsError(MovinetError):
    """A file that is not a results file, or a row of one that is not what we write. Its
    message is one line naming the file, the row and the column (``where``)."""

    def __init__(self, path: str, format: str, where: str, what: str = "results file"):
        self.path, self.format, self.where = path, format, where
        super().__init__(f"{path} is not a movinet {what} in {format} format ({where})")


@dataclass
class Row:
    """One video's row. A failed video's has its ``error``, the model, engine, precision and
    mode that failed on it and the seconds taken, and no predictions."""

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
    action: str = ""  # the top label, or NO_CLEAR_ACTION below the run's minimum probability
    fps: float | None = None  # how the video was read: frames/s, size x size pixels, resize mode
    size: int | None = None
    resize: str = ""

    @classmethod
    def of(cls, outcome: Outcome, info: dict) -> Row:
        """The row of ``outcome``; ``info`` (``Classifier.info``: model, engine, precision,
        mode) is what a failed video's row says ran."""
        result = outcome.result
        if result is None:
            return cls(outcome.video, "error", outcome.error, seconds=outcome.seconds, **info)
        return cls(
            outcome.video, "ok", outcome.error, list(result.predictions), result.duration_s, result.frames, result.model,
            result.engine, result.precision, result.mode, result.seconds, list(result.warnings), result.action,
            result.fps or None, result.size or None, result.resize,
        )

    @property
    def recipe(self) -> dict:
        """How this row was made, as the options that made it (``claim.check_recipe``): a
        resumed file keeps only rows made as the run that resumes it makes them."""
        return {"--model": self.model, "--fps": self.fps, "--size": self.size, "--resize": self.resize, "--top-k": len(self.predictions)}

    def encode(self, format: str, top_k: int) -> dict:
        """The row as written: for "csv" a dict of ``columns(top_k)`` to text cells (numbers
        to 6 or 3 decimals, warnings joined on one line), for "json"/"jsonl" a JSON-ready
        dict (a failed row without the fields it has no value for)."""
        if format == "csv":
            return self._csv(top_k)
        row: dict = {"path": self.path, "status": self.status, "error": self.error}
        if self.status == "ok":
            row.update(
                action=self.action,
                predictions=[{"label": p.label, "probability": round(p.probability, 6)} for p in self.predictions[:top_k]],
                duration_s=_rounded(self.duration_s),
                frames=self.frames,
            )
        row.update(model=self.model, engine=self.engine, precision=self.precision, mode=self.mode)
        if self.status == "ok":
            row.update(fps=self.fps, size=self.size, resize=self.resize)
        row.update(seconds=_rounded(self.seconds), warnings=self.warnings)
        return row

    def _csv(self, top_k: int) -> dict:
        row: dict = dict.fromkeys(columns(top_k), "")
        for rank, prediction in enumerate(self.predictions[:top_k], 1):
            row[f"label_{rank}"] = prediction.label
            row[f"prob_{rank}"] = f"{prediction.probability:.6f}"
        row.update(path=self.path, status=self.status, error=self.error, model=self.model, engine=self.engine, precision=self.precision, mode=self.mode)
        row.update(
            duration_s="" if self.duration_s is None else f"{self.duration_s:.3f}",
            frames="" if self.frames is None else self.frames,
            seconds="" if self.seconds is None else f"{self.seconds:.3f}",
            action=self.action,
            warnings=WARNINGS_SEPARATOR.join(" ".join(warning.split()) for warning in self.warnings),
            fps="" if self.fps is None else f"{self.fps:g}",
            size="" if self.size is None else self.size,
            resize=self.resize,
        )
        return row


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def decode(record: dict, path: str, format: str, number: int) -> Row:
    """A row as ``Row.encode`` wrote it (CSV cells as text, or JSON values), typed and
    checked; MalformedResultsError naming ``path``, row ``number`` and the column for a value
    that is not what we write."""
    cells = _Cells(record, path, format, number)
    predictions, warnings = (cells.csv_predictions(), cells.csv_warnings()) if format == "csv" else (cells.json_predictions(), cells.json_warnings())
    return Row(
        path=cells.text("path"),
        status=record["status"],
        error=cells.text("error"),
        predictions=predictions,
        duration_s=cells.number("duration_s", MAX_SECONDS),
        frames=cells.count("frames"),
        model=cells.text("model"),
        engine=cells.text("engine"),
        precision=cells.text("precision"),
        mode=cells.text("mode"),
        seconds=cells.number("seconds", MAX_SECONDS),
        warnings=warnings,
        action=cells.text("action"),
        fps=cells.number("fps", 1000.0),
        size=cells.count("size"),
        resize=cells.text("resize"),
    )


def decode_predictions(entries: object, path: str, format: str, where: str, column: str) -> list[Prediction]:
    """A JSON list of ``{"label", "probability"}`` (a row's top-k, a segment's runners-up),
    checked as ``decode`` checks a row's: MalformedResultsError naming ``path``, ``where``
    ("row 3", "segment 12") and ``column`` for anything else."""
    return _Cells({column: entries}, path, format, where).json_predictions(column)


class _Cells:
    """The checked values of one record being decoded; ``number`` is the row's number, or
    where it is in words ("segment 12")."""

    def __init__(self, record: dict, path: str, format: str, number: int | str):
        self.record, self.path, self.format = record, path, format
        self.where = f"row {number}" if isinstance(number, int) else number

    def bad(self, column: str, why: str) -> MalformedResultsError:
        return MalformedResultsError(self.path, self.format, f"{self.where}, column {column}: {why}")

    def text(self, column: str) -> str:
        value = self.record.get(column)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.bad(column, "not text")
        if len(value) > MAX_TEXT:
            raise self.bad(column, f"{len(value)} characters, more than the {MAX_TEXT} of any value we write")
        return value

    def number(self, column: str, top: float, integer: bool = False) -> float | None:
        cell = self.record.get(column)
        if cell is None or cell == "":
            return None
        value = cell
        if isinstance(cell, str):
            try:
                value = int(cell) if integer else float(cell)
            except ValueError:
                raise self.bad(column, f"{cell[:40]!r} is not a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise self.bad(column, "not a number")
        if not (math.isfinite(value) and 0 <= value <= top):
            raise self.bad(column, f"{value:g} is not between 0 and {top:g}")
        return value

    def count(self, column: str) -> int | None:
        value = self.number(column, 1e15, integer=True)
        return None if value is None else int(value)

    def csv_predictions(self) -> list[Prediction]:
        predictions: list[Prediction] = []
        rank = 0
        while f"label_{rank + 1}" in self.record:  # the columns label_1 ... label_k, as columns() names them
            rank += 1
            label, probability = self.text(f"label_{rank}"), self.number(f"prob_{rank}", 1.0)
            if bool(label) != (probability is not None):
                raise self.bad(f"prob_{rank}" if label else f"label_{rank}", f"label_{rank} and prob_{rank} must both be given or both be empty")
            if probability is not None:
                predictions.append(Prediction(label, probability))
        return predictions

    def csv_warnings(self) -> list[str]:
        return [warning for warning in self.text("warnings").split(WARNINGS_SEPARATOR) if warning]

    def json_predictions(self, column: str = "predictions") -> list[Prediction]:
        entries = self.record.get(column) or []
        if not isinstance(entries, list):
            raise self.bad(column, "not a list")
        predictions = []
        for rank, entry in enumerate(entries, 1):
            name = entry.get("label") if isinstance(entry, dict) else None
            value = entry.get("probability") if isinstance(entry, dict) else None
            if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.bad(column, f"entry {rank} is not a label and a probability")
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise self.bad(column, f"entry {rank}'s probability {value:g} is not between 0 and 1")
            predictions.append(Prediction(name, float(value)))
        return predictions

    def json_warnings(self) -> list[str]:
        warnings = self.record.get("warnings") or []
        if not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
            raise self.bad("warnings", "not a list of text")
        return list(warnings)
