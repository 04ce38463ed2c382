"""A trained head: a linear classifier on a backbone's pooled features, kept in a MODEL_DIR.

``movinet train`` writes one (see ``train``); ``load_classifier`` opens a MODEL_DIR wherever
``--model`` takes a model: the backbone it belongs to runs on its engine, and the head turns
its pooled features into the user's classes. A MODEL_DIR holds:

* ``head.json``: the format, the labels, the backbone (what ``--model`` named, its kind, the
  content hash of its SavedModel, the frames/s, size and resize mode it was read at) and the summary;
* ``head.npz``: ``weights`` [F, K] and ``bias`` [K] float32 (logits = features @ weights + bias);
* ``labels.txt``, ``summary.json`` and ``report.html`` for people.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from movinet_cli.errors import ModelError, ModelKindError
from movinet_cli.files import read_bytes, read_text
from movinet_cli.model.registry import MODES
from movinet_cli.options import MAX_FPS, MAX_SIZE, MIN_FPS, MIN_SIZE, RESIZE_MODES

HEAD_FILE = "head.json"
WEIGHTS_FILE = "head.npz"
FORMAT = "movinet-head"
VERSION = 2  # 2: the backbone's resize mode
MAX_HEAD_BYTES = 64 << 20  # head.json and head.npz: 2048 features x 1000 classes is 8 MB
SUMMARY_FIELDS = ("accuracy", "method", "videos")  # of training's summary, kept in head.json (the rest is summary.json's)


@dataclass(frozen=True)
class Backbone:
    """The model whose pooled features a head was trained on, and how its videos were read."""

    model: str  # what load_classifier takes: a registry name, a URL or an absolute SavedModel directory
    kind: str  # "base" or "stream"
    identity: str  # engines.cache.saved_model_identity of its SavedModel
    fps: float  # frames/s the videos were read at
    size: int  # pixels (square)
    resize: str  # how their frames were fitted to the size (options.RESIZE_MODES): the only way its head takes
    model_id: str | None = None  # "a0" ... "a5", if known: names the twin of the other kind


@dataclass
class Head:
    """A linear head: logits [K] = features [F] @ weights [F, K] + bias [K]."""

    labels: list[str]
    weights: np.ndarray  # [F, K] float32
    bias: np.ndarray  # [K] float32
    backbone: Backbone
    summary: dict = field(default_factory=dict)  # what training found (see train.Summary): SUMMARY_FIELDS are saved

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Features [F] -> logits [K] float32."""
        if features.shape != (self.weights.shape[0],):
            raise ModelError(f"the backbone gives {features.size} features, the head takes {self.weights.shape[0]}: it was trained on another model")
        return (features.astype(np.float32) @ self.weights + self.bias).astype(np.float32)

    def attach(self, model):
        """The backbone ``model`` (an engine's clip or stream model) with this head in place
        of its classifier: the same interface, with the head's classes."""
        return HeadStreamModel(model, self) if hasattr(model, "step") else HeadClipModel(model, self)

    def check_mode(self, name: str, mode: str | None, command: str | None = None) -> None:
        """Raises ModelKindError if this head cannot run in ``mode`` (for ``command``, when one
        command allows only that mode: ``"live"``): a stream model's pooled features are not a
        base model's (a running average over the frames so far)."""
        if mode is None or MODES[mode] == self.backbone.kind:
            return
        other = {"base": "stream", "stream": "base"}[self.backbone.kind]
        twin = f"{self.backbone.model_id}-{other}" if self.backbone.model_id else f"<a {other} model>"
        raise ModelKindError(
            f"{name} is a head trained on {self.backbone.model} ({self.backbone.kind}) features, which a {other} model does not give; "
            f"for {command or f'--mode {mode}'} train one on a {other} model: movinet train DIR --model {twin} -o MODEL_DIR"
        )

    def check_backbone(self, name: str, identity: str) -> None:
        """Raises ModelError unless ``identity`` (of the SavedModel found for the backbone) is the one trained on."""
        if identity != self.backbone.identity:
            raise ModelError(f"{name}: the model at {self.backbone.model} is not the one this head was trained on (its weights differ); train the head again")

    def description(self) -> dict:
        """What ``movinet models MODEL_DIR`` says: the classes, the backbone and the accuracy
        training measured (in [0, 1], None if the summary has none), with its method and videos."""
        return {
            "labels": self.labels,
            "backbone": asdict(self.backbone),
            "accuracy": self.summary.get("accuracy"),
            "method": self.summary.get("method"),
            "videos": self.summary.get("videos"),
        }

    def save(self, directory: str | os.PathLike) -> None:
        """Writes head.json, head.npz and labels.txt into ``directory`` (which exists). Of the
        summary, only SUMMARY_FIELDS: the rest (a confusion matrix, the misclassified videos)
        grows with the classes and videos, and head.json must stay under MAX_HEAD_BYTES."""
        summary = {key: value for key, value in self.summary.items() if key in SUMMARY_FIELDS}
        document = {"format": FORMAT, "version": VERSION, "labels": self.labels, "backbone": asdict(self.backbone), "summary": summary}
        Path(directory, HEAD_FILE).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        np.savez(Path(directory, WEIGHTS_FILE), weights=self.weights.astype(np.float32), bias=self.bias.astype(np.float32))
        Path(directory, "labels.txt").write_text("\n".join(self.labels) + "\n", encoding="utf-8")


def max_classes(features: int) -> int:
    """The most classes a head on ``features`` features can have and still load: its
    weights and bias, float32, within MAX_HEAD_BYTES (8,180 classes on 2,048 features)."""
    return (MAX_HEAD_BYTES - (64 << 10)) // (4 * (features + 1))  # 64 KB for the .npz's headers


def is_head_dir(path: str | os.PathLike | None) -> bool:
    """Whether ``path`` is a MODEL_DIR written by ``movinet train``."""
    return path is not None and os.fspath(path) != "" and Path(path, HEAD_FILE).is_file()


def load_head(directory: str | os.PathLike) -> Head:
    """Reads a MODEL_DIR. Raises ModelError (one line naming ``directory`` and what is wrong)
    if it is damaged, hand-edited out of shape or of another format."""
    try:
        document = json.loads(read_text(Path(directory, HEAD_FILE), "head", MAX_HEAD_BYTES))
    except (OSError, ValueError, RecursionError) as error:
        raise ModelError(f"{directory}: {HEAD_FILE} is not a usable trained head ({' '.join(str(error).split())[:200]}); train it again") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != VERSION:
        raise ModelError(f"{directory}: {HEAD_FILE} is not a {FORMAT} version {VERSION} file; train it again")
    labels, backbone = _labels(directory, document.get("labels")), _backbone(directory, document.get("backbone"))
    if os.path.isabs(backbone.model) and not os.path.isdir(backbone.model):  # a SavedModel directory, moved or deleted since
        raise ModelError(
            f"{directory}: its backbone is missing: the model it was trained on was at {backbone.model}; "
            f"put it back there, or train the head again with --model naming where it is now"
        )
    weights, bias = _weights(directory)
    if weights.ndim != 2 or bias.shape != (weights.shape[1],) or len(labels) != len(bias) or not np.isfinite(weights).all():
        raise ModelError(f"{directory}: the head's weights do not match its {len(labels)} labels; train it again")
    summary = document.get("summary")
    return Head(labels, weights, bias, backbone, summary if isinstance(summary, dict) else {})


def _labels(directory: str | os.PathLike, labels: object) -> list[str]:
    """head.json's labels: a list of distinct non-empty strings, or ModelError."""
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) and label.strip() for label in labels):
        raise ModelError(f"{directory}: the head's labels are not a list of class names in {HEAD_FILE}; train it again")
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise ModelError(f"{directory}: the head's labels name {label!r} more than once in {HEAD_FILE}; train it again")
        seen.add(label)
    return labels


def _backbone(directory: str | os.PathLike, fields: object) -> Backbone:
    """head.json's backbone, each field checked, or ModelError naming the one that is wrong."""
    names = [item.name for item in dataclasses.fields(Backbone)]
    if not isinstance(fields, dict) or not {"model", "kind", "identity", "fps", "size", "resize"} <= fields.keys() or not fields.keys() <= set(names):
        raise ModelError(f"{directory}: the head's backbone in {HEAD_FILE} is not an object of {', '.join(names)}; train it again")

    def wrong(name: str, expected: str) -> ModelError:
        return ModelError(f"{directory}: the head's backbone {name} {fields[name]!r} is not {expected}; train it again")

    if not isinstance(fields["model"], str) or not fields["model"]:
        raise wrong("model", "a model name, URL or directory")
    if fields["kind"] not in MODES.values():
        raise wrong("kind", " or ".join(MODES.values()))
    if not isinstance(fields["identity"], str):
        raise wrong("identity", "a SavedModel's content hash")
    fps = fields["fps"]
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise wrong("fps", f"a frame rate from {MIN_FPS:g} to {MAX_FPS} frames/s")
    size = fields["size"]
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise wrong("size", f"a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}")
    if fields["resize"] not in RESIZE_MODES:
        raise ModelError(f"{directory}: the head's resize mode {fields['resize']!r} is none of {', '.join(RESIZE_MODES)}; train it again")
    if fields.get("model_id") is not None and not isinstance(fields["model_id"], str):
        raise wrong("model_id", "a variant's name (a0 ... a5)")
    return Backbone(**fields)


def _weights(directory: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """head.npz's weights and bias as float32, or ModelError (a truncated or damaged file)."""
    import io
    import zipfile

    data = read_bytes(Path(directory, WEIGHTS_FILE), "head weights", MAX_HEAD_BYTES)
    try:
        with np.load(io.BytesIO(data)) as arrays:
            return arrays["weights"].astype(np.float32), arrays["bias"].astype(np.float32)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, AttributeError) as error:
        raise ModelError(f"{directory}: {WEIGHTS_FILE} is damaged ({' '.join(str(error).split())[:200]}); train it again") from None


class _Headed:
    """A backbone (an engine's model) with a trained head on its features: what the engine
    runs on, and its one-time work, are the backbone's; the classes are the head's."""

    def __init__(self, backbone, head: Head):
        self.backbone, self.head = backbone, head
        self.engine, self.precision, self.precision_reason = backbone.engine, backbone.precision, backbone.precision_reason
        self.num_classes = len(head.labels)

    @property
    def setup_seconds(self) -> float:
        return self.backbone.setup_seconds


class HeadClipModel(_Headed):
    """A base model's features through a head: clip [T, H, W, 3] -> the head's logits [K]."""

    def logits(self, clip: np.ndarray) -> np.ndarray:
        return self.head.logits(self.backbone.features(clip))

    def features(self, clip: np.ndarray) -> np.ndarray:
        return self.backbone.features(clip)


class HeadStreamModel(_Headed):
    """A stream model's features through a head: frames plus states -> the head's logits [K] and new states."""

    def init_states(self, chunk_shape: tuple[int, int, int]):
        return self.backbone.init_states(chunk_shape)

    def step(self, frames: np.ndarray, states) -> tuple[np.ndarray, object]:
        features, states = self.backbone.step_features(frames, states)
        return self.head.logits(features), states

    def step_features(self, frames: np.ndarray, states) -> tuple[np.ndarray, object]:
        return self.backbone.step_features(frames, states)
