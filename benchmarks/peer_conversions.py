"""Conversions of a SavedModel's signature into the peers' formats, for ``peer_runners.py``
(benchmark code only: tf2onnx and TFLite are never dependencies of the project).

The exports keep every convolution in a function marked for XLA (``_XlaMustCompile``,
``_noinline``: Keras compiles grouped convolutions with XLA, since TensorFlow's CPU kernels
have none). Grappler inlines no such function, so tf2onnx leaves ``StatefulPartitionedCall``
nodes that ONNX Runtime rejects, and TFLite meets a grouped ``Conv3D`` it has no builtin for.
So both conversions start from one flat graph: the signature frozen at static shapes, the
marks stripped, every function inlined, its shape arithmetic folded (``flat_graph``). ONNX takes it as it is (``to_onnx``:
ONNX's Conv has groups); TFLite takes it with every ``Conv3D`` and ``AvgPool3D`` rewritten as
the same arithmetic in 2-D ops that TFLite has and XNNPACK runs (``to_tflite``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Attributes that keep grappler from inlining a function (XLA's compile marks and Keras's noinline).
XLA_MARKS = ("_XlaMustCompile", "_XlaCompile", "_XlaScope", "_XlaInternalScope", "_XlaSeparateCompiledGradients", "_noinline")


def _tf() -> Any:
    from movinet_cli._lazy import tensorflow

    return tensorflow()


@dataclass(frozen=True)
class FlatGraph:
    """A signature as one GraphDef without functions or variables, at static shapes.

    ``inputs``: its placeholders' tensor names in call order (``image:0``, then the states');
    ``outputs``: the signature's output keys (``logits``, the state names) to tensor names.
    """

    graph_def: Any
    inputs: list[str]
    outputs: dict[str, str]


def flat_graph(function: Any) -> FlatGraph:
    """``function`` (a ``tf.function`` with a static input signature, returning a dict) frozen,
    its XLA marks stripped, every function call inlined and its static shapes folded."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    for attrs in _attribute_maps(graph_def):
        for mark in XLA_MARKS:
            attrs.pop(mark, None)
    # The frozen function keeps the outputs' order (a signature's dict flattened: its keys sorted) but not their keys.
    keys = sorted(concrete.structured_outputs)
    outputs = dict(zip(keys, (tensor.name for tensor in frozen.outputs)))
    inputs = [tensor.name for tensor in frozen.inputs]
    fetches = inputs + list(outputs.values())
    # Inlined first (the Shape nodes are inside the functions), then inlined again to fold what the constant shapes make constant.
    return FlatGraph(_inlined(_shapes_folded(_inlined(graph_def, fetches)), fetches), inputs, outputs)


def _attribute_maps(graph_def: Any) -> list[Any]:
    """Every attribute map of the graph: its nodes', its functions' and their nodes'."""
    maps = [node.attr for node in graph_def.node]
    for function in graph_def.library.function:
        maps += [function.attr, *(node.attr for node in function.node_def)]
    return maps


def _inlined(graph_def: Any, fetches: list[str]) -> Any:
    """``graph_def`` after grappler's function inlining (and constant folding), keeping ``fetches``."""
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    tf = _tf()
    config = config_pb2.ConfigProto()
    config.graph_options.rewrite_options.optimizers[:] = ["function", "constfold", "dependency"]
    with tf.Graph().as_default():  # a meta graph is only exported outside eager mode
        meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph_def)
    kept = meta_graph_pb2.CollectionDef()
    kept.node_list.value.extend(fetches)
    meta_graph.collection_def["train_op"].CopyFrom(kept)  # what grappler must keep
    return tf_optimizer.OptimizeGraph(config, meta_graph)


def _shapes_folded(graph_def: Any) -> Any:
    """``graph_def`` with each ``Shape`` node of a tensor whose shape is static replaced by a
    constant of it, so that constant folding then leaves no shape arithmetic. Grappler folds
    none of them, though all are static (1324 on A2 stream); with them, TFLite's converter
    fails to legalize one of A2 stream's DepthwiseConv2dNative ops ("neither a custom op nor
    a flex op"), though that op converts on its own."""
    tf = _tf()
    graph, result = _imported(graph_def), tf.compat.v1.GraphDef()
    result.CopyFrom(graph_def)
    for node in result.node:
        shape = graph.get_operation_by_name(node.name).inputs[0].shape if node.op == "Shape" else None
        if shape is not None and shape.is_fully_defined():
            dtype = tf.dtypes.as_dtype(node.attr["out_type"].type)
            node.op, controls = "Const", [name for name in node.input if name.startswith("^")]
            node.input[:] = controls
            node.attr.clear()
            node.attr["dtype"].type = dtype.as_datatype_enum
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(shape.as_list(), dtype.as_numpy_dtype)))
    return result


def to_onnx(flat: FlatGraph, opset: int = 17) -> bytes:
    """The flat graph converted by tf2onnx, its inputs named as the signature's (``image``,
    ``s0``...) and its outputs by the signature's keys. tf2onnx reads a convolution's groups
    from its data format only for 2-D ones (NHWC), so each grouped Conv3D's ONNX Conv (named
    as the TensorFlow node) gets its groups here."""
    import tf2onnx

    names = {name: name.split(":")[0] for name in flat.inputs} | {tensor: key for key, tensor in flat.outputs.items()}
    proto, _ = tf2onnx.convert.from_graph_def(
        flat.graph_def, input_names=flat.inputs, output_names=list(flat.outputs.values()), opset=opset, tensors_to_rename=names
    )
    convolutions = {op.name: op for op in _imported(flat.graph_def).get_operations() if op.type == "Conv3D"}
    for node in proto.graph.node:
        if node.op_type == "Conv" and node.name in convolutions:
            op = convolutions[node.name]
            groups = op.inputs[0].shape[-1] // op.inputs[1].shape[-2]  # input channels / filter's channels per group
            next(attribute for attribute in node.attribute if attribute.name == "group").i = groups
    return proto.SerializeToString()


def _imported(graph_def: Any) -> Any:
    """``graph_def`` in a ``tf.Graph`` of its own: the static shapes of every node's tensors."""
    tf = _tf()
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
    return graph


def to_tflite(flat: FlatGraph) -> bytes:
    """The flat graph with its 3-D ops rewritten (``rewritten_3d``), converted to TFLite with
    builtin ops only; its signature takes ``image``, ``s0``... and gives the signature's keys."""
    tf = _tf()
    rewritten = rewritten_3d(flat.graph_def)
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(rewritten, name=""), [])
    tensor = wrapped.graph.get_tensor_by_name
    pruned = wrapped.prune([tensor(name) for name in flat.inputs], {key: tensor(name) for key, name in flat.outputs.items()})
    specs = [tf.TensorSpec(tensor(name).shape, tensor(name).dtype, name=name.split(":")[0]) for name in flat.inputs]
    holder = tf.Module()  # the converter writes a signature only for a function with an owner
    holder.function = tf.function(lambda image, *states: pruned(image, *states), input_signature=specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([holder.function.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def rewritten_3d(graph_def: Any) -> Any:
    """``graph_def`` with each ``Conv3D`` and ``AvgPool3D`` replaced by the same arithmetic in
    2-D ops (``_conv3d``, ``_avg_pool3d``), spliced in under the node's own name. TFLite has no
    grouped (depthwise) Conv3D and no AvgPool3D, and XNNPACK runs none of its 3-D ops."""
    tf = _tf()
    rules: dict[str, Callable[..., Any]] = {"Conv3D": _conv3d, "AvgPool3D": _avg_pool3d}
    graph = _imported(graph_def)
    result = tf.compat.v1.GraphDef()
    result.versions.CopyFrom(graph_def.versions)
    result.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        rule = rules.get(node.op)
        result.node.extend(_spliced(node, graph.get_operation_by_name(node.name), rule) if rule else [node])
    return result


def _spliced(node: Any, op: Any, rule: Callable[..., Any]) -> list[Any]:
    """The nodes that compute ``rule(op, *inputs)`` in place of ``node``: built in a scratch
    graph on placeholders of the inputs' static shapes, renamed under ``node.name + "/2d/"``,
    the placeholders replaced by the node's own inputs and the result named ``node.name`` (so
    the node's consumers read it unchanged). ``[node]`` itself where the rule declines."""
    tf = _tf()
    with tf.Graph().as_default() as scratch:
        feeds = [tf.compat.v1.placeholder(tensor.dtype, tensor.shape, name=f"input{index}") for index, tensor in enumerate(op.inputs)]
        result = rule(op, *feeds)
        if result is None:
            return [node]
        tf.identity(result, name="output")
    data_inputs = [name for name in node.input if not name.startswith("^")]
    fed = {f"input{index}": name for index, name in enumerate(data_inputs)}

    def renamed(name: str) -> str:
        control, bare = name.startswith("^"), name.lstrip("^")
        base, _, port = bare.partition(":")
        if base in fed:  # a placeholder has one output
            return fed[base]
        return ("^" if control else "") + node.name + "/2d/" + base + (":" + port if port else "")

    nodes = []
    for new in scratch.as_graph_def().node:
        if new.name in fed:
            continue
        new.input[:] = [renamed(name) for name in new.input]
        if new.name == "output":
            new.input.extend(name for name in node.input if name.startswith("^"))  # the node's control inputs
        new.name = node.name if new.name == "output" else node.name + "/2d/" + new.name
        nodes.append(new)
    return nodes


def _taps(x: Any, size: int, stride: int, padding: bytes) -> tuple[list[Any], int, int]:
    """The frames that each of a kernel's ``size`` temporal taps meets, as a 3-D op with that
    temporal size, stride and padding reads them from ``x`` [B, T, H, W, C]: one [B*T', H, W, C]
    tensor per tap (zero frames where SAME pads), T' the op's output frames, and the frames
    padded before the first."""
    tf = _tf()
    batch, frames, height, width, channels = x.shape
    before = 0
    if padding == b"SAME":
        out = -(-frames // stride)
        total = max((out - 1) * stride + size - frames, 0)
        before = total // 2  # TensorFlow pads the odd frame after
        if total:
            x = tf.pad(x, [[0, 0], [before, total - before], [0, 0], [0, 0], [0, 0]])
    else:
        out = (frames - size) // stride + 1
    span = (out - 1) * stride + 1
    picks = [x if (size, stride, x.shape[1]) == (1, 1, out) else x[:, tap : tap + span : stride] for tap in range(size)]
    return [tf.reshape(pick, [batch * out, height, width, channels]) for pick in picks], out, before


def _conv3d(op: Any, x: Any, kernel: Any) -> Any:
    """A ``Conv3D`` as the sum over its temporal taps of a 2-D convolution (Conv2D, or
    DepthwiseConv2D for a depthwise one: filter [kt, kh, kw, 1, C*m] on C channels) of the
    frames each tap meets. Declines dilations and grouped convolutions of more than one
    channel a group, which the exports do not have."""
    tf = _tf()
    strides, padding = op.get_attr("strides"), op.get_attr("padding")
    size, kh, kw, per_group, outputs = kernel.shape
    channels = x.shape[-1]
    depthwise = per_group != channels
    if any(d != 1 for d in op.get_attr("dilations")) or (depthwise and per_group != 1):
        return None
    taps, out, _ = _taps(x, size, strides[1], padding)
    total = None
    for tap, frames in enumerate(taps):
        if depthwise:  # [kh, kw, 1, C*m] -> [kh, kw, C, m]: output channel c*m + j in both
            filter_2d = tf.reshape(kernel[tap], [kh, kw, channels, outputs // channels])
            y = tf.nn.depthwise_conv2d(frames, filter_2d, [1, strides[2], strides[3], 1], padding.decode())
        else:
            y = tf.nn.conv2d(frames, kernel[tap], [1, strides[2], strides[3], 1], padding.decode())
        total = y if total is None else total + y  # ADD, which XNNPACK runs (ADD_N it does not)
    return tf.reshape(total, [x.shape[0], out, *total.shape[1:]])


def _avg_pool3d(op: Any, x: Any) -> Any:
    """An ``AvgPool3D`` as the mean over its temporal taps of the 2-D average pools of the frames
    each tap meets. Exact, padding included: a window is a box, so its in-bounds count is the
    product of the frames' count and the pixels' (which the 2-D pool divides by itself); a
    padded frame adds a zero, and each output frame is divided by its own in-bounds frames."""
    tf = _tf()
    ksize, strides, padding = op.get_attr("ksize"), op.get_attr("strides"), op.get_attr("padding")
    frames = x.shape[1]
    taps, out, before = _taps(x, ksize[1], strides[1], padding)
    total = None
    for tapped in taps:
        y = tf.nn.avg_pool2d(tapped, ksize[2:4], strides[2:4], padding.decode())
        total = y if total is None else total + y
    total = tf.reshape(total, [x.shape[0], out, *total.shape[1:]])
    if ksize[1] == 1:
        return total
    counts = [sum(0 <= step * strides[1] + tap - before < frames for tap in range(ksize[1])) for step in range(out)]
    return total * tf.constant((1.0 / np.array(counts, np.float32)).reshape(1, out, 1, 1, 1))
