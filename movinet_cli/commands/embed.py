"""Embedding videos into a Parquet or .npz file (``outputs.embeddings``): one row per video,
or per window/chunk with ``per_window``. A run claims its file (``claim.Claim``: one writer at a
time); ``resume`` keeps the rows of the videos that worked, when the file's recipe (the model,
frame size and rate, resize mode and kind of rows) is this run's, and embeds the others.
Parquet needs pyarrow (the ``train`` extra).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from movinet_cli.errors import MovinetError
from movinet_cli.files import check_output_path
from movinet_cli.inputs.sources import name_of
from movinet_cli.options import ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier, classify_many
from movinet_cli.outputs.claim import Claim, already_exists, check_recipe, probe
from movinet_cli.outputs.embeddings import EmbeddingsFileError, EmbeddingsSink, output_format, read_file, read_rows, require_pyarrow
from movinet_cli.outputs.sinks import RunContext, passed


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
        raise EmbeddingsFileError(already_exists(path))
    probe(path, "embed")
    return [] if overwrite else [row for row in read_rows(path) if row["error"] is None]


def recipe_of(classifier: Classifier, read: ReadOptions, per_window: bool) -> dict:
    """The options that make an embeddings file's rows what they are (``Classifier.recipe``
    and ``--per-window``); a model in a directory by its real path, however it was spelled."""
    recipe = classifier.recipe(read)
    name = recipe["--model"]
    return {**recipe, "--model": os.path.realpath(name) if os.path.isdir(name) else name, "--per-window": per_window}


def embed_videos(
    classifier: Classifier,
    videos: Iterable[str],
    output: str,
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    per_window: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    directory: str | None = None,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[int, int]:
    """Embeds ``videos`` into ``output``, which this run claims (``claim.Claim``) until it
    ends; with ``resume``, the rows of an existing output's videos that worked are kept
    (first) and those videos skipped; with neither it nor ``overwrite``, an output that
    another run has made since ``check_output`` is refused. A video named twice is embedded
    once. Returns the videos that worked and that failed;
    ``on_video(video, error)`` after each. Raises, before any work, ClaimError if another
    run holds ``output``, RecipeError if the rows kept were made another way (another model,
    size, frame rate, resize mode or kind of rows)."""
    recipe = recipe_of(classifier, read, per_window)
    claim = Claim(output, "embed")
    try:
        kept: list[dict] = []
        made = os.fstat(claim.handle.fileno()).st_size > 0
        if made and not (resume or overwrite):  # another run made it since the first check
            raise EmbeddingsFileError(already_exists(output))
        if made and resume:
            theirs, kept = read_file(claim.target)
            check_recipe(output, theirs, recipe)
            kept = [row for row in kept if row["error"] is None]
        done = {row["path"] for row in kept}
        todo = [video for video in dict.fromkeys(videos) if name_of(video) not in done]  # rows name "-" "<stdin>"
        sink = EmbeddingsSink(claim, recipe, kept, per_window)
        outcomes = classify_many(classifier, todo, read, run, directory=directory, ahead=1, embed=True)
        ok = failed = 0
        for outcome in passed(outcomes, [sink], RunContext.of(classifier, run)):
            ok, failed = ok + outcome.ok, failed + (not outcome.ok)
            if on_video:
                on_video(outcome.video, outcome.error)
        return ok, failed
    finally:
        claim.release()
