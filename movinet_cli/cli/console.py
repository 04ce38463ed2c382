"""What a command shows a person on stderr: its ``Console``.

One console per run lives in click's context (``ctx.obj``), set by the --quiet and --verbose
options (``params.quiet_option``, ``params.verbose_option``); a command reaches it with
``console()``. It prints notices (not with --quiet), details (with --verbose) and failures
(always: a failure is never silent) above any progress bar, makes the progress bars, loads the
model saying what it does, and shows the library's log records (``logging`` under
"movinet_cli": downloads, conversions, an engine's fallback) as notices while the run lasts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click

from movinet_cli.options import ModelOptions, ReadOptions
from movinet_cli.text import printable


def write(message: str) -> None:
    """One line on stderr above any progress bar (tqdm.write redraws the bar)."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)
    sys.stderr.flush()  # keeps the order with click.echo, which writes to the byte stream beneath


@dataclass
class Console:
    """A run's stderr: ``quiet`` (--quiet) hides notices and bars, ``verbose`` (--verbose) shows details."""

    quiet: bool = False
    verbose: bool = False

    def notice(self, message: str) -> None:
        """A line a person may want while the run goes (not with --quiet)."""
        if not self.quiet:
            write(message)

    def detail(self, message: str) -> None:
        """A line for --verbose: which model, engine and precision run, and why."""
        if self.verbose:
            write(message)

    def failure(self, message: str) -> None:
        """A line that is always said: something failed."""
        write(message)

    def bar(self, total: int, desc: str, leave: bool = True, interrupted: str | None = None) -> RunBar:
        """The progress bar of a command over ``total`` videos, to use in a ``with`` block
        (see ``RunBar``); ``interrupted``: the line Ctrl-C or SIGTERM says instead of the usual."""
        return RunBar(total, desc, self, leave, interrupted)

    def video_bars(self) -> VideoBars:
        """A progress bar per video, in seconds of video (see ``VideoBars``)."""
        return VideoBars(self.quiet)

    def fetching(self, max_bytes: int):
        """A context within which VIDEOs from URLs and standard input are fetched at most
        ``max_bytes`` each (--max-download), with a progress bar in bytes (not when quiet)."""
        from movinet_cli.inputs.downloads import Fetching, fetching

        return fetching(Fetching(max_bytes=max_bytes, progress=self._transfer))

    @contextlib.contextmanager
    def _transfer(self, name: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """A bar of bytes fetched for ``name`` (a URL, ``<stdin>``), gone when done."""
        from tqdm import tqdm

        desc = printable("fetching " + (name.rstrip("/").rsplit("/", 1)[-1] or name))
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=True if self.quiet else None, leave=False, file=sys.stderr) as bar:
            yield lambda done: bar.update(done - bar.n)

    def load_model(self, load: ModelOptions, command: str | None = None, read: ReadOptions | None = None, labels_needed: bool = True):
        """Loads the model (``loading.load_classifier``; its downloads and conversions are
        notices), with --verbose which model, engine and precision run and why, and how long
        loading took. ``read``, the command's, is checked against the model now (a MODEL_DIR
        refuses another --resize than its own: ``Classifier.reading``), before any output file
        is made, and the server that decoding children fork from starts first, so that its start
        overlaps the load. ``labels_needed``: see ``load_classifier``."""
        from movinet_cli.inputs.children import start_server
        from movinet_cli.outcomes.loading import load_classifier

        if read is not None:  # videos will be read
            start_server()
        began = time.perf_counter()
        classifier = load_classifier(**dataclasses.asdict(load), command=command, labels_needed=labels_needed)
        if read is not None:
            classifier.reading(read)
        self.detail(f"model: {classifier.source.name} ({classifier.source.handle}), loaded in {time.perf_counter() - began:.1f} s")
        self.detail(f"engine: {classifier.model.engine} ({classifier.engine_reason})")
        self.detail(f"precision: {classifier.model.precision} ({classifier.model.precision_reason})")
        if self.verbose:
            self.detail(f"expected: {_expected_pace(classifier, load)}")
        return classifier

    def report_writer(self, source: str = ""):
        """A ``write(path, records)`` for ``writers.ReportSink``: the HTML report with a
        progress bar while pictures are decoded, then one line saying where it went."""

        def write_with_bar(path: str, records: list) -> None:
            from tqdm import tqdm

            from movinet_cli.outputs.report import write_report

            with tqdm(total=len(records), unit="video", desc="report", disable=True if self.quiet else None, leave=False, file=sys.stderr) as bar:
                def progress(done: int, total: int) -> None:
                    bar.update(done - bar.n)

                summary = write_report(path, records, source=source, progress=progress)
            self.notice(f"report: {summary}")

        return write_with_bar


class _LibraryLog(logging.Handler):
    """The library's log records (INFO and above under "movinet_cli") as a console's notices."""

    def __init__(self, console: Console):
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.notice(printable(record.getMessage()))


def console() -> Console:
    """The console of the command running (made, and the library's log shown through it, the
    first time a context asks)."""
    return of_context(click.get_current_context())


def of_context(ctx: click.Context) -> Console:
    """``ctx``'s console: its own or an enclosing context's, else a new one that shows the
    library's log until ``ctx`` closes."""
    found = ctx.find_object(Console)
    if found is not None:
        return found
    made = ctx.ensure_object(Console)
    library = logging.getLogger("movinet_cli")
    handler, before = _LibraryLog(made), (library.level, library.propagate)
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    library.propagate = False  # shown here once, not again by a handler the caller may have on the root

    def restore() -> None:
        library.removeHandler(handler)
        library.setLevel(before[0])
        library.propagate = before[1]

    ctx.call_on_close(restore)
    return made


def _expected_pace(classifier, load: ModelOptions) -> str:
    """The model's remembered seconds per minute of video on this machine, in words."""
    from movinet_cli.commands.pace import Measurements

    variant = classifier.source.variant
    if variant is None or classifier.source.handle != variant.url:
        return "no measurement on this machine (measurements are remembered for registry models)"
    measured = Measurements().get(variant.name, variant.size, load.engine, load.precision)
    if measured is None:
        return f"{variant.name} was not measured on this machine yet (`movinet live --model {variant.name}` measures it)"
    return f"about {measured.seconds_per_minute(variant.fps):.0f} s of model time per minute of video on this machine (measured {measured.measured_at})"


class RunBar:
    """The tqdm bar on stderr of a command over ``total`` videos (none when ``quiet``):
    ``showing(path)`` names the video running beside it, ``done(path, error)`` advances it and
    names a video that failed above it as it fails (even when ``quiet``: a failure is never
    silent), ``close`` ends it. As a context manager it closes on the way out, and Ctrl-C or
    SIGTERM in the block says ``interrupted`` (where the work so far is) if given."""

    def __init__(self, total: int, desc: str, console: Console, leave: bool = True, interrupted: str | None = None):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="video", desc=desc, disable=True if console.quiet else None, leave=leave, file=sys.stderr)
        self.console, self.interrupted = console, interrupted

    def __enter__(self) -> RunBar:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        from movinet_cli.cli.interrupts import interrupted

        self.close()
        if self.interrupted and isinstance(error, KeyboardInterrupt):
            raise interrupted(error, printable(self.interrupted)) from None

    def showing(self, path: str, refresh: bool = True) -> None:
        self.bar.set_postfix_str(printable(path), refresh=refresh)

    def done(self, path: str, error: str = "") -> None:
        if error:
            self.console.failure(printable(f"Error: {path}: {error}"))
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class VideoBars:
    """A tqdm bar on stderr per video, in seconds of video, hidden when stderr is not a
    terminal: ``start`` one, ``update`` it (``classify``'s progress), ``close`` it. Once the
    first window (or chunk) is done, it says the time left at the pace measured so far."""

    def __init__(self, quiet: bool):
        self.quiet, self.began = quiet, 0.0
        self.bar: Any = None  # the tqdm bar of the video running, if any

    def start(self, name: str) -> None:
        from tqdm import tqdm

        self.close()
        bar_format = "{l_bar}{bar}| {n:.1f}/{total_fmt} s video [{elapsed}{postfix}]"  # total "?" until known; postfix: ", <time left>"
        self.bar = tqdm(
            desc=printable(os.path.basename(name)), unit="s", disable=True if self.quiet else None, leave=False, file=sys.stderr,
            bar_format=bar_format, postfix="time left after the first window",
        )
        self.began = time.monotonic()

    def update(self, done_s: float, total_s: float | None) -> None:
        from tqdm import tqdm

        from movinet_cli.commands.pace import remaining_s

        if self.bar is None:
            return
        if total_s and self.bar.total != total_s:
            self.bar.total = total_s
        self.bar.n = min(done_s, total_s or done_s)
        left = remaining_s(done_s, total_s, time.monotonic() - self.began)
        if left is not None:
            self.bar.set_postfix_str(f"about {tqdm.format_interval(left)} left", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
