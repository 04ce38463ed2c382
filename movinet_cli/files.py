"""Writing output files so that an error or Ctrl-C never leaves a partial one behind, and a
user's file is never replaced behind their back.

A regular file (or a path that does not exist yet) is written to a temporary file beside it
and renamed over it only on success. A symbolic link is followed: its target is written, the
link stays. A device, FIFO or descriptor (``/dev/null``, a named pipe, ``/dev/stdout`` even
when it is redirected to a file) is appended to in place, never replaced. Failed writes (a
full disk) raise OutputError.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from typing import Iterator

from .errors import OutputError


_DESCRIPTOR = re.compile(r"/(proc/[^/]+|dev)/fd/\d+")
_LINKS_FOLLOWED = 40  # as the kernel's own limit on a chain of symbolic links


def names_a_descriptor(path: str | os.PathLike) -> bool:
    """Whether ``path`` is, or links to, an open file descriptor of this process (``/dev/stdout``,
    ``/dev/fd/3``, ``/proc/self/fd/1``): a name for whatever the descriptor holds, which
    must be used as it is (a redirected stdout's file is the user's, not ours to replace)."""
    path = os.path.abspath(os.fspath(path))
    for _ in range(_LINKS_FOLLOWED):
        if _DESCRIPTOR.fullmatch(path):
            return True
        if not os.path.islink(path):
            return False
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    return False


def is_special(path: str | os.PathLike) -> bool:
    """Whether ``path`` is written in place and cannot be read back: it names a descriptor,
    or exists and is neither a regular file nor a directory (a device, a FIFO, a socket)."""
    if names_a_descriptor(path):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_output_path(path: str | os.PathLike, option: str) -> None:
    """Raises OutputError, naming ``option``, unless ``path`` can be written: it is not a
    directory, its directory exists, and both allow writing. Cheap: run it before any work."""
    path = os.fspath(path)
    if is_special(path):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{option} {path}: permission denied")
        return
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise OutputError(f"{option} {path}: is a directory; give a file name")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise OutputError(f"{option} {path}: directory {directory} does not exist")
    writable = target if os.path.exists(target) else directory
    if not os.access(writable, os.W_OK):
        raise OutputError(f"{option} {path}: permission denied ({writable} is not writable)")


def _failure(path: str, error: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {error.strerror or error}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path to write instead of ``path``. On success it becomes ``path``'s
    content: renamed over a regular file (or a symbolic link's target, keeping the file's
    permissions), or copied into a device or FIFO. On an error or Ctrl-C it is removed and
    ``path`` is untouched. OSErrors of the rename or copy become OutputError."""
    path = os.fspath(path)
    special = is_special(path)
    # Through symbolic links: the link stays. A special file is opened by its own name
    # (/dev/stdout's link into /proc resolves to a name that exists only as a link).
    target = path if special else os.path.realpath(path)
    directory = tempfile.gettempdir() if special else os.path.dirname(target)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=".partial-", suffix="-" + os.path.basename(target), dir=directory)
        os.close(descriptor)
        mode = stat.S_IMODE(os.stat(target).st_mode) if os.path.isfile(target) else 0o666 & ~_umask()
        os.chmod(temporary, mode)  # mkstemp's 0600 would make results private
    except OSError as error:
        raise _failure(path, error) from None
    try:
        yield temporary
        if special:  # appended: a stdout redirected to a file keeps what it holds
            with open(temporary, "rb") as source, open(target, "ab") as sink:
                shutil.copyfileobj(source, sink)
        else:
            os.replace(temporary, target)
    except OSError as error:
        raise _failure(path, error) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w", **open_options) -> Iterator:
    """Like ``atomic_path``, with the temporary file open for writing. Text is UTF-8, with
    the bytes of file names that are not UTF-8 written as they are (surrogateescape)."""
    if "b" not in mode:
        open_options = {"encoding": "utf-8", "errors": "surrogateescape", **open_options}
    with atomic_path(path) as temporary:
        try:
            with open(temporary, mode, **open_options) as handle:
                yield handle
        except OSError as error:
            raise _failure(os.fspath(path), error) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
