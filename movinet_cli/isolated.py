"""Decoding a video in a child process, so that a native crash costs one video, not the run.

Decoders are native code fed with files from anywhere; a crafted or damaged file can crash
one (a segmentation fault kills the whole process, with no error row and no summary). An
``IsolatedReader`` runs a ``VideoReader`` in a child process and hands its frames over a
bounded queue: the child decodes ahead of the model (up to ``ahead`` frames, so decoding
overlaps inference) and a crash in it becomes a VideoError for that video.

Children are forked from a small server process (multiprocessing's ``forkserver``) that has
imported OpenCV once, so a child starts in milliseconds and holds none of the parent's model
memory or threads. A child exits when its parent closes it or dies (even by SIGKILL): it
watches a pipe that only the parent can write to.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import multiprocessing
import os
import queue
import signal
import sys
import threading
import types
from typing import Callable, Iterator

import numpy as np

from .errors import VideoError
from .video import DecodeStats, VideoInfo, VideoReader, check_video_path, to_unit_range

_POLL_S = 0.1  # how often a waiting parent checks that the child is alive
FRAMES_PER_MESSAGE = 8  # frames sent together: fewer, larger messages cost less per frame
_EXIT_GRACE_S = 1.0  # how long to wait for the messages of a child that has just exited


@functools.cache
def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # OpenCV and NumPy, imported once
        return context
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While a child starts, ``__main__`` looks like a package's ``__main__``, which
    multiprocessing does not run again in the child. The child needs nothing from it, and
    running a user's script again in every decoding child would redo its work (or, in a
    script without an ``if __name__ == "__main__":`` guard, start children from children)."""
    main = sys.modules["__main__"]
    stand_in = types.ModuleType("__main__")
    stand_in.__spec__ = importlib.machinery.ModuleSpec("movinet_cli.__main__", None)
    sys.modules["__main__"] = stand_in
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _exit_with_parent(lifeline) -> None:
    """Ends this process as soon as ``lifeline`` (a pipe whose other end only the parent
    holds) reaches its end: the parent closed it, or died. A forkserver child's own parent
    is the server, which outlives a killed client, so its death cannot be the signal."""

    def watch() -> None:
        try:
            lifeline.recv()
        except (EOFError, OSError):
            pass
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="movinet-lifeline").start()


def _decode(opener: Callable[..., VideoReader], path: str, options: dict, messages, lifeline) -> None:
    """In the child: opens ``path`` with ``opener`` and sends ``("info", VideoInfo)``, then
    ``("frames", [(time_s, uint8 RGB frame), ...])`` (up to ``FRAMES_PER_MESSAGE`` at a time),
    then ``("stats", DecodeStats)`` and ``("end", None)``, or ``("error", reason)`` where it
    fails."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent(lifeline)
    try:
        reader = opener(path, **options)
    except VideoError as error:
        messages.put(("error", error.reason))
        return
    with reader:
        messages.put(("info", reader.info))
        batch = []
        try:
            for item in reader.rgb_frames():
                batch.append(item)
                if len(batch) == FRAMES_PER_MESSAGE:
                    messages.put(("frames", batch))
                    batch = []
            ending = ("end", None)
        except VideoError as error:
            ending = ("error", error.reason)
        except Exception as error:  # a broken file must not look like a crash
            ending = ("error", f"cannot be decoded: {type(error).__name__}: {error}")
        if batch:
            messages.put(("frames", batch))
        messages.put(("stats", reader.stats))
        messages.put(ending)


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class IsolatedReader:
    """A ``VideoReader`` running in a child process; same ``path``, ``info``, ``stats``,
    ``frames()`` and ``close()``.

    Args:
        path: video file.
        ahead: frames the child may decode ahead of the consumer (memory: about that many
            uint8 frames, rounded up to whole messages).
        opener: makes the reader in the child: ``VideoReader`` or a picklable stand-in.
        **options: ``VideoReader``'s keyword arguments (fps, size, resize, start_s, end_s).

    Raises VideoError if the file cannot be opened, or if the decoder crashes (the error
    names the signal); the child is stopped by ``close()``.
    """

    def __init__(self, path: str | os.PathLike, *, ahead: int, opener: Callable[..., VideoReader] = VideoReader, **options):
        self.path = check_video_path(path)  # the common failures, without a child
        self.stats = DecodeStats()
        self._closed = False
        context = _context()
        self._messages = context.Queue(maxsize=max(1, -(-ahead // FRAMES_PER_MESSAGE)))
        lifeline, self._lifeline = context.Pipe(duplex=False)
        self._child = context.Process(
            target=_decode, args=(opener, self.path, options, self._messages, lifeline), daemon=True, name="movinet-decode"
        )
        with _main_module_hidden():
            self._child.start()
        lifeline.close()  # the child's copy is the only reader left
        try:
            kind, payload = self._receive()
            if kind == "error":
                raise VideoError(self.path, payload)
        except BaseException:
            self.close()
            raise
        self.info: VideoInfo = payload

    def _receive(self) -> tuple[str, object]:
        """The child's next message; VideoError if it died without one."""
        while True:
            try:
                return self._messages.get(timeout=_POLL_S)
            except queue.Empty:
                if self._child.is_alive():
                    continue
            try:  # it may have sent its last messages just before exiting
                return self._messages.get(timeout=_EXIT_GRACE_S)
            except queue.Empty:
                raise VideoError(
                    self.path, f"the decoder crashed on this file ({_exit_reason(self._child.exitcode)}); it may be corrupt or crafted"
                ) from None

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """Yields ``(time_s, frame)`` as ``VideoReader.frames`` does, then sets ``stats``."""
        while True:
            kind, payload = self._receive()
            if kind == "frames":
                for time_s, frame in payload:
                    yield time_s, to_unit_range(frame)
            elif kind == "stats":
                self.stats = payload
            elif kind == "end":
                return
            else:
                raise VideoError(self.path, payload)

    def close(self) -> None:
        """Stops the child (if it still runs) and frees the queue; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._lifeline.close()
        if self._child.is_alive():
            self._child.kill()
        self._child.join()
        self._child.close()
        self._messages.cancel_join_thread()
        self._messages.close()

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
