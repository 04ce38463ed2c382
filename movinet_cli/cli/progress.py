"""What the commands show on stderr while they work: notices, progress bars, the model loaded."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any

import click

from movinet_cli.options import ModelOptions, ReadOptions
from movinet_cli.text import printable


def notices(quiet: bool):
    """A callable printing one notice line on stderr above any progress bar (tqdm.write
    redraws the bar), or None when ``quiet``."""
    from tqdm import tqdm

    def notice(message: str) -> None:
        tqdm.write(message, file=sys.stderr)
        sys.stderr.flush()  # keeps the order with click.echo, which writes to the byte stream beneath

    return None if quiet else notice


def load_model(load: ModelOptions, quiet: bool, verbose: bool, command: str | None = None, read: ReadOptions | None = None):
    """Loads the model (``loading.load_classifier``) saying what it does, and with
    ``verbose`` which model, engine and precision run and why, and how long loading took.
    ``read``, the command's, is checked against the model now (a MODEL_DIR refuses another
    --resize than its own: ``Classifier.reading``), before any output file is made."""
    from movinet_cli.outcomes.loading import load_classifier

    began = time.perf_counter()
    classifier = load_classifier(**dataclasses.asdict(load), log=notices(quiet), command=command)
    if read is not None:
        classifier.reading(read)
    if verbose:
        click.echo(f"model: {classifier.source.name} ({classifier.source.handle}), loaded in {time.perf_counter() - began:.1f} s", err=True)
        click.echo(f"engine: {classifier.model.engine} ({classifier.engine_reason})", err=True)
        click.echo(f"precision: {classifier.model.precision} ({classifier.model.precision_reason})", err=True)
        click.echo(f"expected: {_expected_pace(classifier, load)}", err=True)
    return classifier


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
    silent), ``close`` ends it."""

    def __init__(self, total: int, desc: str, quiet: bool, leave: bool = True):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="video", desc=desc, disable=True if quiet else None, leave=leave, file=sys.stderr)
        self._say = notices(False)

    def showing(self, path: str, refresh: bool = True) -> None:
        self.bar.set_postfix_str(printable(path), refresh=refresh)

    def done(self, path: str, error: str = "") -> None:
        if error and self._say:
            self._say(printable(f"Error: {path}: {error}"))
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


def report_writer(quiet: bool, source: str = ""):
    """A ``write(path, records)`` for ``writers.ReportSink``: the HTML report with a progress
    bar while pictures are decoded, then one line saying where it went."""

    def write(path: str, records: list) -> None:
        from tqdm import tqdm

        from movinet_cli.outputs.report import write_report

        with tqdm(total=len(records), unit="video", desc="report", disable=True if quiet else None, leave=False, file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            summary = write_report(path, records, source=source, progress=progress)
        if not quiet:
            click.echo(f"report: {summary}", err=True)

    return write
