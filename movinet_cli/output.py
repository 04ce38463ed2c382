"""Output formats: an aligned text table, JSON documents and CSV rows."""

from __future__ import annotations

import csv
import io
import json

from .classify import Result

FORMATS = ("text", "json", "csv")


def csv_header(top_k: int) -> list[str]:
    """Columns of a result row: one (label_i, prob_i) pair per rank."""
    ranked = [column for i in range(1, top_k + 1) for column in (f"label_{i}", f"prob_{i}")]
    return ["path", "status", "error", *ranked, "duration_s", "frames", "model", "engine", "mode", "seconds"]


def csv_row(top_k: int, path: str, result: Result | None = None, error: str = "") -> dict:
    """A row for ``csv_header(top_k)``: a result's predictions, or an error."""
    row = dict.fromkeys(csv_header(top_k), "")
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
            mode=result.mode,
            seconds=f"{result.seconds:.3f}",
        )
    return row


def csv_text(rows: list[dict], header: list[str], with_header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    if with_header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def text_table(result: Result, name: str) -> str:
    """``name`` with its duration and model, then one aligned line per prediction."""
    lines = [
        f"{name}  ({result.duration_s:.1f} s, {result.frames} frames, {result.model}, "
        f"{result.mode} mode on {result.engine}, {result.seconds:.1f} s)"
    ]
    width = max(len(p.label) for p in result.predictions)
    for rank, prediction in enumerate(result.predictions, 1):
        lines.append(f"  {rank:>2}  {prediction.label:<{width}}  {prediction.probability:7.2%}")
    return "\n".join(lines)


def json_document(entries: list[dict], **context) -> str:
    """One JSON object: ``context`` (model, engine, ...) and ``results``, one per video."""
    return json.dumps({**context, "results": entries}, indent=2, ensure_ascii=False)
