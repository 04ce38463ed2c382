"""Embedding videos into a Parquet or .npz file: one row per video (or per window/chunk).

Columns: ``path``, ``start_s``, ``end_s``, ``model``, ``embedding`` (list of float32, the
pooled features before the classifier; null for a video that failed) and ``error`` (null,
or one line). The file is rewritten whole and atomically (``files.atomic_path``) as rows
come, at most every REWRITE_S seconds and at the end (Ctrl-C included), so it always holds
complete rows; ``resume`` keeps the rows of the videos that worked and embeds the others.
Parquet needs pyarrow (the ``train`` extra).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

import numpy as np

from movinet_cli.errors import MovinetError, UsageError
from movinet_cli.files import atomic_path, check_output_path
from movinet_cli.options import ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier, classify_many
from movinet_cli.outcomes.result import Embedding

REWRITE_S = 30.0  # seconds between rewrites of the output while rows come
COLUMNS = ("path", "start_s", "end_s", "model", "embedding", "error")


class EmbeddingsFileError(UsageError):
    """The output cannot be written, or resumed, as asked (exit code 2, before any work)."""


def output_format(path: str) -> str:
    """"npz" for a .npz path, "parquet" for .parquet; EmbeddingsFileError for another
    extension (``-o clip.mp4`` would be a video's name holding a table)."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in (".npz", ".parquet"):
        raise EmbeddingsFileError(f"--output {path}: embed writes .parquet or .npz files; name the file so")
    return extension[1:]


def require_pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise EmbeddingsFileError("Parquet output needs pyarrow: pip install 'movinet-cli[train]', or write .npz") from None


def rows_of(video: str, outcome_result: Embedding | None, error: str, model: str, per_window: bool) -> list[dict]:
    """The rows of one video: its vector (or each span's with ``per_window``), or one error row."""
    if outcome_result is None:
        return [{"path": video, "start_s": None, "end_s": None, "model": model, "embedding": None, "error": error}]
    spans = outcome_result.spans
    if not per_window:
        return [{"path": video, "start_s": spans[0].start_s, "end_s": spans[-1].end_s, "model": model, "embedding": outcome_result.vector, "error": None}]
    return [{"path": video, "start_s": s.start_s, "end_s": s.end_s, "model": model, "embedding": s.vector, "error": None} for s in spans]


def read_rows(path: str) -> list[dict]:
    """The rows of an embeddings file written by ``write_rows``."""
    if output_format(path) == "npz":
        with np.load(path, allow_pickle=False) as data:
            columns = {name: data[name] for name in data.files}
        rows = []
        for index in range(len(columns["path"])):
            failed = bool(columns["error"][index])
            rows.append(
                {
                    "path": str(columns["path"][index]),
                    "start_s": None if failed else float(columns["start_s"][index]),
                    "end_s": None if failed else float(columns["end_s"][index]),
                    "model": str(columns["model"][index]),
                    "embedding": None if failed else columns["embedding"][index],
                    "error": str(columns["error"][index]) or None,
                }
            )
        return rows
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return [
        {**row, "embedding": None if row["embedding"] is None else np.asarray(row["embedding"], np.float32)} for row in table.to_pylist()
    ]


def write_rows(path: str, rows: list[dict]) -> None:
    """Writes ``rows`` to ``path`` atomically, as Parquet or .npz by its extension."""
    width = next((len(row["embedding"]) for row in rows if row["embedding"] is not None), 0)
    with atomic_path(path) as staging:
        if output_format(path) == "npz":
            embedding = np.full((len(rows), width), np.nan, np.float32)
            for index, row in enumerate(rows):
                if row["embedding"] is not None:
                    embedding[index] = row["embedding"]
            with open(staging, "wb") as handle:
                np.savez(
                    handle,
                    path=np.array([row["path"] for row in rows], str),
                    start_s=np.array([np.nan if row["start_s"] is None else row["start_s"] for row in rows], np.float64),
                    end_s=np.array([np.nan if row["end_s"] is None else row["end_s"] for row in rows], np.float64),
                    model=np.array([row["model"] for row in rows], str),
                    embedding=embedding,
                    error=np.array([row["error"] or "" for row in rows], str),
                )
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [("path", pa.string()), ("start_s", pa.float64()), ("end_s", pa.float64()), ("model", pa.string()),
             ("embedding", pa.list_(pa.float32(), width) if width else pa.list_(pa.float32())), ("error", pa.string())]
        )
        columns = {name: [row[name] for row in rows] for name in COLUMNS}
        columns["embedding"] = [None if vector is None else np.asarray(vector, np.float32) for vector in columns["embedding"]]
        pq.write_table(pa.table(columns, schema=schema), staging)


def check_output(path: str, resume: bool, overwrite: bool) -> list[dict]:
    """The rows an existing output keeps (``resume``: those of videos that worked); raises
    EmbeddingsFileError if it cannot be written as asked. Cheap: before any work."""
    if output_format(path) == "parquet":
        require_pyarrow()
    try:
        check_output_path(path, "--output")
    except MovinetError as error:
        raise EmbeddingsFileError(str(error)) from None
    if not os.path.exists(path):
        return []
    if not (resume or overwrite):
        raise EmbeddingsFileError(f"{path} already exists: pass --resume to finish that run, or --overwrite to replace it")
    if overwrite:
        return []
    try:
        rows = read_rows(path)
    except Exception as error:  # whatever pyarrow or NumPy say of a file that is not ours
        raise EmbeddingsFileError(f"cannot resume from {path}: not an embeddings file ({' '.join(str(error).split())[:160]}); it was left untouched") from None
    return [row for row in rows if row["error"] is None]


def embed_videos(
    classifier: Classifier,
    videos: Iterable[str],
    output: str,
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    per_window: bool = False,
    kept: Iterable[dict] = (),
    directory: str | None = None,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[int, int]:
    """Embeds ``videos`` (skipping those with ``kept`` rows, which stay first) into ``output``.
    Returns the videos that worked and that failed; ``on_video(video, error)`` after each.
    Raises EmbeddingsFileError if ``kept`` rows are another model's (one file, one model's
    features), before any work."""
    rows = list(kept)
    done = {row["path"] for row in rows}
    others = sorted({row["model"] for row in rows if row.get("model") and row["model"] != classifier.source.name})
    if others:
        raise EmbeddingsFileError(f"{output} holds embeddings of another model ({', '.join(others)}); resume with that --model, or pass --overwrite")
    ok = failed = 0
    written = time.monotonic()
    try:
        for outcome in classify_many(classifier, [v for v in videos if v not in done], read, run, directory=directory, ahead=1, embed=True):
            rows += rows_of(outcome.video, outcome.result, outcome.error, classifier.source.name, per_window)
            ok, failed = ok + outcome.ok, failed + (not outcome.ok)
            if on_video:
                on_video(outcome.video, outcome.error)
            if time.monotonic() - written > REWRITE_S:
                write_rows(output, rows)
                written = time.monotonic()
    finally:
        write_rows(output, rows)
    return ok, failed
