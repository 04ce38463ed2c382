"""Loading a model for classification: find it, fetch it (once), open it on an engine, with its labels.

``load_classifier`` gives a ``pipeline.Classifier``; ``prepare_model`` does a first run's
slow part (download, OpenVINO conversion) ahead of time.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from movinet_cli.errors import MovinetError
from movinet_cli.inputs import decoding
from movinet_cli.model import engines, registry
from movinet_cli.model import labels as labels_module
from movinet_cli.model.head import is_head_dir, load_head
from movinet_cli.model.saved_model import describe
from movinet_cli.options import MODEL_RESIZE, ModelOptions, ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier, reader_options

if TYPE_CHECKING:  # numpy-heavy
    import numpy as np

    from movinet_cli.outcomes.result import Result


def load_classifier(
    model: str | None = ModelOptions.model,
    *,
    mode: str | None = ModelOptions.mode,
    engine: str = ModelOptions.engine,
    precision: str = ModelOptions.precision,
    labels: str | os.PathLike | None = ModelOptions.labels,
    command: str | None = None,
    labels_needed: bool = True,
) -> Classifier:
    """Finds, fetches (once, into the cache) and opens a model.

    Args:
        model: registry name (``a5-base``), bare variant (``a5``), URL, SavedModel
            directory, or a MODEL_DIR of ``movinet train`` (its backbone runs, its head
            gives its classes); the default is ``a5-base`` (``a5-stream`` in stream mode).
        mode: "clip" or "stream"; None accepts either kind of model.
        engine: "auto", "openvino" or "tensorflow".
        precision: "auto" (bf16 where the CPU has it natively, else f32), "f32" or "bf16"
            (OpenVINO only); the one used is ``classifier.model.precision``.
        labels: a label file (one per line, in logit order); if None, ``labels.txt`` in the
            model's directory where there is one, else Kinetics-600.
        command: the command asking, where it allows only ``mode`` (``"live"``): a model of
            the other kind is refused in its words, not with a ``--mode`` it does not have.
        labels_needed: False for a caller that uses only the features (train, embed): a model
            whose class count no label file matches is then not refused for it.

    A download, a conversion and an engine's fallback are logged (``logging``, INFO and
    WARNING under "movinet_cli"); the command line shows them on stderr.
    Raises ModelError or LabelsError with a one-line explanation.
    """
    head_dir = model if model is not None and is_head_dir(model) else None  # a MODEL_DIR of movinet train
    trained = load_head(head_dir) if head_dir is not None else None
    if trained and head_dir is not None:
        trained.check_mode(head_dir, mode, command)
    source = registry.resolve_model(trained.backbone.model if trained else model, mode, command)
    directory = registry.model_directory(source)
    kind = describe(directory).kind  # from saved_model.pb: a model of the wrong kind is refused before it loads
    registry.check_kind(source.name, kind, mode, source.variant.model_id if source.variant else None, command)
    if trained and head_dir is not None:
        from movinet_cli.model.engines.cache import saved_model_identity

        trained.check_backbone(head_dir, saved_model_identity(directory))
    opened, reason = engines.open_model(directory, engine=engine, precision=precision, variant=source.variant)
    if trained and head_dir is not None:
        opened, source = trained.attach(opened), dataclasses.replace(source, name=head_dir)
    if labels is None and not trained and os.path.isfile(os.path.join(directory, labels_module.BESIDE_MODEL)):  # a fine-tuned model's own
        labels = os.path.join(directory, labels_module.BESIDE_MODEL)
    names = trained.labels if trained and labels is None else labels_module.load_labels(labels)
    if not labels_needed and labels is None and len(names) != opened.num_classes:
        names = [f"class {index}" for index in range(opened.num_classes)]  # features only: no answer is named
    else:
        labels_module.check_labels(names, opened.num_classes, labels)
    classifier = Classifier(opened, names, source, reason)
    if trained:  # read as the videos it was trained on were
        classifier.fps, classifier.size, classifier.resize, classifier.resize_fixed = trained.backbone.fps, trained.backbone.size, trained.backbone.resize, True
    return classifier


def prefetch(video: str, load: ModelOptions, read: ReadOptions) -> None:
    """Starts decoding the local file ``video`` as the model that ``load`` names will read it,
    before that model loads (``decoding.prefetch``): a one-shot run then decodes while it
    imports and loads. From the name alone, as ``Classifier`` reads for it: its variant's
    frame rate, size and crop (A5's for a name that says none). A guess that costs nothing
    when wrong: a model that reads otherwise (a MODEL_DIR of ``movinet train``; a SavedModel
    of another size) opens the video anew."""
    if load.model is not None and is_head_dir(load.model):
        return
    try:
        source = registry.resolve_model(load.model, load.mode)
    except MovinetError:  # said when the model loads
        return
    variant = source.variant or registry.VARIANTS[registry.DEFAULT_MODEL]
    reading = read.for_model(variant.fps, variant.size, MODEL_RESIZE)
    decoding.prefetch(video, ahead=RunOptions().window_frames(reading.fps), **reader_options(reading, variant.crop_scale))


def prepare_model(model: str) -> str:
    """Does now the slow part of a model's first run on a CPU: downloads it (once) and
    converts it for OpenVINO (once), both into the cache. ``model`` is anything
    ``load_classifier`` takes (a MODEL_DIR: its backbone, at the size its head reads at).
    Returns its SavedModel directory; raises ModelError."""
    trained = load_head(model) if is_head_dir(model) else None
    source = registry.resolve_model(trained.backbone.model if trained else model)
    directory = registry.model_directory(source)
    if trained:
        from movinet_cli.model.engines.cache import saved_model_identity

        trained.check_backbone(model, saved_model_identity(directory))
    variant = source.variant or registry.VARIANTS[registry.DEFAULT_MODEL]  # the size a run would use
    engines.prepare(directory, trained.backbone.size if trained else variant.size, variant=source.variant)
    return directory


def classify_video(video: str | os.PathLike | np.ndarray, model: str | None = ModelOptions.model, **options) -> Result:
    """One-shot convenience: ``load_classifier(model, ...)`` then ``classify(video, ...)``;
    ``options`` are the fields of ``ModelOptions`` (mode, engine, precision, labels) and of
    ``ReadOptions`` and ``RunOptions``."""
    load_fields = {field.name for field in dataclasses.fields(ModelOptions)}
    load = {key: options.pop(key) for key in list(options) if key in load_fields}
    return load_classifier(model, **load).classify(video, **options)

