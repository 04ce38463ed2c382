"""``movinet report``: an HTML page from a results file."""

from __future__ import annotations

import click

from .progress import report_writer


@click.command(short_help="Make an HTML report from a results file.")
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
    from ..report import check_report_path, load_results
    from ..sinks import OutputPath, check_outputs

    check_outputs([OutputPath("--output", report_path, check=lambda: check_report_path(report_path, "--output"))], inputs=[results])
    report_writer(quiet, source=results)(report_path, load_results(results, videos=videos))
