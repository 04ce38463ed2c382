"""``movinet train`` and ``movinet embed``: the user's own classes."""

from __future__ import annotations

import sys

import click

from movinet_cli.cli.console import console
from movinet_cli.cli.params import EXIT_CODES, input_options, max_download_option, model_inputs, model_options, quiet_option, verbose_option
from movinet_cli.text import printable


@click.command(epilog=EXIT_CODES, short_help="Train a head for your own classes from class folders.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="MODEL_DIR to write: the head, its labels, summary and report.html.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier MODEL_DIR.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the held-out split or folds.")
@model_options
@input_options
@quiet_option("No progress bar or notices on stderr.")
@verbose_option
def train(directory, output, overwrite, seed, load, read, run):
    """Train a head for your own classes: DIRECTORY/<class>/*.mp4, one folder per class.

    Each video is embedded once with the model's pooled features (cached, so another run
    does not decode again); a logistic-regression head is evaluated on held-out videos (or
    by k-fold when classes are small), fitted on all of them and written to MODEL_DIR,
    which --model then takes in classify, batch, live and eval. Use a stream model
    (--model a0-stream) for a head that runs live.

    \b
    Examples:
      movinet train clips/ -o my-classes --model a0
      movinet classify --model my-classes video.mp4
      movinet train clips/ -o my-live-classes --model a0-stream
    """

    from movinet_cli.commands.train import check_output_dir, find_examples, require_sklearn
    from movinet_cli.commands.train import train as train_head

    out = console()
    require_sklearn()
    check_output_dir(output, overwrite)  # usage errors before the model loads
    videos = len(find_examples(directory).paths)
    classifier = out.load_model(load, read=read, labels_needed=False)  # features only
    with out.bar(videos, "embed", leave=False) as bar:
        summary = train_head(
            classifier, directory, output, read, run, overwrite=overwrite, seed=seed,
            on_video=lambda path, error: bar.done(path),  # train logs the videos that failed
        )
    for line in summary.text().split("\n"):
        click.echo(printable(line))
    out.notice(printable(f"wrote {output} (report: {output}/report.html); use it with --model {output}"))


@click.command(epilog=EXIT_CODES, short_help="Write each video's feature vector (Parquet or .npz).")
@click.argument("videos", nargs=-1, required=True, metavar="VIDEO...")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="A .parquet file (columns path, start_s, end_s, model, embedding, error) or a .npz file.")
@click.option("--per-window", is_flag=True, help="A row per window (clip mode) or chunk (stream mode) instead of per video.")
@click.option("--resume", is_flag=True, help="Keep the rows of an earlier run's videos that worked; embed the others.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@model_options
@input_options
@max_download_option
@quiet_option("No progress bar or summary on stderr.")
@verbose_option
def embed(videos, output, per_window, resume, overwrite, load, read, run, max_download):
    """Write each VIDEO's feature vector: the model's pooled features before its classifier.

    A VIDEO is a file, - for standard input or an http(s):// URL (downloaded into a private
    temporary file, removed after).

    A video's vector is the frame-weighted mean of its windows' (a stream model's: its
    latest, or the mean with --aggregate mean). A video that fails gets a row with its
    error and no embedding; the others still run. The output is rewritten atomically as
    rows come, so after Ctrl-C it holds complete rows and --resume finishes the job.

    \b
    Examples:
      movinet embed *.mp4 -o features.parquet --model a0
      movinet embed long.mp4 -o windows.npz --per-window
      cat clip.mp4 | movinet embed - -o features.npz
    """

    from movinet_cli.commands.embed import check_output, embed_videos
    from movinet_cli.inputs.sources import check_videos, local_files, name_of
    from movinet_cli.outputs.same_file import check_outputs
    from movinet_cli.outputs.sinks import OutputPath

    out = console()
    check_videos(videos, "embed")
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    check_outputs([OutputPath("--output", output, check=lambda: None)], inputs=[*local_files(videos), *model_inputs(load)])
    kept = check_output(output, resume, overwrite)
    classifier = out.load_model(load, read=read, labels_needed=False)  # features only
    said = f"Interrupted: the rows so far are in {output}; rerun with --resume to finish."
    with out.bar(len({name_of(video) for video in videos} - {row["path"] for row in kept}), "embed", interrupted=said) as bar, out.fetching(max_download):
        ok, failed = embed_videos(classifier, videos, output, read, run, per_window=per_window, resume=resume, overwrite=overwrite, on_video=bar.done)
    out.notice(printable(f"embed: {ok} ok, {failed} failed, {len(kept)} kept from before; wrote {output}"))
    if failed:
        sys.exit(1)
