"""The stream model's graph cut into parts before OpenVINO converts it (issue 20)."""

from pathlib import Path

import numpy as np
import pytest
from test_engines import open_on, random_clip

from movinet_cli.model.engines import graph_split
from movinet_cli.model.saved_model import read_signatures

CALLS = {"PartitionedCall", "StatefulPartitionedCall"}


def library(directory) -> dict:
    """Function name -> its nodes (NodeDefs), from ``directory``'s saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(Path(directory, "saved_model.pb").read_bytes())
    return {function.signature.name: list(function.node_def) for function in saved_model.meta_graphs[0].graph_def.library.function}


def run_in_tensorflow(directory, clip: np.ndarray, chunk: int) -> list[np.ndarray]:
    """The logits (600,) of the stream model in ``directory`` over ``clip`` in chunks of ``chunk``
    frames, its states carried, run by TensorFlow from the graph and its signatures alone
    (a TF1 session: every FunctionDef that the signatures call is checked and run)."""
    import tensorflow as tf

    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(directory))
        init, call = meta_graph.signature_def["init_states"], meta_graph.signature_def["call"]
        states = session.run({name: tensor.name for name, tensor in init.outputs.items()}, {init.inputs["input_shape"].name: [1, chunk, *clip.shape[1:]]})
        logits = []
        for start in range(0, len(clip), chunk):
            feed = {call.inputs[name].name: value for name, value in states.items()}
            feed[call.inputs["image"].name] = clip[None, start : start + chunk]
            outputs = session.run({name: tensor.name for name, tensor in call.outputs.items()}, feed)
            logits.append(outputs.pop("logits")[0])
            states = outputs
        return logits


@pytest.fixture
def cut(tiny_models, tmp_path):
    """The tiny stream model cut into parts of 4 nodes."""
    directory = tmp_path / "cut"
    directory.mkdir()
    assert graph_split.split_saved_model(tiny_models.stream, str(directory), part_nodes=4) > 0
    return directory


def test_every_body_the_signatures_compute_with_is_cut_and_the_saver_kept_whole(cut, tiny_models):
    functions = library(cut)
    parts = [name for name in functions if "_part" in name]
    assert len(parts) >= 2 and all(len(functions[name]) <= 4 for name in parts)
    computing = {name for name, nodes in functions.items() if "_traced_" not in name and "_part" not in name}
    assert all({node.op for node in functions[name]} <= CALLS for name in computing if len(functions[name]) > 4)  # none left whole
    saver = {name: len(nodes) for name, nodes in library(tiny_models.stream).items() if "_traced_" in name}
    assert saver and {name: len(functions[name]) for name in saver} == saver  # OpenVINO reads variables from the restore body
    assert set(functions) - set(parts) <= set(library(tiny_models.stream))  # pruned, nothing new but parts
    assert read_signatures(str(cut)) == read_signatures(tiny_models.stream)


@pytest.mark.slow
def test_the_cut_model_gives_the_original_logits_in_tensorflow_and_openvino(cut, tiny_models, rng):
    """Chunk after chunk, its states carried from one to the next."""
    clip = random_clip(rng, frames=9)
    original = run_in_tensorflow(tiny_models.stream, clip, chunk=3)
    np.testing.assert_allclose(run_in_tensorflow(cut, clip, chunk=3), original, rtol=1e-6, atol=1e-5)
    converted = open_on("openvino", str(cut))
    states = converted.init_states((3, 16, 16))
    for index, start in enumerate(range(0, 9, 3)):
        logits, states = converted.step(clip[start : start + 3], states)
        np.testing.assert_allclose(logits, original[index], rtol=1e-5, atol=1e-3)


def test_a_body_under_the_part_size_is_left_whole(tiny_models, tmp_path):
    directory = tmp_path / "whole"
    directory.mkdir()
    assert graph_split.split_saved_model(tiny_models.stream, str(directory), part_nodes=10**6) == 0
    assert not any("_part" in name for name in library(directory))


@pytest.mark.slow
def test_a_graph_without_its_op_list_is_left_whole_and_still_converts(tiny_models, tmp_path, rng):
    """A SavedModel whose meta graph does not list its ops (an exporter that strips it): the
    dtypes of the tensors crossing a cut are unknown, so no body is cut, and the copy still
    converts into the same model."""
    import shutil

    from tensorflow.core.protobuf import saved_model_pb2

    bare = tmp_path / "bare"
    shutil.copytree(tiny_models.stream, bare)
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((bare / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.meta_info_def.ClearField("stripped_op_list")
    (bare / "saved_model.pb").write_bytes(saved_model.SerializeToString())
    whole = tmp_path / "whole"
    whole.mkdir()
    assert graph_split.split_saved_model(str(bare), str(whole), part_nodes=4) == 0
    assert not any("_part" in name for name in library(whole))
    clip = random_clip(rng, frames=3)
    converted = open_on("openvino", str(whole))
    logits, _ = converted.step(clip, converted.init_states((3, 16, 16)))
    np.testing.assert_allclose(logits, run_in_tensorflow(tiny_models.stream, clip, chunk=3)[0], rtol=1e-5, atol=1e-3)
