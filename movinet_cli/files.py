"""Writing files so that an error or Ctrl-C never leaves a partial one behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path beside ``path`` (same extension) and renames it over ``path``
    only on success, so an error or Ctrl-C never leaves a partial file behind."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".partial-", suffix="-" + os.path.basename(path), dir=directory)
    os.close(descriptor)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 would make results private
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w", **open_options) -> Iterator:
    """Like ``atomic_path``, with the temporary file open for writing."""
    with atomic_path(path) as temporary, open(temporary, mode, **open_options) as handle:
        yield handle


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
