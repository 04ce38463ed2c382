"""``movinet report``: an HTML page from a results file."""

from __future__ import annotations

import click

from movinet_cli.cli.console import console
from movinet_cli.cli.params import FiniteFloat, quiet_option
from movinet_cli.text import printable


@click.command(short_help="Make an HTML report from a results file or database.")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--videos",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Directory that the paths in RESULTS are relative to (batch's DIRECTORY), for the pictures.  [default: no pictures]",
)
@click.option(
    "--timelines",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Directory of batch --timelines: each video's timeline drawn as a strip with pictures (one missing or malformed is left out).  "
    "[default: a database's own timelines]",
)
@click.option(
    "--min-probability",
    type=FiniteFloat(0, 1),
    default=None,
    help="Re-decide: a video or timeline segment whose top label is less probable is 'no clear action' (its probability still shown).  [default: each row's own action]",
)
@click.option("--output", "-o", "report_path", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@quiet_option("No progress bar or summary on stderr.")
def report(results, videos, timelines, min_probability, report_path):
    """Make an HTML report from RESULTS: the rows of movinet batch (CSV or JSON lines),
    a results database (.db, with the timelines it holds) or the output of movinet classify
    --format json.

    \b
    Examples:
      movinet report results.csv --videos videos/ -o report.html
      movinet report results.jsonl -o report.html
      movinet report library.db --videos videos/ -o report.html
      movinet report results.csv --videos videos/ --timelines timelines/ -o report.html
      movinet report results.csv --min-probability 0.5 -o report.html
    """
    from movinet_cli.outputs.report_files import check_report_path
    from movinet_cli.outputs.report_records import load_results
    from movinet_cli.outputs.same_file import check_outputs
    from movinet_cli.outputs.sinks import OutputPath

    if report_path == "-":
        raise click.BadParameter("the report is a file: name one (or /dev/stdout)", param_hint="--output")
    outputs = [OutputPath("--output", report_path, check=lambda: check_report_path(report_path, "--output"))]
    check_outputs(outputs, inputs=[results])
    out = console()
    records = load_results(
        results, videos=videos, timelines=timelines, min_probability=min_probability,
        notice=None if out.quiet else (lambda line: out.notice(printable(f"note: --timelines: {line}"))),
    )
    # The videos (and timelines) the rows name are inputs too: known once the rows are read.
    check_outputs(outputs, inputs=[results, *(record.video_file for record in records if record.video_file)])
    out.report_writer(source=results)(report_path, records)
