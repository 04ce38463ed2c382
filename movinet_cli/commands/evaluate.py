"""Evaluating a model on class folders named by its own labels (``movinet eval``).

``DIR/<label>/*.mp4``: each folder names one of the model's labels (a Kinetics-600 name, or a
trained MODEL_DIR's class; "_" may stand for a space, as in many copies of Kinetics). Every
video runs as ``classify`` runs it (``classify_many``: decoded in a child process, read at the
model's frame rate and size with the eval recipe's central crop, a base model over the whole
video in 10-s windows whose probabilities are averaged by frames); its top-1 and top-5 answers
are scored against its folder. A video that fails is counted apart, never as a wrong answer.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from movinet_cli.commands.labelled import Examples, FolderError, confusion_lines, confusion_matrix, recall
from movinet_cli.errors import MovinetError
from movinet_cli.options import ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier, classify_many
from movinet_cli.text import printable

TOP_K = 5  # the k of top-k accuracy (the published figures' top-5), at most the model's classes
OTHER = "any other label"  # the confusion matrix's last column: answers naming no evaluated class

logger = logging.getLogger(__name__)  # notices: the command line shows them on stderr


class EvaluationError(MovinetError):
    """No video of the class folders could be evaluated."""


def check_folders(examples: Examples, labels: list[str]) -> list[int]:
    """The index in ``labels`` (the model's) of each class folder of ``examples``. Raises
    FolderError (one line, before any video is read) for no class folder with videos, a
    folder naming no label, or two folders naming one."""
    if not examples.labels:
        raise FolderError(f"{examples.directory}: no class folder with videos; eval needs DIR/<label>/*.mp4, each folder named by one of the model's labels")
    index = {label: number for number, label in enumerate(labels)}
    found, unknown = [], []
    for name in examples.labels:
        number = index.get(name, index.get(name.replace("_", " ")))
        if number is None:
            unknown.append(name)
        else:
            found.append(number)
    if unknown:
        more = f" (nor {len(unknown) - 1} other folder(s))" if len(unknown) > 1 else ""
        raise FolderError(
            f"{examples.directory}: folder {unknown[0]!r} names no label of the model{more}; "
            f"name each folder by one of its labels (e.g. {labels[0]!r}, as --labels or the MODEL_DIR gives them)"
        )
    seen: dict[int, str] = {}
    for name, number in zip(examples.labels, found):
        if number in seen:
            raise FolderError(f"{examples.directory}: folders {seen[number]!r} and {name!r} both name the label {labels[number]!r}; merge them")
        seen[number] = name
    return found


@dataclass
class Evaluation:
    """How a model answered on class folders named by its labels."""

    model: str  # as named
    mode: str  # "clip" or "stream"
    read: dict  # fps (frames/s), size (pixels) and resize the videos were read at; window_s (clip mode, seconds) or aggregate (stream mode)
    labels: list[str]  # the evaluated classes (the model's labels the folders name), in folder order
    videos: int  # videos scored (failed ones are not)
    top1: float  # in [0, 1]: share of videos whose most probable label is their folder's
    top5: float  # in [0, 1]: share whose folder's label is among the ``k`` most probable
    k: int  # TOP_K, or the model's classes if fewer
    recall: list[float]  # per class, top-1, in [0, 1]
    support: list[int]  # scored videos per class
    confusion: list[list[int]]  # [true][predicted]: the classes in order, then OTHER where the model has more labels
    misclassified: list[dict]  # {"path", "label", "predicted"} (top-1)
    failed: list[dict]  # {"path", "error"}: videos that could not be evaluated

    def to_dict(self) -> dict:
        """A JSON-ready document of every field."""
        return asdict(self)

    def text(self) -> str:
        """The accuracies, per-class recall and the confusion matrix, for a terminal."""
        scored = f"{self.videos} video(s)" + (f"; {len(self.failed)} failed, not counted" if self.failed else "")
        lines = [
            f"top-1 accuracy: {self.top1:.1%} ({round(self.top1 * self.videos)} of {scored})",
            f"top-{self.k} accuracy: {self.top5:.1%}",
            f"model: {self.model} ({self.mode}), read at {self.read['fps']:g} frames/s, {self.read['size']} px ({self.read['resize']})",
            "",
        ]
        labels = [printable(label) for label in self.labels]  # a folder's name may hold a line break
        width = max(8, *(len(label) for label in labels))
        lines.append(f"{'class':<{width}}  recall  videos")
        lines += [f"{label:<{width}}  {value:>6.1%}  {count:>6}" for label, value, count in zip(labels, self.recall, self.support)]
        other = OTHER if len(self.confusion[0]) > len(labels) else None
        return "\n".join([*lines, "", *confusion_lines(labels, self.confusion, width, other)])


def evaluate(
    classifier: Classifier,
    examples: Examples,
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    ahead: int = 0,
    on_start: Callable[[str], None] | None = None,
    on_video: Callable[[str, str], None] | None = None,
) -> Evaluation:
    """Runs ``classifier`` over every video of ``examples`` (folders named by its labels) and
    scores its answers. ``ahead``, ``on_start`` are ``classify_many``'s; ``on_video(path,
    error)`` is told of each video done ("" when it worked); the notice of hidden folders left
    out is logged. Raises FolderError (see ``check_folders``) before any video is read,
    EvaluationError if none could be."""
    rows = check_folders(examples, classifier.labels)
    if examples.notice():
        logger.info(examples.notice())
    k = min(TOP_K, len(classifier.labels))
    column = {number: row for row, number in enumerate(rows)}
    truth: list[int] = []
    answered: list[int] = []  # a row's index, or len(rows) for any other label
    in_top: list[bool] = []
    wrong: list[dict] = []
    failed: list[dict] = []
    outcomes = classify_many(classifier, examples.paths, read, run, directory=examples.directory, ahead=ahead, on_start=on_start)
    with contextlib.closing(outcomes):  # Ctrl-C stops the decoders ahead at once
        for path, target, outcome in zip(examples.paths, examples.targets, outcomes):
            if on_video:
                on_video(path, outcome.error)
            if outcome.result is None:
                failed.append({"path": path, "error": outcome.error})
                continue
            order = np.argsort(outcome.result.probabilities)[::-1][:k]  # as classify ranks its predictions
            truth.append(target)
            answered.append(column.get(int(order[0]), len(rows)))
            in_top.append(rows[target] in order.tolist())
            if int(order[0]) != rows[target]:
                wrong.append({"path": path, "label": classifier.labels[rows[target]], "predicted": classifier.labels[int(order[0])]})
    if not truth:
        raise EvaluationError(f"no video in {examples.directory} could be evaluated ({failed[0]['path']}: {failed[0]['error']})")
    columns = len(rows) + (len(classifier.labels) > len(rows))
    confusion = confusion_matrix(truth, answered, len(rows), columns)
    resolved = classifier.reading(read)
    return Evaluation(
        model=classifier.source.name,
        mode=classifier.mode,
        read={"fps": resolved.fps, "size": resolved.size, "resize": resolved.resize, **({"window_s": run.window} if classifier.mode == "clip" else {"aggregate": run.aggregate})},
        labels=[classifier.labels[number] for number in rows],
        videos=len(truth),
        top1=float(np.trace(confusion) / len(truth)),
        top5=float(np.mean(in_top)),
        k=k,
        recall=[round(float(value), 4) for value in recall(confusion)],
        support=[int(value) for value in confusion.sum(1)],
        confusion=confusion.tolist(),
        misclassified=wrong,
        failed=failed,
    )


def write_evaluation(evaluation: Evaluation, output_format: str, stream) -> None:
    """Writes ``evaluation`` as "text" or "json" (one document) to the text ``stream``."""
    import json

    stream.write((json.dumps(evaluation.to_dict(), indent=1, ensure_ascii=False) if output_format == "json" else evaluation.text()) + "\n")

