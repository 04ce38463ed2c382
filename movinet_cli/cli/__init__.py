"""The ``movinet`` command line: thin click code over the library API.

Exit codes: 0 success, 1 a video or the model failed (other videos still run), 2 usage
error, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import math
import os
import sys

import click

from .. import __version__
from ..errors import MovinetError, OutputError, UsageError, one_line
from ..models import MODES
from ..options import (
    AGGREGATES,
    BATCH_FORMATS,
    DEFAULT_WORKERS,
    ENGINES,
    MAX_CHUNK,
    MAX_FPS,
    MAX_SIZE,
    MIN_FPS,
    MIN_SIZE,
    OUTPUT_FORMATS,
    PRECISIONS,
    RESIZE_MODES,
    VIDEO_EXTENSIONS,
    ModelOptions,
    ReadOptions,
    RunOptions,
)
from ..output import printable

EXIT_CODES = """\b
Exit codes: 0 all videos classified, 1 a video or the model failed
(the others still run), 2 usage error (a model of the wrong kind for
--mode too), 130 interrupted."""


class MovinetGroup(click.Group):
    """Turns library errors into one line on stderr, and Ctrl-C into a clean exit 130."""

    def invoke(self, ctx):
        # A file name that is not UTF-8 prints as its own bytes on stdout (as ls shows it)
        # and with backslash escapes in messages, instead of failing to print.
        for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors=errors)
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a full disk behind stdout shows here, not at exit
            return result
        except UsageError as error:
            raise click.UsageError(printable(str(error))) from None
        except MovinetError as error:
            raise click.ClickException(printable(str(error))) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader of stdout went away (e.g. `| head`): stop quietly, as Python's docs advise.
            _discard_stdout()
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:
            if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                # Our own files report their errors by name (OutputError): this one is stdout.
                _discard_stdout()
                raise click.ClickException(f"cannot write to stdout: {error.strerror}") from None
            if os.environ.get("MOVINET_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(error).__name__}: {printable(str(error))} (set MOVINET_DEBUG=1 to see the traceback)"
            ) from None


def _discard_stdout() -> None:
    """Points stdout at /dev/null, so that what is still buffered for a stdout that fails
    is dropped quietly instead of failing again when Python exits."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. under CliRunner)
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), descriptor)


class FiniteFloat(click.FloatRange):
    """A FloatRange that refuses nan and inf (which pass its comparisons)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


@click.group("movinet", cls=MovinetGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="movinet")
def cli():
    """Classify what happens in a video with MoViNet (Kinetics-600 actions).

    \b
    Examples:
      movinet classify video.mp4
      movinet classify --model a0-base --format json *.mp4
      movinet models
    """


def _options(*options):
    """One decorator applying several click options, listed in --help order."""

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


engine_option = click.option(
    "--engine", type=click.Choice(ENGINES), default=ModelOptions.engine, show_default=True, help="auto: TensorFlow if it sees a GPU, else OpenVINO."
)
precision_option = click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=ModelOptions.precision,
    show_default=True,
    help="OpenVINO inference precision: auto is bf16 (the published models' own) where the CPU has it natively, else f32.",
)
labels_option = click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False),
    default=ModelOptions.labels,
    help="Label file, one per line in logit order (for a fine-tuned model).  [default: Kinetics-600]",
)
fps_option = click.option(
    "--fps", type=FiniteFloat(min=MIN_FPS, max=MAX_FPS), default=ReadOptions.fps, help=f"Frames/s fed to the model, {MIN_FPS:g} to {MAX_FPS}.  [default: the model's]"
)
size_option = click.option(
    "--size",
    type=click.IntRange(min=MIN_SIZE, max=MAX_SIZE),
    default=ReadOptions.size,
    help=f"Frame size in pixels (square), {MIN_SIZE} to {MAX_SIZE}.  [default: the model's]",
)
top_k_option = click.option("--top-k", "-k", type=click.IntRange(min=1), default=RunOptions.top_k, show_default=True, help="Labels per video.")

def _model_value(function):
    """Passes the command ``load`` (``options.ModelOptions``) in place of the options it is built from."""

    @functools.wraps(function)
    def wrapper(*args, model, mode, engine, precision, labels, **kwargs):
        return function(*args, load=ModelOptions(model=model, mode=mode, engine=engine, precision=precision, labels=labels), **kwargs)

    return wrapper


model_options = _options(
    click.option(
        "--model",
        "-m",
        default=ModelOptions.model,
        help="Registry name (a0-base ... a5-stream, or a0 ... a5), TF Hub/Kaggle URL, or SavedModel "
        "directory.  [default: a5-base; a5-stream with --mode stream]",
    ),
    click.option(
        "--mode",
        type=click.Choice(tuple(MODES)),
        default=ModelOptions.mode,
        help="clip: a base model on windows of up to 10 s; stream: a stream model frame by frame, "
        "states carried.  [default: clip, or the kind of --model]",
    ),
    engine_option,
    precision_option,
    labels_option,
    _model_value,
)


def _option_values(function):
    """Passes the command ``read`` and ``run`` (``options.ReadOptions`` and ``RunOptions``)
    in place of the options they are built from."""

    @functools.wraps(function)
    def wrapper(*args, fps, size, resize, start, end, chunk, aggregate, top_k, **kwargs):
        if end is not None and end <= start:
            raise click.BadParameter(f"--end ({end:g}) must be after --start ({start:g})", param_hint="--end")
        read = ReadOptions(fps=fps, size=size, resize=resize, start=start, end=end)
        run = RunOptions(top_k=top_k, chunk=chunk, aggregate=aggregate)
        return function(*args, read=read, run=run, **kwargs)

    return wrapper


input_options = _options(
    fps_option,
    size_option,
    click.option(
        "--resize",
        type=click.Choice(RESIZE_MODES),
        default=ReadOptions.resize,
        show_default=True,
        help="crop: shorter side to the variant's eval size, then centre crop (Kinetics eval); squash; pad (letterbox).",
    ),
    click.option("--start", type=FiniteFloat(min=0), default=ReadOptions.start, help="Start at this second of the video."),
    click.option("--end", type=FiniteFloat(min=0, min_open=True), default=ReadOptions.end, help="Stop at this second."),
    click.option(
        "--chunk",
        type=click.IntRange(min=1, max=MAX_CHUNK, clamp=True),
        default=RunOptions.chunk,
        show_default=True,
        help=f"Stream mode: frames per model call, at most {MAX_CHUNK} (the result does not depend on it).",
    ),
    click.option(
        "--aggregate",
        type=click.Choice(AGGREGATES),
        default=RunOptions.aggregate,
        show_default=True,
        help="Stream mode: the model's latest output, or the mean over all frames.",
    ),
    _option_values,
)


def _stderr_logger(quiet: bool):
    """Notices on stderr, printed above any progress bar (tqdm.write redraws the bar)."""
    from tqdm import tqdm

    def notice(message: str) -> None:
        tqdm.write(message, file=sys.stderr)
        sys.stderr.flush()  # keeps the order with click.echo, which writes to the byte stream beneath

    return None if quiet else notice


def _load(load: ModelOptions, quiet: bool, verbose: bool, command: str | None = None):
    from ..classify import load_classifier

    classifier = load_classifier(**dataclasses.asdict(load), log=_stderr_logger(quiet), command=command)
    if verbose:
        click.echo(f"model: {classifier.source.name} ({classifier.source.handle})", err=True)
        click.echo(f"engine: {classifier.model.engine} ({classifier.engine_reason})", err=True)
        click.echo(f"precision: {classifier.model.precision} ({classifier.model.precision_reason})", err=True)
    return classifier


class _VideoBars:
    """A tqdm bar on stderr per video, in seconds of video, hidden when stderr is not a
    terminal: ``start`` one, ``update`` it (``classify``'s progress), ``close`` it."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def start(self, name: str) -> None:
        from tqdm import tqdm

        self.close()
        bar_format = "{l_bar}{bar}| {n:.1f}/{total_fmt} s video [{elapsed}<{remaining}]"  # total "?" until known
        self.bar = tqdm(
            desc=printable(os.path.basename(name)), unit="s", disable=True if self.quiet else None, leave=False, file=sys.stderr, bar_format=bar_format
        )

    def update(self, done_s: float, total_s: float | None) -> None:
        if total_s and self.bar.total != total_s:
            self.bar.total = total_s
        self.bar.n = min(done_s, total_s or done_s)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _report_option(help_text: str):
    return click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None, help=help_text)


def _check_report_path(path: str | None, option: str = "--report") -> None:
    """A usage error before any work if the report (or its pictures' folder) could not be written."""
    from ..report import check_report_path

    if path:
        try:
            check_report_path(path, option)
        except OutputError as error:
            raise click.BadParameter(str(error), param_hint=option) from None


def _write_report(path: str, records, quiet: bool, source: str = "") -> None:
    """Writes the HTML report with a progress bar while thumbnails are decoded, then says
    where it went."""
    from tqdm import tqdm

    from ..report import write_report

    with tqdm(total=len(records), unit="video", desc="report", disable=True if quiet else None, leave=False, file=sys.stderr) as bar:
        summary = write_report(path, records, source=source, progress=lambda done, total: bar.update(done - bar.n))
    if not quiet:
        click.echo(f"report: {summary}", err=True)


@cli.command(epilog=EXIT_CODES)
@click.argument("videos", nargs=-1, required=True, metavar="VIDEO...")
@model_options
@input_options
@top_k_option
@click.option("--format", "-f", "output_format", type=click.Choice(OUTPUT_FORMATS), default="text", show_default=True, help="Output on stdout.")
@click.option(
    "--timeline",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write what happens when to this .csv or .json file: path, start_s, end_s, label, probability.",
)
@click.option(
    "--timeline-step",
    type=FiniteFloat(min=0, min_open=True),
    default=None,
    help="Timeline resolution, seconds: the window length in clip mode (longer steps pool 10-s "
    "windows) [default: 10], the bin width in stream mode [default: every chunk].",
)
@click.option("--output-video", type=click.Path(dir_okay=False), default=None, help="Write VIDEO with its top labels drawn on it (one VIDEO only).")
@_report_option("Write an HTML report: per video the top-k, the timeline with a picture per segment, and in stream mode a chart.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notices on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Say which model and engine run, and why.")
def classify(videos, load, read, run, output_format, timeline, timeline_step, output_video, report_path, quiet, verbose):
    """Print the top-k Kinetics-600 actions in each VIDEO.

    The model is loaded once for all videos. A video that cannot be read is reported on
    stderr and the others still run.

    \b
    Examples:
      movinet classify video.mp4
      movinet classify --model a0 --top-k 3 --format json a.mp4 b.mov
      movinet classify --mode stream --model a2 --start 30 --end 40 long.mkv
      movinet classify --model ./my_saved_model --labels my_labels.txt clip.mp4
    """
    from ..classify import classify_many
    from ..files import check_output_path
    from ..output import Writer
    from ..report import error_record, record_from_result
    from ..timeline import bin_seconds, segments, timeline_format, write_timeline
    from ..video import check_video_output

    if timeline:
        try:
            timeline_format(timeline)
            check_output_path(timeline, "--timeline")
        except (ValueError, OutputError) as error:
            raise click.BadParameter(str(error), param_hint="--timeline") from None
    if output_video:
        if len(videos) > 1:
            raise click.UsageError("--output-video takes one VIDEO")
        try:
            check_output_path(output_video, "--output-video")
            check_video_output(output_video)
        except OutputError as error:
            raise click.BadParameter(str(error), param_hint="--output-video") from None
    _check_report_path(report_path)
    if timeline_step:  # the base model sees at most one training clip at a time; a longer step pools windows
        run = dataclasses.replace(run, window=min(timeline_step, RunOptions.window))
    classifier = _load(load, quiet, verbose)
    run = dataclasses.replace(run, top_k=min(run.top_k, len(classifier.labels)))
    bin_s = bin_seconds(classifier.mode, timeline_step)
    info = classifier.info
    context = {  # the JSON document's, in this order
        "model": info["model"],
        "engine": info["engine"],
        "engine_reason": classifier.engine_reason,
        "precision": info["precision"],
        "precision_reason": classifier.model.precision_reason,
        "mode": info["mode"],
    }
    writer = Writer(output_format, lambda text: click.echo(text, nl=False), run.top_k, info, context)
    bars = _VideoBars(quiet)
    timelines, records, failed = {}, [], 0
    outcomes = classify_many(classifier, videos, read, run, on_start=bars.start, progress=bars.update)
    try:
        for outcome in outcomes:
            bars.close()
            video, result = outcome.video, outcome.result
            if result and output_video:
                from ..overlay import annotate_video

                try:
                    annotate_video(video, output_video, result, classifier.labels)
                except MovinetError as error:  # that video fails; the other outputs still come
                    outcome = dataclasses.replace(outcome, result=None, error=one_line(error))
                    result = None
            if not result:
                failed += 1
                hint = ""
                if outcome.exception is not None:  # a bug of ours, not a bad file
                    if os.environ.get("MOVINET_DEBUG"):
                        raise outcome.exception
                    hint = " (set MOVINET_DEBUG=1 to see the traceback)"
                click.echo(f"Error: {printable(video)}: {printable(outcome.error)}{hint}", err=True)
                if report_path:
                    records.append(error_record(video, outcome.error))
            else:
                for warning in result.warnings:
                    click.echo(printable(f"warning: {video}: {warning}"), err=True)
                if timeline:
                    timelines[video] = segments(result, classifier.labels, bin_s)
                if report_path:
                    records.append(record_from_result(video, result, classifier.labels, bin_s=bin_s))
            writer.write(outcome)
    finally:
        outcomes.close()  # its decoders stop now, not at exit (a stdout gone, say)
        bars.close()
    if timeline:
        write_timeline(timeline, timelines)
    if report_path:
        _write_report(report_path, records, quiet)
    writer.close()
    if failed:
        sys.exit(1)


BATCH_EXIT_CODES = """\b
Exit codes: 0 all videos classified, 1 a video failed (it has an error row,
the others still run) or the model failed, 2 usage error, 130 interrupted
(the rows written so far stay valid: rerun with --resume)."""


@cli.command(epilog=BATCH_EXIT_CODES)
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--output", "-o", required=True, help="Results file (.csv or .jsonl), or - for stdout.")
@click.option(
    "--format", "-f", "output_format", type=click.Choice(BATCH_FORMATS), default=None, help="Row format.  [default: by the --output extension, else csv]"
)
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Look in subdirectories.")
@click.option("--ext", default=",".join(VIDEO_EXTENSIONS), show_default=True, help="Comma-separated video file extensions (any case).")
@click.option("--resume", is_flag=True, help="Skip videos that already have an ok row in --output; retry the others.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output.")
@click.option(
    "--workers", type=click.IntRange(min=0), default=DEFAULT_WORKERS, show_default=True, help="Videos decoded ahead in child processes (0: one at a time; at most the CPU count). Not with --ray: there the actors are the parallelism."
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Run on a Ray cluster: ADDRESS, else $RAY_ADDRESS or the cluster of 'ray start' on this machine, else a new "
    "local one. The videos must be on a filesystem every node shares. Put --ray after DIRECTORY, or write --ray=ADDRESS.",
)
@click.option("--ray-actors", type=click.IntRange(min=1), default=None, help="With --ray: actors (loaded models).  [default: as many as the cluster's CPUs hold]")
@click.option(
    "--ray-cpus-per-actor", type=FiniteFloat(min=0, min_open=True), default=1.0, show_default=True, help="With --ray: CPUs per actor (and its inference threads)."
)
@model_options
@input_options
@top_k_option
@_report_option("Then write an HTML report of every row of --output (with --resume too): an index with a picture per video, filters and a summary.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Say which model and engine run, and why.")
def batch(
    directory, output, output_format, recursive, ext, resume, overwrite, workers, ray_address, ray_actors, ray_cpus_per_actor,
    load, read, run, report_path, quiet, verbose
):
    """Classify every video in DIRECTORY into one CSV (or JSON-lines) row each.

    Videos are found by extension, in sorted order; paths in the rows are relative to
    DIRECTORY. Rows are flushed one at a time: after Ctrl-C or a crash the file holds
    complete rows, and --resume finishes the job. A video that fails gets an error row.

    \b
    Examples:
      movinet batch videos/ -o results.csv
      movinet batch videos/ -o results.csv --resume
      movinet batch videos/ -o - --format jsonl --model a0 --no-recursive
      movinet batch videos/ -o results.csv --ray
      movinet batch /shared/videos -o results.csv --ray=head-node:6379 --ray-cpus-per-actor 4
    """
    from tqdm import tqdm

    from ..batch import ResultsFile, ResultsFileError, check_results_path, find_videos, max_workers, results_format, run_batch

    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if ray_address is None and (ray_actors or ray_cpus_per_actor != 1.0):
        raise click.UsageError("--ray-actors and --ray-cpus-per-actor apply with --ray only")
    if ray_address is not None:
        from ..distributed import require_ray

        require_ray()
    output_format = output_format or results_format(output)
    try:
        check_results_path(output, output_format, resume, overwrite)
    except (ResultsFileError, OutputError) as error:
        raise click.UsageError(str(error)) from None
    if workers > max_workers():
        if not quiet:
            click.echo(f"note: --workers {workers} capped at {max_workers()} (more decoders than CPUs only hold more frames in memory)", err=True)
        workers = max_workers()
    if report_path and output == "-":
        raise click.UsageError("--report is written from the rows of a results file, not stdout (-o -)")
    _check_report_path(report_path)
    extensions = [e.strip() for e in ext.split(",") if e.strip()]
    paths = find_videos(directory, extensions, recursive)
    if not paths:
        raise click.ClickException(printable(f"no videos in {directory} (extensions: {', '.join(extensions)})"))
    classifier = _load(load, quiet, verbose)
    run = dataclasses.replace(run, top_k=min(run.top_k, len(classifier.labels)))
    results = ResultsFile(output, output_format, run.top_k, resume=resume, overwrite=overwrite)
    bar = tqdm(total=len(results.todo(paths)), unit="video", desc="batch", disable=True if quiet else None, file=sys.stderr)
    try:
        if ray_address is None:
            summary = run_batch(
                classifier,
                directory,
                results,
                paths,
                read,
                run,
                workers=workers,
                on_start=lambda path: bar.set_postfix_str(printable(path), refresh=True),
                on_video=lambda row: bar.update(1),
            )
        else:
            from ..distributed import connected, run_batch_on_ray

            with connected(ray_address or None):
                summary = run_batch_on_ray(
                    classifier,
                    directory,
                    results,
                    paths,
                    read,
                    run,
                    load=load,
                    actors=ray_actors,
                    cpus_per_actor=ray_cpus_per_actor,
                    on_video=lambda row: (bar.set_postfix_str(printable(row["path"]), refresh=False), bar.update(1)),
                )
    except KeyboardInterrupt:
        bar.close()
        if output != "-":
            click.echo(printable(f"Interrupted: the rows so far are in {output}; rerun with --resume to finish."), err=True)
        raise
    finally:
        bar.close()
        results.close()
    if not quiet:
        click.echo(f"batch: {summary}", err=True)
    if report_path:
        from ..report import load_results

        _write_report(report_path, load_results(output, videos=directory), quiet, source=output)
    if summary.failed:
        sys.exit(1)


@cli.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--videos",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Directory that the paths in RESULTS are relative to (batch's DIRECTORY), for the pictures.  [default: no pictures]",
)
@click.option("--output", "-o", "report_path", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")
def report(results, videos, report_path, quiet):
    """Make an HTML report from RESULTS: the rows of movinet batch (CSV or JSON lines)
    or the output of movinet classify --format json.

    \b
    Examples:
      movinet report results.csv --videos videos/ -o report.html
      movinet report results.jsonl -o report.html
    """
    from ..report import load_results

    _check_report_path(report_path, "--output")
    _write_report(report_path, load_results(results, videos=videos), quiet, source=results)


LIVE_MODEL = "a5-stream"  # the largest stream variant; it keeps up in real time on 2 CPU cores (README)


@cli.command()
@click.argument("source", default="0")
@click.option("--model", "-m", default=LIVE_MODEL, show_default=True, help="A stream model: registry name, URL or SavedModel directory.")
@engine_option
@precision_option
@labels_option
@click.option("--window/--no-window", default=None, help="Show a window, or print to the terminal.  [default: window if a display is available]")
@click.option(
    "--format", "-f", "output_format", type=click.Choice(("text", "jsonl")), default="text", show_default=True,
    help="Without a window: text prints a line when the top label changes, jsonl every step.",
)
@click.option("--top-k", "-k", type=click.IntRange(min=1), default=3, show_default=True, help="Labels shown.")
@click.option("--smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True, help="Moving average of probabilities: weight of the past (0 = off).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Below this probability the label is 'no action'.")
@click.option("--as-fast-as-possible", is_flag=True, help="Read a file as fast as the model goes, classifying every frame due, instead of at its own speed.")
@click.option("--record", type=click.Path(dir_okay=False), default=None, help="Save the annotated video to this file.")
@fps_option
@size_option
@click.option("--quiet", "-q", is_flag=True, help="No notices on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Say which model and engine run, and why.")
def live(source, model, engine, precision, labels, window, output_format, top_k, smoothing, threshold, as_fast_as_possible, record, fps, size, quiet, verbose):
    """Classify a camera, video file or stream live, frame by frame.

    SOURCE is a camera index (default 0), a video file, or a stream URL (rtsp://, http://).
    In a window: q or Esc quits, r resets the model's memory. Without a display (or with
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
    from ..live import LiveSession, display_problem
    from ..video import open_capture

    problem = display_problem()
    if window and problem and not quiet:
        click.echo(f"note: no window ({problem}): printing to the terminal instead", err=True)
    window = (window is not False) and problem is None
    opened = open_capture(source)
    try:
        classifier = _load(ModelOptions(model=model, mode="stream", engine=engine, precision=precision, labels=labels), quiet, verbose, command="live")
    except BaseException:
        opened.close()
        raise
    session = LiveSession(
        classifier, opened, realtime=not as_fast_as_possible, smoothing=smoothing, threshold=threshold,
        top_k=min(top_k, len(classifier.labels)), record=record, read=ReadOptions(fps=fps, size=size),
    )
    try:
        with session:
            (_live_window if window else _live_terminal)(session, output_format)
    finally:
        if session.failure:
            raise click.ClickException(printable(session.failure))
    if not quiet:
        click.echo(printable(f"live: {session.summary}"), err=True)


def _live_window(session, output_format) -> None:
    import cv2

    from ..live import annotate

    if os.path.isdir("/usr/share/fonts"):
        os.environ.setdefault("QT_QPA_FONTDIR", "/usr/share/fonts")  # OpenCV's Qt ships none
    title = f"movinet live - {session.name}"
    cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
    shown = None
    try:
        while not session.finished:
            newest = session.newest_frame()
            if newest is not None and newest[1] is not shown:
                shown = newest[1]
                cv2.imshow(title, annotate(shown.copy(), session.latest_update))
            key = cv2.waitKey(15) & 0xFF
            if key in (ord("q"), 27):
                break
            if key == ord("r"):
                session.reset()
            if shown is not None and cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                break  # closed with the window manager
    finally:
        cv2.destroyAllWindows()


def _live_terminal(session, output_format) -> None:
    import json
    import queue

    label = None
    while True:
        try:
            update = session.updates.get(timeout=0.1)
        except queue.Empty:
            if session.finished and session.updates.empty():
                return
            continue
        if output_format == "jsonl":
            record = {
                "time_s": round(update.time_s, 3),
                "label": update.label,
                "predictions": [{"label": p.label, "probability": round(p.probability, 6)} for p in update.predictions],
                "inference_ms": round(update.inference_ms, 1),
                "latency_s": round(update.latency_s, 3),
                "frames": update.frames,
                "backlog": update.backlog,
                "dropped": update.dropped,
                "reset": update.reset,
            }
            click.echo(json.dumps(record, ensure_ascii=False))
        elif update.label != label:
            probability = update.predictions[0].probability
            click.echo(f"{update.time_s:8.1f} s  {printable(update.label)}  ({probability:.0%})")
        label = update.label


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--prepare", is_flag=True, help="Download and convert NAMES now, so that their first run starts at once.")
@click.option("--format", "-f", "output_format", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress.")
def models(names, prepare, output_format, quiet):
    """List the registry's MoViNet variants, their inputs, and whether each is downloaded
    and converted for OpenVINO; or, with --prepare, download and convert NAMES now.

    A model's first run downloads it (once) and converts it for OpenVINO (once; A5 stream:
    a minute or two). --prepare does both ahead of time, for registry names, URLs or SavedModel
    directories, and exits 0 when all are ready. The cache is $MOVINET_CACHE_DIR or the
    per-user cache directory (downloads: $TFHUB_CACHE_DIR if set, else its tfhub folder).

    \b
    Examples:
      movinet models
      movinet models --prepare a5-base a4-stream
    """
    import json

    from ..classify import prepare_model
    from ..engines import is_prepared
    from ..models import VARIANTS, cache_dir, cached_model_dir, hub_cache_dir, is_cached

    if prepare:
        if not names:
            raise click.UsageError("--prepare needs the names of the models to prepare, e.g. movinet models --prepare a5-base")
        log, failed = _stderr_logger(quiet), 0
        for name in names:
            try:
                prepare_model(name, log=log)
                click.echo(printable(f"{name}: ready"))
            except MovinetError as error:
                click.echo(printable(f"Error: {name}: {error}"), err=True)
                failed += 1
        if failed:
            raise click.exceptions.Exit(1)
        return
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise click.UsageError(f"not in the registry: {', '.join(unknown)} (names: {', '.join(VARIANTS)})")
    rows = []
    for v in (VARIANTS[name] for name in names or VARIANTS):
        downloaded = is_cached(v.url)
        rows.append(
            {
                "name": v.name,
                "kind": v.kind,
                "frames": v.clip_frames,
                "size": v.size,
                "fps": v.fps,
                "gflops": v.gflops,
                "top1": v.top1,
                "cached": downloaded,
                "converted": downloaded and is_prepared(str(cached_model_dir(v.url)), v.kind, v.size),
                "url": v.url,
            }
        )
    if output_format == "json":
        click.echo(json.dumps({"cache_dir": str(hub_cache_dir()), "openvino_cache_dir": str(cache_dir() / "openvino"), "models": rows}, indent=2))
        return
    click.echo(f"{'name':<10} {'clip (10 s)':<14} {'fps':>3} {'GFLOPs':>6} {'top-1':>6}  downloaded  converted  url")
    for row in rows:
        clip = f"{row['frames']} x {row['size']}"
        click.echo(
            f"{row['name']:<10} {clip:<14} {row['fps']:>3} {row['gflops']:>6g} {row['top1']:>5.2f}%  "
            f"{'yes' if row['cached'] else 'no':<10}  {'yes' if row['converted'] else 'no':<9}  {row['url']}"
        )
    click.echo(f"\ncache: {hub_cache_dir()}; conversions: {cache_dir() / 'openvino'}")
    if not all(row["converted"] for row in rows):
        click.echo("A model's first run downloads and converts it; `movinet models --prepare NAME...` does it now.")


def main():
    cli(prog_name="movinet")
