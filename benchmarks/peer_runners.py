"""The candidates of ``peers.py``, each run in a process of its own: ``python peer_runners.py
CANDIDATE JOB_JSON`` prints ``RESULT {"ms": [...], "logits": [...]}`` (each timed pass's
figure; the final logits) or ``RESULT {"skipped": "why"}``. A job names the model directory,
its kind, frame size, the frames, chunk length, threads (0: the candidate's own choice),
repeats and the project's conversion cache.

Every candidate computes the same thing on the same frames (seeded): a base model's logits
for one clip of all the frames, a stream model's after all the frames in carried chunks.
A pass's figure is the clip's time (base), or the median step times the steps (stream: as
OpenVINO's benchmark_app reports a latency; robust to a step that another process on a
shared machine delayed), in milliseconds; and the CPU time of the process over the pass
(``cpu_ms``: with one thread, the time the work took whatever else ran; benchmark_app has none).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import peer_conversions

Call = Callable[[np.ndarray, Any], tuple[np.ndarray, Any]]  # (frames [1, n, S, S, 3], carried) -> (logits, carried)


def frames_of(job: dict) -> np.ndarray:
    """The job's frames [1, T, S, S, 3] float32 in [0, 1], the same in every process."""
    return np.random.default_rng(0).uniform(0, 1, (1, job["frames"], job["size"], job["size"], 3)).astype(np.float32)


def chunks_of(job: dict) -> list[tuple[int, int]]:
    """(first frame, frames) of each call: every chunk (stream), or one clip of all (base)."""
    length = job["chunk"] if job["kind"] == "stream" else job["frames"]
    return [(at, min(length, job["frames"] - at)) for at in range(0, job["frames"], length)]


def timed(job: dict, start: Callable[[], Any], call: Call) -> dict:
    """One untimed pass over the job's frames (compiling, warming caches), then
    ``job["repeats"]`` timed ones, each from ``start()``'s carried states."""
    clip, chunks = frames_of(job), chunks_of(job)
    figures, cpu = [], []
    for repeat in range(job["repeats"] + 1):
        carried, steps, cpu_began = start(), [], time.process_time()
        for at, length in chunks:
            began = time.perf_counter()
            logits, carried = call(clip[:, at : at + length], carried)
            steps.append(1000 * (time.perf_counter() - began))
        if repeat:
            figures.append(statistics.median(steps) * len(steps))
            cpu.append(1000 * (time.process_time() - cpu_began))
    return {"ms": figures, "cpu_ms": cpu, "logits": np.asarray(logits, np.float64).reshape(-1).tolist()}


def project(job: dict, precision: str, engine: str = "openvino") -> dict:
    """This project's engine (``movinet_cli`` as found on the path: this tree, or a baseline's)."""
    os.environ["MOVINET_CACHE_DIR"] = job["cache"]
    if job["threads"]:
        os.environ["MOVINET_CPU_THREADS"] = str(job["threads"])
    from movinet_cli.model import engines

    if engine == "tensorflow" and job["threads"]:
        from movinet_cli._lazy import tensorflow

        tensorflow().config.threading.set_intra_op_parallelism_threads(job["threads"])
    model, _ = engines.open_model(job["model"], engine=engine, precision=precision)
    if job["kind"] == "base":
        result = timed(job, lambda: None, lambda frames, _: (model.logits(frames[0]), None))
    else:
        size = job["size"]
        result = timed(job, lambda: model.init_states((job["chunk"], size, size)), lambda frames, states: model.step(frames[0], states))
    return {**result, "precision": model.precision}


def ir_path(job: dict) -> str:
    """The project's converted model (model.xml) of ``job``'s model in its cache."""
    from movinet_cli.model.engines import conversion
    from movinet_cli.model.engines.cache import ConversionCache

    cache = ConversionCache(Path(job["cache"]) / "openvino")
    frame_size = (job["size"], job["size"]) if job["kind"] == "stream" else None
    return str(cache.root / conversion.entry_key(cache, job["model"], frame_size) / "model.xml")


def benchmark_app(job: dict) -> dict:
    """OpenVINO's own benchmark_app on the project's converted model, at auto's precision: the
    ceiling (it fills the state inputs once: its steps hand nothing over)."""
    from movinet_cli.model.engines.openvino import resolve_precision

    precision, _ = resolve_precision("auto")
    steps, frames = len(chunks_of(job)), chunks_of(job)[0][1]
    shape = f"[1,{frames},{job['size']},{job['size']},3]"
    command = [str(Path(sys.executable).with_name("benchmark_app")), "-m", ir_path(job), "-d", "CPU", "-infer_precision", precision]
    command += ["-shape", f"image{shape}" if job["kind"] == "stream" else shape, "-niter", str(max(steps, 5))]
    # One stream of requests, as the LATENCY hint makes (benchmark_app refuses the hint beside -nthreads).
    command += ["-hint", "none", "-nstreams", "1", "-nthreads", str(job["threads"])] if job["threads"] else ["-hint", "latency"]
    figures = []
    for _ in range(job["repeats"]):
        output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        median = re.search(r"Median:\s+([\d.]+) ms", output)
        if not median:
            return {"skipped": "benchmark_app gave no latency: " + " ".join(output.split()[-12:])}
        figures.append(float(median[1]) * steps)  # its median step, times the steps
    return {"ms": figures, "logits": [], "precision": precision}


def openvino_ceiling(job: dict) -> dict:
    """The project's converted model on OpenVINO's Python API as benchmark_app runs it, at
    auto's precision: compiled at the job's shape with the project's settings, every input
    set once, inferred again and again (no state handed over from step to step)."""
    from movinet_cli._lazy import openvino
    from movinet_cli.model.engines.openvino import resolve_precision

    ov = openvino()
    precision, _ = resolve_precision("auto")
    model = ov.Core().read_model(ir_path(job))
    image = next(index for index, port in enumerate(model.inputs) if "image" in port.get_names() or len(model.inputs) == 1)
    model.reshape({model.inputs[image]: [1, chunks_of(job)[0][1], job["size"], job["size"], 3]})
    config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY", **({"INFERENCE_NUM_THREADS": job["threads"]} if job["threads"] else {})}
    request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
    for index, port in enumerate(model.inputs):
        if index != image:
            request.set_input_tensor(index, ov.Tensor(np.zeros(list(port.get_shape()), port.get_element_type().to_dtype())))
    logits = next(index for index, port in enumerate(model.outputs) if "logits" in port.get_names() or len(model.outputs) == 1)

    def call(frames: np.ndarray, _: None) -> tuple[np.ndarray, None]:
        request.infer({image: frames}, share_inputs=True)
        return request.get_output_tensor(logits).data.copy(), None

    result = timed(job, lambda: None, call)
    if job["kind"] == "stream":
        result["logits"] = []  # its states stay zero: not the stream's answer, nothing to compare
    return {**result, "precision": precision}


def _signature(job: dict) -> tuple[Any, list[str], list[Any], Any]:
    """The SavedModel loaded in TensorFlow, with static shapes for one call: (the function of
    (image, *states) returning the signature's dict, the state names, their TensorSpecs named
    ``s0``, ``s1``..., the loaded model: kept by the caller, as it owns the function's variables)."""
    from movinet_cli._lazy import tensorflow

    tf = tensorflow()
    loaded = tf.saved_model.load(job["model"])
    shape = [1, chunks_of(job)[0][1], job["size"], job["size"], 3]
    if job["kind"] == "base":
        names, specs, function = [], [], loaded.signatures["serving_default"]
    else:
        zeros = loaded.signatures["init_states"](tf.constant(shape, tf.int32))
        names = sorted(zeros)
        specs = [tf.TensorSpec(zeros[name].shape, zeros[name].dtype, name=f"s{i}") for i, name in enumerate(names)]
        function = loaded.signatures["call"]
    wrapped = tf.function(
        lambda image, *states: function(image=image, **dict(zip(names, states))), input_signature=[tf.TensorSpec(shape, tf.float32, name="image"), *specs]
    )
    return wrapped, names, specs, loaded


def _zeros(specs: list[Any]) -> list[np.ndarray]:
    return [np.zeros(spec.shape, spec.dtype.as_numpy_dtype) for spec in specs]


def _converted(job: dict, extension: str, convert: Callable[[Any], bytes]) -> tuple[bytes, list[str], list[Any]]:
    """The job's signature converted by ``convert`` (of its flat graph: ``peer_conversions``),
    once per invocation (kept in the job's cache: a conversion takes from seconds to minutes),
    with its state names and specs. Raises what the conversion raises."""
    function, names, specs, _loaded = _signature(job)
    what = json.dumps([job["model"], job["kind"], chunks_of(job)[0][1], job["size"]]).encode()
    converted = Path(job["cache"], f"{extension}-{hashlib.sha256(what).hexdigest()[:16]}.{extension}")
    if not converted.exists():
        converted.write_bytes(convert(peer_conversions.flat_graph(function)))
    return converted.read_bytes(), names, specs


def _failed(error: Exception) -> dict:
    """A skipped result with the converter's own message, shortened."""
    return {"skipped": "did not convert: " + " ".join(str(error).split())[:200]}


def tflite(job: dict) -> dict:
    """TensorFlow Lite (its default delegate, XNNPACK) on the signature frozen at static shapes,
    its 3-D ops rewritten in 2-D ones, builtin ops only (no Flex delegate ships with the interpreter)."""
    from movinet_cli._lazy import tensorflow

    try:
        model, names, specs = _converted(job, "tflite", peer_conversions.to_tflite)
    except Exception as error:
        return _failed(error)
    interpreter = tensorflow().lite.Interpreter(model_content=model, num_threads=job["threads"] or os.cpu_count())
    runner = interpreter.get_signature_runner()

    def call(frames: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        outputs = runner(image=frames, **{spec.name: state for spec, state in zip(specs, states)})
        return _logits(outputs, names), [outputs[name] for name in names]

    return timed(job, lambda: _zeros(specs), call)


def onnxruntime(job: dict) -> dict:
    """ONNX Runtime on the same frozen graph converted by tf2onnx (opset 17)."""
    import onnxruntime as ort

    try:
        proto, names, specs = _converted(job, "onnx", peer_conversions.to_onnx)
        options = ort.SessionOptions()
        options.intra_op_num_threads = job["threads"]
        session = ort.InferenceSession(proto, options, providers=["CPUExecutionProvider"])
    except Exception as error:
        return _failed(error)
    output_names = [output.name for output in session.get_outputs()]

    def call(frames: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        outputs = dict(zip(output_names, session.run(None, {"image": frames, **{spec.name: state for spec, state in zip(specs, states)}})))
        return _logits(outputs, names), [outputs[name] for name in names]

    return timed(job, lambda: _zeros(specs), call)


def _logits(outputs: dict[str, np.ndarray], states: list[str]) -> np.ndarray:
    """The logits among a converted signature's outputs: a stream's ``logits``, a base model's only output."""
    return outputs["logits"] if states else next(iter(outputs.values()))


def gemm(job: dict) -> dict:
    """The CPU's measured GEMM peak in OpenVINO: GFLOP/s of a 2048^3 MatMul (constant weights,
    as a model's layers), f32 and, where the CPU computes it natively, bf16."""
    from movinet_cli._lazy import openvino
    from movinet_cli.model.engines.openvino import supports_bf16

    ov, n = openvino(), 2048
    ops = ov.opset13
    rng = np.random.default_rng(0)
    a = ops.parameter([n, n], ov.Type.f32)
    model = ov.Model([ops.matmul(a, ops.constant(rng.standard_normal((n, n)).astype(np.float32)), False, False)], [a])
    peaks = {}
    for precision in ["f32", "bf16"] if supports_bf16() else ["f32"]:
        config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY", **({"INFERENCE_NUM_THREADS": job["threads"]} if job["threads"] else {})}
        request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
        data = rng.standard_normal((n, n)).astype(np.float32)
        request.infer({0: data})
        seconds = []
        for _ in range(5 * job["repeats"]):
            began = time.perf_counter()
            request.infer({0: data})
            seconds.append(time.perf_counter() - began)
        peaks[precision] = 2 * n**3 / min(seconds) / 1e9
    return {"gflops": peaks}


RUNNERS: dict[str, Callable[[dict], dict]] = {
    "auto": lambda job: project(job, "auto"),
    "f32": lambda job: project(job, "f32"),
    "tensorflow": lambda job: project(job, "f32", "tensorflow"),
    "benchmark_app": benchmark_app,
    "ov_ceiling": openvino_ceiling,
    "tflite": tflite,
    "onnxruntime": onnxruntime,
    "gemm": gemm,
}


if __name__ == "__main__":
    candidate, job_text = sys.argv[1], sys.argv[2]
    result = RUNNERS[candidate](json.loads(job_text))
    print("RESULT " + json.dumps(result), flush=True)
