"""Labelled videos: class folders (``DIR/<class>/*.mp4``) and how well answers match their labels.

``movinet train`` learns the classes of the folders, ``movinet eval`` checks a model against
folders named by its own labels: both find the videos with ``find_labelled`` and score the
answers with ``confusion_matrix``, ``recall`` and ``precision`` (NumPy: no scikit-learn needed
to evaluate), shown by ``confusion_lines``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from movinet_cli.commands.batch import find_videos
from movinet_cli.errors import UsageError
from movinet_cli.options import VIDEO_EXTENSIONS
from movinet_cli.text import printable

MAX_MATRIX = 30  # classes up to which a confusion matrix is shown (and train keeps it): 900 cells
MOST_CONFUSED = 20  # (true, predicted) pairs shown in its place past MAX_MATRIX classes
HIDDEN_NAMED = 5  # hidden folders named in the notice that they were left out


class FolderError(UsageError):
    """Class folders that cannot be used as they are, found before any work (exit code 2)."""


@dataclass
class Examples:
    """Labelled videos: ``paths`` relative to ``directory``, ``targets`` indexes into ``labels``
    (the class folders' names, sorted); ``hidden``: the folders left out for a name starting with "."."""

    directory: str
    labels: list[str]
    paths: list[str]
    targets: list[int]
    hidden: list[str] = field(default_factory=list)

    def counts(self) -> list[int]:
        return [self.targets.count(index) for index in range(len(self.labels))]

    def notice(self) -> str | None:
        """One line naming the hidden folders left out, or None if there are none."""
        if not self.hidden:
            return None
        names = ", ".join(self.hidden[:HIDDEN_NAMED]) + (f" and {len(self.hidden) - HIDDEN_NAMED} more" if len(self.hidden) > HIDDEN_NAMED else "")
        return f"note: left out {len(self.hidden)} hidden folder(s) of {self.directory}: {names} (a name starting with '.'; rename it to use its videos)"


def find_labelled(directory: str | os.PathLike, extensions=VIDEO_EXTENSIONS) -> Examples:
    """The videos of ``directory/<class>/`` (any depth below the class folder), class folders
    sorted, hidden ones (a name starting with ".") skipped and named in ``hidden``, folders
    without videos left out. Raises FolderError (one line) if ``directory`` cannot be listed."""
    directory = os.fspath(directory)
    try:
        folders = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    except OSError as error:
        raise FolderError(f"{directory}: cannot list the class folders ({error.strerror or error})") from None
    classes = [name for name in folders if not name.startswith(".")]
    labels, paths, targets = [], [], []
    for name in classes:
        found = find_videos(os.path.join(directory, name), extensions)
        if found:
            labels.append(name)
            paths += [f"{name}/{path}" for path in found]
            targets += [len(labels) - 1] * len(found)
    return Examples(directory, labels, paths, targets, [name for name in folders if name.startswith(".")])


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
    the columns in the rows' order, then ``other``'s column if the matrix has one more. Past
    MAX_MATRIX classes, its MOST_CONFUSED most frequent confusions instead (``frequent_confusion_lines``)."""
    if len(labels) > MAX_MATRIX:
        matrix = np.array(confusion, dtype=np.int64)
        matrix[np.arange(len(labels)), np.arange(len(labels))] = 0  # right answers are no confusion
        columns = [*labels, other or "another label"]
        order = np.argsort(matrix, axis=None, kind="stable")[::-1][:MOST_CONFUSED]
        pairs = [(labels[i], columns[j], int(matrix[i, j])) for i, j in zip(*np.unravel_index(order, matrix.shape)) if matrix[i, j]]
        return frequent_confusion_lines(len(labels), pairs, width)
    then = f", then {other}" if other else ""
    lines = [f"confusion matrix (rows: true class, columns: predicted, in the order above{then}):"]
    cell = max(3, len(str(max(max(row) for row in confusion))))
    for label, row in zip(labels, confusion):
        lines.append(f"{label:<{width}}  " + " ".join(f"{count:>{cell}}" for count in row))
    return lines


def frequent_confusion_lines(classes: int, pairs: Sequence[tuple[str, str, int]], width: int) -> list[str]:
    """In place of a matrix of ``classes`` rows too many to show: a title, then a line per
    (true class, predicted class, videos) of ``pairs``, most frequent first."""
    lines = [f"confusion matrix: {classes} classes, too many to show (at most {MAX_MATRIX}); the most frequent confusions (true class -> predicted: videos):"]
    return lines + ([f"{printable(true):<{width}}  -> {printable(predicted)}: {count}" for true, predicted, count in pairs] or ["none"])
