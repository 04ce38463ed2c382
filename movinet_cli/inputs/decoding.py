"""Decoding a video in a child process, so that a native crash costs one video, not the run.

Decoders are native code fed with files from anywhere; a crafted or damaged file can crash
one (a segmentation fault kills the whole process, with no error row and no summary). An
``IsolatedReader`` runs a ``VideoReader`` in a child process that sends its frames back
through a one-way pipe: the child decodes ahead of the model (up to ``ahead`` frames, so
decoding overlaps inference), and its death, even half-way through a message, reaches the
parent as the end of the pipe and becomes a VideoError for that video.

Children are forked from a small server process (multiprocessing's ``forkserver``) that has
imported OpenCV once, so a child starts in milliseconds and holds none of the parent's model
memory or threads; one that decoded a video to its end decodes the next one too, and one that
decoded others before and dies is replaced for a second try (``decoders``). A child ends when
the parent ends it or dies (even by SIGKILL): its next write, or its wait for a video, fails.

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
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from movinet_cli import environment
from movinet_cli.errors import MovinetError, VideoError
from movinet_cli.inputs import children, decoders, sources
from movinet_cli.inputs.decoders import FRAMES_PER_MESSAGE
from movinet_cli.inputs.frames import to_unit_range
from movinet_cli.inputs.video import DecodeStats, VideoInfo, VideoReader

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
    names the signal) or stops making progress; the child is stopped by ``close()``, or kept
    for another video if it finished this one (``decoders``).
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
        self._decoder: decoders.Decoder | None = None
        self._finished = False  # the decoder sent its last message for this video
        self._delivered = 0  # frames handed out
        self._position = 0  # frames the current decoder sent (after a ``_retry``, those up to ``_delivered`` are passed over)
        self._retried = False
        try:
            opening = self._files.enter_context(sources.opened(path))  # the common failures, without a child
            self._job = (opener, opening.target, {**options, **opening.reader_options()}, -(-ahead // FRAMES_PER_MESSAGE))
            self._start()
            kind, payload = self._receive()
        except BaseException:
            self.close()
            raise
        if kind == "error":
            self.close()
            raise VideoError(self.path, payload)
        self._info = payload

    def _start(self, new: bool = False) -> None:
        """Gives the video to a decoding process: an idle one (``decoders.take``), or a
        ``new`` one, as also when the idle one has ended meanwhile. VideoError if no process
        or pipe can be had (too many open files, ...)."""
        try:
            self._decoder = decoder = decoders.Decoder.start(children.decoding_context()) if new else decoders.take(children.decoding_context())
            try:
                decoder.decode(*self._job)
            except OSError:
                if not decoder.reused:
                    raise
                decoder.end()
                self._decoder = None
                self._start(new=True)
        except OSError as error:
            raise VideoError(self.path, f"cannot start a decoding process: {error.strerror or error}") from None

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

    def _running(self) -> decoders.Decoder:
        """The decoder of the video; VideoError once closed."""
        if self._decoder is None:
            raise VideoError(self.path, "read after the reader was closed")
        return self._decoder

    def _receive(self) -> tuple[str, Any]:
        """The child's next message; VideoError if it died before sending one whole, or
        sent nothing for the watchdog's limit: the watchdog then kills it (also when it
        stopped half-way through a message, where the parent's read would wait for ever).
        A decoder that decoded other videos first and dies is replaced once (``_retry``)."""
        decoder = self._running()
        limit_s = self._stall_limit_s()
        pid = decoder.process.pid
        assert pid is not None  # started by decoders.Decoder.start
        with children.WATCHDOG.watching(pid, limit_s) as watch:
            message = self._next_message()
        if watch.killed:
            limit = f"{limit_s:.0f}" if limit_s >= 10 else f"{limit_s:.1f}"
            raise VideoError(
                self.path,
                f"the decoder stopped making progress for {limit} s (stuck on a damaged file, or stopped) and was killed; "
                f"{environment.DECODER_STALL_S} sets this limit",
            )
        if message is None and decoder.reused and not self._retried:
            self._retry()
            return self._receive()
        if message is None:
            raise VideoError(self.path, f"the decoder crashed on this file ({children.exit_reason(decoder.process.exitcode)}); it may be corrupt or crafted")
        self._finished = message[0] in ("end", "error")
        return message

    def _retry(self) -> None:
        """After the death of a decoder that decoded other videos before this one (where
        the cause may lie): the video again, from its start, in a new process, whose frames
        already handed out are passed over."""
        self._running().end()
        self._decoder = None
        self._retried, self._received_frames, self._position = True, False, 0
        self._start(new=True)

    def _next_message(self) -> tuple[str, Any] | None:
        """The child's next message (unpickled: a kind and its payload, see
        ``decoders.decode``), or None if it ended without sending one whole."""
        decoder = self._running()
        child, pipe = decoder.process, decoder.messages
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
                    self._position += 1
                    if self._position > self._delivered:  # not handed out by a decoder before
                        self._delivered += 1
                        yield time_s, to_unit_range(frame)
            elif kind == "stats":
                self.stats = payload
            elif kind == "end":
                return
            elif kind == "error":
                raise VideoError(self.path, payload)

    def close(self) -> None:
        """Stops the child if it still decodes this video, else keeps it for another
        (``decoders.done``), and releases the pipe; idempotent."""
        if self._decoder is not None:
            decoders.done(self._decoder, self._finished)
        self._decoder = None
        self._files.close()

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_prefetched: tuple[tuple, IsolatedReader] | None = None  # (its path and options, the reader) that ``prefetch`` started
_prefetched_lock = threading.Lock()


def prefetch(path: str, *, ahead: int, **options) -> None:
    """Starts reading the file ``path`` now, as ``IsolatedReader(path, ahead=ahead, **options)``
    would, for ``reader`` to hand out when a reader of the same path and options is asked for:
    a one-shot run then decodes its video while it imports and loads its model. One at a
    time (another replaces it). Best effort: a file that cannot be opened is left for the
    reader asked for to report."""
    global _prefetched
    drop_prefetched()
    try:
        started = IsolatedReader(path, ahead=ahead, **options)
    except MovinetError:  # said when the video is opened for the run
        return
    with _prefetched_lock:
        _prefetched = ((path, options), started)


def reader(path: str | os.PathLike, *, ahead: int, **options) -> IsolatedReader:
    """``IsolatedReader(path, ahead=ahead, **options)``: the one ``prefetch`` started where
    it has this path and these options (decoding ``ahead`` of its own), else a new one."""
    global _prefetched
    with _prefetched_lock:
        taken = _prefetched if _prefetched is not None and _prefetched[0] == (path, options) else None
        if taken:
            _prefetched = None
    return taken[1] if taken else IsolatedReader(path, ahead=ahead, **options)


def drop_prefetched() -> None:
    """Closes the reader that ``prefetch`` started, if nothing took it."""
    global _prefetched
    with _prefetched_lock:
        dropped, _prefetched = _prefetched, None
    if dropped:
        dropped[1].close()
