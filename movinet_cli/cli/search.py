"""``movinet search``: the videos (and moments) of a results database that show given labels."""

from __future__ import annotations

import click

from movinet_cli.cli.console import console
from movinet_cli.cli.params import FiniteFloat, quiet_option
from movinet_cli.options import MIN_SEARCH_PROBABILITY

SEARCH_FORMATS = ("text", "json", "csv")  # search.SEARCH_FORMATS, without importing it for --help
DEFAULT_LIMIT = 100
EXIT_CODES = """\b
Exit codes: 0 something found, 1 nothing found (as grep), 2 usage error
(DATABASE is not a movinet results database, a LABEL no model in it knows)."""


@click.command(epilog=EXIT_CODES, short_help="Find the videos, and where in them, that a results database says show given labels.")
@click.argument("database", type=click.Path(exists=True, dir_okay=False))
@click.argument("labels", nargs=-1, metavar="[LABEL]...")
@click.option("--like", is_flag=True, help="Each LABEL is part of the labels to find, in any case: 'skat' finds 'skateboarding' and 'ice skating'.")
@click.option(
    "--min-probability", type=FiniteFloat(0, 1), default=None,
    help=f"Only videos (or segments) where the label is at least this probable.  [default: {MIN_SEARCH_PROBABILITY:g}: a label that a "
    "top-k merely lists, far below its first, is left out]",
)
@click.option("--videos-only", is_flag=True, help="Search the videos' top-k even where DATABASE holds timeline segments.")
@click.option("--failed", is_flag=True, help="List the videos that failed, and their errors, instead (no LABEL).")
@click.option(
    "--format", "-f", "output_format", type=click.Choice(SEARCH_FORMATS), default="text", show_default=True,
    help="Aligned text for people, or JSON or CSV (path, start_s, end_s, label, probability) for programs.",
)
@click.option("--limit", type=click.IntRange(min=0), default=DEFAULT_LIMIT, show_default=True, help="At most this many results, best first (0: all).")
@quiet_option("No note on stderr when --limit leaves results out.")
def search(database, labels, like, min_probability, videos_only, failed, output_format, limit):
    """Find what DATABASE (the .db of movinet batch or classify -o) says shows LABEL(s):
    the videos whose top-k holds one of them at --min-probability or more, or, where the
    run wrote timelines, the segments whose label is one of them, with where they start
    and end. Best first; a LABEL is a label of the model exactly, or part of one with
    --like. --failed lists the videos that failed, and why.

    The database is read, never written: a run may be writing it meanwhile. Any SQLite
    tool reads it too (its schema: docs/formats.md).

    \b
    Examples:
      movinet search library.db surfing
      movinet search library.db skateboarding --min-probability 0.5
      movinet search library.db --like skat ski --format csv > moments.csv
      movinet search library.db --failed
    """
    from movinet_cli.commands.search import failed_videos, failures_text, hits_text
    from movinet_cli.commands.search import search as search_database

    if failed == bool(labels):
        raise click.UsageError("give LABEL(s) to search for, or --failed (not both)")
    if failed and (like or videos_only or min_probability is not None):
        raise click.UsageError("--like, --videos-only and --min-probability choose labels: not with --failed")
    if failed:
        found = failed_videos(database, limit or None)
        text = failures_text(found.items, output_format)
    else:
        least = MIN_SEARCH_PROBABILITY if min_probability is None else min_probability
        found = search_database(database, list(labels), like=like, min_probability=least, limit=limit or None, videos_only=videos_only)
        text = hits_text(found.items, output_format)
    if found.items or output_format != "text":
        click.echo(text, nl=False)
    if found.more:
        console().notice(f"note: the first {limit} results; pass --limit 0 for all, or a larger --limit")
    if not found.items:
        raise click.exceptions.Exit(1)
