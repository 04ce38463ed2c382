"""The TensorFlow engine: runs a Hub-format MoViNet SavedModel through its signatures.

The reference engine, and the one to use on a GPU. Signatures are called with fixed
shapes (a tf.function retraces on every new shape, a known MoViNet memory trap).
"""

from __future__ import annotations

import numpy as np

from .._lazy import tensorflow
from ..errors import ModelError
from ..saved_model import model_kind

NAME = "tensorflow"


def load_saved_model(directory: str):
    """Loads a SavedModel with tf.saved_model.load (no Keras: hub.KerasLayer breaks on Keras 3)."""
    tf = tensorflow()
    try:
        return tf.saved_model.load(directory)
    except Exception as error:  # corrupt protobufs, missing variables, unsupported ops
        raise ModelError(f"{directory}: cannot load the SavedModel ({' '.join(str(error).split())[:300]})") from None


def single_output(outputs: dict):
    """The one logits tensor of a base model, whatever its key (classifier_head, ...)."""
    if len(outputs) != 1:
        raise ModelError(f"expected one output (the logits), got {sorted(outputs)}")
    return next(iter(outputs.values()))


class TensorFlowClipModel:
    """A base MoViNet: clip [T, H, W, 3] float32 RGB in [0, 1] -> logits [C] float32."""

    engine = NAME
    precision, precision_reason = "f32", "TensorFlow runs the SavedModel in f32"

    def __init__(self, loaded):
        self._signature = loaded.signatures["serving_default"]
        if "image" not in self._signature.structured_input_signature[1]:
            raise ModelError("the serving_default signature has no 'image' input")
        self.num_classes = int(single_output(self._signature.structured_outputs).shape[-1])

    def logits(self, clip: np.ndarray) -> np.ndarray:
        tf = tensorflow()
        outputs = self._signature(image=tf.constant(clip[np.newaxis]))
        return single_output(outputs).numpy()[0]


class TensorFlowStreamModel:
    """A stream MoViNet: frames [n, H, W, 3] plus carried states -> logits [C] and new states."""

    engine = NAME
    precision, precision_reason = "f32", "TensorFlow runs the SavedModel in f32"

    def __init__(self, loaded):
        self._init_states = loaded.signatures["init_states"]
        self._call = loaded.signatures["call"]
        self.num_classes = int(self._call.structured_outputs["logits"].shape[-1])

    def init_states(self, chunk_shape: tuple[int, int, int]) -> dict:
        """Zero states for chunks of ``chunk_shape`` = (frames, height, width)."""
        tf = tensorflow()
        return self._init_states(tf.constant([1, *chunk_shape, 3], tf.int32))

    def step(self, frames: np.ndarray, states: dict) -> tuple[np.ndarray, dict]:
        tf = tensorflow()
        outputs = dict(self._call(image=tf.constant(frames[np.newaxis]), **states))
        logits = outputs.pop("logits")
        return logits.numpy()[0], outputs


def open_model(directory: str):
    """Loads ``directory`` and returns a TensorFlowClipModel or TensorFlowStreamModel."""
    loaded = load_saved_model(directory)
    return TensorFlowStreamModel(loaded) if model_kind(loaded.signatures) == "stream" else TensorFlowClipModel(loaded)
