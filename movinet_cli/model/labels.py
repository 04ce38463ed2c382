"""Class labels: the Kinetics-600 list shipped with the package, or a user's file."""

from __future__ import annotations

import os
from importlib import resources

from movinet_cli.errors import LabelsError
from movinet_cli.files import ReadError, read_text

KINETICS_600 = "kinetics_600_labels.txt"  # 600 lines, line i names logit i
BESIDE_MODEL = "labels.txt"  # in a SavedModel's directory: its labels, used unless others are given
LABELS_LIMIT_BYTES = 16 << 20  # a labels file larger than this is no labels file (Kinetics-600: 10 kB)


def load_labels(path: str | os.PathLike | None = None) -> list[str]:
    """Reads one label per line (line i names logit i); the Kinetics-600 list if no path.

    Lines end at "\n" (and "\r\n") only: a form feed or U+2028 inside a label is part of it.
    A UTF-8 byte-order mark and blank lines at the end are ignored; a blank line before the
    last label, or a label given twice, is a LabelsError naming the line. The file is read
    with a bound: a FIFO, a device or a file over LABELS_LIMIT_BYTES is a LabelsError at once."""
    if path is None:
        text = resources.files("movinet_cli").joinpath("data").joinpath(KINETICS_600).read_text("utf-8")
    else:
        try:
            text = read_text(path, "labels file", LABELS_LIMIT_BYTES, encoding="utf-8-sig")
        except ReadError as error:
            raise LabelsError(str(error)) from None
    labels = [line.strip() for line in text.split("\n")]
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
