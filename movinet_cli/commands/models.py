"""What ``movinet models`` lists and prepares: the registry's variants with what is downloaded,
converted and measured here (``list_models``), trained MODEL_DIRs described, and models
downloaded and converted ahead of their first run (``prepare_models``)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from movinet_cli.commands.pace import Measurements
from movinet_cli.errors import MovinetError, UsageError
from movinet_cli.model.engines import is_prepared
from movinet_cli.model.head import is_head_dir, load_head
from movinet_cli.model.registry import VARIANTS, cached_model_dir, is_cached
from movinet_cli.outcomes.loading import prepare_model


class UnknownModelsError(UsageError):
    """Names given to list that are neither registry variants nor trained MODEL_DIRs."""


@dataclass
class ModelListing:
    """What ``movinet models`` shows.

    heads: one per trained MODEL_DIR described: ``Head.description()`` with its ``path`` and
        whether it is the ``default`` model.
    rows: one per registry variant: its name, kind, inputs (``frames``, ``size`` in pixels,
        ``fps``), ``gflops``, ``top1`` (percent), whether it is ``cached`` (downloaded) and
        ``converted`` for OpenVINO, and ``seconds_per_minute`` of video that live measured
        here (None: not yet).
    default: the default model, as named.
    """

    heads: list[dict]
    rows: list[dict]
    default: str


def list_models(names: Sequence[str], default: str) -> ModelListing:
    """The listing of ``names`` (registry names or trained MODEL_DIRs; none: the whole
    registry, and the default model ``default`` if it is a MODEL_DIR). Raises
    UnknownModelsError for a name that is neither."""
    trained = [name for name in names if is_head_dir(name)]
    unknown = [name for name in names if name not in VARIANTS and name not in trained]
    if unknown:
        raise UnknownModelsError(f"neither in the registry nor a trained MODEL_DIR: {', '.join(unknown)} (names: {', '.join(VARIANTS)})")
    if not names and is_head_dir(default):
        trained = [default]  # the default model is a MODEL_DIR: described above the registry
    heads = [{"path": name, "default": is_default_dir(name, default), **load_head(name).description()} for name in trained]
    chosen = [name for name in names if name in VARIANTS] if names else list(VARIANTS)
    book = Measurements()
    return ModelListing(heads, [_variant_row(name, default, book) for name in chosen], default)


def _variant_row(name: str, default: str, book: Measurements) -> dict:
    """One registry variant's row of ``ModelListing.rows``."""
    v = VARIANTS[name]
    downloaded = is_cached(v.url)
    measured = book.get(v.name, v.size, "auto", "auto") if downloaded else None
    return {
        "name": v.name,
        "default": default in (v.name, v.model_id if v.kind == "base" else None),
        "kind": v.kind,
        "frames": v.clip_frames,
        "size": v.size,
        "fps": v.fps,
        "gflops": v.gflops,
        "top1": v.top1,
        "cached": downloaded,
        "converted": downloaded and is_prepared(str(cached_model_dir(v.url)), v.kind, v.size),
        "seconds_per_minute": round(measured.seconds_per_minute(v.fps), 1) if measured else None,
        "url": v.url,
    }


def is_default_dir(path: str, default: str) -> bool:
    """Whether the MODEL_DIR ``path`` is the default model ``default`` ($MOVINET_MODEL), however either is spelled."""
    return is_head_dir(default) and os.path.samefile(path, default)


def prepare_models(names: Sequence[str]) -> Iterator[tuple[str, MovinetError | None]]:
    """Downloads and converts each of ``names`` (registry names, URLs, SavedModel or trained
    MODEL_DIRs) in turn, yielding ``(name, None)`` once it is ready or ``(name, error)``
    where it cannot be (the others go on). Downloads and conversions are logged as they go."""
    for name in names:
        try:
            prepare_model(name)
        except MovinetError as error:
            yield name, error
            continue
        yield name, None
