"""Embeddings files: a Parquet or .npz file of one row per video (or per window/chunk), and
the sink that writes one as a run's outcomes come (``EmbeddingsSink``).

Columns: ``path``, ``start_s``, ``end_s``, ``model``, ``embedding`` (list of float32, the
pooled features before the classifier; null for a video that failed) and ``error`` (null,
or one line). The file also holds its *recipe* (``claim.check_recipe``: the options that made
its rows), in the Parquet schema's metadata or a ``recipe`` array of the .npz. The file is
rewritten whole and atomically through the run's ``claim.Claim`` as rows come, at most every
REWRITE_S seconds and at the end (Ctrl-C included), so it always holds complete rows.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import numpy as np

from movinet_cli.errors import UsageError
from movinet_cli.outputs.claim import Claim
from movinet_cli.outputs.sinks import Sink

if TYPE_CHECKING:
    from movinet_cli.outcomes.result import Embedding, Outcome

REWRITE_S = 30.0  # seconds between rewrites of the output while rows come
COLUMNS = ("path", "start_s", "end_s", "model", "embedding", "error")
RECIPE_KEY = "movinet"  # the Parquet schema's metadata key holding the recipe (JSON)


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


def read_file(path: str) -> tuple[dict | None, list[dict]]:
    """The recipe (None where the file names none) and rows of an embeddings file that
    ``write_file`` wrote. Raises EmbeddingsFileError, the file untouched, for one that is
    not such a file: columns missing or of other types, vectors of unequal widths."""
    try:
        recipe, rows = _read_npz(path) if output_format(path) == "npz" else _read_parquet(path)
        widths = {len(row["embedding"]) for row in rows if row["embedding"] is not None}
        if len(widths) > 1 or not all(isinstance(row["path"], str) and isinstance(row["model"], str) for row in rows):
            raise ValueError("rows of mixed vector widths or types")
    except EmbeddingsFileError:
        raise
    except Exception as error:  # whatever pyarrow or NumPy say of a file that is not ours
        raise EmbeddingsFileError(f"cannot resume from {path}: not an embeddings file ({' '.join(str(error).split())[:160]}); it was left untouched") from None
    return (recipe if isinstance(recipe, dict) else None), rows


def read_rows(path: str) -> list[dict]:
    """The rows of an embeddings file (see ``read_file``)."""
    return read_file(path)[1]


def _read_npz(path: str) -> tuple[object, list[dict]]:
    with np.load(path, allow_pickle=False) as data:
        columns = {name: data[name] for name in data.files}
    missing, extra = set(COLUMNS) - set(columns), set(columns) - {*COLUMNS, "recipe"}
    if missing or extra:
        raise ValueError(f"no {', '.join(sorted(missing))} column" if missing else f"a column of its own, {sorted(extra)[0]}, that a rewrite would drop")
    if columns["embedding"].ndim != 2 or columns["embedding"].dtype != np.float32:
        raise ValueError("embedding is not a float32 matrix")
    if any(columns[name].dtype.kind != "U" for name in ("path", "model", "error")):
        raise ValueError("path, model and error are not text")
    if len({len(columns[name]) for name in COLUMNS}) != 1 or not all(columns["path"]):
        raise ValueError("columns of unequal lengths, or a row without a path")
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
    recipe = json.loads(str(columns["recipe"])) if "recipe" in columns else None
    return recipe, rows


def _read_parquet(path: str) -> tuple[object, list[dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    extra = set(table.schema.names) - set(COLUMNS)
    if extra:
        raise ValueError(f"a column of its own, {sorted(extra)[0]}, that a rewrite would drop")
    types = {"path": pa.string(), "model": pa.string(), "error": pa.string(), "start_s": pa.float64(), "end_s": pa.float64()}
    for name in COLUMNS:
        if name not in table.schema.names:
            raise ValueError(f"no {name} column")
        kind = table.schema.field(name).type
        if name == "embedding" and not ((pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind)) and kind.value_type == pa.float32()):
            raise ValueError("embedding is not a list of float32")
        if name in types and kind != types[name]:
            raise ValueError(f"{name} is {kind}, not {types[name]}")
    metadata = table.schema.metadata or {}
    recipe = json.loads(metadata[RECIPE_KEY.encode()]) if RECIPE_KEY.encode() in metadata else None
    rows = [{**row, "embedding": None if row["embedding"] is None else np.asarray(row["embedding"], np.float32)} for row in table.select(list(COLUMNS)).to_pylist()]
    return recipe, rows


def write_file(path: str, staging: str, rows: list[dict], recipe: dict) -> None:
    """Writes ``rows`` and their ``recipe`` to the file ``staging``, as Parquet or .npz by
    the extension of ``path`` (the file it will become)."""
    width = next((len(row["embedding"]) for row in rows if row["embedding"] is not None), 0)
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
                recipe=np.array(json.dumps(recipe)),
            )
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [("path", pa.string()), ("start_s", pa.float64()), ("end_s", pa.float64()), ("model", pa.string()),
         ("embedding", pa.list_(pa.float32(), width) if width else pa.list_(pa.float32())), ("error", pa.string())],
        metadata={RECIPE_KEY: json.dumps(recipe)},
    )
    columns = {name: [row[name] for row in rows] for name in COLUMNS}
    columns["embedding"] = [None if vector is None else np.asarray(vector, np.float32) for vector in columns["embedding"]]
    pq.write_table(pa.table(columns, schema=schema), staging)


class EmbeddingsSink(Sink):
    """The rows of each outcome (an ``Embedding`` each, see ``rows_of``) after the ``kept``
    ones, written to the ``claim``ed file with their ``recipe``: at once (a valid file from the
    start), then at most every REWRITE_S seconds, and at the end, finished or not."""

    option = "--output"

    def __init__(self, claim: Claim, recipe: dict, kept: list[dict], per_window: bool):
        self.claim, self.recipe, self.rows, self.per_window = claim, recipe, list(kept), per_window
        self.path = claim.path
        self._written = 0.0

    def start(self, context) -> None:
        super().start(context)
        self._write()

    def add(self, outcome: Outcome) -> Outcome:
        self.rows += rows_of(outcome.video, outcome.result, outcome.error, self.context.info["model"], self.per_window)
        if time.monotonic() - self._written > REWRITE_S:
            self._write()
        return outcome

    def close(self, finished: bool) -> None:
        self._write()  # the rows so far are complete rows: kept after Ctrl-C too, for --resume

    def _write(self) -> None:
        self.claim.replace(lambda staging: write_file(self.claim.target, staging, self.rows, self.recipe))
        self._written = time.monotonic()
