"""``movinet live``: a camera, file or stream classified as it plays, in a window or on the terminal."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from ..options import ModelOptions, ReadOptions, RunOptions
from ..output import printable
from .params import (
    FiniteFloat,
    check_precision,
    engine_option,
    fps_option,
    labels_option,
    model_inputs,
    precision_option,
    quiet_option,
    size_option,
    verbose_option,
)
from .progress import load_model, notices

if TYPE_CHECKING:
    from ..classify import Classifier


@click.command(short_help="Classify a camera, video file or stream live.")
@click.argument("source", default="0")
@click.option(
    "--model", "-m", default=None,
    help="A stream model: registry name, URL or SavedModel directory.  [default: the largest downloaded stream "
    "variant that keeps up on this machine, measured once; a5-stream if none is downloaded]",
)
@engine_option
@precision_option
@labels_option
@click.option("--window/--no-window", default=None, help="Show a window, or print to the terminal.  [default: window if a display is available]")
@click.option(
    "--format", "-f", "output_format", type=click.Choice(("text", "jsonl")), default="text", show_default=True,
    help="Without a window: text prints a line when the top label changes, jsonl every step.",
)
@click.option("--top-k", "-k", type=click.IntRange(min=1), default=RunOptions.top_k, show_default=True, help="Labels shown.")
@click.option("--smoothing", type=FiniteFloat(0, 1, max_open=True), default=0.0, show_default=True, help="Moving average of probabilities: weight of the past (0 = off).")
@click.option(
    "--min-probability", "--threshold", "min_probability", type=FiniteFloat(0, 1), default=RunOptions.min_probability, show_default=True,
    help="Below this probability the label is 'no clear action' (--threshold is its old name).",
)
@click.option("--as-fast-as-possible", is_flag=True, help="Read a file as fast as the model goes, classifying every frame due, instead of at its own speed.")
@click.option("--record", type=click.Path(dir_okay=False), default=None, help="Save the annotated video to this file.")
@fps_option
@size_option
@quiet_option
@verbose_option
def live(source, model, engine, precision, labels, window, output_format, top_k, smoothing, min_probability, as_fast_as_possible, record, fps, size, quiet, verbose):
    """Classify a camera, video file or stream live, frame by frame.

    SOURCE is a camera index (default 0), a video file, or a stream URL (rtsp://, http://).
    Without --model, live runs the largest downloaded stream variant that classifies
    frames 1.5 times as fast as they come on this machine (measured on blank frames once per
    machine and model, and remembered), and says which and why. In a window: q or Esc quits,
    r resets the model's memory. Without a display (or with
    --no-window) a line is printed whenever the top label changes. Each model step takes every
    frame due since the previous one, so the model sees the video at its own frame rate; only
    a backlog of more than a second is dropped, so it never lags far behind the camera.

    \b
    Examples:
      movinet live
      movinet live 1 --model a0-stream --smoothing 0.8
      movinet live rtsp://camera.local/stream --no-window --format jsonl
      movinet live match.mp4 --record annotated.mp4
    """
    from ..capture import open_capture
    from ..encoding import check_video_output
    from ..files import check_output_path
    from ..live import LiveSession, display_problem
    from ..sinks import OutputPath, check_outputs

    check_precision(engine, precision)
    if record:
        outputs = [OutputPath("--record", record, check=lambda: (check_output_path(record, "--record"), check_video_output(record)))]
        outputs += [OutputPath(f"the {output_format} output", "-")] if window is False else []
        check_outputs(outputs, inputs=[*(path for path in (source, labels) if path and os.path.exists(path)), *model_inputs(ModelOptions(model=model))])
    problem = display_problem()
    if window and problem and not quiet:
        click.echo(f"note: no window ({problem}): printing to the terminal instead", err=True)
    window = (window is not False) and problem is None
    read = ReadOptions(fps=fps, size=size)
    opened = open_capture(source)
    try:
        load = ModelOptions(model=model, mode="stream", engine=engine, precision=precision, labels=labels)
        classifier = _live_model(load, read, quiet, verbose)
    except BaseException:
        opened.close()
        raise
    session = LiveSession(
        classifier, opened, realtime=not as_fast_as_possible, smoothing=smoothing, min_probability=min_probability,
        top_k=min(top_k, len(classifier.labels)), record=record, read=read,
    )
    try:
        with session:
            if window:
                from ..window import show

                show(session)
            else:
                _print_updates(session, output_format)
    finally:
        if session.failure:
            raise click.ClickException(printable(session.failure))
    if not quiet:
        click.echo(printable(f"live: {session.summary}"), err=True)


def _live_model(load: ModelOptions, read: ReadOptions, quiet: bool, verbose: bool):
    """Loads the live model. With ``load.model`` None: the largest downloaded stream variant
    that keeps up here (``pace.pick``; each variant measured once per machine, remembered),
    said in one notice; ``pace.LIVE_DEFAULT`` when none is downloaded (never a download of
    several). A model named, or the default, runs as asked, with one warning line if it
    cannot keep up, naming a downloaded variant known to keep up."""
    import dataclasses

    from .. import pace
    from ..models import is_cached

    book, say = pace.Measurements(), notices(quiet)
    loaded: dict[str, Classifier] = {}  # the model measured last, kept for the session if it is the one chosen

    def load_named(name: str):
        loaded.clear()  # one model in memory at a time
        loaded[name] = load_model(dataclasses.replace(load, model=name), quiet, verbose, command="live")
        return loaded[name]

    def timing(variant, classifier=None) -> tuple[float, float]:
        """(seconds per frame, frames/s) of a registry variant at the session's size and rate."""
        variant_read = read.for_model(variant.fps, variant.size)  # the variant's own where none is asked for
        size, fps = variant_read.size, variant_read.fps
        measured = book.get(variant.name, size, load.engine, load.precision)
        how = f"remembered from {measured.measured_at}" if measured else "measured now"
        if measured is None:
            seconds = pace.measure(classifier or load_named(variant.name), size, fps)
            measured = book.remember(variant.name, size, load.engine, load.precision, seconds)
        if verbose:
            click.echo(printable(f"pace: {pace.verdict(variant.name, measured.seconds_per_frame, fps)} ({how})"), err=True)
        return measured.seconds_per_frame, fps

    available = [variant for variant in pace.stream_variants() if is_cached(variant.url)]
    if load.model is None and available:
        if book.damaged and verbose:
            click.echo(printable(f"pace: {book.path} is not a valid measurements file; measuring again"), err=True)
        choice = pace.pick(available, timing)
        _say(say, verbose, f"live: {choice.reason}")
        return loaded.get(choice.name) or load_named(choice.name)
    if load.model is None:
        _say(say, verbose, (
            f"live: {pace.LIVE_DEFAULT}, the default: no stream model is downloaded yet to measure and choose from "
            "(`movinet models --prepare a3-stream a0-stream` gives live smaller ones)"
        ))
        load = dataclasses.replace(load, model=pace.LIVE_DEFAULT)
    classifier = load_model(load, quiet, verbose, command="live")
    reading, variant = classifier.reading(read), classifier.source.variant
    if variant is not None and classifier.source.handle == variant.url:  # a registry model: remembered
        seconds, fps = timing(variant, classifier)
    else:  # another model: measured now, not remembered (its directory may hold another model next time)
        seconds, fps = pace.measure(classifier, reading.size, reading.fps), reading.fps
        if verbose:
            click.echo(printable(f"pace: {pace.verdict(classifier.source.name, seconds, fps)} (measured now)"), err=True)
    if not pace.keeps_up(seconds, fps):
        known = [v.name for v in available if v.name != classifier.source.name and _known_to_keep_up(book, v, read, load)]
        better = f"; {known[0]} keeps up here (--model {known[0]})" if known else ""
        _say(say, True, f"warning: {pace.verdict(classifier.source.name, seconds, fps)}: it cannot keep up, due frames will be dropped{better}")
    return classifier


def _known_to_keep_up(book, variant, read: ReadOptions, load: ModelOptions) -> bool:
    """Whether a remembered measurement says ``variant`` keeps up at the session's size and rate."""
    from .. import pace

    read = read.for_model(variant.fps, variant.size)
    measured = book.get(variant.name, read.size, load.engine, load.precision)
    return measured is not None and pace.keeps_up(measured.seconds_per_frame, read.fps)


def _say(say, anyway: bool, message: str) -> None:
    """``message`` as a notice; with --quiet (``say`` None) only if ``anyway`` (--verbose
    asks for it, or it is a warning)."""
    if say:
        say(printable(message))
    elif anyway:
        click.echo(printable(message), err=True)


def _print_updates(session, output_format: str) -> None:
    """Every update as a JSON line, or a line when the top label changes."""
    label = None
    for update in session.follow():
        if output_format == "jsonl":
            click.echo(json.dumps(update.to_dict(), ensure_ascii=False))
        elif update.label != label:
            probability = update.predictions[0].probability
            click.echo(f"{update.time_s:8.1f} s  {printable(update.label)}  ({probability:.0%})")
        label = update.label

