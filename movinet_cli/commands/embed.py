"""Embedding videos into a Parquet or .npz file: one row per video (or per window/chunk).

Columns: ``path``, ``start_s``, ``end_s``, ``model``, ``embedding`` (list of float32, the
pooled features before the classifier; null for a video that failed) and ``error`` (null,
or one line). The file also holds its *recipe* (``claim.check_recipe``: the model, frame
size and rate, resize mode and kind of rows that made it), in the Parquet schema's metadata
or a ``recipe`` array of the .npz. A run claims the file (``claim.Claim``: one writer at a
time) and rewrites it whole and atomically as rows come, at most every REWRITE_S seconds and
at the end (Ctrl-C included), so it always holds complete rows; ``resume`` keeps the rows of
the videos that worked, when the file's recipe is this run's, and embeds the others.
Parquet needs pyarrow (the ``train`` extra).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable

import numpy as np

from movinet_cli.errors import MovinetError, UsageError
from movinet_cli.files import check_output_path
from movinet_cli.options import ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier, classify_many
from movinet_cli.outcomes.result import Embedding
from movinet_cli.outputs.claim import Claim, check_recipe, probe

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
    missing = set(COLUMNS) - set(columns)
    if missing:
        raise ValueError(f"no {', '.join(sorted(missing))} column")
    if columns["embedding"].ndim != 2 or columns["embedding"].dtype != np.float32:
        raise ValueError("embedding is not a float32 matrix")
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


def check_output(path: str, resume: bool, overwrite: bool) -> list[dict]:
    """The rows an existing output keeps (``resume``: those of videos that worked); raises
    EmbeddingsFileError if it cannot be written as asked, ClaimError if another run holds
    it. Cheap: before any work (``embed_videos`` checks again under its claim)."""
    if output_format(path) == "parquet":
        require_pyarrow()
    try:
        check_output_path(path, "--output")
    except MovinetError as error:
        raise EmbeddingsFileError(str(error)) from None
    if not os.path.exists(path) or not os.path.getsize(path):
        return []
    if not (resume or overwrite):
        raise EmbeddingsFileError(f"{path} already exists: pass --resume to finish that run, or --overwrite to replace it")
    probe(path, "embed")
    return [] if overwrite else [row for row in read_rows(path) if row["error"] is None]


def recipe_of(classifier: Classifier, read: ReadOptions, per_window: bool) -> dict:
    """The options that make an embeddings file's rows what they are (see ``claim.check_recipe``)."""
    reading = classifier.reading(read)
    return {"--model": classifier.source.name, "--size": reading.size, "--fps": reading.fps, "--resize": reading.resize, "--per-window": per_window}


def embed_videos(
    classifier: Classifier,
    videos: Iterable[str],
    output: str,
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    per_window: bool = False,
    resume: bool = False,
    directory: str | None = None,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[int, int]:
    """Embeds ``videos`` into ``output``, which this run claims (``claim.Claim``) until it
    ends; with ``resume``, the rows of an existing output's videos that worked are kept
    (first) and those videos skipped. Returns the videos that worked and that failed;
    ``on_video(video, error)`` after each. Raises, before any work, ClaimError if another
    run holds ``output``, RecipeError if the rows kept were made another way (another model,
    size, frame rate, resize mode or kind of rows)."""
    recipe = recipe_of(classifier, read, per_window)
    claim = Claim(output, "embed")
    try:
        rows: list[dict] = []
        if resume and os.fstat(claim.handle.fileno()).st_size:
            theirs, rows = read_file(claim.target)
            check_recipe(output, theirs, recipe)
            rows = [row for row in rows if row["error"] is None]
        return _embed(classifier, [v for v in videos if v not in {row["path"] for row in rows}], rows, claim, recipe, read, run, per_window, directory, on_video)
    finally:
        claim.release()


def _embed(classifier, videos, rows, claim, recipe, read, run, per_window, directory, on_video) -> tuple[int, int]:
    """``embed_videos``' loop: each video's rows added, the claimed file rewritten now and then and at the end."""

    def rewrite():
        claim.replace(lambda staging: write_file(claim.target, staging, rows, recipe))

    rewrite()  # the file is a valid embeddings file from the start
    ok = failed = 0
    written = time.monotonic()
    try:
        for outcome in classify_many(classifier, videos, read, run, directory=directory, ahead=1, embed=True):
            rows += rows_of(outcome.video, outcome.result, outcome.error, classifier.source.name, per_window)
            ok, failed = ok + outcome.ok, failed + (not outcome.ok)
            if on_video:
                on_video(outcome.video, outcome.error)
            if time.monotonic() - written > REWRITE_S:
                rewrite()
                written = time.monotonic()
    finally:
        rewrite()
    return ok, failed
