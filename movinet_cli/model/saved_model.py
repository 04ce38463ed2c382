"""What a SavedModel is, read from its ``saved_model.pb`` without TensorFlow.

Loading a SavedModel into TensorFlow costs seconds to minutes (A5 stream: about 85 s and
gigabytes) and importing TensorFlow itself several seconds; the signature names and output
shapes that tell a base from a stream model and give the class count sit in the protobuf.
This module decodes just those fields with a minimal protobuf wire-format reader (the
generated ``saved_model_pb2`` classes live inside the ``tensorflow`` package, whose import
is the cost we avoid). It skips the graph and the functions without decoding them: about
0.1 s for A5.

Field numbers, from tensorflow/core/protobuf/{saved_model,meta_graph}.proto and
tensorflow/core/framework/tensor_shape.proto.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from movinet_cli.errors import ModelError

_SAVED_MODEL_META_GRAPHS = 2  # SavedModel.meta_graphs
_META_GRAPH_SIGNATURE_DEF = 5  # MetaGraphDef.signature_def, map<string, SignatureDef>
_SIGNATURE_INPUTS, _SIGNATURE_OUTPUTS = 1, 2  # SignatureDef: map<string, TensorInfo>
_TENSOR_INFO_NAME, _TENSOR_INFO_SHAPE = 1, 3  # TensorInfo.name (in the graph), .tensor_shape
_SHAPE_DIM, _SHAPE_UNKNOWN_RANK = 2, 3  # TensorShapeProto.dim, .unknown_rank
_DIM_SIZE = 1  # TensorShapeProto.Dim.size (-1: unknown)
_MAP_KEY, _MAP_VALUE = 1, 2
_INIT_OP = "__saved_model_init_op"  # a signature_def entry that is no signature (TF hides it too)
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Tensor:
    """A signature's input or output: its tensor in the graph (``StatefulPartitionedCall:1``,
    the name OpenVINO's converter takes) and its shape (None: unknown rank; -1: unknown size)."""

    name: str
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class Signature:
    inputs: dict[str, Tensor]  # by keyword
    outputs: dict[str, Tensor]


@dataclass(frozen=True)
class ModelInfo:
    kind: str  # "base" or "stream"
    num_classes: int  # width of the logits


def model_kind(signature_names) -> str:
    """``"base"`` for a full-clip model (serving_default), ``"stream"`` for init_states + call."""
    names = set(signature_names)
    if {"init_states", "call"} <= names:
        return "stream"
    if "serving_default" in names:
        return "base"
    raise ModelError(
        f"not a MoViNet classifier: signatures {sorted(names)} have neither "
        "'serving_default' (base model) nor 'init_states' and 'call' (stream model)"
    )


def read_signatures(directory: str) -> dict[str, Signature]:
    """The signatures of the SavedModel in ``directory``. Raises ModelError if its
    ``saved_model.pb`` is missing or not a SavedModel protobuf."""
    path = Path(directory, "saved_model.pb")
    try:
        data = memoryview(path.read_bytes())
        signatures = {}
        for meta_graph in _fields(data, _SAVED_MODEL_META_GRAPHS):
            for entry in _fields(meta_graph, _META_GRAPH_SIGNATURE_DEF):
                name, signature = _map_entry(entry)
                if name == _INIT_OP:
                    continue
                signatures[name] = Signature(
                    inputs=dict(_tensors(signature, _SIGNATURE_INPUTS)),
                    outputs=dict(_tensors(signature, _SIGNATURE_OUTPUTS)),
                )
        return signatures
    except OSError as error:
        raise ModelError(f"{directory}: cannot read saved_model.pb ({error.strerror or error})") from None
    except (ValueError, IndexError, UnicodeDecodeError):
        raise ModelError(f"{directory}: saved_model.pb is not a readable SavedModel protobuf") from None


VIDEO_INPUT = "[batch, frames, height, width, 3]"  # what a MoViNet takes: RGB video


def _check_video_input(directory: str, signature_name: str, signature: Signature) -> None:
    """Raises ModelError unless the signature's video input (``image``, or its only input)
    could take video: rank 5, 3 channels (unknown sizes are fine)."""
    inputs = signature.inputs
    name = "image" if "image" in inputs else next(iter(inputs), None) if len(inputs) == 1 else None
    if name is None:
        raise ModelError(f"{directory}: not a MoViNet: its {signature_name!r} signature takes {sorted(inputs)}, not one video input {VIDEO_INPUT}")
    shape = inputs[name].shape
    if shape is not None and (len(shape) != 5 or shape[-1] not in (3, -1)):
        shown = "[" + ", ".join("None" if size < 0 else str(size) for size in shape) + "]"
        raise ModelError(f"{directory}: not a video model: its {signature_name!r} input {name!r} has shape {shown}; a MoViNet takes {VIDEO_INPUT}")


def describe(directory: str) -> ModelInfo:
    """The kind and class count of a MoViNet SavedModel, from its signatures alone. Raises
    ModelError for a model that is no MoViNet classifier (no video input, no logits)."""
    signatures = read_signatures(directory)
    kind = model_kind(signatures)
    _check_video_input(directory, "call" if kind == "stream" else "serving_default", signatures["call" if kind == "stream" else "serving_default"])
    if kind == "stream":
        outputs = signatures["call"].outputs
        if "logits" not in outputs:
            raise ModelError(f"{directory}: the stream model's 'call' signature has no 'logits' output")
        shape = outputs["logits"].shape
    else:
        outputs = signatures["serving_default"].outputs
        if len(outputs) != 1:
            raise ModelError(f"{directory}: expected one output (the logits), got {sorted(outputs)}")
        shape = next(iter(outputs.values())).shape
    if not shape or shape[-1] < 1:
        raise ModelError(f"{directory}: the logits have no static class count (shape {shape})")
    return ModelInfo(kind, shape[-1])


def _tensors(signature: memoryview, field: int):
    for entry in _fields(signature, field):
        key, tensor_info = _map_entry(entry)
        names = [bytes(name).decode() for name in _fields(tensor_info, _TENSOR_INFO_NAME)]
        shapes = list(_fields(tensor_info, _TENSOR_INFO_SHAPE))
        yield key, Tensor(names[-1] if names else "", _shape(shapes[-1]) if shapes else None)


def _shape(shape: memoryview) -> tuple[int, ...] | None:
    dims = []
    for number, value in _parse(shape):
        if number == _SHAPE_UNKNOWN_RANK and value:
            return None
        if number == _SHAPE_DIM:
            sizes = [size for field, size in _parse(value) if field == _DIM_SIZE]
            dims.append(_signed(sizes[-1]) if sizes else 0)  # proto3 omits a zero size
    return tuple(dims)


def _map_entry(entry: memoryview) -> tuple[str, memoryview]:
    key, value = "", memoryview(b"")
    for number, content in _parse(entry):
        if number == _MAP_KEY:
            key = bytes(content).decode()
        elif number == _MAP_VALUE:
            value = content
    return key, value


def _fields(message: memoryview, wanted: int):
    return (value for number, value in _parse(message) if number == wanted)


def _parse(message: memoryview):
    """Yields (field number, value) of a protobuf message: an int for varints and fixed
    fields, a memoryview (not copied, not decoded) for length-delimited ones."""
    position, end = 0, len(message)
    value: int | memoryview  # by the wire type: the callers know which their fields have
    while position < end:
        tag, position = _varint(message, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == _VARINT:
            value, position = _varint(message, position)
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _varint(message, position)
            if position + length > end:
                raise ValueError("truncated field")
            value, position = message[position : position + length], position + length
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            value, position = int.from_bytes(message[position : position + size], "little"), position + size
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        yield number, value


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        result |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _signed(value: int) -> int:
    """An int64 read as an unsigned varint, back to its sign (-1 is 2**64 - 1)."""
    return value - (1 << 64) if value >= 1 << 63 else value
