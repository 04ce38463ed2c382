"""Compiled models in the OpenVINO cache: what OpenVINO exports of each compiled input shape,
checked when imported and bounded (``Blobs``), beside the converted models of ``engines.cache``."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from movinet_cli.errors import one_line
from movinet_cli.model.engines.cache import _UNWRITABLE, ConversionCache, _reason, _remove

BLOB_SHAPES_KEPT = 8  # compiled input shapes kept on disk per converted model (A5 base, f32: 75 MB each)
_EXPORTED = "export-"  # the names of blobs that OpenVINO exported for us (not its own cache's)


class Blobs:
    """Compiled models for one cache entry, exported by OpenVINO, checked and bounded: under
    ``<root>/compiled/<key>/``, a folder for each input shape compiled (``compiled``'s
    ``shape``), a blob in it for each way of compiling it (``config``: the precision and the CPU).

    A blob is imported as it is, without the converted model: a one-shot run reads, reshapes
    and hashes no IR (A5 stream: 1.2 to 1.5 s of its first step's 2 s went there, with
    OpenVINO's own ``CACHE_DIR``, which hashes the whole model to find its blob). OpenVINO
    reads a blob without checking its bytes (a damaged one gave NaN answers), so each blob is
    recorded when written (size and CRC-32, in the folder's ``checksums.json``) and the bytes
    imported are checked against the record first; a damaged or unrecorded blob is removed,
    and compiled (and written) again. A folder a shape: only the blob about to be imported is
    read and checked, and the ``BLOB_SHAPES_KEPT`` shapes used last
    are kept, the others removed (every length of a video shorter than a window is a shape of
    its own: unbounded, they filled the disk)."""

    def __init__(self, cache: ConversionCache, key: str):
        self.cache, self.directory = cache, cache.root / "compiled" / key
        self._usable = cache.writable

    def compiled(self, shape: str, config: str, compile_new: Callable[[], Any], import_blob: Callable[[bytes], Any]):
        """The model compiled for ``shape`` (a name for the input shape: ``logits-1x120x172x172x3``)
        the ``config`` way (a name for what else shapes the compiled code): ``import_blob(bytes)``
        of its blob where one is recorded and its bytes match, else ``compile_new()``,
        exported into this entry's folder for ``shape`` where the cache can be written."""
        if not (self._usable and self.cache.writable):
            return compile_new()
        folder = self.directory / shape
        lock_path = self.directory.parent / f"{self.directory.name}.lock"
        try:
            for directory in (self.directory.parent, self.directory, folder):  # a file there would stop the blobs below it
                if directory.is_symlink() or directory.exists() and not directory.is_dir():
                    self.cache.notice(f"warning: {directory} in the OpenVINO cache is not a directory; replacing it")
                    _remove(directory)
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            if lock_path.is_symlink() or lock_path.exists() and not lock_path.is_file():
                self.cache.notice(f"warning: the OpenVINO cache lock {lock_path} is not a file; replacing it")
                _remove(lock_path)
            lock = open(lock_path, "a")
        except OSError as error:
            self._usable = False
            self.cache.cannot_write(_reason(error))
            return compile_new()
        with lock:  # one process compiles, records and removes blobs at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            blob = folder / f"{_EXPORTED}{config}.blob"
            try:
                folder.mkdir(parents=True, exist_ok=True)  # under the lock: another process may have pruned it
                recorded = self._tidy(folder)
                compiled = self._imported(blob, recorded.get(blob.name), import_blob)
            except OSError as error:  # a blob we cannot read or remove: do without the cache
                self._usable = False
                self.cache.cannot_write(_reason(error))
                return compile_new()
            if compiled is None:
                compiled = compile_new()
                self._export(compiled, blob, recorded)
            with contextlib.suppress(OSError):
                os.utime(folder)  # used now: the least recently used shapes go first
                self._prune()
            return compiled

    def _imported(self, blob: Path, record: object, import_blob: Callable[[bytes], Any]):
        """``blob`` imported where its bytes match ``record`` (its size and CRC-32), else None:
        a damaged blob, or one OpenVINO refuses, is removed (saying so) to be compiled again.
        The bytes checked are the bytes imported, read once."""
        try:
            data = blob.read_bytes()
        except FileNotFoundError:
            return None
        if record != [len(data), zlib.crc32(data)]:
            self.cache.notice(f"warning: the compiled model {blob} in the OpenVINO cache is damaged; compiling it again")
            _remove(blob)
            return None
        try:
            return import_blob(data)
        except MemoryError:
            raise
        except Exception as error:  # its checksum matches, yet OpenVINO refuses it (written by a bug)
            self.cache.notice(f"warning: OpenVINO cannot read the compiled model {blob} ({one_line(error, 120)}); compiling it again")
            _remove(blob)
            return None

    def _export(self, compiled: Any, blob: Path, recorded: dict) -> None:
        """Writes what OpenVINO exports of ``compiled`` as ``blob`` (through a staging file: a
        reader never sees it torn) and records it in ``recorded`` and the folder's
        ``checksums.json``. A filesystem that will not take it turns the cache off for this
        process, saying so once; another failure only means compiling again next time."""
        staging = blob.with_name(f"{blob.name}.partial-{os.getpid()}")
        try:
            data = compiled.export_model().getvalue()
            staging.write_bytes(data)
            os.replace(staging, blob)
            recorded[blob.name] = [len(data), zlib.crc32(data)]
            checksums = blob.parent / f"checksums.json.partial-{os.getpid()}"
            checksums.write_text(json.dumps(recorded))
            os.replace(checksums, blob.parent / "checksums.json")
        except OSError as error:
            if error.errno in _UNWRITABLE:
                self._usable = False
                self.cache.cannot_write(_reason(error))
        except Exception as error:  # OpenVINO cannot export it, or no memory for the copy: it runs all the same
            self.cache.notice(f"warning: the compiled model cannot be kept in the OpenVINO cache ({one_line(error, 120)})")
        finally:
            with contextlib.suppress(OSError):
                staging.unlink(missing_ok=True)

    @staticmethod
    def _recorded(folder: Path) -> dict:
        """The folder's records, blob name -> [size, CRC-32]; {} where unreadable or not such a mapping."""
        try:
            recorded = json.loads((folder / "checksums.json").read_text())
        except (OSError, ValueError, RecursionError):  # unreadable, or nested past reason: damaged
            return {}
        return recorded if isinstance(recorded, dict) else {}

    def _tidy(self, folder: Path) -> dict:
        """The records of ``folder``, after removing what is neither they nor a recorded exported
        blob: a blob left unrecorded by a process that died, a staging file of one (the lock is
        held), OpenVINO's own cache files (of versions before exports). Blobs are checked by
        their bytes when imported, not here: each is read once."""
        recorded = self._recorded(folder)
        for path in folder.iterdir():
            kept = path.name == "checksums.json" or path.name.startswith(_EXPORTED) and path.name.endswith(".blob") and path.name in recorded
            if not (kept and path.is_file() and not path.is_symlink()):
                _remove(path)
        return recorded

    def _prune(self) -> None:
        """Removes all but the ``BLOB_SHAPES_KEPT`` shape folders used last, and what is not a
        shape's folder (blobs of the layout before folders, which OpenVINO no longer reads)."""
        folders = []
        for path in self.directory.iterdir():
            if path.is_dir() and not path.is_symlink():
                folders.append((path.stat().st_mtime, path))
            else:
                _remove(path)
        for _, folder in sorted(folders, reverse=True)[BLOB_SHAPES_KEPT:]:
            _remove(folder)
