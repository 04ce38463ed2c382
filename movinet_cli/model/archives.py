"""A MoViNet downloaded by hand, put where the commands find it (``movinet models --import``).

Behind a firewall or on an air-gapped machine, TF Hub cannot be reached: a person downloads a
variant's SavedModel elsewhere (its page: ``Variant.page``; Kaggle serves a ``.tar.gz`` of the
SavedModel) and imports the archive, or the directory it unpacks to, under the variant's
registry name. ``import_model`` checks it before it is trusted: a regular archive whose members
all stay inside it (no absolute paths, ``..``, links or devices), of bounded size, holding one
SavedModel whose signatures are those of the variant's kind with Kinetics-600's 600 classes.
Only then is it moved, whole, to where a download of that variant would be
(``registry.cached_model_dir``). Anything else is one ModelError line, and nothing is cached.

A signature cannot tell A0 from A5 (every input dimension is dynamic): the name given is trusted
for the size, as a download's URL would be.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from movinet_cli.errors import ModelError, UsageError, one_line
from movinet_cli.model.registry import VARIANTS, Variant, cached_model_dir, hub_cache_dir
from movinet_cli.model.saved_model import describe

KINETICS_CLASSES = 600
MAX_UNPACKED_BYTES = 8_000_000_000  # the largest variant (A5 stream) unpacks to about 0.5 GB
MAX_MEMBERS = 10_000  # a SavedModel has a handful of files


def import_model(name: str, source: str | os.PathLike) -> Path:
    """Puts the SavedModel in ``source`` (a .tar.gz/.tar archive or a directory) into the cache
    as registry variant ``name``, replacing an earlier copy; returns where it now is. Raises
    UsageError for a name that is not a registry variant, ModelError (one line, nothing cached)
    for a source that is not that variant's SavedModel."""
    if name not in VARIANTS:
        raise UsageError(f"--import {name}: not a registry name ({', '.join(VARIANTS)})")
    variant, source = VARIANTS[name], os.fspath(source)
    target, hub = cached_model_dir(variant.url), hub_cache_dir()
    is_directory = _kind_of(source)
    if is_directory:  # the SavedModel in it, checked where it lies, before anything is copied
        source = str(_saved_model_in(Path(source), source))
        _check_variant(Path(source), variant, source)
        if Path(os.path.realpath(hub)).is_relative_to(os.path.realpath(source)):
            raise ModelError(f"--import {source}: holds the cache it would be copied into; give the SavedModel's own directory")
    try:
        hub.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=hub))
    except OSError as error:
        raise ModelError(f"--import: the cache {hub} cannot be written ({error.strerror or error})") from None
    try:
        unpacked = staging / "model"
        if is_directory:
            _copy_directory(source, unpacked)
            model = unpacked
        else:
            _unpack(source, unpacked)
            model = _saved_model_in(unpacked, source)
            _check_variant(model, variant, source)
        with open(hub / ".import.lock", "a") as lock:  # two imports of one variant: one at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            _replace(model, target, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _kind_of(source: str) -> bool:
    """Whether ``source`` is a directory (else a regular file); ModelError for anything else
    (a FIFO or device would be read without end)."""
    try:
        mode = os.stat(source).st_mode
    except OSError as error:
        raise ModelError(f"--import {source}: {error.strerror or error}") from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise ModelError(f"--import {source}: not a regular file or directory (a FIFO, device or socket)")
    return stat.S_ISDIR(mode)


def _unpack(archive: str, into: Path) -> None:
    """Unpacks a tar archive (gzip, bzip2 or xz) whose members are plain files and folders inside it."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            _check_members(members, archive)
            into.mkdir()
            # Python's own check too, where it has one (3.10.12, 3.11.4 and later).
            safety: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            for member in members:
                tar.extract(member, into, set_attrs=False, **safety)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ModelError(f"--import {archive}: not a readable .tar.gz of a SavedModel ({one_line(error, 160)})") from None


def _check_members(members: list[tarfile.TarInfo], archive: str) -> None:
    """Refuses an archive of too many or too large members, or one that would write outside itself."""
    if len(members) > MAX_MEMBERS:
        raise ModelError(f"--import {archive}: {len(members)} files, more than a SavedModel has")
    if sum(member.size for member in members) > MAX_UNPACKED_BYTES:
        raise ModelError(f"--import {archive}: unpacks to more than {MAX_UNPACKED_BYTES / 1e9:g} GB, more than any MoViNet")
    for member in members:
        parts = Path(member.name).parts
        if member.name.startswith(("/", "\\")) or ".." in parts or not (member.isfile() or member.isdir()):
            raise ModelError(f"--import {archive}: {member.name!r} is not a plain file inside the archive (a link, device or path outside it)")


def _copy_directory(source: str, into: Path) -> None:
    """Copies a SavedModel directory's plain files and folders (a link or device is refused)."""
    for folder, folders, names in os.walk(source):
        for entry in [*folders, *names]:
            mode = os.lstat(os.path.join(folder, entry)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ModelError(f"--import {source}: {os.path.join(folder, entry)} is not a plain file or folder")
    try:
        shutil.copytree(source, into)
    except OSError as error:
        raise ModelError(f"--import {source}: cannot be copied ({one_line(error, 160)})") from None


def _saved_model_in(unpacked: Path, source: str) -> Path:
    """The SavedModel directory at the top of ``unpacked`` or in its one folder."""
    if not unpacked.is_dir():
        raise ModelError(f"--import {source}: holds no SavedModel (no saved_model.pb)")
    if (unpacked / "saved_model.pb").is_file():
        return unpacked
    inner = [path for path in unpacked.iterdir() if path.is_dir() and (path / "saved_model.pb").is_file()]
    if len(inner) != 1:
        raise ModelError(f"--import {source}: holds no SavedModel (no saved_model.pb at its top or in its one folder)")
    return inner[0]


def _check_variant(model: Path, variant: Variant, source: str) -> None:
    """Refuses a SavedModel whose signatures are not those of ``variant``'s kind with 600 classes."""
    try:
        info = describe(str(model))
    except ModelError as error:
        raise ModelError(f"--import {source}: not a MoViNet SavedModel ({one_line(error, 200)})") from None
    if (info.kind, info.num_classes) != (variant.kind, KINETICS_CLASSES):
        raise ModelError(
            f"--import {source}: holds a {info.kind} model of {info.num_classes} classes, not {variant.name} "
            f"(a {variant.kind} model of the {KINETICS_CLASSES} Kinetics-600 classes)"
        )


def _replace(model: Path, target: Path, staging: Path) -> None:
    """Moves ``model`` to ``target`` (an earlier copy moved aside into ``staging`` first, and removed with it)."""
    if target.exists():
        os.replace(target, staging / "earlier")
    os.replace(model, target)
