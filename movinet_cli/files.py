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
from collections.abc import Iterator

from movinet_cli.errors import MovinetError, OutputError

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


class ReadError(MovinetError):
    """A file we read cannot be: not a regular file, too large, or unreadable. Its message
    is one line naming the file and what is wrong."""


def read_bytes(path: str | os.PathLike, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ReadError (one line, naming
    ``what`` and ``path``) for anything else, at once: a FIFO or device is refused without
    waiting for a writer or reading without end (it is opened non-blocking and checked with
    ``fstat`` before any read), and a file that grows past ``limit`` while it is read too."""
    name = os.fsdecode(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise ReadError(f"cannot read {what} {name}: {error.strerror or error}") from None
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise ReadError(f"cannot read {what} {name}: it is a directory")
        if not stat.S_ISREG(status.st_mode):
            raise ReadError(f"cannot read {what} {name}: it is not a regular file (a FIFO, device or socket)")
        if status.st_size > limit:
            raise ReadError(f"cannot read {what} {name}: {status.st_size} bytes, more than the {limit} a {what} may have")
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except ReadError:
        raise
    except OSError as error:
        raise ReadError(f"cannot read {what} {name}: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise ReadError(f"cannot read {what} {name}: more than the {limit} bytes a {what} may have")
    return data


def read_text(path: str | os.PathLike, what: str, limit: int, encoding: str = "utf-8", errors: str = "strict") -> str:
    """``read_bytes`` decoded; a decoding error is a ReadError too. Line breaks are kept as
    they are: split on ``"\n"`` only (``str.splitlines`` also splits on U+2028, U+0085 and
    form feeds, which JSON and label files may hold inside a line)."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError as error:
        raise ReadError(f"cannot read {what} {os.fsdecode(path)}: not {encoding} text (byte {error.start})") from None


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
        mode = stat.S_IMODE(os.stat(target).st_mode) if os.path.isfile(target) else 0o666 & ~umask()
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
    except BrokenPipeError:  # the reader of a pipe went away (`| head`): the caller ends quietly
        raise
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


def umask() -> int:
    """The process's file mode creation mask (read by setting it, then set back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
