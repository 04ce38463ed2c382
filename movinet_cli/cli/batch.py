"""``movinet batch``: a directory of videos into a results file, resumably, locally or on Ray."""

from __future__ import annotations

import contextlib
import os
import time

import click

from movinet_cli.cli import params
from movinet_cli.cli.console import Console, console
from movinet_cli.cli.params import FiniteFloat, input_options, min_probability_option, model_inputs, model_options, quiet_option, top_k_option, verbose_option
from movinet_cli.options import BATCH_FORMATS, DEFAULT_WORKERS, RAY_TIMEOUT_S, VIDEO_EXTENSIONS
from movinet_cli.text import printable

TIMELINE_CHOICES = ("csv", "json", "jsonl", "srt", "vtt")  # timeline.TIMELINE_FORMATS, without importing NumPy for --help
EXIT_CODES = """\b
Exit codes: 0 all videos classified, 1 a video failed (it has an error row,
the others still run) or the model failed, 2 usage error, 130 interrupted
(the rows written so far stay valid: rerun with --resume)."""

FAILURES_NAMED = 10  # failed videos named again in the summary; the rest are counted


@click.command(epilog=EXIT_CODES, short_help="Classify a directory of videos into a CSV or JSON-lines file.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False), required=False)
@click.option(
    "--output", "-o", required=True,
    help="Results file: .csv, .jsonl/.ndjson for JSON lines, or a .db/.sqlite database that `movinet search` queries; or - for stdout (CSV).",
)
@click.option(
    "--format", "-f", "output_format", type=click.Choice(BATCH_FORMATS), default=None, help="Row format.  [default: by the --output extension]"
)
@click.option(
    "--files-from", metavar="FILE", default=None,
    help="Classify the videos FILE lists (- for standard input) instead of finding them: a path or http(s):// URL a line, "
    "# comments and blank lines left out; relative paths are relative to DIRECTORY if given, and rows name each as listed.",
)
@click.option("--null", is_flag=True, help="With --files-from: entries are separated by NUL characters, as find -print0 writes, and taken as they are.")
@click.option("--recursive/--no-recursive", default=True, show_default=True, help="Look in subdirectories.")
@click.option("--ext", default=",".join(VIDEO_EXTENSIONS), show_default=True, help="Comma-separated video file extensions (any case).")
@click.option("--resume", is_flag=True, help="Skip videos that already have an ok row in --output; retry the others.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=DEFAULT_WORKERS,
    show_default=True,
    help="Videos decoded ahead in child processes (0: one at a time; at most the CPU count). Not with --ray: there the actors are the parallelism.",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Run on a Ray cluster: ADDRESS, else $RAY_ADDRESS or the cluster of 'ray start' on this machine, else a new "
    "local one. The videos must be on a filesystem every node shares. Write --ray=ADDRESS, or put --ray after DIRECTORY.",
)
@click.option("--ray-actors", type=click.IntRange(min=1), default=None, help="With --ray: actors (loaded models).  [default: as many as the cluster's CPUs hold]")
@click.option(
    "--ray-cpus-per-actor", type=FiniteFloat(min=0, min_open=True), default=1.0, show_default=True, help="With --ray: CPUs per actor (and its inference threads)."
)
@click.option(
    "--ray-timeout", type=FiniteFloat(min=0, min_open=True), default=RAY_TIMEOUT_S, show_default=True,
    help="With --ray: seconds to reach the cluster's address before giving up.",
)
@model_options
@input_options
@top_k_option
@min_probability_option
@click.option(
    "--timelines", "timelines_dir", type=click.Path(file_okay=False), default=None, is_flag=False, flag_value="", metavar="[DIR]",
    help="Write each video's timeline: into the --output database (segments that search finds), and into DIR if given, as "
    "DIR/<video path without extension>.<format>. Write --timelines=DIR, or put it after DIRECTORY.",
)
@click.option(
    "--timeline-format", type=click.Choice(TIMELINE_CHOICES), default="csv", show_default=True,
    help="The format of --timelines: CSV, JSON, JSON lines, or subtitles (.srt, .vtt) that players and browsers show.",
)
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), default=None,
    help="Then write an HTML report of every row of --output (with --resume too): an index with a picture per video, filters and a summary; "
    "with --timelines, each video's timeline strip with pictures.",
)
@params.max_download_option
@quiet_option()
@verbose_option
def batch(
    directory, output, output_format, files_from, null, recursive, ext, resume, overwrite, workers, ray_address, ray_actors, ray_cpus_per_actor, ray_timeout,
    load, read, run, timelines_dir, timeline_format, report_path, max_download
):
    """Classify every video in DIRECTORY, or those --files-from lists, into one CSV (or
    JSON-lines) row each.

    Videos are found by extension, in sorted order; paths in the rows are relative to
    DIRECTORY. A list names files and http(s):// URLs (each downloaded into a private
    temporary file, removed after), in its order; rows name them as listed. Rows are
    flushed one at a time: after Ctrl-C or a crash the file holds complete rows, and
    --resume finishes the job. A video that fails gets an error row and is named on stderr.

    \b
    Examples:
      movinet batch videos/ -o results.csv
      movinet batch videos/ -o results.csv --resume
      movinet batch videos/ -o - --format jsonl --model a0 --no-recursive
      movinet batch videos/ -o results.csv --ray
      movinet batch /shared/videos -o results.csv --ray=head-node:6379 --ray-cpus-per-actor 4
      find videos/ -name '*.mp4' -newer last-run -print0 | movinet batch --files-from - --null -o new.csv
      movinet batch --files-from urls.txt -o results.csv
    """
    from movinet_cli.commands.batch import find_videos, run_batch
    from movinet_cli.inputs.sources import read_list

    began, out = time.perf_counter(), console()
    if null and files_from is None:
        raise click.UsageError("--null applies with --files-from only")
    if files_from is None:
        directory, ray_address = _directory(directory, ray_address, timelines_dir)
    _check_options(resume, overwrite, ray_address, ray_actors, ray_cpus_per_actor, ray_timeout, output)
    extensions = [e.strip() for e in ext.split(",") if e.strip()]
    paths = find_videos(directory, extensions, recursive) if files_from is None else read_list(files_from, null, directory)
    directory = directory or "."  # a list's relative paths, without DIRECTORY: the working directory's
    results, sinks = _outputs(out, directory, paths, output, output_format, resume, overwrite, timelines_dir, timeline_format, report_path, load)
    workers = _workers(workers, out)
    if not paths:
        where = f"{directory} (extensions: {', '.join(extensions)})" if files_from is None else f"--files-from {files_from}"
        raise click.ClickException(printable(f"no videos in {where}"))
    # With --ray, the actors start (a worker process each, loading the model) while this
    # process loads and checks its own model.
    with _actors(ray_address, ray_timeout, out, directory, load, read, run, videos=len(paths), actors=ray_actors, cpus_per_actor=ray_cpus_per_actor) as actors:
        loading = time.perf_counter()
        classifier = out.load_model(load, read=read)
        loading = time.perf_counter() - loading
        run = classifier.bounded(run)
        results.open(run.top_k, classifier.recipe(read), paths)
        said = None if output == "-" else f"Interrupted: the rows so far are in {output}; rerun with --resume to finish."
        with out.fetching(max_download), contextlib.closing(results), out.bar(len(results.todo(paths)), "batch", interrupted=said) as bar:
            summary = run_batch(
                classifier, directory, results, paths, read, run, workers=workers, sinks=sinks, actors=actors,
                on_start=bar.showing, on_video=lambda outcome: (bar.showing(outcome.video, refresh=False), bar.done(outcome.video, outcome.error)),
            )
    summary.seconds = time.perf_counter() - began  # the whole run: loading, Ray's start and the last row
    _say_summary(out, summary, loading + classifier.model.setup_seconds)
    if summary.failed:
        raise click.exceptions.Exit(1)


def _check_options(resume, overwrite, ray_address, ray_actors, ray_cpus_per_actor, ray_timeout, output) -> None:
    """The combinations of options that make no sense, as usage errors before any work."""
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if ray_address is None and (ray_actors or ray_cpus_per_actor != 1.0 or ray_timeout != RAY_TIMEOUT_S):
        raise click.UsageError("--ray-actors, --ray-cpus-per-actor and --ray-timeout apply with --ray only")
    if ray_address is not None:
        from movinet_cli.commands.distributed import require_ray

        require_ray()


def _outputs(out: Console, directory, paths, output, output_format, resume, overwrite, timelines_dir, timeline_format, report_path, load) -> tuple:
    """The results file's sink and the others (--timelines, --report), each checked before
    any work (``same_file.check_outputs``: none of them an input or another's file)."""
    from movinet_cli.outputs.database_sink import DatabaseSink
    from movinet_cli.outputs.results_sink import results_output
    from movinet_cli.outputs.same_file import check_outputs
    from movinet_cli.outputs.writers import ResultsReportSink, TimelinesSink

    results = results_output(output, output_format, resume=resume, overwrite=overwrite, timelines=timelines_dir is not None, directory=directory)
    if timelines_dir == "" and not isinstance(results, DatabaseSink):
        raise click.UsageError("--timelines needs a DIR to write into (or an --output database, which holds them): write --timelines=DIR")
    sinks: list = [TimelinesSink(timelines_dir, timeline_format, paths)] if timelines_dir else []
    files = [file for sink in sinks for file in sink.outputs(replace=resume or overwrite)]  # each timeline
    if report_path:
        notice = None if out.quiet else (lambda line: out.notice(printable(f"note: --timelines: {line}")))

        def records(rows: list) -> list:
            from movinet_cli.outputs.database import read_segments
            from movinet_cli.outputs.report_records import records_of

            stored = read_segments(output) if timelines_dir == "" else None  # the database's own, kept rows' too
            return records_of(rows, directory, timelines=timelines_dir or None, timeline_format=timeline_format, segments=stored, notice=notice)

        sinks.append(ResultsReportSink(report_path, out.report_writer(source=output), results, records))
    check_outputs([results, *sinks, *files], inputs=[*(os.path.join(directory, path) for path in paths), *model_inputs(load)])
    return results, sinks


def _workers(workers: int, out: Console) -> int:
    """--workers, at most this machine's ``max_workers`` (said when capped)."""
    from movinet_cli.commands.batch import max_workers

    if workers > max_workers():
        out.notice(f"note: --workers {workers} capped at {max_workers()} (more decoders than CPUs only hold more frames in memory)")
    return min(workers, max_workers())


def _say_summary(out: Console, summary, prepared_s: float) -> None:
    """The run in a few lines on stderr: counts and pace, the model's one-off cost, the failed videos."""
    out.notice(f"batch: {summary}")
    out.notice(f"model: {prepared_s:.1f} s loading and compiling, once (no row's seconds include it)")
    if summary.failures:
        named = ", ".join(printable(path) for path in summary.failures[:FAILURES_NAMED])
        more = f" and {len(summary.failures) - FAILURES_NAMED} more" if len(summary.failures) > FAILURES_NAMED else ""
        out.notice(f"failed: {named}{more} (their rows say why)")


def _directory(directory: str | None, ray_address: str | None, timelines_dir: str | None) -> tuple[str, str | None]:
    """DIRECTORY and the Ray address: ``--ray DIR`` (an optional value takes the next word)
    means DIR with the default cluster when no other DIRECTORY is given."""
    if directory is not None:
        return directory, ray_address
    if ray_address and os.path.isdir(ray_address):
        return ray_address, ""
    hints = [" (--ray took the word after it as its address: write --ray=ADDRESS)"] if ray_address else []
    hints += [" (--timelines took the word after it as its DIR: write --timelines=DIR)"] if timelines_dir else []
    raise click.UsageError("Missing argument 'DIRECTORY'." + "".join(hints))


@contextlib.contextmanager
def _actors(ray_address: str | None, timeout_s: float, out: Console, *args, **options):
    """With --ray (an address, "" for the default cluster): connects, saying so, and starts
    the ``distributed.Actors`` of the run (``args`` and ``options`` are theirs); they are
    killed and the cluster let go on exit. Without: None."""
    if ray_address is None:
        yield None
        return
    from movinet_cli.commands.distributed import Actors, connected

    where = f"the cluster at {ray_address}" if ray_address else "$RAY_ADDRESS, this machine's cluster or a new local one"
    out.notice(printable(f"ray: connecting to {where} and starting actors while the model loads (seconds)..."))
    with connected(ray_address or None, timeout_s=timeout_s), Actors(*args, **options) as actors:
        yield actors
