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


def terminate(signum, frame):
    """The SIGTERM handler of the ``movinet`` program."""
    raise Terminated()
