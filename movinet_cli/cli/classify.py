"""``movinet classify``: the top-k actions of each video, and the outputs made from them."""

from __future__ import annotations

import dataclasses
import os

import click

from movinet_cli import environment
from movinet_cli.cli.console import console
from movinet_cli.cli.params import (
    EXIT_CODES,
    FiniteFloat,
    input_options,
    max_download_option,
    min_probability_option,
    model_inputs,
    model_options,
    quiet_option,
    top_k_option,
    verbose_option,
)
from movinet_cli.options import MIN_TIMELINE_STEP_S, OUTPUT_FORMATS, ModelOptions, ReadOptions, RunOptions


@click.command(epilog=EXIT_CODES, short_help="Print the top-k actions in each video.")
@click.argument("videos", nargs=-1, required=True, metavar="VIDEO...")
@model_options
@input_options
@top_k_option
@min_probability_option
@click.option("--format", "-f", "output_format", type=click.Choice(OUTPUT_FORMATS), default="text", show_default=True, help="Output on stdout.")
@click.option(
    "--timeline",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="Write what happens when: .csv, .json, .jsonl, or subtitles .srt/.vtt (one VIDEO); - for stdout "
    "(a table after each video's top-k, or in place of the rows: CSV with -f csv, JSON lines with -f json).",
)
@click.option(
    "--timeline-step",
    type=FiniteFloat(min=MIN_TIMELINE_STEP_S),
    default=None,
    help=f"Timeline resolution, seconds (at least {MIN_TIMELINE_STEP_S:g}): the window length in clip mode (longer steps pool 10-s "
    "windows) [default: 10], the bin width in stream mode [default: every chunk].",
)
@click.option(
    "--output", "-o", "database", type=click.Path(dir_okay=False), default=None,
    help="Also write each video's row and timeline into a results database (.db, .sqlite) that `movinet search` and `movinet report` read; "
    "a database made before takes these videos' rows too (made with the same model and reading options).",
)
@click.option("--output-video", type=click.Path(dir_okay=False), default=None, help="Write VIDEO with its top labels drawn on it (one VIDEO only).")
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), default=None,
    help="Write an HTML report: per video the top-k, the timeline with a picture per segment, and in stream mode a chart.",
)
@max_download_option
@quiet_option()
@verbose_option
def classify(videos, load, read, run, output_format, timeline, timeline_step, database, output_video, report_path, max_download):
    """Print the top-k Kinetics-600 actions in each VIDEO.

    A VIDEO is a file, - for standard input, an http(s):// URL (downloaded into a private
    temporary file, removed after), or with --mode stream and --end an rtsp(s):// stream.
    The model is loaded once for all videos. A video that cannot be read is reported on
    stderr and the others still run.

    \b
    Examples:
      movinet classify video.mp4
      movinet classify --model a0 --top-k 3 --format json a.mp4 b.mov
      movinet classify --mode stream --model a2 --start 30 --end 40 long.mkv
      movinet classify --model ./my_saved_model --labels my_labels.txt clip.mp4
      cat clip.mp4 | movinet classify -
      movinet classify https://example.com/clip.mp4
      movinet classify --mode stream --end 60 rtsp://camera.local/stream
      movinet classify *.mp4 -o library.db && movinet search library.db surfing
    """
    from movinet_cli.inputs.children import start_server

    start_server()  # first: it starts while the rest is imported and the model loads (a one-shot run waits less)
    from movinet_cli.inputs.sources import check_videos, local_files
    from movinet_cli.outcomes.pipeline import classify_many
    from movinet_cli.outcomes.timeline import bin_seconds
    from movinet_cli.outputs.same_file import check_outputs
    from movinet_cli.outputs.sinks import RunContext, drain
    from movinet_cli.outputs.writers import Notices, ReportSink, VideoSink

    out = console()
    check_videos(videos, "classify", load.mode, read.end)
    if output_video and len(videos) > 1:
        raise click.UsageError("--output-video takes one VIDEO")
    if output_video and not local_files(videos):
        raise click.UsageError("--output-video reads VIDEO again to draw on it: give a file, not - or a URL")
    sinks = [VideoSink(output_video)] if output_video else []
    sinks += [Notices(out.failure, raise_unexpected=environment.debug()), *_printed(output_format, timeline, len(videos))]
    sinks += [ReportSink(report_path, out.report_writer())] if report_path else []
    results = _database(database)
    check_outputs(sinks + results, inputs=[*local_files(videos), *model_inputs(load)])
    _decode_ahead(videos[0], load, read)
    if timeline_step:  # the base model sees at most one training clip at a time; a longer step pools windows
        run = dataclasses.replace(run, window=min(timeline_step, RunOptions.window))
    classifier = out.load_model(load, read=read)
    check_videos(videos, "classify", classifier.mode, read.end)  # a stream needs a stream model
    run = classifier.bounded(run)
    context = RunContext.of(classifier, run, bin_seconds(classifier.mode, timeline_step))
    sinks += [output.open(run.top_k, classifier.recipe(read)) for output in results]  # rows after those there, as they come
    bars = out.video_bars()
    outcomes = classify_many(classifier, videos, read, run, on_start=bars.start, progress=bars.update)
    try:
        with out.fetching(max_download):
            tally = drain(_after(outcomes, bars.close), sinks, context)
    finally:
        outcomes.close()  # its decoders ahead stop now, whatever stopped the loop
        bars.close()
    if tally.failed:
        raise click.exceptions.Exit(1)


def _decode_ahead(video: str, load: ModelOptions, read: ReadOptions) -> None:
    """Starts decoding ``video`` while the model loads, where it is a local file (a pipe is
    read once, a URL is downloaded first: not ahead); dropped at the end if nothing took it."""
    from movinet_cli.inputs.decoding import drop_prefetched
    from movinet_cli.inputs.sources import local_files
    from movinet_cli.outcomes.loading import prefetch

    if local_files([video]) and os.path.isfile(video):
        prefetch(video, load, read)
        click.get_current_context().call_on_close(drop_prefetched)


def _printed(output_format: str, timeline: str | None, videos: int) -> list:
    """The rows on stdout in ``output_format``, and the --timeline: a file, or on stdout
    beside the text table or in place of the rows."""
    from movinet_cli.outputs.writers import StdoutSink, TimelineSink

    stdout = lambda text: click.echo(text, nl=False)  # noqa: E731
    sinks: list = []
    if timeline != "-" or output_format == "text":  # a timeline on stdout takes the rows' place
        sinks += [StdoutSink(output_format, stdout)]
    if timeline == "-":
        on_stdout = {"text": "table", "csv": "csv", "json": "jsonl"}[output_format]
        sinks += [TimelineSink(timeline, videos, stdout, on_stdout, beside=output_format == "text")]
    elif timeline:
        sinks += [TimelineSink(timeline, videos)]
    return sinks


def _database(path: str | None) -> list:
    """--output: the results database's sink, which an earlier database's rows go on in (none without it)."""
    from movinet_cli.outputs.database_sink import DatabaseSink
    from movinet_cli.outputs.results_sink import results_output

    if path is None:
        return []
    output = results_output(path, resume=os.path.exists(path), timelines=True, command="classify")
    if not isinstance(output, DatabaseSink):
        raise click.UsageError(f"--output {path}: classify writes a results database there (.db, .sqlite, .sqlite3); rows on stdout are -f csv or -f json")
    return [output]


def _after(outcomes, close_bar):
    """``outcomes``, each after the video's progress bar is gone (so that what is said of
    it is not drawn over)."""
    for outcome in outcomes:
        close_bar()
        yield outcome
