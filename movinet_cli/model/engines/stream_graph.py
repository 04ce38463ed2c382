"""The state plumbing of a converted stream model, simplified where that is exactly equivalent.

A stream MoViNet keeps, as states, the last frames that each causal convolution's input saw
(TensorFlow's ``concat([buffer, x], 1)[:, -n:]``) and the last running sum of each causal
average pool (``cumsum(...)[:, -1:]``). OpenVINO's TensorFlow frontend makes each of those a
StridedSlice, which OpenVINO's CPU plugin (2026.4) runs on its reference kernel: ``ref_f32``
in a PERF_COUNT profile of the A0 stream export (8-frame steps, 172x172, f32, AVX2), 26
nodes and 4.6% of a step, most of it copying the stream buffers.

A slice that keeps the first or the last n entries of one axis, whole on every other, in
steps of 1, is one output of a VariadicSplit of that axis into (n, the rest) or (the rest,
n), provided the axis holds at least n entries: the same elements in the same order, so the
answers are bit-identical. ``simplify_slices`` rewrites each such slice where the model's
shapes prove that bound (the frame count's lower bound of 1 included: the converter gives
the frame axis the interval [1, inf)); a slice it cannot prove so is left as it is. The CPU
plugin runs a VariadicSplit in place or with its optimized copy: that step took 0.965x the
wall time (2 threads, median of 7 alternating rounds in one process).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movinet_cli._lazy import openvino

_MASKS_THAT_RESHAPE = ("new_axis_mask", "shrink_axis_mask", "ellipsis_mask")


def _constant(output: Any) -> list[int] | None:
    node = output.get_node()
    return [int(value) for value in node.get_vector()] if node.get_type_name() == "Constant" else None


def _kept(slice_op: Any) -> tuple[int, int, bool] | None:
    """For a StridedSlice that keeps the first or last n entries of one axis (whole on the
    others, step 1), ``(axis, n, last)``; None for any other slice or one not known to be so."""
    begin, end, strides = (_constant(slice_op.input_value(index)) for index in (1, 2, 3))
    attributes = slice_op.get_attributes()
    if begin is None or end is None or strides is None or any(v != 1 for v in strides) or any(any(attributes[m]) for m in _MASKS_THAT_RESHAPE):
        return None
    shape = slice_op.get_input_partial_shape(0)
    if shape.rank.is_dynamic:
        return None
    cut = []
    for axis in range(shape.rank.get_length()):
        start = None if axis >= len(begin) or _flag(attributes["begin_mask"], axis) else begin[axis]
        stop = None if axis >= len(end) or _flag(attributes["end_mask"], axis) else end[axis]
        if start in (None, 0) and stop is None:
            continue  # the whole axis
        cut.append((axis, start, stop))
    if len(cut) != 1:
        return None
    axis, start, stop = cut[0]
    if start is not None and start < 0 and stop is None:
        kept, last = -start, True
    elif start in (None, 0) and stop is not None and stop > 0:
        kept, last = stop, False
    else:
        return None
    if shape[axis].get_min_length() < kept:  # fewer entries than n possible: the slice keeps them all
        return None
    return axis, kept, last


def _flag(mask: list[int], axis: int) -> bool:
    return axis < len(mask) and bool(mask[axis])


def simplify_slices(model: Any) -> int:
    """Rewrites, in ``model`` (an ``ov.Model``), each StridedSlice that keeps the first or
    last n entries of one axis into the matching output of a VariadicSplit (see the module's
    docstring); returns how many it rewrote. The outputs keep their tensor names."""
    ov_ops = openvino().opset13
    rewritten = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() != "StridedSlice":
            continue
        kept = _kept(op)
        if kept is None:
            continue
        axis, n, last = kept
        lengths = np.array([-1, n] if last else [n, -1], np.int64)  # -1: the rest, whatever its length
        split = ov_ops.variadic_split(op.input_value(0), ov_ops.constant(np.int64(axis)), ov_ops.constant(lengths))
        replacement = split.output(1 if last else 0)
        names = op.output(0).get_names()
        op.output(0).replace(replacement)
        replacement.get_tensor().add_names(names)
        rewritten += 1
    if rewritten:
        model.validate_nodes_and_infer_types()
    return rewritten
