"""Our child processes (a decoder per video, the OpenVINO conversion): how they start, end
and are told about.

Both are ``multiprocessing`` children. They start with the user's ``__main__`` hidden, so
that a script is not run again in each of them; they are ended with SIGKILL and reaped, so
that none is left behind (stopped or busy in native code included); and how one died is
said in words in the error it becomes. ``WATCHDOG`` kills one that a wait has gone on for
too long.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.machinery
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@contextlib.contextmanager
def main_module_hidden() -> Iterator[None]:
    """While a child (or multiprocessing's fork server) starts, ``__main__`` looks like a
    package's ``__main__``, which multiprocessing does not run again in the child. The child
    needs nothing from it, and running a user's script again in every child would redo its
    work (or, in a script without an ``if __name__ == "__main__":`` guard, start children
    from children)."""
    main = sys.modules["__main__"]
    stand_in = types.ModuleType("__main__")
    stand_in.__spec__ = importlib.machinery.ModuleSpec("movinet_cli.__main__", None)
    sys.modules["__main__"] = stand_in
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@functools.cache
def decoding_context() -> multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext:
    """The ``multiprocessing`` context that decoding children start in: forked from a small
    server (``forkserver``) that has imported ``inputs.decoding`` (OpenCV and NumPy) once, where
    the platform has one, else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["movinet_cli.inputs.decoding"])
        return context
    return multiprocessing.get_context("spawn")


def start_server() -> None:
    """Starts the server that decoding children are forked from (where this platform has
    one), if it does not run yet, without waiting for it: its start-up (a new interpreter
    importing OpenCV and NumPy) then overlaps the caller's own work, such as its imports and
    loading a model, instead of delaying the first video. Light: this module imports neither.
    Best effort: a server that cannot start (OSError: the working directory gone, say) is
    left for the first video to report."""
    if decoding_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with contextlib.suppress(OSError), main_module_hidden():  # as when a child starts: the server imports no __main__
            forkserver.ensure_running()


def start(child: BaseProcess) -> None:
    """Starts ``child`` with the user's ``__main__`` hidden (see ``main_module_hidden``)."""
    with main_module_hidden():
        child.start()


def exit_reason(exitcode: int | None) -> str:
    """How a child ended, in words: ``"killed by SIGSEGV"``, ``"killed by SIGKILL, perhaps
    out of memory"`` (what the kernel's out-of-memory killer sends), ``"killed by signal
    N"`` for a signal without a name here, ``"exit code N"``."""
    if exitcode is None or exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f"killed by signal {-exitcode}"
    return f"killed by {name}" + (", perhaps out of memory" if name == "SIGKILL" else "")


def end(child: BaseProcess) -> None:
    """Kills ``child`` if it still runs (SIGKILL, which ends a stopped child too), waits for
    it (no zombie is left) and releases its resources. One never started is left as it is."""
    if child.pid is None:
        return
    if child.is_alive():
        child.kill()
    child.join()
    child.close()


def end_with_parent(parent_pid: int) -> None:
    """In a child: ends this process when its parent dies without the chance to end it
    (SIGKILL, a crash). On Linux the kernel sends SIGKILL (PR_SET_PDEATHSIG): a watching
    thread would not run while native code (OpenVINO's converter) holds the GIL, for
    minutes. Elsewhere, that thread."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # it died before the request took effect
            os._exit(1)
    else:
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


@dataclass
class Watch:
    """What ``Watchdog.watching`` did: ``killed`` the process (known once the block ends)."""

    killed: bool = False


class Watchdog:
    """Kills a process (SIGKILL) when a wait on it lasts too long (``watching``): one thread
    for every wait of this process, where a ``threading.Timer`` per wait would start a thread
    each time (milliseconds on a busy machine, for each message of each video)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._deadlines: dict[int, tuple[float, int]] = {}  # token: (time.monotonic() deadline, pid)
        self._fired: set[int] = set()  # tokens whose process was killed
        self._tokens = itertools.count()
        self._wake_at: float | None = None  # when the thread looks next (None: when told)
        self._thread_pid = 0  # the process whose thread runs (none runs in a forked child)
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self, pid: int, limit_s: float) -> Iterator[Watch]:
        """Kills ``pid`` if the block lasts more than ``limit_s`` seconds; yields a ``Watch``
        that tells, after the block, whether it did."""
        deadline = time.monotonic() + limit_s
        with self._changed:
            if self._thread_pid != os.getpid():
                self._thread_pid = os.getpid()
                self._thread = threading.Thread(target=self._run, daemon=True, name="movinet-watchdog")
                self._thread.start()
            token = next(self._tokens)
            self._deadlines[token] = (deadline, pid)
            if self._wake_at is None or deadline < self._wake_at:
                self._changed.notify()
        watch = Watch()
        try:
            yield watch
        finally:
            with self._changed:
                self._deadlines.pop(token, None)
                watch.killed = token in self._fired
                self._fired.discard(token)

    def stop(self) -> None:
        """Ends this process's thread once nothing is watched (the next wait starts another)."""
        with self._changed:
            thread, self._thread = self._thread, None
            if thread is None or self._thread_pid != os.getpid():
                return
            self._thread_pid = 0
            self._changed.notify_all()
        thread.join()

    def _run(self) -> None:
        me = threading.current_thread()
        with self._changed:
            while self._thread is me or self._deadlines:
                now = time.monotonic()
                for token, (deadline, pid) in list(self._deadlines.items()):
                    if deadline <= now:
                        del self._deadlines[token]
                        self._fired.add(token)
                        with contextlib.suppress(OSError):  # not reaped before the wait ends: the pid is still the process's
                            os.kill(pid, signal.SIGKILL)
                self._wake_at = min((deadline for deadline, _ in self._deadlines.values()), default=None)
                self._changed.wait(None if self._wake_at is None else self._wake_at - now)


WATCHDOG = Watchdog()
