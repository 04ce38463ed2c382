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


def random_clip(rng, frames=6, size=16):
    return rng.uniform(0, 1, (frames, size, size, 3)).astype(np.float32)


def open_on(engine, directory):
    model, _ = engines.open_model(directory, engine=engine, precision="f32")  # engines compared in one precision
    return model


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_base_model_logits_are_the_known_function_of_colour(engine, tiny_models, rng):
    model = open_on(engine, tiny_models.base)
    clip = random_clip(rng)
    assert model.num_classes == 600 and engines.kind_of(model) == "base"
    np.testing.assert_allclose(model.logits(clip), expected_logits(clip.mean(axis=(0, 1, 2))), rtol=1e-4, atol=1e-2)


def test_openvino_matches_tensorflow_on_the_base_model(tiny_models, rng):
    reference, fast = open_on("tensorflow", tiny_models.base), open_on("openvino", tiny_models.base)
    for frames, size in [(6, 16), (3, 24), (6, 16)]:  # new shapes compile, known ones are reused
        clip = random_clip(rng, frames, size)
        np.testing.assert_allclose(fast.logits(clip), reference.logits(clip), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_stream_model_carries_states_between_chunks(engine, tiny_models, rng):
    model = open_on(engine, tiny_models.stream)
    assert engines.kind_of(model) == "stream"
    clip = random_clip(rng, frames=10)
    states = model.init_states((2, 16, 16))
    for start in range(0, 10, 2):
        logits, states = model.step(clip[start : start + 2], states)
    remembered = clip[-STREAM_MEMORY:].mean(axis=(1, 2)).mean(axis=0)  # the last 4 frames' colour
    np.testing.assert_allclose(logits, expected_logits(remembered), rtol=1e-4, atol=1e-2)


def test_openvino_matches_tensorflow_on_the_stream_model_step_by_step(tiny_models, rng):
    reference, fast = open_on("tensorflow", tiny_models.stream), open_on("openvino", tiny_models.stream)
    clip = random_clip(rng, frames=9)
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
def test_a_corrupt_cache_entry_is_rebuilt(tiny_models, tmp_path, monkeypatch, library_log, rng):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    engines.open_model(tiny_models.base, engine="openvino", precision="f32")
    (weights,) = (tmp_path / "openvino").glob("*/model.bin")
    weights.write_bytes(weights.read_bytes()[:-16])  # cut short, as by a full disk
    messages = library_log
    messages.clear()  # what the calls below log
    model, _ = engines.open_model(tiny_models.base, engine="openvino", precision="f32")  # values asserted: f32
    clip = random_clip(rng)
    np.testing.assert_allclose(model.logits(clip), expected_logits(clip.mean(axis=(0, 1, 2))), rtol=1e-4, atol=1e-2)
    assert any("Converting" in m for m in messages)  # when the first compile read it


def test_openvino_reads_the_input_where_it_lies_rather_than_copying_it(tiny_models, rng):
    """A 10-s window at --fps 60 --size 640 is 2.95 GB: the request shares it, for both kinds."""
    clip_model, _ = engines.open_model(tiny_models.base, engine="openvino")
    clip = random_clip(rng)
    clip_model.logits(clip)
    assert np.shares_memory(clip_model._request_for(clip.shape).get_input_tensor(0).data, clip)
    stream_model, _ = engines.open_model(tiny_models.stream, engine="openvino")
    frames = random_clip(rng, frames=2)
    stream_model.step(frames, stream_model.init_states(frames.shape[:3]))
    request_for, meta = stream_model._converted(frames.shape[1:3])
    assert np.shares_memory(request_for(frames.shape).get_input_tensor(meta["inputs"][0]).data, frames)


def test_a_changed_model_is_converted_again(tiny_models, tmp_path):
    identity = saved_model_identity(tiny_models.base)
    assert identity == saved_model_identity(tiny_models.base)
    assert identity != saved_model_identity(tiny_models.stream)


def test_a_models_identity_is_hashed_once_a_process_until_its_files_change(tiny_models, tmp_path, monkeypatch):
    import shutil

    from movinet_cli.model.engines import cache

    copy = shutil.copytree(tiny_models.base, tmp_path / "base")
    hashed = []
    real = cache._sha256_of
    monkeypatch.setattr(cache, "_sha256_of", lambda path: hashed.append(path) or real(path))
    identity = saved_model_identity(str(copy))
    assert len(hashed) == 2 and saved_model_identity(str(copy)) == identity and len(hashed) == 2
    with open(copy / "saved_model.pb", "ab") as graph:
        graph.write(b"\0")  # a changed graph
    assert saved_model_identity(str(copy)) != identity and len(hashed) == 4


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


def test_auto_falls_back_to_tensorflow_with_a_warning(openvino_cannot_convert, library_log, rng):
    messages = library_log
    messages.clear()  # what the calls below log
    model, reason = engines.open_model(openvino_cannot_convert, engine="auto")
    assert model.engine == "tensorflow"
    assert "fell back to TensorFlow" in reason
    assert messages[0].startswith("Converting") and messages[-1].startswith("warning: OpenVINO cannot run this model")
    assert model.logits(random_clip(rng)).shape == (600,)


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


@pytest.mark.parametrize("native", ["1", "0"])
def test_auto_precision_follows_the_cpus_capabilities(tiny_models, monkeypatch, native):
    monkeypatch.setenv(environment.NATIVE_BF16, native)  # the CPU's answer, given both ways
    model, _ = engines.open_model(tiny_models.base, engine="openvino", precision="auto")
    assert model.precision == ("bf16" if native == "1" else "f32")
    assert model.precision_reason.startswith("auto: the CPU has " + ("native bf16" if native == "1" else "no native bf16"))
    compiled = model._request_for((6, 16, 16, 3)).get_compiled_model()
    ran = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # what OpenVINO computes in
    assert ran == ("bf16" if native == "1" and ov_engine.cpu_has_native_bf16() else "f32")  # f32 told is f32 run, even on a bf16 CPU
    tf_model, _ = engines.open_model(tiny_models.base, engine="tensorflow", precision="auto")
    assert tf_model.precision == "f32"


def test_the_variable_gives_the_cpus_answer_and_a_bad_value_is_one_line(monkeypatch):
    from movinet_cli.errors import UsageError

    monkeypatch.setattr(ov_engine, "cpu_has_native_bf16", lambda: "asked")  # the machine's own answer, when no value is given
    for told, answer in [("1", True), ("0", False), (" 1 ", True), ("", "asked")]:
        monkeypatch.setenv(environment.NATIVE_BF16, told)
        assert ov_engine.supports_bf16() == answer
    monkeypatch.delenv(environment.NATIVE_BF16)
    assert ov_engine.supports_bf16() == "asked"
    monkeypatch.setenv(environment.NATIVE_BF16, "yes")
    with pytest.raises(UsageError, match=r"^MOVINET_NATIVE_BF16 must be 1 \(take the CPU to have native bf16\) or 0 \(not\), got 'yes'$"):
        ov_engine.supports_bf16()


def bf16_error_bound(f32_logits: np.ndarray) -> float:
    """How far bf16 logits may lie from f32's: a few of bf16's roundings (8 significant
    bits: 2**-8 of a value) of the largest logit. The test models compute logits as a
    difference of squares, so an error relative to each logit would not hold."""
    return 4 * 2**-8 * float(np.abs(f32_logits).max())


@pytest.mark.skipif(not ov_engine.cpu_has_native_bf16(), reason="bf16 kernels need a CPU with native bf16 (AVX-512 BF16 or AMX)")
@pytest.mark.parametrize("kind", ["base", "stream"])
def test_bf16_gives_f32s_answer_within_bf16s_error(palette_models, kind, rng, native_bf16):
    """On the real kernels: logits within bf16's error of f32's, and the same top-1 wherever
    f32's margin over the runner-up exceeds that error (a near-tie may change places)."""
    directory = getattr(palette_models, kind)
    f32, _ = engines.open_model(directory, engine="openvino", precision="f32")
    bf16, _ = engines.open_model(directory, engine="openvino", precision="bf16")
    assert (f32.precision, bf16.precision) == ("f32", "bf16")
    decided = 0
    for colour in rng.uniform(0, 1, (8, 3)):  # clips around colours of every kind of margin
        clip = np.clip(colour + rng.normal(0, 0.05, (8, 16, 16, 3)), 0, 1).astype(np.float32)
        if kind == "base":
            outputs = [model.logits(clip) for model in (f32, bf16)]
        else:
            outputs = [model.step(clip, model.init_states((8, 16, 16)))[0] for model in (f32, bf16)]
        bound = bf16_error_bound(outputs[0])
        np.testing.assert_allclose(outputs[1], outputs[0], rtol=0, atol=bound)
        runner_up, top = np.sort(outputs[0])[-2:]
        if top - runner_up > 2 * bound:
            decided += 1
            assert np.argmax(outputs[1]) == np.argmax(outputs[0])
    assert decided  # some clip had a clear answer to compare


def test_bf16_on_a_cpu_without_it_is_refused(tiny_models):
    with pytest.raises(EngineError, match=r"^--precision bf16 needs a CPU with bf16 support \(AVX-512 BF16 or AMX\); this one has none$"):
        engines.open_model(tiny_models.base, engine="openvino", precision="bf16")


def test_bf16_on_a_cpu_with_it_runs_and_says_so(palette_models, native_bf16):
    """The decisions of the bf16 branch, on any CPU (where the CPU has no bf16 kernels,
    OpenVINO computes f32: the answer is asserted only where its margin exceeds bf16's error)."""
    model, _ = engines.open_model(palette_models.base, engine="openvino", precision="bf16")
    assert (model.precision, model.precision_reason) == ("bf16", "requested with --precision bf16")
    clip = np.full((6, 16, 16, 3), (0.9, 0.1, 0.1), np.float32)  # red, far from the other palette colours
    expected = expected_logits(clip.mean(axis=(0, 1, 2)), 8)
    assert np.sort(expected)[-1] - np.sort(expected)[-2] > 2 * bf16_error_bound(expected)
    assert np.argmax(model.logits(clip)) == np.argmax(expected)


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
def test_a_process_given_a_share_of_the_cpus_infers_with_that_many_threads(tiny_models, monkeypatch, threads, rng):
    if threads:
        monkeypatch.setenv(environment.CPU_THREADS, threads)
    else:
        monkeypatch.delenv(environment.CPU_THREADS, raising=False)
    model, _ = engines.open_model(tiny_models.base, engine="openvino", precision="f32")
    model.logits(random_clip(rng))
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


def test_every_engine_the_command_line_names_is_in_the_registry():
    from movinet_cli.options import ENGINES

    assert set(ENGINES) == {"auto", *engines.ENGINE_OPENERS}


def test_openvino_hands_the_states_from_step_to_step_without_copying_them(tiny_models, rng):
    """What a step writes is what the next one reads, in place: no copy between steps."""
    model, _ = engines.open_model(tiny_models.stream, engine="openvino", precision="f32")
    frames = random_clip(rng, frames=2)
    states = model.init_states(frames.shape[:3])
    request_for, meta = model._converted(frames.shape[1:3])
    request = request_for(frames.shape)
    (_, *state_inputs), (_, *state_outputs) = meta["inputs"], meta["outputs"]
    for _ in range(3):
        _, states = model.step(frames, states)
        written = [request.get_output_tensor(port).data for port in state_outputs]
        _, states = model.step(frames, states)
        read = [request.get_input_tensor(port).data for port in state_inputs]
        assert all(np.shares_memory(w, r) for w, r in zip(written, read))


def test_openvino_states_may_be_stepped_from_again_until_written_over(tiny_models, rng):
    model, _ = engines.open_model(tiny_models.stream, engine="openvino", precision="f32")
    first, second = random_clip(rng, frames=2), random_clip(rng, frames=2)
    zeros = model.init_states((2, 16, 16))
    logits, after = model.step(first, zeros)
    again, after_again = model.step(first, zeros)  # the zero states again: the same answer
    np.testing.assert_array_equal(again, logits)
    with pytest.raises(EngineError, match="written over by a later step"):
        model.step(second, after)  # its set now holds after_again
    final, last = model.step(second, after_again)
    remembered = np.concatenate([first, second]).mean(axis=(1, 2)).mean(axis=0)  # the 4 frames it remembers
    np.testing.assert_allclose(final, expected_logits(remembered), rtol=1e-4, atol=1e-2)
    with pytest.raises(EngineError, match="written over by a later step"):
        model.step(second, zeros)  # two steps back: its set holds last


def compiles_ahead_done():
    import threading

    for thread in threading.enumerate():
        if thread.name == "movinet-compile-ahead":
            thread.join()


def test_openvino_compiles_a_shape_ahead_in_the_background(tiny_models, rng):
    clip_model, _ = engines.open_model(tiny_models.base, engine="openvino", precision="f32")
    clip_model.compile_ahead((5, 16, 16, 3))
    compiles_ahead_done()
    assert clip_model._request_for.holds((5, 16, 16, 3))
    clip = random_clip(rng, frames=5)
    np.testing.assert_allclose(clip_model.logits(clip), expected_logits(clip.mean(axis=(0, 1, 2))), rtol=1e-4, atol=1e-2)
    stream_model, _ = engines.open_model(tiny_models.stream, engine="openvino", precision="f32")
    stream_model.init_states((2, 16, 16))  # converts (into the cache) for frames of 16 x 16
    stream_model.compile_ahead((3, 16, 16, 3))
    compiles_ahead_done()
    assert stream_model._by_frame_size[16, 16][0].holds((3, 16, 16, 3))


def test_a_stream_model_not_converted_yet_is_not_converted_in_the_background(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    model, _ = engines.open_model(tiny_models.stream, engine="openvino", precision="f32")
    model.compile_ahead((3, 16, 16, 3))
    compiles_ahead_done()
    assert not model._by_frame_size and not list((tmp_path / "openvino").glob("*/model.xml"))


def test_openvino_is_imported_without_its_model_converter_until_one_converts():
    """A run whose conversion is cached never converts: OpenVINO's converter (0.1 to 0.3 s of
    its import) is imported by the first conversion only."""
    import subprocess
    import sys

    script = (
        "import sys; from movinet_cli._lazy import openvino, convert_model; ov = openvino();"
        "print('openvino.tools.ovc' in sys.modules, hasattr(ov, 'Core'));"
        "import openvino.tools.ovc; print(callable(openvino.tools.ovc.convert_model))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]
