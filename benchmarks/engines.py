#!/usr/bin/env python3
"""Benchmark: OpenVINO against TensorFlow on one MoViNet SavedModel, in one invocation.

Each engine runs in its own child process (so each peak RSS is its own) on the same seeded
random input, and reports: load time (conversion included, into an empty cache), load time
with the conversion cached, first inference, steady-state ms per window (base) or per step
(stream) and per frame, frames/s, and peak RSS; then the TF/OV ratio of the steady state.

Usage:
    python benchmarks/engines.py MODEL [--frames 50] [--size 172] [--chunk 1] [--engines tensorflow,openvino] [--precisions f32,auto]
MODEL is a SavedModel directory, URL or registry name (e.g. one exported with the Model
Garden's export code: random weights have the real graph and cost).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import cpu_features  # noqa: E402


def measure(model: str, engine: str, frames: int, size: int, chunk: int, repeats: int, precision: str) -> dict:
    """Runs in a child process: returns the figures for one engine."""
    import numpy as np

    from movinet_cli.model import engines, registry

    with tempfile.TemporaryDirectory() as cache:
        os.environ["MOVINET_CACHE_DIR"] = cache
        directory = registry.model_directory(registry.resolve_model(model))

        def load():
            """Opens the model; a stream model also makes its states (OpenVINO converts then)."""
            began = time.perf_counter()
            opened, _ = engines.open_model(directory, engine=engine, precision=precision)
            if engines.kind_of(opened) == "stream":
                opened.init_states((chunk, size, size))
            return opened, time.perf_counter() - began

        _, load_cold = load()
        opened, load_cached = load()
        clip = np.random.default_rng(0).uniform(0, 1, (frames, size, size, 3)).astype(np.float32)
        kind = engines.kind_of(opened)

        def once() -> np.ndarray:
            if kind == "base":
                return opened.logits(clip)
            states = opened.init_states((chunk, size, size))
            for start in range(0, frames - frames % chunk, chunk):
                logits, states = opened.step(clip[start : start + chunk], states)
            return logits

        began = time.perf_counter()
        logits = once()
        first = time.perf_counter() - began
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            once()
            times.append(time.perf_counter() - began)
    steady = statistics.median(times) if times else first
    fed = frames - frames % chunk if kind == "stream" else frames
    calls = fed // chunk if kind == "stream" else 1
    return {
        "engine": opened.engine,
        "precision": opened.precision,
        "kind": kind,
        "load_cold_s": round(load_cold, 2),
        "load_cached_s": round(load_cached, 2),
        "first_inference_s": round(first, 3),
        "steady_ms_per_call": round(1000 * steady / calls, 2),
        "steady_ms_per_frame": round(1000 * steady / fed, 2),
        "frames_per_s": round(fed / steady, 2),
        "repeats": len(times),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "top_class": int(np.argmax(logits)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--frames", type=int, default=50, help="frames per clip (base) or fed in total (stream)")
    parser.add_argument("--size", type=int, default=172)
    parser.add_argument("--chunk", type=int, default=1, help="stream models: frames per call")
    parser.add_argument("--engines", default="tensorflow,openvino")
    parser.add_argument("--repeats", type=int, default=5, help="steady-state runs (median) after the first")
    parser.add_argument("--tf-repeats", type=int, default=None, help="repeats for TensorFlow (it can take minutes)")
    parser.add_argument("--precisions", default="f32,auto", help="OpenVINO precisions to compare (TensorFlow runs f32)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    spawn = multiprocessing.get_context("spawn")
    runs = [(engine, precision) for engine in args.engines.split(",") for precision in (args.precisions.split(",") if engine == "openvino" else ["f32"])]
    rows = []
    for engine, precision in runs:
        repeats = args.tf_repeats if engine == "tensorflow" and args.tf_repeats is not None else args.repeats
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            row = pool.submit(measure, args.model, engine, args.frames, args.size, args.chunk, repeats, precision).result()
        rows.append(row | {"asked": precision})
        print(f"# {engine} {precision}: {json.dumps(row)}", file=sys.stderr, flush=True)
    by_run = {(row["engine"], row["asked"]): row for row in rows}
    result = {"model": args.model, "frames": args.frames, "size": args.size, "chunk": args.chunk, "cpu": cpu_features(), "runs": rows}
    if ("tensorflow", "f32") in by_run and ("openvino", "f32") in by_run:
        tf, ov = by_run["tensorflow", "f32"], by_run["openvino", "f32"]
        result["tf_over_ov"] = round(tf["steady_ms_per_frame"] / ov["steady_ms_per_frame"], 1)
        result["same_top_class"] = tf["top_class"] == ov["top_class"]
    if ("openvino", "f32") in by_run and ("openvino", "auto") in by_run:
        f32, auto = by_run["openvino", "f32"], by_run["openvino", "auto"]
        result["auto_over_f32"] = round(auto["steady_ms_per_frame"] / f32["steady_ms_per_frame"], 2)
        result["auto_same_top_class"] = auto["top_class"] == f32["top_class"]
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"model {args.model}: {args.frames} frames at {args.size}x{args.size}" + (f", chunk {args.chunk}" if rows[0]["kind"] == "stream" else ""))
    print(result["cpu"])
    columns = ["engine", "asked", "precision", "load_cold_s", "load_cached_s", "first_inference_s", "steady_ms_per_call", "steady_ms_per_frame", "frames_per_s", "peak_rss_mb", "repeats"]
    print("  ".join(f"{c:>19}" for c in columns))
    for row in rows:
        print("  ".join(f"{row[c]!s:>19}" for c in columns))
    if "tf_over_ov" in result:
        print(f"TensorFlow / OpenVINO steady-state time per frame: {result['tf_over_ov']}x (same top class: {result['same_top_class']})")
    if "auto_over_f32" in result:
        print(f"OpenVINO auto / f32 steady-state time per frame: {result['auto_over_f32']}x (same top class: {result['auto_same_top_class']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
