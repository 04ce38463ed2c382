"""Ctrl-C and SIGTERM: both unwind the program (partial outputs removed, results files keep
their complete rows) and end it with one line and the documented exit code."""

from __future__ import annotations

import signal

INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
TERMINATED = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it unwinds as after Ctrl-C."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, with the one line to say about it (where the rows so far are)."""

    def __init__(self, message: str, terminated: bool):
        super().__init__(message)
        self.terminated = terminated


def interrupted(cause: KeyboardInterrupt, message: str) -> Interrupted:
    """``cause`` (Ctrl-C or SIGTERM) to be re-raised saying ``message`` in place of the usual line."""
    return Interrupted(message, isinstance(cause, Terminated) or getattr(cause, "terminated", False))


def install() -> None:
    """SIGTERM and Ctrl-C (SIGINT) unwind the ``movinet`` program once: the first raises
    (Terminated or KeyboardInterrupt) where the program is; those that follow while it unwinds
    are ignored, so that the cleanup it runs (a recording finished, partial files removed) is
    not itself cut short. GNU ``timeout`` and process managers signal the process, then its
    group: the second signal came mid-cleanup and left a recording as a hidden partial file."""
    signal.signal(signal.SIGTERM, _first)
    signal.signal(signal.SIGINT, _first)


def _first(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
