"""The stream graph's state slices rewritten into splits: bit-identical answers, and only
where the shapes prove the rewrite exact."""

import numpy as np
import pytest
from make_test_model import BUFFER_STATE

from movinet_cli._lazy import openvino
from movinet_cli.model import engines
from movinet_cli.model.engines.stream_graph import simplify_slices


def sliced_model(frames_at_least: int):
    """x [1, T, 3] (T >= ``frames_at_least``) -> x[:, -2:], x[:, -1:], x[:, :1], x[:, -4:],
    x[:, 1:2]: the first three provably keep what they name when T >= 2 (as a stream buffer
    of 2 after a concat does), the last two are no such slice (x[:, -4:] keeps fewer where T < 4)."""
    ov = openvino()
    ops = ov.opset13
    x = ops.parameter(ov.PartialShape([1, ov.Dimension(frames_at_least, -1), 3]), ov.Type.f32, name="x")

    def sliced(begin, end, begin_mask, end_mask):
        return ops.strided_slice(x, np.array(begin, np.int64), np.array(end, np.int64), np.array([1, 1], np.int64), begin_mask, end_mask)

    outputs = [
        sliced([0, -2], [0, 0], [1, 0], [1, 1]),
        sliced([0, -1], [0, 0], [1, 0], [1, 1]),
        sliced([0, 0], [0, 1], [1, 1], [1, 0]),
        sliced([0, -4], [0, 0], [1, 0], [1, 1]),
        sliced([0, 1], [0, 2], [1, 0], [1, 0]),
    ]
    for index, output in enumerate(outputs):
        output.output(0).get_tensor().set_names({f"out{index}"})
    return ov.Model([output.output(0) for output in outputs], [x], "sliced")


def run(model, frames: int, rng) -> list[np.ndarray]:
    ov = openvino()
    static = model.clone()
    static.reshape({static.inputs[0]: [1, frames, 3]})
    request = ov.Core().compile_model(static, "CPU").create_infer_request()
    request.infer({0: rng.uniform(-1, 1, (1, frames, 3)).astype(np.float32)})
    return [request.get_output_tensor(index).data.copy() for index in range(len(model.outputs))]


def types_of(model) -> list[str]:
    return [op.get_type_name() for op in model.get_ordered_ops()]


def test_provable_slices_become_splits_with_bit_identical_results():
    model = sliced_model(2)
    simplified = model.clone()
    assert simplify_slices(simplified) == 3
    assert types_of(simplified).count("StridedSlice") == 2 and types_of(simplified).count("VariadicSplit") == 3
    assert [output.get_names() for output in simplified.outputs] == [output.get_names() for output in model.outputs]
    for frames in (2, 3, 7):  # 2: one split's other part is empty
        before, after = run(model, frames, np.random.default_rng(frames)), run(simplified, frames, np.random.default_rng(frames))
        for old, new in zip(before, after):
            assert old.shape == new.shape and np.array_equal(old, new)


def test_a_slice_whose_axis_may_be_shorter_is_left_alone():
    model = sliced_model(1)  # x[:, -2:] keeps one frame where T is 1: no split of (rest, 2) says so
    assert simplify_slices(model) == 2  # x[:, -1:] and x[:, :1] only
    assert types_of(model).count("StridedSlice") == 3


@pytest.mark.parametrize("chunk", [1, 3])
def test_the_converted_stream_model_keeps_its_buffer_by_a_split_and_answers_as_tensorflow(tiny_models, rng, chunk):
    """The test model's buffer is TensorFlow's concat([buffer, frame means], 1)[:, -4:]."""
    fast, _ = engines.open_model(tiny_models.stream, engine="openvino", precision="f32")
    reference, _ = engines.open_model(tiny_models.stream, engine="tensorflow")
    request_for, meta = fast._converted((16, 16))
    buffer = request_for.model().outputs[meta["outputs"][1 + meta["states"].index(BUFFER_STATE)]]
    assert buffer.get_node().input_value(0).get_node().get_type_name() == "VariadicSplit"
    clip = rng.uniform(0, 1, (4 * chunk, 16, 16, 3)).astype(np.float32)
    ov_states, tf_states = fast.init_states((chunk, 16, 16)), reference.init_states((chunk, 16, 16))
    for start in range(0, len(clip), chunk):
        ov_logits, ov_states = fast.step(clip[start : start + chunk], ov_states)
        tf_logits, tf_states = reference.step(clip[start : start + chunk], tf_states)
        np.testing.assert_allclose(ov_logits, tf_logits, rtol=1e-5, atol=1e-3)
