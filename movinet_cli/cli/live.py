"""``movinet live``: a camera, file or stream classified as it plays, in a window or on the terminal."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from movinet_cli.cli.params import (
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
from movinet_cli.cli.progress import load_model, notices
from movinet_cli.options import ModelOptions, ReadOptions, RunOptions
from movinet_cli.text import printable

if TYPE_CHECKING:
    from movinet_cli.outcomes.pipeline import Classifier


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
    from movinet_cli.commands.live import LiveSession
    from movinet_cli.files import check_output_path
    from movinet_cli.inputs.capture import open_capture
    from movinet_cli.outputs.display import display_problem
    from movinet_cli.outputs.encoding import check_video_output
    from movinet_cli.outputs.same_file import check_outputs
    from movinet_cli.outputs.sinks import OutputPath

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
                from movinet_cli.outputs.display import show

                show(session)
            else:
                _print_updates(session, output_format)
    finally:
        if session.failure:
            raise click.ClickException(printable(session.failure))
    if not quiet:
        click.echo(printable(f"live: {session.summary}"), err=True)


def _live_model(load: ModelOptions, read: ReadOptions, quiet: bool, verbose: bool) -> Classifier:
    """``pace.live_classifier``, its choice said in one notice (with --quiet, only if
    --verbose), its measurements with --verbose, a model that cannot keep up in a warning."""
    from movinet_cli.commands import pace

    say = notices(quiet)

    def echo(message: str) -> None:
        click.echo(printable(message), err=True)

    return pace.live_classifier(
        load, read, lambda options: load_model(options, quiet, verbose, command="live"),
        notice=lambda message: _say(say, verbose, message), detail=echo if verbose else None, warn=lambda message: _say(say, True, message),
    )


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

