"""The TensorFlow engine: runs a Hub-format MoViNet SavedModel through its signatures.

The reference engine, and the one to use on a GPU. Signatures are called with fixed
shapes (a tf.function retraces on every new shape, a known MoViNet memory trap).
"""

from __future__ import annotations

import numpy as np

from movinet_cli._lazy import tensorflow
from movinet_cli.errors import ModelError
from movinet_cli.model.engines.features import pooled_input
from movinet_cli.model.saved_model import model_kind

LINEAR_OPS = {"Conv2D", "Conv3D", "DepthwiseConv2dNative", "MatMul", "BatchMatMulV2"}
CALL_OPS = {"StatefulPartitionedCall", "PartitionedCall"}  # a layer's function, called from the graph

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
    setup_seconds = 0.0  # loading is all: a signature traces once per shape, in well under a second

    def __init__(self, loaded):
        self._loaded = loaded  # keeps the variables alive: ``features`` freezes them
        self._signature = loaded.signatures["serving_default"]
        if "image" not in self._signature.structured_input_signature[1]:
            raise ModelError("the serving_default signature has no 'image' input")
        self.num_classes = int(single_output(self._signature.structured_outputs).shape[-1])
        self._features = None

    def logits(self, clip: np.ndarray) -> np.ndarray:
        tf = tensorflow()
        outputs = self._signature(image=tf.constant(clip[np.newaxis]))
        return single_output(outputs).numpy()[0]

    def features(self, clip: np.ndarray) -> np.ndarray:
        """The pooled features [F] float32 before the classifier (see ``engines.features``)."""
        if self._features is None:
            self._features = _features_function(self._signature, next(iter(self._signature.structured_outputs)), [])
        return self._features(image=clip[np.newaxis])[0].numpy().reshape(-1)


class TensorFlowStreamModel:
    """A stream MoViNet: frames [n, H, W, 3] plus carried states -> logits [C] and new states."""

    engine = NAME
    precision, precision_reason = "f32", "TensorFlow runs the SavedModel in f32"
    setup_seconds = 0.0  # loading is all: a signature traces once per shape, in well under a second

    def __init__(self, loaded):
        self._loaded = loaded  # keeps the variables alive: ``step_features`` freezes them
        self._init_states = loaded.signatures["init_states"]
        self._call = loaded.signatures["call"]
        self.num_classes = int(self._call.structured_outputs["logits"].shape[-1])
        self._features = None

    def init_states(self, chunk_shape: tuple[int, int, int]) -> dict:
        """Zero states for chunks of ``chunk_shape`` = (frames, height, width)."""
        tf = tensorflow()
        return self._init_states(tf.constant([1, *chunk_shape, 3], tf.int32))

    def step(self, frames: np.ndarray, states: dict) -> tuple[np.ndarray, dict]:
        tf = tensorflow()
        outputs = dict(self._call(image=tf.constant(frames[np.newaxis]), **states))
        logits = outputs.pop("logits")
        return logits.numpy()[0], outputs

    def step_features(self, frames: np.ndarray, states: dict) -> tuple[np.ndarray, dict]:
        """Like ``step``, with the pooled features [F] float32 after these frames in place of the logits."""
        names = sorted(states)
        if self._features is None:
            self._features = _features_function(self._call, "logits", names)
        features, *new_states = self._features(image=frames[np.newaxis], **states)
        return features.numpy().reshape(-1), dict(zip(names, new_states))


def _features_function(function, logits: str, also: list[str]):
    """A function taking ``function``'s keyword inputs and returning the pooled features
    before its output ``logits``, then its outputs named in ``also``. The graph is frozen
    (weights as constants, layers' functions kept) to be searched and pruned."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf = tensorflow()
    frozen = convert_variables_to_constants_v2(function)
    keys = sorted(function.structured_outputs)  # the flat outputs are in the order of their keys
    output = dict(zip(keys, (tensor.name for tensor in frozen.outputs)))
    inputs = sorted(function.structured_input_signature[1])
    placeholders = dict(zip(inputs, (tensor.name for tensor in frozen.inputs)))
    graph = frozen.graph.as_graph_def()
    nodes = {node.name: node for node in graph.node}
    bodies = {body.signature.name: body for body in graph.library.function}

    def producer(tensor: str):
        return nodes[tensor.lstrip("^").split(":")[0]]

    def constant(node) -> bool:
        return node.op == "Const" or (node.op == "Identity" and all(constant(producer(name)) for name in node.input))

    def data_inputs(node):
        return [(name if ":" in name else f"{name}:0", producer(name)) for name in node.input if not name.startswith("^") and not constant(producer(name))]

    def calls_linear(body, seen=()) -> bool:
        for inner in body.node_def:
            if inner.op in LINEAR_OPS:
                return True
            called = inner.attr["f"].func.name if inner.op in CALL_OPS else ""
            if called in bodies and called not in seen and calls_linear(bodies[called], (*seen, called)):
                return True
        return False

    def is_linear(node) -> bool:
        return node.op in LINEAR_OPS or (node.op in CALL_OPS and node.attr["f"].func.name in bodies and calls_linear(bodies[node.attr["f"].func.name]))

    features = pooled_input(producer(output[logits]), data_inputs, is_linear)
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph, name=""), [])
    tensor = wrapped.graph.get_tensor_by_name
    pruned = wrapped.prune(feeds=[tensor(placeholders[name]) for name in inputs], fetches=[tensor(features), *(tensor(output[name]) for name in also)])
    return lambda **values: pruned(*(tf.constant(values[name]) for name in inputs))


def open_model(directory: str):
    """Loads ``directory`` and returns a TensorFlowClipModel or TensorFlowStreamModel."""
    loaded = load_saved_model(directory)
    return TensorFlowStreamModel(loaded) if model_kind(loaded.signatures) == "stream" else TensorFlowClipModel(loaded)
