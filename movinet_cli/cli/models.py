"""``movinet models``: the registry, what is downloaded and converted; --prepare does it now."""

from __future__ import annotations

import click

from movinet_cli.cli.progress import notices
from movinet_cli.errors import MovinetError
from movinet_cli.text import printable

SHOWN_LABELS = 20  # classes of a trained MODEL_DIR named in the text output; the rest are counted


@click.command(short_help="List the MoViNet variants and trained MODEL_DIRs, or download and convert them now.")
@click.argument("names", nargs=-1)
@click.option("--prepare", is_flag=True, help="Download and convert NAMES now, so that their first run starts at once.")
@click.option("--format", "-f", "output_format", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress.")
def models(names, prepare, output_format, quiet):
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

    \b
    Examples:
      movinet models
      movinet models --prepare a5-base a4-stream
      movinet models my-classes
      movinet models --prepare my-classes
    """
    import json
    import os

    from movinet_cli.cli.params import MODEL_VARIABLE
    from movinet_cli.commands.pace import Measurements
    from movinet_cli.model.engines import is_prepared
    from movinet_cli.model.head import is_head_dir, load_head
    from movinet_cli.model.registry import DEFAULT_MODEL, HUB_URL, VARIANTS, cache_dir, cached_model_dir, hub_cache_dir, is_cached
    from movinet_cli.outcomes.loading import prepare_model

    if prepare:
        if not names:
            raise click.UsageError("--prepare needs the names of the models to prepare, e.g. movinet models --prepare a5-base")
        if any(not name.strip() for name in names):
            raise click.UsageError("--prepare: an empty model name (give a registry name, URL or SavedModel directory)")
        log, failed = notices(quiet), 0
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
    trained = [name for name in names if is_head_dir(name)]
    unknown = [name for name in names if name not in VARIANTS and name not in trained]
    if unknown:
        raise click.UsageError(printable(f"neither in the registry nor a trained MODEL_DIR: {', '.join(unknown)} (names: {', '.join(VARIANTS)})"))
    default = os.environ.get(MODEL_VARIABLE) or DEFAULT_MODEL
    if not names and is_head_dir(default):
        trained = [default]  # the default model is a MODEL_DIR: described above the registry
    heads = [{"path": name, "default": is_default_dir(name, default), **load_head(name).description()} for name in trained]
    registry = [name for name in names if name in VARIANTS] if names else list(VARIANTS)
    book = Measurements()
    rows = []
    for v in (VARIANTS[name] for name in registry):
        downloaded = is_cached(v.url)
        measured = book.get(v.name, v.size, "auto", "auto") if downloaded else None
        rows.append(
            {
                "name": v.name,
                "default": default in (v.name, v.model_id if v.kind == "base" else None),
                "kind": v.kind,
                "frames": v.clip_frames,
                "size": v.size,
                "fps": v.fps,
                "gflops": v.gflops,
                "top1": v.top1,
                "cached": downloaded,
                "converted": downloaded and is_prepared(str(cached_model_dir(v.url)), v.kind, v.size),
                "seconds_per_minute": round(measured.seconds_per_minute(v.fps), 1) if measured else None,
                "url": v.url,
            }
        )
    if output_format == "json":
        document = {"cache_dir": str(hub_cache_dir()), "openvino_cache_dir": str(cache_dir() / "openvino"), "models": rows}
        click.echo(json.dumps({**document, "trained": heads} if trained else document, indent=2, ensure_ascii=False))
        return
    for head in heads:
        for line in trained_text(head).split("\n"):
            click.echo(printable(line))
    if not rows:
        return
    # Fits 100 columns: the URLs (one pattern) are said once below the table.
    click.echo(f"  {'name':<10} {'clip (10 s)':<13} {'fps':>3} {'GFLOPs':>6} {'top-1':>6}  {'downloaded':<10}  {'converted':<9}  s/min")
    for row in rows:
        clip = f"{row['frames']} x {row['size']}"
        mark = "*" if row["default"] else " "
        per_minute = f"{row['seconds_per_minute']:>5.1f}" if row["seconds_per_minute"] is not None else ""
        line = (
            f"{mark} {row['name']:<10} {clip:<13} {row['fps']:>3} {row['gflops']:>6g} {row['top1']:>5.2f}%  "
            f"{'yes' if row['cached'] else 'no':<10}  {'yes' if row['converted'] else 'no':<9}  {per_minute}"
        )
        click.echo(line.rstrip())
    marked = f" (${MODEL_VARIABLE})" if os.environ.get(MODEL_VARIABLE) else ""
    if any(head["default"] for head in heads):
        click.echo(printable(f"\nthe default model{marked} is the MODEL_DIR {default}"))
    else:
        click.echo(f"\n* the default model{marked}")
    click.echo("s/min: model seconds per minute of video here, as `movinet live` measured it (blank: not yet)")
    click.echo(f"from: {HUB_URL.format(model_id='<a0..a5>', kind='<base|stream>', version='<v>')}")
    click.echo(f"cache: {hub_cache_dir()}\nconversions: {cache_dir() / 'openvino'}")
    if not all(row["converted"] for row in rows):
        click.echo("A model's first run downloads and converts it; `movinet models --prepare NAME...` does it now.")


def trained_text(head: dict) -> str:
    """A MODEL_DIR's description (``Head.description`` with its ``path``), for a terminal."""
    backbone, labels = head["backbone"], head["labels"]
    more = f", ... and {len(labels) - SHOWN_LABELS} more" if len(labels) > SHOWN_LABELS else ""
    if head["accuracy"] is None:
        accuracy = "not recorded"
    else:
        accuracy = f"{head['accuracy']:.1%} ({head['method']}, {head['videos']} videos)"
    return "\n".join(
        [
            f"{head['path']}: a head trained by movinet train{' (the default model)' if head['default'] else ''}",
            f"  backbone: {backbone['model']} ({backbone['kind']}, read at {backbone['fps']:g} frames/s, {backbone['size']} px, --resize {backbone['resize']})",
            f"  classes ({len(labels)}): {', '.join(labels[:SHOWN_LABELS])}{more}",
            f"  training accuracy: {accuracy}",
            "",
        ]
    )


def is_default_dir(path: str, default: str) -> bool:
    """Whether the MODEL_DIR ``path`` is the default model ``default`` ($MOVINET_MODEL), however either is spelled."""
    import os

    from movinet_cli.model.head import is_head_dir

    return is_head_dir(default) and os.path.samefile(path, default)
