"""Inference engines behind one small interface.

A *clip model* (base MoViNet) maps a clip [T, H, W, 3] float32 RGB in [0, 1] to logits [C].
A *stream model* maps frames [n, H, W, 3] plus carried states to logits [C] and new states;
its states are opaque to callers. Both expose ``engine`` (a name) and ``num_classes``.
"""

from __future__ import annotations

import glob
import logging
import sys
from collections.abc import Callable
from typing import Protocol

import numpy as np

from movinet_cli.errors import EngineError
from movinet_cli.model.registry import Variant
from movinet_cli.options import ENGINES, ModelOptions

logger = logging.getLogger(__name__)  # notices: the command line shows them on stderr


class ClipModel(Protocol):
    engine: str
    num_classes: int
    precision: str  # "f32" or "bf16": what the engine computes in
    precision_reason: str  # why that precision
    setup_seconds: float  # one-time work so far (converting, compiling a new input shape), seconds

    def logits(self, clip: np.ndarray) -> np.ndarray: ...

    def features(self, clip: np.ndarray) -> np.ndarray: ...


class StreamModel(Protocol):
    engine: str
    num_classes: int
    precision: str
    precision_reason: str
    setup_seconds: float

    def init_states(self, chunk_shape: tuple[int, int, int]) -> object: ...

    def step(self, frames: np.ndarray, states: object) -> tuple[np.ndarray, object]: ...

    def step_features(self, frames: np.ndarray, states: object) -> tuple[np.ndarray, object]: ...


def kind_of(model: ClipModel | StreamModel) -> str:
    """``"stream"`` or ``"base"``."""
    return "stream" if hasattr(model, "step") else "base"


def tensorflow_gpu() -> str | None:
    """The name of a GPU TensorFlow can use, or None (without importing TF where none exists)."""
    if sys.platform.startswith("linux") and not glob.glob("/dev/nvidia[0-9]*"):
        return None
    from movinet_cli._lazy import tensorflow

    gpus = tensorflow().config.list_physical_devices("GPU")
    return gpus[0].name if gpus else None


def _on_tensorflow(directory: str, precision: str, variant: Variant | None) -> ClipModel | StreamModel:
    from movinet_cli.model.engines import tensorflow as tf_engine

    return tf_engine.open_model(directory)


def _on_openvino(directory: str, precision: str, variant: Variant | None) -> ClipModel | StreamModel:
    from movinet_cli.model.engines import openvino as ov_engine
    from movinet_cli.model.registry import cache_dir

    return ov_engine.open_model(directory, cache_dir() / "openvino", precision, variant)


# The engines by their --engine name: each opens a SavedModel directory at a precision ("auto",
# "f32", "bf16"), the variant (if known) telling a conversion's expected time. "auto" is not
# one: it is ``open_model``'s choice among them. ``options.ENGINES`` lists the same names.
ENGINE_OPENERS: dict[str, Callable[[str, str, Variant | None], ClipModel | StreamModel]] = {"openvino": _on_openvino, "tensorflow": _on_tensorflow}


def open_model(
    directory: str,
    *,
    engine: str = ModelOptions.engine,
    precision: str = ModelOptions.precision,
    variant: Variant | None = None,
) -> tuple[ClipModel | StreamModel, str]:
    """Opens a SavedModel on an engine (``ENGINE_OPENERS``); returns the model and why that
    engine was chosen.

    ``auto`` takes TensorFlow when it sees a GPU and OpenVINO otherwise, falling back to
    TensorFlow (with a logged warning) if OpenVINO cannot convert the model.
    ``variant``, if known, says how long a conversion should take (logged as it runs).
    Raises EngineError when an explicitly requested engine cannot run the model.
    """
    from movinet_cli.model.engines.openvino import PRECISIONS

    if engine not in ENGINES:
        raise EngineError(f"engine must be one of {ENGINES}, got {engine!r}")
    if precision not in PRECISIONS:
        raise EngineError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if engine == "tensorflow" and precision == "bf16":
        raise EngineError("--precision bf16 applies to the OpenVINO engine only")
    if engine != "auto":
        return ENGINE_OPENERS[engine](directory, precision, variant), f"requested with --engine {engine}"
    gpu = tensorflow_gpu()
    if gpu:
        return ENGINE_OPENERS["tensorflow"](directory, precision, variant), f"auto: TensorFlow sees a GPU ({gpu})"
    try:
        return ENGINE_OPENERS["openvino"](directory, precision, variant), "auto: no GPU for TensorFlow; OpenVINO on the CPU"
    except EngineError as error:
        logger.warning("warning: OpenVINO cannot run this model (%s); falling back to TensorFlow", error)
        return ENGINE_OPENERS["tensorflow"](directory, precision, variant), f"auto: OpenVINO failed ({error}); fell back to TensorFlow"


def prepare(directory: str, size: int, *, variant: Variant | None = None) -> None:
    """Converts the model in ``directory`` for OpenVINO now, as its first run on a CPU would
    (a stream model for frames of ``size`` x ``size`` pixels), so later runs start at once."""
    from movinet_cli.model.engines import openvino as ov_engine
    from movinet_cli.model.registry import cache_dir

    ov_engine.prepare(directory, cache_dir() / "openvino", size, variant)


def is_prepared(directory: str, kind: str, size: int) -> bool:
    """Whether ``prepare`` has nothing left to do for this model of ``kind`` at ``size``."""
    from movinet_cli.model.engines import openvino as ov_engine
    from movinet_cli.model.registry import cache_dir

    return ov_engine.is_converted(directory, cache_dir() / "openvino", (size, size) if kind == "stream" else None)
