"""Class labels: the Kinetics-600 list shipped with the package, or a user's file."""

from __future__ import annotations

import os
from importlib import resources

from .errors import LabelsError

KINETICS_600 = "kinetics_600_labels.txt"  # 600 lines, line i names logit i
BESIDE_MODEL = "labels.txt"  # in a SavedModel's directory: its labels, used unless others are given


def load_labels(path: str | os.PathLike | None = None) -> list[str]:
    """Reads one label per line (line i names logit i); the Kinetics-600 list if no path.

    A UTF-8 byte-order mark and blank lines at the end are ignored; a blank line before the
    last label, or a label given twice, is a LabelsError naming the line."""
    try:
        if path is None:
            text = resources.files(__package__).joinpath("data").joinpath(KINETICS_600).read_text("utf-8")
        else:
            with open(path, encoding="utf-8-sig") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise LabelsError(f"cannot read labels file {path}: {getattr(error, 'strerror', None) or error}") from None
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise LabelsError(f"labels file {path} is empty")
    first_line: dict[str, int] = {}
    for number, label in enumerate(labels, 1):
        if not label:
            raise LabelsError(f"labels file {path}: line {number} is blank (one label per line, in logit order)")
        if label in first_line:
            raise LabelsError(f"labels file {path}: line {number} repeats the label {label!r} of line {first_line[label]}")
        first_line[label] = number
    return labels


def check_labels(labels: list[str], num_classes: int, source: str | os.PathLike | None = None) -> None:
    """Raises LabelsError unless there is exactly one label per model output."""
    if len(labels) != num_classes:
        origin = f"labels file {source}" if source else "the built-in Kinetics-600 labels"
        raise LabelsError(
            f"the model outputs {num_classes} classes but {origin} has {len(labels)} labels "
            "(pass --labels FILE with one label per line, in logit order)"
        )
