"""``movinet eval``: a model's accuracy on class folders named by its own labels."""

from __future__ import annotations

import os
import sys

import click

from movinet_cli.cli.console import console
from movinet_cli.cli.params import input_options, model_inputs, model_options, quiet_option, verbose_option
from movinet_cli.options import DEFAULT_WORKERS
from movinet_cli.text import printable

EXIT_CODES = """\b
Exit codes: 0 every video evaluated, 1 a video failed (named on stderr,
counted apart, not as a wrong answer) or the model failed, 2 usage error
(a folder naming no label of the model too), 130 interrupted."""


@click.command("eval", epilog=EXIT_CODES, short_help="Top-1/top-5 accuracy on folders named by the model's labels.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "-f", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the results to this file instead of stdout.")
@model_options
@input_options
@quiet_option()
@verbose_option
def evaluate(directory, output_format, output, load, read, run):
    """Measure a model on DIRECTORY/<label>/*.mp4, each folder named by one of its labels.

    The labels are the model's own: Kinetics-600 names ("_" may stand for a space), a
    --labels file's, or a trained MODEL_DIR's classes. Each video runs as classify runs it
    (the model's frame rate and size, centre crop, a base model over the whole video in
    10-s windows); prints top-1 and top-5 accuracy, per-class recall and the confusion
    matrix. A video that fails is named on stderr and counted apart.

    \b
    Examples:
      movinet eval kinetics-val/ --model a0
      movinet eval clips/ --model my-classes --format json -o eval.json
    """

    from movinet_cli.commands.batch import max_workers
    from movinet_cli.commands.evaluate import check_folders, evaluate, write_evaluation
    from movinet_cli.commands.labelled import find_labelled
    from movinet_cli.files import atomic_writer
    from movinet_cli.outputs.same_file import check_outputs
    from movinet_cli.outputs.sinks import OutputPath

    out = console()
    examples = find_labelled(directory)
    if not examples.labels:
        check_folders(examples, [])  # the one-line refusal, before the model loads
    inputs = [os.path.join(examples.directory, path) for path in examples.paths]
    check_outputs([OutputPath("--output", output)] if output else [], inputs=[*inputs, *model_inputs(load)])
    classifier = out.load_model(load, read=read)
    check_folders(examples, classifier.labels)  # before any video is read
    with out.bar(len(examples.paths), "eval") as bar:
        evaluation = evaluate(
            classifier, examples, read, run, ahead=min(DEFAULT_WORKERS, max_workers()), on_start=bar.showing, on_video=bar.done,
        )
    if output:
        with atomic_writer(output) as stream:
            write_evaluation(evaluation, output_format, stream)
        out.notice(printable(f"eval: wrote {output}"))
    else:
        write_evaluation(evaluation, output_format, sys.stdout)
    if evaluation.failed:
        raise click.exceptions.Exit(1)
