"""Training a head for the user's own classes on a MoViNet's frozen pooled features (a linear probe).

``DIR/<class>/*.mp4``: one folder per class. Every video is embedded once (``Classifier.embed``;
cached per file and model under ``<cache>/features``, so a second run with other settings does
not decode again); a multinomial logistic regression (scikit-learn, on standardised features)
is evaluated on a held-out split (or by stratified k-fold when a class has few videos), then
fitted on every video and written as a MODEL_DIR (see ``head``) with ``summary.json`` and
``report.html``. No TensorFlow and no GPU are needed to fit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from movinet_cli.commands import labelled
from movinet_cli.commands.labelled import MAX_MATRIX, Examples, FolderError, confusion_lines, find_labelled, frequent_confusion_lines
from movinet_cli.commands.train_report import report_html
from movinet_cli.errors import MovinetError, OutputError
from movinet_cli.files import umask
from movinet_cli.model.head import Backbone, Head, is_head_dir, max_classes
from movinet_cli.model.registry import MODES, cache_dir
from movinet_cli.options import VIDEO_EXTENSIONS, ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier, classify_many
from movinet_cli.text import printable

logger = logging.getLogger(__name__)  # notices: the command line shows them on stderr

MIN_CLASSES = 2
MIN_VIDEOS = 2  # per class
HELD_OUT_MIN = 10  # videos in the smallest class from which a held-out split is used; fewer: k-fold
HELD_OUT_SHARE = 0.2
MAX_FOLDS = 5
IMBALANCE_RATIO = 4  # largest class / smallest class above which training warns
REGULARISATION = 1.0  # LogisticRegression's C (inverse strength), on standardised features
CLASS_LINES = 50  # classes up to which train prints a line for each; past it, the LOWEST_SHOWN of lowest recall
LOWEST_SHOWN = 20
EXTRA = "train"  # the optional dependencies: pip install 'movinet-cli[train]'


class TrainingError(MovinetError):
    """The class folders cannot be trained on as they are."""


def require_sklearn():
    """scikit-learn, or a one-line error naming the extra that installs it."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise TrainingError(f"movinet train needs scikit-learn: pip install 'movinet-cli[{EXTRA}]'") from None


def find_examples(directory: str | os.PathLike, extensions=VIDEO_EXTENSIONS) -> Examples:
    """The videos of ``directory/<class>/`` (``labelled.find_labelled``). Raises FolderError
    (one line) for fewer than MIN_CLASSES classes or a class with fewer than MIN_VIDEOS videos."""
    examples = find_labelled(directory, extensions)
    if len(examples.labels) < MIN_CLASSES:
        raise FolderError(
            f"{examples.directory}: {len(examples.labels)} class folder(s) with videos; training needs at least {MIN_CLASSES} (one folder per class: DIR/<class>/*.mp4)"
        )
    small = [f"{label} ({count})" for label, count in zip(examples.labels, examples.counts()) if count < MIN_VIDEOS]
    if small:
        raise FolderError(f"{examples.directory}: every class needs at least {MIN_VIDEOS} videos; too few in {', '.join(small)}")
    return examples


def imbalance_warning(examples: Examples) -> str | None:
    """A warning when the largest class has more than IMBALANCE_RATIO times the smallest's videos."""
    counts = examples.counts()
    if max(counts) > IMBALANCE_RATIO * min(counts):
        most, least = int(np.argmax(counts)), int(np.argmin(counts))
        return (
            f"warning: classes are imbalanced ({examples.labels[most]}: {counts[most]} videos, {examples.labels[least]}: {counts[least]}); "
            "the head will favour the large classes: add videos to the small ones"
        )
    return None


class FeatureCache:
    """Pooled features per video file and model, as .npy files under ``<cache>/features``.

    The key is the file (real path, size, modification time), the backbone's content hash
    and kind, the frames/s, size and resize mode read at, and the engine's precision."""

    def __init__(self, classifier: Classifier, identity: str, read: ReadOptions, run: RunOptions):
        read = classifier.reading(read)
        self.root = cache_dir() / "features"
        self.writable = True
        self._model = json.dumps([identity, classifier.mode, read.fps, read.size, read.resize, read.start, read.end, run.chunk, run.window, run.aggregate, classifier.model.precision])

    def _file(self, path: str) -> Path:
        status = os.stat(path)
        key = json.dumps([os.path.realpath(path), status.st_size, status.st_mtime_ns, self._model])
        return self.root / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npy"

    def get(self, path: str) -> np.ndarray | None:
        try:
            return np.load(self._file(path))
        except (OSError, ValueError):  # not cached yet, or a damaged entry: embed again
            return None

    def put(self, path: str, vector: np.ndarray) -> None:
        """Remembers ``vector`` for ``path``; a cache that cannot be written (read-only, full)
        is said once (logged) and the run goes on without it."""
        if not self.writable:
            return
        target, staging = self._file(path), None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, staging = tempfile.mkstemp(dir=target.parent, suffix=".partial")
            with os.fdopen(descriptor, "wb") as handle:
                np.save(handle, vector.astype(np.float32))
            os.replace(staging, target)
        except OSError as error:
            self.writable = False
            logger.warning("warning: the features cache %s cannot be written (%s); training without caching", self.root, error.strerror or error)
            if staging is not None:
                with contextlib.suppress(OSError):
                    os.unlink(staging)


def embed_examples(
    classifier: Classifier,
    examples: Examples,
    identity: str,
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    on_video: Callable[[str, str], None] | None = None,
) -> tuple[np.ndarray, list[int], list[str]]:
    """Features [N, F] float32 of the videos that could be read, their indexes into
    ``examples.paths``, and one line per video that could not. Cached videos are not
    decoded; ``on_video(path, error)`` is told of each video done ("" when it worked)."""
    cache = FeatureCache(classifier, identity, read, run)
    vectors: dict[int, np.ndarray] = {}
    failures, todo = [], []
    for index, path in enumerate(examples.paths):
        cached = cache.get(os.path.join(examples.directory, path))
        if cached is None:
            todo.append(index)
        else:
            vectors[index] = cached
            if on_video:
                on_video(path, "")
    outcomes = classify_many(classifier, [examples.paths[index] for index in todo], read, run, directory=examples.directory, embed=True)
    for index, outcome in zip(todo, outcomes):
        if outcome.result is not None:
            vectors[index] = outcome.result.vector
            cache.put(os.path.join(examples.directory, outcome.video), outcome.result.vector)
        else:
            failures.append(f"{outcome.video}: {outcome.error}")
        if on_video:
            on_video(outcome.video, outcome.error)
    kept = sorted(vectors)
    if not kept:
        raise TrainingError(f"no video in {examples.directory} could be read ({failures[0] if failures else ''})")
    return np.stack([vectors[index] for index in kept]).astype(np.float32), kept, failures


@dataclass
class Summary:
    """What training found: the evaluation and the data it came from."""

    method: str  # how accuracy was measured, e.g. "held-out 20% (stratified)"
    accuracy: float  # in [0, 1], on videos the evaluated head had not seen
    videos: int
    labels: list[str]
    precision: list[float]  # per class, in [0, 1]
    recall: list[float]
    support: list[int]  # evaluated videos per class
    confusion: list[list[int]] | None  # [true][predicted]; None past labelled.MAX_MATRIX classes (``misclassified`` holds every confusion)
    misclassified: list[dict] = field(default_factory=list)  # {"path", "label", "predicted"}
    warnings: list[str] = field(default_factory=list)

    def most_confused(self, count: int) -> list[tuple[str, str, int]]:
        """The ``count`` most frequent (true class, predicted class, videos) among the misclassified."""
        pairs = Counter((item["label"], item["predicted"]) for item in self.misclassified)
        return [(true, predicted, videos) for (true, predicted), videos in pairs.most_common(count)]

    def text(self) -> str:
        """Accuracy, per-class precision/recall and the confusion matrix, for a terminal: a
        line per class up to CLASS_LINES classes (past it, the LOWEST_SHOWN of lowest recall),
        the matrix up to MAX_MATRIX (past it, the most frequent confusions)."""
        labels = [printable(label) for label in self.labels]  # a folder's name may hold a line break
        shown = list(range(len(labels)))
        if len(labels) > CLASS_LINES:
            shown = sorted(sorted(shown, key=lambda index: (self.recall[index], index))[:LOWEST_SHOWN])
        width = max(8, *(len(labels[index]) for index in shown))
        lines = [f"accuracy: {self.accuracy:.1%} ({self.method}, {self.videos} videos)", ""]
        if len(shown) < len(self.labels):
            lines.append(f"{len(self.labels)} classes: the {len(shown)} of lowest recall (every class is in summary.json and report.html)")
        lines.append(f"{'class':<{width}}  precision  recall  videos")
        for index in shown:
            lines.append(f"{labels[index]:<{width}}  {self.precision[index]:>9.1%}  {self.recall[index]:>6.1%}  {self.support[index]:>6}")
        if self.confusion is None:
            return "\n".join([*lines, "", *frequent_confusion_lines(len(self.labels), self.most_confused(LOWEST_SHOWN), width)])
        return "\n".join([*lines, "", *confusion_lines(labels, self.confusion, width)])


def _pipeline(seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=REGULARISATION, max_iter=2000, random_state=seed))


def evaluate(features: np.ndarray, targets: np.ndarray, labels: list[str], seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    """How well a head fits videos it has not seen: held-out HELD_OUT_SHARE of each class when
    the smallest has HELD_OUT_MIN videos, else stratified k-fold (k = that count, at most
    MAX_FOLDS). Returns the method, and the evaluated videos' indexes and predictions."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

    smallest = int(np.bincount(targets, minlength=len(labels)).min())
    indexes = np.arange(len(targets))
    if smallest >= HELD_OUT_MIN:
        train, test = train_test_split(indexes, test_size=HELD_OUT_SHARE, stratify=targets, random_state=seed)
        model = _pipeline(seed).fit(features[train], targets[train])
        return f"held-out {HELD_OUT_SHARE:.0%} (stratified)", test, model.predict(features[test])
    folds = min(MAX_FOLDS, smallest)
    predicted = cross_val_predict(_pipeline(seed), features, targets, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return f"{folds}-fold cross-validation (stratified; classes too small for a held-out split)", indexes, predicted


def fit_head(features: np.ndarray, targets: np.ndarray, num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A multinomial logistic regression on every video, with the standardisation folded in:
    weights [F, K] and bias [K] float32 such that logits = features @ weights + bias."""
    pipeline = _pipeline(seed).fit(features, targets)
    scaler, regression = pipeline[0], pipeline[1]
    coef, intercept = regression.coef_, regression.intercept_
    if num_classes == 2:  # one logit for class 1: as softmax over [0, logit]
        coef, intercept = np.concatenate([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    weights = coef.T / scaler.scale_[:, None]
    bias = intercept - scaler.mean_ @ weights
    return weights.astype(np.float32), bias.astype(np.float32)


def summarise(method: str, labels: list[str], paths: list[str], targets: np.ndarray, evaluated: np.ndarray, predicted: np.ndarray) -> Summary:
    """The figures of an evaluation: ``targets`` of every video, ``evaluated`` the indexes of
    those scored and ``predicted`` their answers. The confusion matrix is kept up to
    MAX_MATRIX classes: past it, its size (classes squared) would dwarf the rest."""
    truth, classes = targets[evaluated], len(labels)
    support = np.bincount(truth, minlength=classes)
    hits = np.bincount(truth[truth == predicted], minlength=classes).astype(np.float64)
    answers = np.bincount(predicted, minlength=classes)
    wrong = [
        {"path": paths[index], "label": labels[true], "predicted": labels[guess]}
        for index, true, guess in zip(evaluated, truth, predicted)
        if true != guess
    ]
    return Summary(
        method=method,
        accuracy=float((truth == predicted).mean()),
        videos=len(targets),
        labels=labels,
        precision=[round(float(value), 4) for value in np.divide(hits, answers, out=np.zeros_like(hits), where=answers > 0)],
        recall=[round(float(value), 4) for value in np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)],
        support=[int(value) for value in support],
        confusion=labelled.confusion_matrix(truth, predicted, classes).tolist() if classes <= MAX_MATRIX else None,
        misclassified=wrong,
    )


def check_output_dir(path: str | os.PathLike, overwrite: bool) -> None:
    """Raises FolderError unless MODEL_DIR can be written: it does not exist, or it is an
    earlier MODEL_DIR and ``overwrite`` is set (anything else is never replaced)."""
    path = os.fspath(path)
    if not os.path.lexists(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise FolderError(f"-o {path}: directory {parent} does not exist")
        return
    if not is_head_dir(path):
        raise FolderError(f"-o {path} exists and is not a trained model directory; choose another MODEL_DIR")
    if not overwrite:
        raise FolderError(f"-o {path} already holds a trained model; pass --overwrite to replace it")


def write_model_dir(path: str | os.PathLike, head: Head, summary: Summary, directory: str) -> None:
    """Writes MODEL_DIR whole into a staging directory beside it, then renames it into place
    (replacing an earlier MODEL_DIR only once the new one is complete). A symbolic link is
    followed: its target is written, the link stays. The directory's mode is what the umask
    allows, as mkdir's (mkdtemp's 0700 would keep it from other accounts: a Ray worker's).
    A disk that refuses it (full, read-only) is an OutputError naming MODEL_DIR, nothing left."""
    named = os.fspath(path)
    path = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(named)
    try:
        _write_model_dir(path, head, summary, directory)
    except OSError as error:
        raise OutputError(f"cannot write {named}: {error.strerror or error}") from None


def _write_model_dir(path: str, head: Head, summary: Summary, directory: str) -> None:
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.partial-", dir=os.path.dirname(path))
    try:
        os.chmod(staging, 0o777 & ~umask())
        head.save(staging)
        Path(staging, "summary.json").write_text(json.dumps(asdict(summary), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        Path(staging, "report.html").write_text(report_html(summary, head.backbone, directory), encoding="utf-8")
        if os.path.lexists(path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=os.path.dirname(path))
            os.replace(path, os.path.join(old, "model"))
            os.replace(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def train(
    classifier: Classifier,
    directory: str | os.PathLike,
    output: str | os.PathLike,
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    overwrite: bool = False,
    seed: int = 0,
    on_video: Callable[[str, str], None] | None = None,
) -> Summary:
    """Trains a head on the class folders of ``directory`` over ``classifier``'s pooled
    features and writes MODEL_DIR ``output``. Notices (hidden folders left out) and warnings
    (imbalance, unreadable videos) are logged; ``on_video`` is ``embed_examples``'s. Raises FolderError before any work for
    bad folders or an ``output`` that cannot be written, TrainingError if no video reads."""
    from movinet_cli.model.engines.cache import saved_model_identity
    from movinet_cli.model.registry import model_directory

    require_sklearn()
    check_output_dir(output, overwrite)
    examples = find_examples(directory)
    if examples.notice():
        logger.info(examples.notice())
    warnings = [warning for warning in [imbalance_warning(examples)] if warning]
    for warning in warnings:
        logger.warning(warning)
    identity = saved_model_identity(model_directory(classifier.source))
    features, kept, failures = embed_examples(classifier, examples, identity, read, run, on_video=on_video)
    for failure in failures:
        warnings.append(f"warning: left out {failure}")
        logger.warning(warnings[-1])
    paths = [examples.paths[index] for index in kept]
    targets = np.array([examples.targets[index] for index in kept])
    if len(set(targets.tolist())) < len(examples.labels) or np.bincount(targets).min() < MIN_VIDEOS:
        raise TrainingError("too few readable videos left in some class to train (see the warnings above)")
    if len(examples.labels) > max_classes(features.shape[1]):
        raise TrainingError(
            f"{len(examples.labels)} classes are too many for a head on {features.shape[1]} features (at most {max_classes(features.shape[1])}): merge some class folders"
        )
    method, evaluated, predicted = evaluate(features, targets, examples.labels, seed)
    summary = summarise(method, examples.labels, paths, targets, evaluated, predicted)
    summary.warnings = warnings
    weights, bias = fit_head(features, targets, len(examples.labels), seed)
    source, resolved = classifier.source, classifier.reading(read)
    backbone = Backbone(
        # a registry name stays one (its cached download is found again); else the URL or absolute directory
        model=source.variant.name if source.variant and source.handle == source.variant.url else source.handle,
        kind=MODES[classifier.mode],
        identity=identity,
        fps=resolved.fps,
        size=resolved.size,
        resize=resolved.resize,
        model_id=source.variant.model_id if source.variant else None,
    )
    write_model_dir(output, Head(examples.labels, weights, bias, backbone, asdict(summary)), summary, os.fspath(directory))
    return summary
