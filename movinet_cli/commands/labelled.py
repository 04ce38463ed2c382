"""Labelled videos: class folders (``DIR/<class>/*.mp4``) and how well answers match their labels.

``movinet train`` learns the classes of the folders, ``movinet eval`` checks a model against
folders named by its own labels: both find the videos with ``find_labelled`` and score the
answers with ``confusion_matrix``, ``recall`` and ``precision`` (NumPy: no scikit-learn needed
to evaluate), shown by ``confusion_lines``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from movinet_cli.commands.batch import find_videos
from movinet_cli.errors import UsageError
from movinet_cli.options import VIDEO_EXTENSIONS


class FolderError(UsageError):
    """Class folders that cannot be used as they are, found before any work (exit code 2)."""


@dataclass
class Examples:
    """Labelled videos: ``paths`` relative to ``directory``, ``targets`` indexes into ``labels``
    (the class folders' names, sorted)."""

    directory: str
    labels: list[str]
    paths: list[str]
    targets: list[int]

    def counts(self) -> list[int]:
        return [self.targets.count(index) for index in range(len(self.labels))]


def find_labelled(directory: str | os.PathLike, extensions=VIDEO_EXTENSIONS) -> Examples:
    """The videos of ``directory/<class>/`` (any depth below the class folder), class folders
    sorted, hidden ones skipped, folders without videos left out. Raises FolderError (one
    line) if ``directory`` cannot be listed."""
    directory = os.fspath(directory)
    try:
        classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith("."))
    except OSError as error:
        raise FolderError(f"{directory}: cannot list the class folders ({error.strerror or error})") from None
    labels, paths, targets = [], [], []
    for name in classes:
        found = find_videos(os.path.join(directory, name), extensions)
        if found:
            labels.append(name)
            paths += [f"{name}/{path}" for path in found]
            targets += [len(labels) - 1] * len(found)
    return Examples(directory, labels, paths, targets)


def confusion_matrix(truth: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray, rows: int, columns: int | None = None) -> np.ndarray:
    """Counts [rows, columns] int64: at [i, j] the videos of true class i answered j. ``truth``
    is in [0, rows), ``predicted`` in [0, columns) (default ``rows``); a column past the
    rows can count answers that are no row's class."""
    columns = rows if columns is None else columns
    truth, predicted = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    return np.bincount(truth * columns + predicted, minlength=rows * columns).reshape(rows, columns)


def recall(confusion: np.ndarray) -> np.ndarray:
    """Per true class [rows] float64 in [0, 1]: the share of its videos answered right (0 for none)."""
    right, videos = np.diagonal(confusion).astype(np.float64), confusion.sum(1)
    return np.divide(right, videos, out=np.zeros_like(right), where=videos > 0)


def precision(confusion: np.ndarray) -> np.ndarray:
    """Per true class [rows] float64 in [0, 1]: the share of the answers naming it that were right (0 for none)."""
    right, answers = np.diagonal(confusion).astype(np.float64), confusion.sum(0)[: confusion.shape[0]]
    return np.divide(right, answers, out=np.zeros_like(right), where=answers > 0)


def confusion_lines(labels: list[str], confusion: Sequence[Sequence[int]], width: int, other: str | None = None) -> list[str]:
    """The matrix as text: a title, then a row per true class (its label padded to ``width``),
    the columns in the rows' order, then ``other``'s column if the matrix has one more."""
    then = f", then {other}" if other else ""
    lines = [f"confusion matrix (rows: true class, columns: predicted, in the order above{then}):"]
    cell = max(3, len(str(max(max(row) for row in confusion))))
    for label, row in zip(labels, confusion):
        lines.append(f"{label:<{width}}  " + " ".join(f"{count:>{cell}}" for count in row))
    return lines
