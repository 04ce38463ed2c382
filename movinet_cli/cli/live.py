"""``movinet live``: a camera, file or stream classified as it plays, in a window or on the terminal."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import click

from movinet_cli.cli.console import Console, console
from movinet_cli.cli.params import FiniteFloat, frame_options, model_inputs, quiet_option, stream_model_options, verbose_option
from movinet_cli.options import ModelOptions, ReadOptions, RunOptions
from movinet_cli.text import printable

if TYPE_CHECKING:
    from movinet_cli.commands.live import LiveSession
    from movinet_cli.outcomes.pipeline import Classifier


@click.command(short_help="Classify a camera, video file or stream live.")
@click.argument("source", default="0")
@stream_model_options
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
@frame_options
@quiet_option()
@verbose_option
def live(source, load, window, output_format, top_k, smoothing, min_probability, as_fast_as_possible, record, read):
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
    from movinet_cli.inputs.capture import open_capture

    out = console()
    if record:
        _check_record(record, [path for path in (source,) if os.path.exists(path)] + model_inputs(load), output_format if window is False else None)
    window = _window(window, out)
    opened = open_capture(source)
    try:
        classifier = _live_model(load, read, out)
    except BaseException:
        opened.close()
        raise
    session = LiveSession(
        classifier, opened, realtime=not as_fast_as_possible, smoothing=smoothing, min_probability=min_probability,
        top_k=classifier.bounded(RunOptions(top_k=top_k)).top_k, record=record, read=read,
    )
    _show(session, window, output_format)
    out.notice(printable(f"live: {session.summary}"))


def _check_record(record: str, inputs: list[str], printing: str | None) -> None:
    """--record: writable as a video, and neither an input nor stdout's file when ``printing`` there (the format)."""
    from movinet_cli.files import check_output_path
    from movinet_cli.outputs.encoding import check_video_output
    from movinet_cli.outputs.same_file import check_outputs
    from movinet_cli.outputs.sinks import OutputPath

    def check() -> None:
        check_output_path(record, "--record")
        check_video_output(record)

    outputs = [OutputPath("--record", record, check=check)]
    outputs += [OutputPath(f"the {printing} output", "-")] if printing else []
    check_outputs(outputs, inputs=inputs)


def _window(asked: bool | None, out: Console) -> bool:
    """Whether a window opens: asked for (or not refused) and a display can show one."""
    from movinet_cli.outputs.display import display_problem

    problem = display_problem()
    if asked and problem:
        out.notice(f"note: no window ({problem}): printing to the terminal instead")
    return asked is not False and problem is None


def _show(session: LiveSession, window: bool, output_format: str) -> None:
    """Runs ``session`` in a window or printing to the terminal; its failure as one line."""
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


def _live_model(load: ModelOptions, read: ReadOptions, out: Console) -> Classifier:
    """``pace.live_classifier``: its choice said in one notice (with --quiet, only if
    --verbose), its measurements with --verbose, a model that cannot keep up in a warning."""
    from movinet_cli.commands import pace

    def notice(message: str) -> None:
        (out.failure if out.verbose else out.notice)(printable(message))

    return pace.live_classifier(
        load, read, lambda options: out.load_model(options, command="live"),
        notice=notice, detail=(lambda message: out.detail(printable(message))) if out.verbose else None,
        warn=lambda message: out.failure(printable(message)),
    )


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

