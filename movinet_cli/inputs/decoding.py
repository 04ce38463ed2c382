"""Decoding a video in a child process, so that a native crash costs one video, not the run.

Decoders are native code fed with files from anywhere; a crafted or damaged file can crash
one (a segmentation fault kills the whole process, with no error row and no summary). An
``IsolatedReader`` runs a ``VideoReader`` in a child process that sends its frames back
through a one-way pipe: the child decodes ahead of the model (up to ``ahead`` frames, so
decoding overlaps inference), and its death, even half-way through a message, reaches the
parent as the end of the pipe and becomes a VideoError for that video.

Children are forked from a small server process (multiprocessing's ``forkserver``) that has
imported OpenCV once, so a child starts in milliseconds and holds none of the parent's model
memory or threads. A child ends when the parent closes the pipe or dies (even by SIGKILL):
its next write fails.

A watchdog kills a child that sends nothing for ``stall_limit_s`` seconds while the parent
waits for it (a decoder stuck in a loop, or stopped), and the video fails with one line:
``WATCHDOG_MIN_S`` (60 s), plus ``WATCHDOG_S_PER_MEGAPIXEL`` per megapixel of every frame the
child may have to decode for one message (the frames between two picked ones, and for the
first message those before ``start_s``), so a 4K file or a late start gets more time. Only the
parent's waiting counts: a child held back because the model is slower is never killed.
``MOVINET_DECODER_STALL_S`` (seconds) or the ``stall_s`` argument replaces the limit.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from movinet_cli import environment
from movinet_cli.errors import VideoError
from movinet_cli.inputs import children, sources
from movinet_cli.inputs.frames import to_unit_range
from movinet_cli.inputs.video import DecodeStats, VideoInfo, VideoReader

FRAMES_PER_MESSAGE = 8  # frames sent together: fewer, larger messages cost less per frame
_POLL_S = 0.1  # how often a waiting parent checks that the child is alive
_EXIT_GRACE_S = 1.0  # how long to wait for the last messages of a child that has exited
WATCHDOG_MIN_S = 60.0  # a decoding child that sends nothing for this long (at least) is stuck
# Decoding a megapixel frame takes about 5 ms on one core; 20x that, for slow codecs and machines.
WATCHDOG_S_PER_MEGAPIXEL = 0.1


def stall_limit_s(info: VideoInfo | None, fps: float | None, start_s: float = 0.0, first: bool = False) -> float:
    """Seconds a decoding child may send nothing before it is taken as stuck (see the module
    docstring): ``info`` the video (None before it is opened), ``fps`` the frame rate asked for,
    ``first`` for the first frames (which may need decoding up to ``start_s`` seconds)."""
    if info is None:
        return WATCHDOG_MIN_S
    source_fps = info.nominal_fps or 60.0  # unknown: assume a high one
    frames = FRAMES_PER_MESSAGE * max(1.0, source_fps / fps if fps else 1.0)
    if first:
        frames += start_s * source_fps
    return WATCHDOG_MIN_S + WATCHDOG_S_PER_MEGAPIXEL * frames * info.width * info.height / 1e6


@functools.cache
def _context() -> multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # OpenCV and NumPy, imported once
        return context
    return multiprocessing.get_context("spawn")


def start_server() -> None:
    """Starts the server that decoding children are forked from (where this platform has
    one), if it does not run yet, without waiting for it: its start-up (a new interpreter
    importing OpenCV and NumPy) then overlaps the caller's own work, such as loading a model,
    instead of delaying the first video."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with children.main_module_hidden():  # as when a child starts: the server imports no __main__
            forkserver.ensure_running()


def _decode(opener: Callable[..., VideoReader], path: str, options: dict, pipe, messages_ahead: int) -> None:
    """In the child: opens ``path`` with ``opener`` and sends ``("info", VideoInfo)``, then
    ``("frames", [(time_s, uint8 RGB frame), ...])`` (up to ``FRAMES_PER_MESSAGE`` at a time),
    then ``("stats", DecodeStats)`` and ``("end", None)``, or ``("error", reason)`` where it
    fails. A thread sends while decoding goes on, up to ``messages_ahead`` messages ahead."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    outbox: queue.Queue = queue.Queue(maxsize=max(1, messages_ahead))

    def send() -> None:
        while True:
            message = outbox.get()
            try:
                pipe.send(message)
            except OSError:  # the parent closed the pipe, or died: nobody wants the frames
                os._exit(0)
            if message[0] in ("end", "error"):
                return

    sender = threading.Thread(target=send, daemon=True, name="movinet-send")
    sender.start()
    try:
        reader = opener(path, **options)
    except VideoError as error:
        outbox.put(("error", error.reason))
    else:
        with reader:
            outbox.put(("info", reader.info))
            batch = []
            try:
                for item in reader.rgb_frames():
                    batch.append(item)
                    if len(batch) == FRAMES_PER_MESSAGE:
                        outbox.put(("frames", batch))
                        batch = []
                ending: tuple[str, str | None] = ("end", None)
            except VideoError as error:
                ending = ("error", error.reason)
            except Exception as error:  # a broken file must not look like a crash
                ending = ("error", f"cannot be decoded: {type(error).__name__}: {error}")
            if batch:
                outbox.put(("frames", batch))
            outbox.put(("stats", reader.stats))
            outbox.put(ending)
    sender.join()


class IsolatedReader:
    """A ``VideoReader`` running in a child process; same ``path``, ``info``, ``stats``,
    ``frames()`` and ``close()``.

    Args:
        path: a VIDEO (``sources``): a file (``/dev/fd/N`` too: the parent resolves it to
            the file), ``-`` for standard input or an http(s) URL (fetched by the parent
            into a temporary file, removed on close), an rtsp(s) stream's URL.
        ahead: frames the child may decode ahead of the consumer (memory: about that many
            uint8 frames, rounded up to whole messages).
        opener: makes the reader in the child: ``VideoReader`` or a picklable stand-in.
        stall_s: seconds without a message after which the child is killed and the video
            fails (default: ``$MOVINET_DECODER_STALL_S``, else scaled to the video, see the
            module docstring).
        **options: ``VideoReader``'s keyword arguments (fps, size, resize, crop_scale, start_s, end_s).

    Raises VideoError if the file cannot be opened, or if the decoder crashes (the error
    names the signal) or stops making progress; the child is stopped by ``close()``.
    """

    def __init__(
        self, path: str | os.PathLike, *, ahead: int, opener: Callable[..., VideoReader] = VideoReader, stall_s: float | None = None, **options
    ):
        self.path = sources.name_of(path)
        self._stall_s = stall_s if stall_s is not None else environment.decoder_stall_s()
        self._options = options
        self._received_frames = False
        self._info: VideoInfo | None = None  # until the child has opened the video
        self.stats = DecodeStats()
        self._files = contextlib.ExitStack()  # what the video was opened as (a download, a link), removed on close
        self._child: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None
        try:
            opening = self._files.enter_context(sources.opened(path))  # the common failures, without a child
            context = _context()
            self._pipe, writer = context.Pipe(duplex=False)
            with writer:  # after the start, the child holds the only writer: its death ends the pipe
                self._child = context.Process(
                    target=_decode,
                    args=(opener, opening.target, {**options, **opening.reader_options()}, writer, -(-ahead // FRAMES_PER_MESSAGE)),
                    daemon=True,
                    name="movinet-decode",
                )
                children.start(self._child)
            kind, payload = self._receive()
        except OSError as error:  # no process or pipe to be had (too many open files, ...)
            self.close()
            raise VideoError(self.path, f"cannot start a decoding process: {error.strerror or error}") from None
        except BaseException:
            self.close()
            raise
        if kind == "error":
            self.close()
            raise VideoError(self.path, payload)
        self._info = payload

    @property
    def info(self) -> VideoInfo:
        """What the child found the video to be (known once the reader is made)."""
        assert self._info is not None, "set by __init__ before it returns"
        return self._info

    def _stall_limit_s(self) -> float:
        if self._stall_s is not None:
            return self._stall_s
        options = self._options
        return stall_limit_s(self._info, options.get("fps"), options.get("start_s") or 0.0, first=not self._received_frames)

    def _running(self) -> tuple[multiprocessing.process.BaseProcess, Connection]:
        """The child and the pipe from it; VideoError once closed."""
        if self._child is None or self._pipe is None:
            raise VideoError(self.path, "read after the reader was closed")
        return self._child, self._pipe

    def _receive(self) -> tuple[str, Any]:
        """The child's next message; VideoError if it died before sending one whole, or
        sent nothing for the watchdog's limit: a timer then kills it (also when it stopped
        half-way through a message, where the parent's read would wait for ever)."""
        child, _ = self._running()
        limit_s = self._stall_limit_s()
        stalled = threading.Event()
        pid = child.pid
        assert pid is not None  # started in __init__

        def kill() -> None:
            stalled.set()
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)  # not reaped before close(): the pid is still the child's

        timer = threading.Timer(limit_s, kill)
        timer.daemon = True
        timer.start()
        try:
            message = self._next_message()
        finally:
            timer.cancel()
        if stalled.is_set():
            limit = f"{limit_s:.0f}" if limit_s >= 10 else f"{limit_s:.1f}"
            raise VideoError(
                self.path,
                f"the decoder stopped making progress for {limit} s (stuck on a damaged file, or stopped) and was killed; "
                f"{environment.DECODER_STALL_S} sets this limit",
            )
        if message is None:
            raise VideoError(self.path, f"the decoder crashed on this file ({children.exit_reason(child.exitcode)}); it may be corrupt or crafted")
        return message

    def _next_message(self) -> tuple[str, Any] | None:
        """The child's next message (unpickled: a kind and its payload, see ``_decode``), or
        None if it ended without sending one whole."""
        child, pipe = self._running()
        while not pipe.poll(_POLL_S):
            if not child.is_alive() and not pipe.poll(_EXIT_GRACE_S):
                return None
        try:
            return pipe.recv()
        except (EOFError, OSError):  # the end of the pipe, or "end of file during message"
            child.join(_EXIT_GRACE_S)
            return None

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """Yields ``(time_s, frame)`` as ``VideoReader.frames`` does, then sets ``stats``."""
        while True:
            kind, payload = self._receive()
            if kind == "frames":
                self._received_frames = True
                for time_s, frame in payload:
                    yield time_s, to_unit_range(frame)
            elif kind == "stats":
                self.stats = payload
            elif kind == "end":
                return
            else:
                raise VideoError(self.path, payload)

    def close(self) -> None:
        """Stops the child (if it still runs) and releases the pipe; idempotent."""
        if self._child is not None:
            children.end(self._child)
        self._child = None
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        self._files.close()

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
