import subprocess
import sys
from pathlib import Path

import pytest

from movinet_cli.errors import ModelError
from movinet_cli.model.saved_model import describe, read_signatures


def test_kind_and_classes_come_from_the_signatures(tiny_models, palette_models):
    assert (describe(tiny_models.base).kind, describe(tiny_models.base).num_classes) == ("base", 600)
    assert (describe(tiny_models.stream).kind, describe(tiny_models.stream).num_classes) == ("stream", 600)
    assert describe(palette_models.stream).num_classes == 8


def test_shapes_match_what_tensorflow_reports(tiny_models):
    from movinet_cli.model.engines.tensorflow import load_saved_model

    loaded = load_saved_model(tiny_models.stream)
    signatures = read_signatures(tiny_models.stream)
    assert set(signatures) == set(loaded.signatures)
    for name, signature in loaded.signatures.items():
        expected = {key: tuple(-1 if d is None else d for d in spec.shape) for key, spec in signature.structured_outputs.items()}
        assert {key: tensor.shape for key, tensor in signatures[name].outputs.items()} == expected
        assert set(signatures[name].inputs) == set(signature.structured_input_signature[1])


def test_tensor_names_are_the_graph_s(tiny_models):
    call = read_signatures(tiny_models.stream)["call"]
    assert call.inputs["image"].name == "call_image:0"
    assert call.outputs["logits"].name.startswith("StatefulPartitionedCall:")


def test_reading_does_not_import_tensorflow(tiny_models):
    code = (
        "import sys; from movinet_cli.model.saved_model import describe; "
        f"print(describe({tiny_models.stream!r}).kind, 'tensorflow' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["stream", "False"]


@pytest.mark.parametrize("content", [b"\x00garbage", b"\x12\xff\x01abc", b""])
def test_a_damaged_or_empty_protobuf_is_a_model_error(tmp_path, content):
    Path(tmp_path, "saved_model.pb").write_bytes(content)
    with pytest.raises(ModelError, match="saved_model.pb|not a MoViNet classifier"):
        describe(str(tmp_path))


def test_a_missing_protobuf_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="cannot read saved_model.pb"):
        describe(str(tmp_path))


def test_a_model_without_a_video_input_is_one_line_naming_it(tmp_path):
    """Issue 22: a SavedModel whose serving signature takes [None, 10] gave "unexpected ..."."""
    import tensorflow as tf

    class Dense(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 10], tf.float32)])
        def serve(self, features):
            return {"logits": tf.concat([features, features], axis=1)}

    module = Dense()
    directory = str(tmp_path / "dense")
    tf.saved_model.save(module, directory, signatures={"serving_default": module.serve.get_concrete_function()})
    with pytest.raises(ModelError) as raised:
        describe(directory)
    assert str(raised.value) == (
        f"{directory}: not a video model: its 'serving_default' input 'features' has shape [None, 10]; "
        "a MoViNet takes [batch, frames, height, width, 3]"
    )
    from movinet_cli import load_classifier

    with pytest.raises(ModelError, match="not a video model"):
        load_classifier(directory)
