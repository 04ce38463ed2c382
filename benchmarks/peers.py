#!/usr/bin/env python3
"""Benchmark: this project against its peers, on the same model and the same frames.

For each model (a SavedModel directory: a Model Garden export has the real graph and cost),
every candidate runs in a process of its own (``peer_runners.py``), in an order rotated each
round, on the same seeded frames: a base model's logits for one clip of --frames frames, a
stream model's after the same frames fed in carried chunks of --chunk; a stream job's time
is the median step times the steps (as benchmark_app reports), robust to a step that another
process on a shared machine delayed. Candidates:

    auto, f32       this project (``engines.open_model``), at precision auto and f32
    baseline        this project at --baseline DIR (another checkout), precision auto
    benchmark_app   OpenVINO's own benchmark_app on this project's converted model (its
                    median step x steps): the ceiling, at auto's precision
    ov_ceiling      the same in OpenVINO's Python API, in process (so with a CPU time): the
                    converted model compiled as the project compiles it, its inputs set once
    tflite          TensorFlow Lite (XNNPACK), builtin ops, on the signature frozen at static
                    shapes with its XLA marks stripped and its functions inlined, every Conv3D
                    and AvgPool3D rewritten as the same arithmetic in 2-D ops (peer_conversions.py)
    onnxruntime     ONNX Runtime on a tf2onnx conversion of the same frozen graph (needs tf2onnx
                    and onnxruntime: --peers-path DIR puts a scratch install on the path; never a
                    project dependency)
    tensorflow      this project's TensorFlow engine (slow: --tf-rounds of them, one repeat)

A candidate that is not installed or cannot convert the model is skipped with a line saying
why. Each round's figure is the median of --repeats timed runs after an untimed one; the
table gives min/median over the rounds and the ratio to ``auto`` (the median of the
per-round ratios), each candidate's largest logit difference to TensorFlow's (f32's where
TensorFlow did not run), the model's FLOPs counted on the converted model (2 x the
multiply-adds of its convolutions and MatMuls, at the job's shapes) and the fraction of the
CPU's measured GEMM peak (a 2048^3 MatMul in OpenVINO) that each reaches.

Usage:
    python benchmarks/peers.py MODEL_DIR... [--frames 120] [--chunk 8] [--rounds 5] [--repeats 3]
        [--candidates auto,f32,benchmark_app,tflite,onnxruntime,tensorflow] [--baseline DIR]
        [--peers-path DIR] [--tf-rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from machine import cpu_features  # noqa: E402

CANDIDATES = ("auto", "f32", "baseline", "benchmark_app", "ov_ceiling", "tflite", "onnxruntime", "tensorflow")


def run_candidate(candidate: str, job: dict, args: argparse.Namespace) -> dict:
    """The candidate's result (``peer_runners``), run in a fresh process."""
    tree = args.baseline if candidate == "baseline" else ROOT
    path = [tree, *([args.peers_path] if args.peers_path and candidate in ("tflite", "onnxruntime") else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    runner = "auto" if candidate == "baseline" else candidate
    done = subprocess.run([sys.executable, os.path.join(HERE, "peer_runners.py"), runner, json.dumps(job)], env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    if "ModuleNotFoundError" in done.stderr:
        return {"skipped": "not installed: " + done.stderr.strip().splitlines()[-1]}
    return {"skipped": f"failed (exit {done.returncode}): " + " ".join(done.stderr.split()[-30:])}


def flops(job: dict) -> float:
    """2 x the multiply-adds of the converted model's convolutions and MatMuls for the job:
    one clip of all its frames (base), or every chunk (stream)."""
    from peer_runners import chunks_of, ir_path

    from movinet_cli._lazy import openvino

    ov = openvino()
    model = ov.Core().read_model(ir_path(job))
    lengths = [length for _, length in chunks_of(job)]
    image = next(port for port in model.inputs if port.get_partial_shape().rank.get_length() == 5 and "image" in port.get_names())
    total = 0.0
    for length in lengths:
        model.reshape({image: [1, length, job["size"], job["size"], 3]})
        for op in model.get_ordered_ops():
            kind = op.get_type_name()
            if kind in ("Convolution", "GroupConvolution"):
                weights = list(op.get_input_shape(1))  # [O, I, k...] or [G, O/G, I/G, k...]
                per_output = weights[2] if kind == "GroupConvolution" else weights[1]
                spatial = weights[3:] if kind == "GroupConvolution" else weights[2:]
                total += 2.0 * _product(op.get_output_shape(0)) * per_output * _product(spatial)
            elif kind == "MatMul":
                a, out = list(op.get_input_shape(0)), list(op.get_output_shape(0))
                inner = a[-2] if op.get_attributes()["transpose_a"] else a[-1]
                total += 2.0 * _product(out) * inner
    return total


def _product(values) -> float:
    result = 1.0
    for value in values:
        result *= value
    return result


def measure(job: dict, candidates: list[str], args: argparse.Namespace) -> dict:
    """Rounds of every candidate (order rotated); per candidate its per-round figures (ms) or why skipped."""
    rounds: dict[str, list[float]] = {name: [] for name in candidates}
    logits: dict[str, list[float]] = {}
    skipped: dict[str, str] = {}
    for number in range(args.rounds):
        order = candidates[number % len(candidates) :] + candidates[: number % len(candidates)]
        for name in order:
            if name in skipped or (name == "tensorflow" and number >= args.tf_rounds):
                continue
            result = run_candidate(name, {**job, "repeats": 1 if name == "tensorflow" else args.repeats}, args)
            if "skipped" in result:
                skipped[name] = result["skipped"]
                print(f"  {name}: skipped, {result['skipped']}", flush=True)
                continue
            figures = result.get("cpu_ms") if args.clock == "cpu" else result["ms"]
            if not figures:
                skipped[name] = "no CPU time (another process's)"
                continue
            rounds[name].append(statistics.median(figures))
            logits.setdefault(name, result["logits"])
            print(f"  round {number + 1} {name}: {rounds[name][-1]:.0f} ms", flush=True)
    return {"rounds": rounds, "logits": logits, "skipped": skipped}


def summary(name: str, measured: dict, base: str = "auto") -> str:
    """``min/median ms, ratio to base`` for one candidate."""
    times = measured["rounds"][name]
    if name in measured["skipped"]:
        return "skipped: " + measured["skipped"][name][:60]
    if not times:
        return "-"
    paired = [t / b for t, b in zip(times, measured["rounds"][base])]  # rounds without a base figure drop out
    ratio = statistics.median(paired) if paired else float("nan")
    return f"{min(times):.0f}/{statistics.median(times):.0f}, {ratio:.2f}"


def logit_gap(name: str, measured: dict) -> str:
    import numpy as np

    reference = measured["logits"].get("tensorflow") or measured["logits"].get("f32")
    mine = measured["logits"].get(name)
    if not reference or not mine or len(mine) != len(reference):
        return "-"
    return f"{np.abs(np.array(mine) - np.array(reference)).max():.1e}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="SavedModel directories (named like a0-base, a5-stream: the frame size comes from it)")
    parser.add_argument("--frames", type=int, default=120, help="frames per clip (base) or in all (stream) [120: 10 s at 12 fps]")
    parser.add_argument("--chunk", type=int, default=8, help="stream models: frames per call (must divide --frames)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per process (their median is the round's figure)")
    parser.add_argument("--candidates", default="auto,f32,benchmark_app,tflite,onnxruntime,tensorflow")
    parser.add_argument("--baseline", help="another checkout of this project: adds the candidate 'baseline'")
    parser.add_argument("--peers-path", help="a directory with peers installed (pip install --target), put on their path")
    parser.add_argument("--tf-rounds", type=int, default=1, help="rounds in which TensorFlow runs (it is slow)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="the figure: wall (median step x steps) or the CPU time of each pass")
    parser.add_argument("--threads", type=int, default=0, help="threads for every candidate (0: each one's own choice; 1 is steadier on a shared machine)")
    args = parser.parse_args(argv)
    candidates = [name for name in args.candidates.split(",") if name] + (["baseline"] if args.baseline else [])
    if "auto" not in candidates or set(candidates) - set(CANDIDATES) or args.frames % args.chunk:
        parser.error(f"--candidates must include auto and name only {CANDIDATES}; --chunk must divide --frames")
    from movinet_cli.model.registry import _variant_in
    from movinet_cli.model.saved_model import describe

    cache = tempfile.mkdtemp(prefix="movinet-peers-")
    print(f"{cpu_features()}; {time.strftime('%Y-%m-%d %H:%M:%S')}; load {os.getloadavg()[0]:.1f}")
    peak = run_candidate("gemm", {"repeats": 3, "threads": args.threads}, args)
    print("GEMM peak (OpenVINO, 2048^3 MatMul): " + ", ".join(f"{p}: {v:.0f} GFLOP/s" for p, v in peak.get("gflops", {}).items()), flush=True)
    columns = []
    for model in args.models:
        variant = _variant_in(os.path.basename(os.path.normpath(model)))
        if variant is None:
            parser.error(f"{model}: name the directory after its variant (a0-base, a5-stream, ...)")
        job = {
            "model": os.path.abspath(model),
            "kind": describe(model).kind,
            "size": variant.size,
            "frames": args.frames,
            "chunk": args.chunk,
            "cache": cache,
            "threads": args.threads,
        }
        print(
            f"{model}: {job['kind']}, {args.frames} frames at {variant.size}x{variant.size}"
            + (f" in chunks of {args.chunk}" if job["kind"] == "stream" else ""),
            flush=True,
        )
        run_candidate("f32", {**job, "repeats": 0}, args)  # converts into the shared cache (benchmark_app reads it)
        measured = measure(job, candidates, args)
        columns.append((os.path.basename(os.path.normpath(model)), flops(job), measured))
    print(f"clock: {args.clock}; threads: {args.threads or 'each candidate its own'}")
    print_table(candidates, columns, peak.get("gflops", {}))
    return 0


def print_table(candidates: list[str], columns: list[tuple[str, float, dict]], peaks: dict[str, float]) -> None:
    """A Markdown table: per candidate and model, min/median ms and ratio, logit gap, share of the GEMM peak."""
    print()
    print(
        "| candidate (ms per job, min/median, x auto; max logit gap; % of GEMM peak) | "
        + " | ".join(f"{name} ({gflop / 1e9:.1f} GFLOP)" for name, gflop, _ in columns)
        + " |"
    )
    print("|---|" + "---|" * len(columns))
    for candidate in candidates:
        cells = []
        for _, gflop, measured in columns:
            cell = summary(candidate, measured)
            times = measured["rounds"][candidate]
            if times and candidate not in measured["skipped"]:
                peak = peaks.get("bf16" if candidate in ("auto", "baseline", "benchmark_app") and "bf16" in peaks else "f32")
                share = f"; {100 * gflop / (statistics.median(times) / 1000) / 1e9 / peak:.0f}%" if peak else ""
                cell += f"; {logit_gap(candidate, measured)}{share}"
            cells.append(cell)
        print(f"| {candidate} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
