"""``movinet models``: the registry, what is downloaded and converted; --prepare does it now."""

from __future__ import annotations

import click

from movinet_cli.cli.params import quiet_option
from movinet_cli.text import printable


@click.command(short_help="List the MoViNet variants and trained MODEL_DIRs, or download and convert them now.")
@click.argument("names", nargs=-1)
@click.option("--prepare", is_flag=True, help="Download and convert NAMES now, so that their first run starts at once.")
@click.option(
    "--import", "imported", nargs=2, type=(str, click.Path(exists=True)), default=None, metavar="NAME PATH",
    help="Put a SavedModel downloaded by hand (a .tar.gz, or the directory it unpacks to) into the cache as registry "
    "variant NAME, checked first: for machines that cannot reach TF Hub.",
)
@click.option("--format", "-f", "output_format", type=click.Choice(("text", "json")), default="text", show_default=True)
@quiet_option("No progress.")
def models(names, prepare, imported, output_format):
    """List the registry's MoViNet variants, their inputs, and whether each is downloaded
    and converted for OpenVINO; or, with --prepare, download and convert NAMES now.

    A NAME that is a MODEL_DIR of `movinet train` is described: its backbone, its classes
    and the accuracy training measured; --prepare MODEL_DIR prepares its backbone.

    A model's first run downloads it (once) and converts it for OpenVINO (once; the larger
    stream models take minutes). --prepare does both ahead of time, for registry names, URLs
    or SavedModel directories, and exits 0 when all are ready. The cache is
    $MOVINET_CACHE_DIR or the per-user cache directory (downloads: $TFHUB_CACHE_DIR if set,
    else its tfhub folder). * marks the default model ($MOVINET_MODEL if set). s/min is
    the model's seconds per minute of video on this machine, where `movinet live` measured it.

    Offline, download a variant's SavedModel elsewhere (its page: docs/design.md, "Working
    offline") and --import it under its registry name; the commands then find it as if
    downloaded.

    \b
    Examples:
      movinet models
      movinet models --prepare a5-base a4-stream
      movinet models my-classes
      movinet models --prepare my-classes
      movinet models --import a0-base a0-base-kinetics-600-classification.tar.gz
    """
    import json

    from movinet_cli import environment
    from movinet_cli.commands.models import UnknownModelsError, list_models
    from movinet_cli.model.registry import DEFAULT_MODEL
    from movinet_cli.outputs.model_table import models_document, models_text

    if imported:
        _import(*imported, also=names or prepare)
        return
    if prepare:
        _prepare(names)
        return
    try:
        listing = list_models(names, environment.default_model() or DEFAULT_MODEL)
    except UnknownModelsError as error:
        raise click.UsageError(printable(str(error))) from None
    if output_format == "json":
        click.echo(json.dumps(models_document(listing.heads, listing.rows), indent=2, ensure_ascii=False))
        return
    for line in models_text(listing.heads, listing.rows, listing.default, f" (${environment.MODEL})" if environment.default_model() else ""):
        click.echo(line)


def _import(name: str, path: str, also: object) -> None:
    """--import NAME PATH: the archive or directory checked and cached as NAME, in one line."""
    from movinet_cli.model.archives import import_model

    if also:
        raise click.UsageError("--import takes a NAME and a PATH of its own: run --prepare or a listing apart")
    target = import_model(name, path)
    click.echo(printable(f"{name}: imported from {path} into {target}"))


def _prepare(names: tuple[str, ...]) -> None:
    """--prepare: each of ``names`` prepared in turn, one line each; exit 1 if any failed."""
    from movinet_cli.cli.console import console
    from movinet_cli.commands.models import prepare_models

    if not names:
        raise click.UsageError("--prepare needs the names of the models to prepare, e.g. movinet models --prepare a5-base")
    if any(not name.strip() for name in names):
        raise click.UsageError("--prepare: an empty model name (give a registry name, URL or SavedModel directory)")
    console()  # the downloads and conversions as notices (not with --quiet)
    failed = 0
    for name, error in prepare_models(names):
        if error is None:
            click.echo(printable(f"{name}: ready"))
        else:
            click.echo(printable(f"Error: {name}: {error}"), err=True)
            failed += 1
    if failed:
        raise click.exceptions.Exit(1)
