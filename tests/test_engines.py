import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
from make_test_model import STREAM_MEMORY, expected_logits

from movinet_cli import environment
from movinet_cli.errors import EngineError, ModelError
from movinet_cli.model import engines
from movinet_cli.model.engines import openvino as ov_engine
from movinet_cli.model.engines import tensorflow as tf_engine
from movinet_cli.model.engines.cache import saved_model_identity

RNG = np.random.default_rng(7)


def random_clip(frames=6, size=16):
    return RNG.uniform(0, 1, (frames, size, size, 3)).astype(np.float32)


def open_on(engine, directory):
    model, _ = engines.open_model(directory, engine=engine, precision="f32")  # engines compared in one precision
    return model


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_base_model_logits_are_the_known_function_of_colour(engine, tiny_models):
    model = open_on(engine, tiny_models.base)
    clip = random_clip()
    assert model.num_classes == 600 and engines.kind_of(model) == "base"
    np.testing.assert_allclose(model.logits(clip), expected_logits(clip.mean(axis=(0, 1, 2))), rtol=1e-4, atol=1e-2)


def test_openvino_matches_tensorflow_on_the_base_model(tiny_models):
    reference, fast = open_on("tensorflow", tiny_models.base), open_on("openvino", tiny_models.base)
    for frames, size in [(6, 16), (3, 24), (6, 16)]:  # new shapes compile, known ones are reused
        clip = random_clip(frames, size)
        np.testing.assert_allclose(fast.logits(clip), reference.logits(clip), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_stream_model_carries_states_between_chunks(engine, tiny_models):
    model = open_on(engine, tiny_models.stream)
    assert engines.kind_of(model) == "stream"
    clip = random_clip(frames=10)
    states = model.init_states((2, 16, 16))
    for start in range(0, 10, 2):
        logits, states = model.step(clip[start : start + 2], states)
    remembered = clip[-STREAM_MEMORY:].mean(axis=(1, 2)).mean(axis=0)  # the last 4 frames' colour
    np.testing.assert_allclose(logits, expected_logits(remembered), rtol=1e-4, atol=1e-2)


def test_openvino_matches_tensorflow_on_the_stream_model_step_by_step(tiny_models):
    reference, fast = open_on("tensorflow", tiny_models.stream), open_on("openvino", tiny_models.stream)
    clip = random_clip(frames=9)
    tf_states, ov_states = reference.init_states((3, 16, 16)), fast.init_states((3, 16, 16))
    for start in range(0, 9, 3):
        tf_logits, tf_states = reference.step(clip[start : start + 3], tf_states)
        ov_logits, ov_states = fast.step(clip[start : start + 3], ov_states)
        np.testing.assert_allclose(ov_logits, tf_logits, rtol=1e-5, atol=1e-3)


def test_conversions_are_cached_on_disk(tiny_models, tmp_path, monkeypatch, library_log):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    messages = library_log
    messages.clear()  # what the calls below log
    engines.open_model(tiny_models.base, engine="openvino")
    assert sum("Converting" in m for m in messages) == 1
    engines.open_model(tiny_models.base, engine="openvino")
    assert sum("Converting" in m for m in messages) == 1  # second open: from the cache


@pytest.mark.slow
def test_a_corrupt_cache_entry_is_rebuilt(tiny_models, tmp_path, monkeypatch, library_log):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    engines.open_model(tiny_models.base, engine="openvino")
    (weights,) = (tmp_path / "openvino").glob("*/model.bin")
    weights.write_bytes(weights.read_bytes()[:-16])  # cut short, as by a full disk
    messages = library_log
    messages.clear()  # what the calls below log
    model, _ = engines.open_model(tiny_models.base, engine="openvino")
    assert any("Converting" in m for m in messages)
    clip = random_clip()
    np.testing.assert_allclose(model.logits(clip), expected_logits(clip.mean(axis=(0, 1, 2))), rtol=1e-4, atol=1e-2)


def test_openvino_reads_the_input_where_it_lies_rather_than_copying_it(tiny_models):
    """A 10-s window at --fps 60 --size 640 is 2.95 GB: the request shares it, for both kinds."""
    clip_model, _ = engines.open_model(tiny_models.base, engine="openvino")
    clip = random_clip()
    clip_model.logits(clip)
    assert np.shares_memory(clip_model._request_for(clip.shape).get_input_tensor(0).data, clip)
    stream_model, _ = engines.open_model(tiny_models.stream, engine="openvino")
    frames = random_clip(frames=2)
    stream_model.step(frames, stream_model.init_states(frames.shape[:3]))
    request_for, meta = stream_model._converted(frames.shape[1:3])
    assert np.shares_memory(request_for(frames.shape).get_input_tensor(meta["inputs"][0]).data, frames)


def test_a_changed_model_is_converted_again(tiny_models, tmp_path):
    identity = saved_model_identity(tiny_models.base)
    assert identity == saved_model_identity(tiny_models.base)
    assert identity != saved_model_identity(tiny_models.stream)


@pytest.fixture(scope="module")
def openvino_cannot_convert(tmp_path_factory):
    """A base-model look-alike using lgamma, which TensorFlow runs and OpenVINO cannot convert."""
    from movinet_cli._lazy import tensorflow

    tf = tensorflow()

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32)])
        def serve(self, image):
            mean = tf.reduce_mean(image, axis=[1, 2, 3])
            return {"classifier_head": tf.tile(tf.math.lgamma(mean + 1), [1, 200])}

    module, directory = Model(), str(tmp_path_factory.mktemp("lgamma"))
    tf.saved_model.save(module, directory, signatures={"serving_default": module.serve.get_concrete_function()})
    return directory


def test_auto_falls_back_to_tensorflow_with_a_warning(openvino_cannot_convert, library_log):
    messages = library_log
    messages.clear()  # what the calls below log
    model, reason = engines.open_model(openvino_cannot_convert, engine="auto")
    assert model.engine == "tensorflow"
    assert "fell back to TensorFlow" in reason
    assert messages[0].startswith("Converting") and messages[-1].startswith("warning: OpenVINO cannot run this model")
    assert model.logits(random_clip()).shape == (600,)


def test_explicit_openvino_fails_clearly(openvino_cannot_convert):
    with pytest.raises(EngineError, match="OpenVINO cannot convert"):
        engines.open_model(openvino_cannot_convert, engine="openvino")


def test_auto_picks_openvino_without_a_gpu_and_says_why(tiny_models, monkeypatch):
    monkeypatch.setattr(engines, "tensorflow_gpu", lambda: None)
    model, reason = engines.open_model(tiny_models.base)
    assert model.engine == "openvino" and "no GPU" in reason


def test_auto_picks_tensorflow_when_it_sees_a_gpu(tiny_models, monkeypatch):
    monkeypatch.setattr(engines, "tensorflow_gpu", lambda: "/physical_device:GPU:0")
    model, reason = engines.open_model(tiny_models.base)
    assert model.engine == "tensorflow" and "GPU:0" in reason


def test_bf16_is_refused_on_tensorflow(tiny_models):
    with pytest.raises(EngineError, match="OpenVINO engine only"):
        engines.open_model(tiny_models.base, engine="tensorflow", precision="bf16")


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_follows_the_cpus_capabilities(tiny_models, monkeypatch, native):
    monkeypatch.setattr(ov_engine, "supports_bf16", lambda: native)  # the CPU's answer, faked both ways
    model, _ = engines.open_model(tiny_models.base, engine="openvino", precision="auto")
    assert model.precision == ("bf16" if native else "f32")
    assert model.precision_reason.startswith("auto: the CPU has " + ("native bf16" if native else "no native bf16"))
    tf_model, _ = engines.open_model(tiny_models.base, engine="tensorflow", precision="auto")
    assert tf_model.precision == "f32"


@pytest.mark.skipif(not ov_engine.supports_bf16(), reason="this CPU has no native bf16")
@pytest.mark.parametrize("kind", ["base", "stream"])
def test_bf16_and_f32_give_the_same_top_5(tiny_models, kind):
    directory = getattr(tiny_models, kind)
    f32, _ = engines.open_model(directory, engine="openvino", precision="f32")
    bf16, _ = engines.open_model(directory, engine="openvino", precision="bf16")
    assert (f32.precision, bf16.precision) == ("f32", "bf16")
    for _ in range(5):
        clip = random_clip(frames=8)
        if kind == "base":
            outputs = [model.logits(clip) for model in (f32, bf16)]
        else:
            outputs = [model.step(clip, model.init_states((8, 16, 16)))[0] for model in (f32, bf16)]
        assert list(np.argsort(outputs[0])[::-1][:5]) == list(np.argsort(outputs[1])[::-1][:5])


def test_bf16_runs_or_is_refused_by_cpu_support(tiny_models):
    if ov_engine.supports_bf16():
        model, _ = engines.open_model(tiny_models.base, engine="openvino", precision="bf16")
        clip = random_clip()
        assert np.argmax(model.logits(clip)) == np.argmax(expected_logits(clip.mean(axis=(0, 1, 2))))
    else:
        with pytest.raises(EngineError, match="bf16 support"):
            engines.open_model(tiny_models.base, engine="openvino", precision="bf16")


def test_a_saved_model_that_is_no_movinet_is_rejected(tmp_path):
    from movinet_cli._lazy import tensorflow

    tf = tensorflow()
    module = tf.Module()
    module.f = tf.function(lambda x: x, input_signature=[tf.TensorSpec([1], tf.float32)])
    tf.saved_model.save(module, str(tmp_path), signatures={"other": module.f.get_concrete_function()})
    with pytest.raises(ModelError, match="not a MoViNet classifier"):
        tf_engine.open_model(str(tmp_path))


def test_corrupt_saved_model_is_a_model_error(tmp_path):
    Path(tmp_path, "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="cannot load the SavedModel"):
        tf_engine.open_model(str(tmp_path))


def _classes_in_a_worker(directory, cache):
    os.environ["MOVINET_CACHE_DIR"] = cache
    model, _ = engines.open_model(directory, engine="openvino")
    return model.num_classes


@pytest.mark.slow
def test_conversion_works_inside_a_multiprocessing_pool_worker(tiny_models, tmp_path):
    """Pool workers are daemonic and may not start the conversion's own child process."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_classes_in_a_worker, (tiny_models.base, str(tmp_path))) == 600


@pytest.mark.parametrize("threads", [None, "1"])
def test_a_process_given_a_share_of_the_cpus_infers_with_that_many_threads(tiny_models, monkeypatch, threads):
    if threads:
        monkeypatch.setenv(environment.CPU_THREADS, threads)
    else:
        monkeypatch.delenv(environment.CPU_THREADS, raising=False)
    model, _ = engines.open_model(tiny_models.base, engine="openvino", precision="f32")
    model.logits(random_clip())
    compiled = model._request_for((6, 16, 16, 3)).get_compiled_model()
    used = int(compiled.get_property("INFERENCE_NUM_THREADS"))
    assert used == 1 if threads else used == 0 or used == os.cpu_count()  # 0: OpenVINO's own choice


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", "٣", "99999"])
def test_a_bad_cpu_threads_variable_is_one_line_naming_it(tiny_models, monkeypatch, value):
    """Issue 22: MOVINET_CPU_THREADS=abc gave "unexpected ValueError"."""
    from movinet_cli.errors import UsageError

    monkeypatch.setenv("MOVINET_CPU_THREADS", value)
    with pytest.raises(UsageError) as raised:
        engines.open_model(tiny_models.base, engine="auto")
    assert str(raised.value) == f"MOVINET_CPU_THREADS must be a whole number of threads from 1 to 4096, got {value!r}"
