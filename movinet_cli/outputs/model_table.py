"""``movinet models``' output: its listing (``commands.models.ModelListing``'s heads and rows)
as a JSON document (``models_document``) or as lines for a terminal (``models_text``: each
trained MODEL_DIR described, then the registry's table)."""

from __future__ import annotations

from movinet_cli.model.registry import HUB_URL, cache_dir, hub_cache_dir
from movinet_cli.text import printable

SHOWN_LABELS = 20  # classes of a trained MODEL_DIR named in the text output; the rest are counted


def models_document(heads: list[dict], rows: list[dict]) -> dict:
    """The JSON document: the cache directories, the registry's ``rows`` and, if any, the
    trained MODEL_DIRs' ``heads``."""
    document = {"cache_dir": str(hub_cache_dir()), "openvino_cache_dir": str(cache_dir() / "openvino"), "models": rows}
    return {**document, "trained": heads} if heads else document


def models_text(heads: list[dict], rows: list[dict], default: str, default_variable: str = "") -> list[str]:
    """The text output, one string per line written (some hold a line break): each of
    ``heads`` described, then ``rows`` as a table that fits 100 columns, with what its marks
    and columns mean. ``default_variable``: where the default model ``default`` was named
    (`` ($MOVINET_MODEL)``), "" for the built-in default."""
    lines = [printable(line) for head in heads for line in trained_text(head).split("\n")]
    if not rows:
        return lines
    # The URLs (one pattern) are said once below the table.
    lines.append(f"  {'name':<10} {'clip (10 s)':<13} {'fps':>3} {'GFLOPs':>6} {'top-1':>6}  {'downloaded':<10}  {'converted':<9}  s/min")
    for row in rows:
        clip = f"{row['frames']} x {row['size']}"
        mark = "*" if row["default"] else " "
        per_minute = f"{row['seconds_per_minute']:>5.1f}" if row["seconds_per_minute"] is not None else ""
        line = (
            f"{mark} {row['name']:<10} {clip:<13} {row['fps']:>3} {row['gflops']:>6g} {row['top1']:>5.2f}%  "
            f"{'yes' if row['cached'] else 'no':<10}  {'yes' if row['converted'] else 'no':<9}  {per_minute}"
        )
        lines.append(line.rstrip())
    if any(head["default"] for head in heads):
        lines.append(printable(f"\nthe default model{default_variable} is the MODEL_DIR {default}"))
    else:
        lines.append(f"\n* the default model{default_variable}")
    lines.append("s/min: model seconds per minute of video here, as `movinet live` measured it (blank: not yet)")
    lines.append(f"from: {HUB_URL.format(model_id='<a0..a5>', kind='<base|stream>', version='<v>')}")
    lines.append(f"cache: {hub_cache_dir()}\nconversions: {cache_dir() / 'openvino'}")
    if not all(row["converted"] for row in rows):
        lines.append("A model's first run downloads and converts it; `movinet models --prepare NAME...` does it now.")
    return lines


def trained_text(head: dict) -> str:
    """A MODEL_DIR's description (``Head.description`` with its ``path``), for a terminal."""
    backbone, labels = head["backbone"], [printable(label) for label in head["labels"]]  # a folder's name may hold a line break
    more = f", ... and {len(labels) - SHOWN_LABELS} more" if len(labels) > SHOWN_LABELS else ""
    if head["accuracy"] is None:
        accuracy = "not recorded"
    else:
        accuracy = f"{head['accuracy']:.1%} ({head['method']}, {head['videos']} videos)"
    return "\n".join(
        [
            f"{printable(head['path'])}: a head trained by movinet train{' (the default model)' if head['default'] else ''}",
            f"  backbone: {printable(backbone['model'])} ({backbone['kind']}, read at {backbone['fps']:g} frames/s, {backbone['size']} px, --resize {backbone['resize']})",
            f"  classes ({len(labels)}): {', '.join(labels[:SHOWN_LABELS])}{more}",
            f"  training accuracy: {accuracy}",
            "",
        ]
    )
