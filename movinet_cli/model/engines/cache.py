"""The OpenVINO engine's disk cache: converted models and OpenVINO's compiled blobs, checked.

Converted models are kept under ``<cache>/openvino/<key>/``, keyed by what the conversion
depends on (see ``conversion.entry_key``). An entry is written to a temporary directory
and renamed into place, and records the size and CRC-32 of each file it holds; the compiled
models that OpenVINO exports (``<cache>/openvino/compiled/<key>/<shape>/``, ``engines.blobs``)
are recorded the same way when written. Both are checked before use, so a partial or damaged
entry or blob, a file where an entry directory should be, or a lock that is not a file, is
removed and rebuilt, saying so in one line. A cache that cannot be written (a read-only or full filesystem) is run
without: conversions are then kept in memory for this process only, saying so in one line.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from movinet_cli._lazy import openvino
from movinet_cli.errors import EngineError, one_line

logger = logging.getLogger(__name__)  # notices: the command line shows them on stderr

_STAGING = re.compile(r"\.partial-(\d+)-")  # <key>.partial-<pid>-<random>: an entry being written

def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(path: Path) -> list[int]:
    """``[size, CRC-32]`` of a file: what an entry records of each file and checks on use.
    CRC-32 rather than a cryptographic hash: it guards against damage (a torn write, a bad
    block, a stray edit), not against someone who can write the cache anyway, and it is
    cheap: about 0.07 s for an A5-sized (60 MB) model.bin here, against 0.5 s for SHA-256
    (one run on a busy 2-core machine)."""
    size = crc = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            size, crc = size + len(block), zlib.crc32(block, crc)
    return [size, crc]


_IDENTITY_FILES = ("saved_model.pb", "variables/variables.index")
_IDENTITIES: dict[tuple, str] = {}  # what each file was (path, size, mtime, inode) -> the identity, in this process


def saved_model_identity(directory: str) -> str:
    """A content hash of a SavedModel: its graph and its variables index (which holds the
    checksum of every weight), so a changed model never reuses a stale conversion. Kept for
    this process while neither file changes (size, modification time, inode): hashing A5
    stream's 118 MB graph takes about 0.3 s, and a run asks more than once."""
    paths = {name: Path(directory, name) for name in _IDENTITY_FILES}
    present = {name: path for name, path in paths.items() if path.is_file()}
    seen = tuple((str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino) for path in present.values() for stat in [path.stat()])
    if seen not in _IDENTITIES:
        digest = hashlib.sha256()
        for name, path in present.items():
            digest.update(name.encode() + _sha256_of(path).encode())
        _IDENTITIES[seen] = digest.hexdigest()[:24]
    return _IDENTITIES[seen]


class CacheUnwritable(EngineError):
    """The cache cannot be written (read-only, full, not ours): run without it."""


# errno values that mean "this filesystem will not take our files", not a bug of ours.
_UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
ENTRY_FILES = ("model.xml", "model.bin")


def _remove(path: Path) -> None:
    """Removes whatever ``path`` is (a directory tree, a file, a link); gone already is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _damage(entry: Path) -> str | None:
    """What is wrong with the finished entry ``entry`` (None: nothing), checking each file
    against the size and CRC-32 its meta.json recorded."""
    if not entry.is_dir():
        return "a file, not a directory"
    try:
        recorded = json.loads((entry / "meta.json").read_text())["files"]
        for name in ENTRY_FILES:
            if _fingerprint(entry / name) != recorded[name]:
                return f"{name} does not match its recorded size and checksum"
    except FileNotFoundError as error:
        return f"{Path(error.filename).name} is missing"
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
        return f"its description is unreadable ({type(error).__name__})"
    return None


class ConversionCache:
    """Converted OpenVINO models on disk: ``<root>/<key>/{model.xml, model.bin, meta.json}``.

    An entry is written by one process into ``<key>.partial-<pid>-*`` and renamed into place
    complete; staging directories of processes that no longer run are swept away. It logs one
    line for each damaged entry rebuilt, and one if the cache cannot be written
    (then conversions are kept in memory for this process only)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise EngineError(f"the OpenVINO cache {self.root} is a file, not a directory; remove it or set MOVINET_CACHE_DIR")
        self.writable = True
        self._in_memory: dict[str, tuple[Any, dict]] = {}  # key -> (ov.Model, meta), when not writable

    def notice(self, message: str) -> None:
        logger.info(message)

    def cannot_write(self, reason: str) -> None:
        """From now on, this process converts without the cache (said once)."""
        if self.writable:
            self.writable = False
            self.notice(f"warning: the OpenVINO cache {self.root} cannot be written ({reason}); running without caching (converting in this process, on every run)")

    def key(self, **fields: object) -> str:
        """The key of the entry described by ``fields`` (JSON values: what the conversion
        depends on), and the OpenVINO version, which writes it."""
        fields.update(openvino=openvino().__version__)
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]

    def holds(self, key: str) -> bool:
        """Whether a finished entry is there (not checked against its checksums)."""
        return (self.root / key / "meta.json").is_file()

    def description(self, key: str) -> dict | None:
        """Entry ``key``'s ``meta`` (what ``load`` returns with the model) where the entry is
        there and its description reads, else None; the model's files are not checked (``load`` does)."""
        if key in self._in_memory:
            return self._in_memory[key][1]
        try:
            meta = json.loads((self.root / key / "meta.json").read_text())
        except (OSError, ValueError, RecursionError):
            return None
        return meta if isinstance(meta, dict) and isinstance(meta.get("files"), dict) else None

    def load(self, key: str) -> tuple[Any, dict] | None:
        """Returns ``(ov.Model, meta)`` for a complete entry, or None. A damaged entry is
        removed, saying so, to be converted again."""
        if key in self._in_memory:
            return self._in_memory[key]
        entry = self.root / key
        if not (entry.exists() or entry.is_symlink()):
            return None
        damage = _damage(entry)
        if damage is None:
            try:
                meta = json.loads((entry / "meta.json").read_text())
                return openvino().Core().read_model(str(entry / "model.xml")), meta
            except Exception as error:  # checksums match, yet OpenVINO refuses it (written by a bug)
                damage = f"OpenVINO cannot read it: {one_line(error, 120)}"
        self.notice(f"warning: the OpenVINO cache entry {entry} is damaged ({damage}); converting it again")
        _remove(entry)
        return None

    def load_converted(self, key: str) -> tuple[Any, dict]:
        """Like ``load``, for an entry that a conversion just wrote: raises if it is not there."""
        cached = self.load(key)
        if cached is None:
            raise EngineError(f"the OpenVINO conversion left no usable model in {self.root / key}")
        return cached

    @contextlib.contextmanager
    def locked(self, key: str, on_wait: Callable[[], None]) -> Iterator[None]:
        """Holds the lock on ``<key>.lock``, so that one process (of several runs, or Ray
        actors on this node) converts entry ``key`` while the others wait; ``on_wait`` is
        called first if another process holds it. A lock that is not a file is replaced,
        saying so. Raises CacheUnwritable if the cache cannot be written, EngineError if it
        cannot be created for another reason."""
        lock_path = self.root / f"{key}.lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if lock_path.is_symlink() or lock_path.exists() and not lock_path.is_file():
                self.notice(f"warning: the OpenVINO cache lock {lock_path} is not a file; replacing it")
                _remove(lock_path)
            lock = open(lock_path, "a")
        except OSError as error:
            if error.errno in _UNWRITABLE:
                raise CacheUnwritable(_reason(error)) from None
            raise EngineError(f"cannot create the OpenVINO cache {self.root}: {error.strerror or error}") from None
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_wait()
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def keep(self, key: str, model: Any, meta: dict) -> None:
        """Keeps ``(model, meta)`` as entry ``key`` in memory, for this process only (where
        the cache cannot be written)."""
        self._in_memory[key] = (model, meta)

    def store(self, key: str, model: Any, meta: dict) -> None:
        """Saves ``model`` with ``meta`` atomically; another process's finished copy wins.
        Raises CacheUnwritable if the filesystem will not take it."""
        entry = self.root / key
        staging = None
        try:
            self.sweep()
            staging = Path(tempfile.mkdtemp(prefix=f"{key}.partial-{os.getpid()}-", dir=self.root))
            try:
                openvino().save_model(model, str(staging / "model.xml"), compress_to_fp16=False)
            except Exception as error:  # OpenVINO says "basic_ios::clear: iostream error", no errno
                raise _disk_full_or(error, staging, model) from None
            files = {name: _fingerprint(staging / name) for name in ENTRY_FILES}
            (staging / "meta.json").write_text(json.dumps({**meta, "files": files}, indent=1))
            if (entry.exists() or entry.is_symlink()) and _damage(entry):
                _remove(entry)  # a file or a broken entry in the way: ours replaces it
            os.replace(staging, entry)
        except OSError as error:
            if not self.holds(key):
                if error.errno in _UNWRITABLE:
                    raise CacheUnwritable(_reason(error)) from None
                raise
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    def sweep(self) -> None:
        """Removes staging directories whose writing process has ended (killed mid-write)."""
        for path in self.root.glob("*.partial-*"):
            match = _STAGING.search(path.name)
            if match and not _process_exists(int(match[1])):
                shutil.rmtree(path, ignore_errors=True)


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def _disk_full_or(error: Exception, staging: Path, model) -> OSError:
    """The OSError for a failed save: ENOSPC when the filesystem has less room than the
    model's weights (OpenVINO's own message does not say so), else the error as it is."""
    weights = sum(op.get_byte_size() for op in model.get_ops() if op.get_type_name() == "Constant")
    shutil.rmtree(staging, ignore_errors=True)
    if shutil.disk_usage(staging.parent).free < weights + (1 << 20):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return OSError(f"OpenVINO cannot save the converted model: {one_line(error)}")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True

