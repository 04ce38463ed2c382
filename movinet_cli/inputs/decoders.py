"""The processes that decode videos for ``decoding.IsolatedReader``: each one decodes one video
after another (``serve``), and waits between videos in a pool of idle ones (``take``, ``done``).

A process per video cost about 20 ms of CPU a video on a 2-core machine (``benchmarks/per_video.py``),
about as much as decoding a 1-s 640x360 clip: the fork, multiprocessing's start and end in the
child, and the decoder's first use in a new process (OpenCV's and FFmpeg's set-up, a heap to grow).
A process that
decoded a video to its end is kept for the next one instead, ``MAX_VIDEOS`` videos at most
(whatever a decoder does not give back stays bounded). One that did not (it crashed, was
killed by the watchdog, or its video was closed before the end) is ended: it never decodes
another video. A process idle for ``IDLE_S`` seconds ends itself, as does one whose parent died.

A crash in a process that decoded other videos first may come of one of those (a damaged heap
that breaks later): ``IsolatedReader`` then tries the video again in a new process, and only a
crash there is the video's own. Processes forked from the parent itself (the "fork" start
method, which tests use for stand-ins) carry the parent's state of when they started, not
the server's: they decode one video each.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from movinet_cli.errors import VideoError
from movinet_cli.inputs import children
from movinet_cli.inputs.video import VideoReader

if TYPE_CHECKING:
    from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext

    Context = ForkServerContext | SpawnContext | ForkContext

FRAMES_PER_MESSAGE = 8  # frames sent together: fewer, larger messages cost less per frame
MAX_VIDEOS = 100  # videos one process decodes before it is replaced
IDLE_S = 60.0  # an idle process waits this long for its next video, then ends
NAME, IDLE_NAME = "movinet-decode", "movinet-decode-idle"  # a process's name with a video, and idle
_idle: list[Decoder] = []
_idle_lock = threading.Lock()


@dataclass
class Decoder:
    """A decoding process (``serve``) seen from the parent: ``jobs`` the pipe it takes
    videos from, ``messages`` the pipe it sends their frames back through (it holds the only
    writer: its death ends the pipe), ``videos`` how many it was given so far."""

    process: BaseProcess
    context: Context
    jobs: Connection
    messages: Connection
    videos: int = 0

    @classmethod
    def start(cls, context: Context) -> Decoder:
        """A new process of ``context``. Raises OSError if none can be had."""
        jobs, jobs_writer = context.Pipe(duplex=False)
        messages, messages_writer = context.Pipe(duplex=False)
        with jobs, messages_writer:  # after the start, the child holds these ends alone
            try:
                process = context.Process(target=serve, args=(jobs, messages_writer), daemon=True, name=NAME)
                children.start(process)
            except BaseException:
                jobs_writer.close()
                messages.close()
                raise
        return cls(process, context, jobs_writer, messages)

    @property
    def reused(self) -> bool:
        """Whether it decoded other videos before its current one."""
        return self.videos > 1

    def decode(self, opener: Callable[..., VideoReader], target: str, options: dict, messages_ahead: int) -> None:
        """Gives it a video (the arguments of the module's ``decode``). Raises OSError if it is gone."""
        self.videos += 1
        self.process.name = NAME
        self.jobs.send((opener, target, options, messages_ahead))

    def end(self) -> None:
        """Ends the process (see ``children.end``) and closes the pipes."""
        children.end(self.process)
        self.jobs.close()
        self.messages.close()


def take(context: Context) -> Decoder:
    """An idle process of ``context`` that still runs, else a new one (OSError if none can be had)."""
    while True:
        with _idle_lock:
            decoder = _idle.pop() if _idle else None
        if decoder is None:
            return Decoder.start(context)
        if decoder.context is context and decoder.process.is_alive():
            return decoder
        decoder.end()


def done(decoder: Decoder, finished: bool) -> None:
    """Takes ``decoder`` back after a video: kept for the next one if it ``finished`` it (sent
    its last message), may be reused (not forked from the parent itself, fewer than
    ``MAX_VIDEOS`` videos) and the pool has room; else ended."""
    reusable = decoder.context.get_start_method() != "fork" and decoder.videos < MAX_VIDEOS
    if finished and reusable:
        decoder.process.name = IDLE_NAME
        with _idle_lock:
            if len(_idle) < (os.cpu_count() or 1) + 2:  # as many as a batch decodes at once
                _idle.append(decoder)
                return
    decoder.end()


def release() -> None:
    """Ends the idle decoding processes and the watchdog's thread: a program that is done
    with videos for a while may call it (they would end by themselves: see the module's
    docstring); the next video starts them again."""
    with _idle_lock:
        idle = _idle[:]
        _idle.clear()
    for decoder in idle:
        decoder.end()
    children.WATCHDOG.stop()


def serve(jobs: Connection, messages: Connection) -> None:
    """In the child: decodes each video that ``jobs`` brings (``decode``) into ``messages``,
    until the parent closes ``jobs`` or dies, or nothing comes for ``IDLE_S`` seconds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            if not jobs.poll(IDLE_S):
                return
            opener, target, options, messages_ahead = jobs.recv()
        except (EOFError, OSError):  # the parent ended this process's pipe, or died
            return
        decode(opener, target, options, messages, messages_ahead)


def decode(opener: Callable[..., VideoReader], path: str, options: dict, pipe: Connection, messages_ahead: int) -> None:
    """In the child: opens ``path`` with ``opener`` and sends ``("info", VideoInfo)``, then
    ``("frames", [(time_s, uint8 RGB frame), ...])`` (up to ``FRAMES_PER_MESSAGE`` at a time),
    then ``("stats", DecodeStats)`` and ``("end", None)``, or ``("error", reason)`` where it
    fails. A thread sends while decoding goes on, up to ``messages_ahead`` messages ahead;
    the process ends at once if the parent stops reading (it closed the pipe, or died)."""
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
