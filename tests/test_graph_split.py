import numpy as np
from test_engines import open_on, random_clip

from movinet_cli.engines import graph_split
from movinet_cli.saved_model import read_signatures


def function_sizes(directory):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((directory / "saved_model.pb").read_bytes())
    return {function.signature.name: len(function.node_def) for function in saved_model.meta_graphs[0].graph_def.library.function}


def test_a_stream_model_cut_into_parts_carries_states_like_tensorflow(tiny_models, tmp_path):
    """Issue 20: OpenVINO converts the stream model's `call` body cut into a chain of parts
    (here of 4 nodes) into a model that gives TensorFlow's logits chunk after chunk, its
    states carried from one to the next."""
    cut = tmp_path / "cut"
    cut.mkdir()
    assert graph_split.split_saved_model(tiny_models.stream, str(cut), part_nodes=4) > 0
    assert sum("_part" in name for name in function_sizes(cut)) >= 2  # the bodies are cut into parts
    assert read_signatures(str(cut)) == read_signatures(tiny_models.stream)
    reference, converted = open_on("tensorflow", tiny_models.stream), open_on("openvino", str(cut))
    clip = random_clip(frames=9)
    tf_states, ov_states = reference.init_states((3, 16, 16)), converted.init_states((3, 16, 16))
    for start in range(0, 9, 3):
        tf_logits, tf_states = reference.step(clip[start : start + 3], tf_states)
        ov_logits, ov_states = converted.step(clip[start : start + 3], ov_states)
        np.testing.assert_allclose(ov_logits, tf_logits, rtol=1e-5, atol=1e-3)

