"""The same-file rule: no output of a run may be one of its inputs or another of its outputs
(two writers of one file, or a report written over the video it describes, destroy one of
them), nor the file that its messages on stderr go to. Files are compared by device and inode,
so links, ``/dev/stdout`` and ``-`` are seen through.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from movinet_cli.errors import UsageError

if TYPE_CHECKING:
    from movinet_cli.outputs.sinks import Sink


def file_identity(path: str | os.PathLike) -> tuple | None:
    """What a path names, comparable across spellings: (device, inode) of an existing file
    (through links, ``/dev/stdout`` to the descriptor's file), ("path", real path) of one
    that does not exist yet; "-" is stdout's own descriptor. None for a character device
    (a terminal, /dev/null), which two writers may share: nothing written there is read back."""
    try:
        status = os.fstat(1) if os.fspath(path) == "-" else os.stat(path)
    except (OSError, ValueError):
        return ("path", os.path.realpath(path))
    return _identity(status)


def _identity(status: os.stat_result) -> tuple | None:
    """(device, inode), or None for a character device (see ``file_identity``)."""
    return None if stat.S_ISCHR(status.st_mode) else (status.st_dev, status.st_ino)


def check_outputs(sinks: Sequence[Sink], inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Checks each sink (``Sink.check``), then that no two outputs, and no output and input,
    are one file (compared by device and inode, so links, ``/dev/stdout`` and ``-`` are seen
    through). Raises UsageError before any work."""
    for sink in sinks:
        sink.check()
    seen: dict[tuple, str] = {}
    for sink in sinks:
        if sink.path is None:
            continue
        identity = file_identity(sink.path)
        if identity is None:
            continue
        if identity in seen:
            raise UsageError(f"{sink.name} is the same file as {seen[identity]}: give each output a file of its own")
        seen[identity] = sink.name
    inputs = list(inputs)
    for video in inputs:
        identity = file_identity(video)
        if identity is not None and identity[0] != "path" and identity in seen and not os.path.isdir(video):
            raise UsageError(f"{seen[identity]} is the input {os.fsdecode(video)}: an output may not replace an input")
    for directory in filter(os.path.isdir, inputs):  # a model directory: its files are read as one model
        _check_outside(sinks, directory)
    # Messages go to stderr as the run goes: an output opened by its own name onto the same
    # file (`--report /dev/stderr 2> f`, `-o /dev/stdout > f 2>&1`) would write over them, or
    # they over it. Stdout itself ("-") shares stderr's file the way a shell shares it: in turn.
    messages = _stderr_identity()
    for sink in sinks:
        if messages is not None and sink.path not in (None, "-") and file_identity(sink.path) == messages:
            raise UsageError(f"{sink.name} is where the messages on stderr go: give the output a file of its own (or send stderr elsewhere)")


def _check_outside(sinks: Sequence[Sink], directory: str | os.PathLike) -> None:
    """Raises UsageError if an output would be written inside the input ``directory`` (a
    model's: a new file there changes what loads, and what its cache is keyed on)."""
    inside = os.path.join(os.path.realpath(directory), "")
    for sink in sinks:
        if sink.path not in (None, "-") and os.path.join(os.path.realpath(sink.path), "").startswith(inside):
            raise UsageError(f"{sink.name} is inside the input {os.fsdecode(directory)}: write outputs outside the model directory")


def _stderr_identity() -> tuple | None:
    """``file_identity`` of this process's stderr (None for a terminal or /dev/null, or none)."""
    try:
        return _identity(os.fstat(2))
    except OSError:
        return None
