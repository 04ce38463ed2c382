"""The MoViNet model registry, the download cache, and finding a model's SavedModel directory.

A model is named by a registry name (``a5-base``), a bare variant (``a5``, resolved by
mode), a TF Hub / Kaggle URL, or a local SavedModel directory. Remote models are fetched
once through ``tensorflow_hub`` into a persistent cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from movinet_cli import environment
from movinet_cli.errors import ModelError, ModelKindError, one_line
from movinet_cli.options import CLIP_SECONDS

logger = logging.getLogger(__name__)  # notices: the command line shows them on stderr

HUB_URL = "https://tfhub.dev/tensorflow/movinet/{model_id}/{kind}/kinetics-600/classification/{version}"
KAGGLE_PAGE = "https://www.kaggle.com/models/google/movinet/TensorFlow2/{model_id}-{kind}-kinetics-600-classification"
HUB_VERSIONS = {"base": 2, "stream": 3}
# Two words for one distinction, each in its place: a model's *kind* is what it is (the Hub's
# "base" or "stream" signatures); a run's *mode* is how it runs ("clip": windows of a base
# model, "stream": frames through a stream model's states). MODES is the only mapping.
KINDS = ("base", "stream")
MODES = {"clip": "base", "stream": "stream"}  # --mode -> the model kind it runs


def mode_of(kind: str) -> str:
    """The mode that a model of ``kind`` runs in: "clip" for "base", "stream" for "stream"."""
    return {model_kind: mode for mode, model_kind in MODES.items()}[kind]


@dataclass(frozen=True)
class Variant:
    """One published MoViNet model: A0-A5, base (full clip) or stream (frame by frame)."""

    model_id: str  # "a0" .. "a5"
    kind: str  # "base" or "stream"
    size: int  # input frames are size x size pixels
    eval_short_side: int  # pixels: the Kinetics eval recipe resizes the shorter side to this, then crops size x size
    fps: int  # frames/s the model was trained on
    gflops: float  # per 10-second clip
    top1: float  # Kinetics-600 top-1 accuracy, %

    @property
    def name(self) -> str:
        return f"{self.model_id}-{self.kind}"

    @property
    def url(self) -> str:
        return HUB_URL.format(model_id=self.model_id, kind=self.kind, version=HUB_VERSIONS[self.kind])

    @property
    def page(self) -> str:
        """Where a person downloads it by hand (its Kaggle Models page, TF Hub's successor)."""
        return KAGGLE_PAGE.format(model_id=self.model_id, kind=self.kind)

    @property
    def crop_scale(self) -> float:
        """Shorter side before the central crop, as a multiple of the crop size (A5: 368/320)."""
        return self.eval_short_side / self.size

    @property
    def clip_frames(self) -> int:
        """Frames in one 10-second training clip (A5: 120)."""
        return CLIP_SECONDS * self.fps


# From the MoViNet paper and model cards: (size, fps, GFLOPs, top-1 base, top-1 stream), and
# from the Model Garden's eval configs (movinet_a*_k600_8x8.yaml): the shorter side resized to
# before the central crop (min_image_size).
_PUBLISHED = {
    "a0": (172, 192, 5, 2.7, 72.28, 72.05),
    "a1": (172, 192, 5, 6.0, 76.69, 76.45),
    "a2": (224, 256, 5, 10, 78.62, 78.40),
    "a3": (256, 288, 12, 57, 81.79, 80.09),
    "a4": (290, 320, 8, 110, 83.48, 81.49),
    "a5": (320, 368, 12, 280, 84.27, 82.37),
}
VARIANTS: dict[str, Variant] = {
    f"{model_id}-{kind}": Variant(model_id, kind, size, short_side, fps, gflops, top1_base if kind == "base" else top1_stream)
    for kind in KINDS
    for model_id, (size, short_side, fps, gflops, top1_base, top1_stream) in _PUBLISHED.items()
}
DEFAULT_MODEL = "a5-base"
_VARIANT_IN_TEXT = re.compile(r"(?<![a-z0-9])(a[0-5])[/_-](base|stream)(?![a-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from and which published variant it is, if known."""

    name: str  # what the user asked for, or the registry name
    handle: str  # an http(s) URL or a local SavedModel directory
    variant: Variant | None  # known from the registry or recognised in the URL/path

    @property
    def is_remote(self) -> bool:
        return self.handle.startswith(("http://", "https://"))


def resolve_model(model: str | None = None, mode: str | None = None, command: str | None = None) -> ModelSource:
    """Turns a ``--model`` value into a ModelSource; ``mode`` ("clip"/"stream") picks the kind.

    Raises ModelError for an unknown name, ModelKindError for a model of the wrong kind for
    ``mode`` (worded for ``command`` where that command allows one mode only, see ``check_kind``).
    """
    kind = MODES[mode] if mode else None
    model = model or (f"{VARIANTS[DEFAULT_MODEL].model_id}-{kind}" if kind else DEFAULT_MODEL)
    key = model.lower()
    if key in {variant.model_id for variant in VARIANTS.values()}:
        key = f"{key}-{kind or 'base'}"
    if key in VARIANTS:
        variant = VARIANTS[key]
        check_kind(variant.name, variant.kind, mode, variant.model_id, command)
        return ModelSource(variant.name, variant.url, variant)
    if model.startswith(("http://", "https://")):
        return ModelSource(model, model, _variant_in(model))
    if os.path.isdir(model):
        return ModelSource(model, os.path.abspath(model), _variant_in(os.path.abspath(model)))
    if os.path.exists(model):
        raise ModelError(f"--model {model}: is a file; expected a SavedModel directory, a URL or a registry name")
    raise ModelError(
        f"unknown model {model!r}: expected a registry name ({', '.join(VARIANTS)}), "
        "a TF Hub/Kaggle URL, or a SavedModel directory ('movinet models' lists the registry)"
    )


def _variant_in(handle: str) -> Variant | None:
    match = _VARIANT_IN_TEXT.search(handle)
    return VARIANTS[f"{match[1].lower()}-{match[2].lower()}"] if match else None


def check_kind(name: str, kind: str, mode: str | None, model_id: str | None = None, command: str | None = None) -> None:
    """Raises ModelKindError if model ``name`` of ``kind`` cannot run in ``mode`` (for
    ``command``, when one command allows only that mode)."""
    if mode is None or MODES[mode] == kind:
        return
    other = {"base": "stream", "stream": "base"}[kind]
    if command:
        twin = f"{model_id}-{other}" if model_id else f"a {other} model"
        raise ModelKindError(f"{command} needs a {other} model; {name} is a {kind} model (use {twin})")
    suggestion = f"--model {model_id}-{other}" if model_id else f"a {other} model"
    flag = "--mode clip" if kind == "base" else "--mode stream"
    raise ModelKindError(f"{name} is a {kind} model, which runs with {flag}; for --mode {mode} use {suggestion}")


def cache_dir() -> Path:
    """The per-user cache root: $MOVINET_CACHE_DIR or the platform's user cache directory.

    Raises ModelError if it, or the nearest of its parents that exists, is not a directory,
    or if its path cannot be used at all (too long, not UTF-8 text)."""
    root = environment.cache_root()
    if root is None:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("movinet-cli"))
    _check_utf8(root, f"the cache directory {os.fsencode(root)!r}", f"set {environment.CACHE_DIR} to a directory whose path is UTF-8 text")
    try:
        existing = next((path for path in (root, *root.parents) if path.exists()), None)
    except OSError as error:  # a name too long, say
        shown = str(root) if len(str(root)) <= 200 else str(root)[:200] + "..."
        raise ModelError(f"the cache directory {shown} cannot be used ({error.strerror}): set {environment.CACHE_DIR} to a directory") from None
    if existing is not None and not existing.is_dir():
        raise ModelError(f"the cache directory {root} cannot be created: {existing} is a file (set MOVINET_CACHE_DIR to a directory)")
    return root


def hub_cache_dir() -> Path:
    """Where TF Hub downloads go: $TFHUB_CACHE_DIR if set, else <cache_dir>/tfhub."""
    return environment.hub_cache() or cache_dir() / "tfhub"


def cached_model_dir(url: str) -> Path:
    """The directory ``tensorflow_hub`` downloads ``url`` into (sha1 of the URL)."""
    return hub_cache_dir() / hashlib.sha1(url.encode("utf8")).hexdigest()


def is_cached(url: str) -> bool:
    return (cached_model_dir(url) / "saved_model.pb").is_file()


def model_directory(source: ModelSource) -> str:
    """Returns the local SavedModel directory for ``source``, downloading it once if remote.

    A download starting is logged (INFO).
    Raises ModelError naming the URL, the cache and the offline alternative if it fails.
    """
    if not source.is_remote:
        if not (Path(source.handle) / "saved_model.pb").is_file():
            raise ModelError(f"{source.handle}: not a SavedModel directory (no saved_model.pb)")
        _check_utf8(Path(source.handle), f"--model {os.fsencode(source.handle)!r}", "rename it, or link it under a UTF-8 name")
        return source.handle
    cache = hub_cache_dir()
    target = cached_model_dir(source.handle)
    if target.exists() and not is_cached(source.handle):
        # A copy cut off mid-download, or cleaned by a temp-dir sweeper: fetch it again.
        shutil.rmtree(target, ignore_errors=True)
    if is_cached(source.handle):
        return str(target)
    logger.info("Downloading %s from %s into %s (once)...", source.name, source.handle, cache)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        os.environ[environment.HUB_CACHE_DIR] = str(cache)  # where tensorflow_hub downloads
        directory = _download(source.handle)
    except Exception as error:  # the network edge: anything urllib, tarfile or TF raise
        raise ModelError(
            f"cannot download {source.handle} ({one_line(error, 200)}) and no copy is cached in {cache}; "
            "connect to the internet once, or download the SavedModel yourself "
            + (f"({source.variant.page}) and run `movinet models --import {source.variant.name} FILE`" if source.variant else "and pass --model PATH")
        ) from None
    if not (Path(directory) / "saved_model.pb").is_file():
        shutil.rmtree(directory, ignore_errors=True)
        raise ModelError(f"{source.handle} did not unpack to a SavedModel (no saved_model.pb); removed it from {cache}")
    return directory


def _check_utf8(path: Path, what: str, fix: str) -> None:
    """Raises ModelError unless ``path`` is UTF-8 text: OpenVINO and TensorFlow take only
    such paths (a file name's other bytes reach Python as surrogates they cannot pass on)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise ModelError(f"{what} is not UTF-8 text, which OpenVINO and TensorFlow cannot open: {fix}") from None


def _download(url: str) -> str:
    """Fetches ``url`` into the TF Hub cache with tensorflow_hub's own resolver."""
    from movinet_cli._lazy import tensorflow_hub

    return tensorflow_hub().resolve(url)
