"""Our child processes: started without the user's script, said how they died, ended and reaped."""

import multiprocessing
import os
import signal

import pytest

from movinet_cli.inputs import children


@pytest.mark.parametrize(
    "exitcode, words",
    [
        (0, "exit code 0"),
        (1, "exit code 1"),
        (None, "exit code None"),
        (-signal.SIGSEGV, "killed by SIGSEGV"),
        (-signal.SIGKILL, "killed by SIGKILL, perhaps out of memory"),
        (-40, "killed by signal 40"),  # a real-time signal: no name in signal.Signals
    ],
)
def test_how_a_child_ended_in_words(exitcode, words):
    assert children.exit_reason(exitcode) == words


def _stop_self():
    os.kill(os.getpid(), signal.SIGSTOP)


def test_a_stopped_child_is_ended_and_reaped():
    """SIGKILL ends a stopped child (SIGTERM would stay pending until it is continued)."""
    child = multiprocessing.get_context("fork").Process(target=_stop_self, daemon=True)
    child.start()
    pid = child.pid
    children.end(child)
    with pytest.raises(ProcessLookupError):  # reaped, not a zombie
        os.kill(pid, 0)


def _exit_3():
    os._exit(3)


def test_ending_a_child_never_started_does_nothing():
    """Left as it is: not closed (a closed Process cannot start), so it still starts and runs."""
    child = multiprocessing.get_context("fork").Process(target=_exit_3)
    children.end(child)
    assert child.pid is None and child.exitcode is None
    child.start()
    child.join()
    assert child.exitcode == 3


def _sleep():
    import time

    time.sleep(600)


def test_the_watchdog_kills_a_process_that_a_wait_outlasts_and_no_other():
    import time

    context = multiprocessing.get_context("fork")
    slow, quick = (context.Process(target=_sleep, daemon=True) for _ in range(2))
    slow.start()
    quick.start()
    try:
        with children.WATCHDOG.watching(quick.pid, 600) as in_time:
            pass
        with children.WATCHDOG.watching(slow.pid, 0.05) as too_long:
            while slow.is_alive():  # the test's timeout bounds this wait
                time.sleep(0.01)
        assert too_long.killed and slow.exitcode == -signal.SIGKILL
        assert not in_time.killed and quick.is_alive()
    finally:
        children.end(slow)
        children.end(quick)
