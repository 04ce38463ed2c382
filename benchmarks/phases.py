#!/usr/bin/env python3
"""Benchmark: where a one-shot `movinet classify CLIP` spends its time, with the cache warm.

Each round, in an order rotated round by round, runs in fresh processes: the command itself
(wall seconds, command to answer), an empty interpreter (its start), and a process that
walks the same path step by step and times each phase: importing the command line, NumPy,
OpenCV and OpenVINO; loading the classifier (reading the SavedModel's signatures, hashing it
for the cache key, checking and reading the converted model); the first inference
(compiling the window's or chunk's shape from OpenVINO's blob cache, then inferring); decoding
the whole clip in the decoder's child process alone; and the model on the decoded frames
again (the steady cost). "Fixed" is the command's wall time less the steady model and decode.

Usage:
    python benchmarks/phases.py MODEL_DIR... [--clip PATH] [--seconds 10] [--fps 12] [--rounds 5]
A clip is made (benchmarks/media.py: 640x360, 30 fps, moving shapes) unless --clip is given.
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


def walk(model: str, clip: str, fps: float) -> dict:
    """In a fresh process: the phases of a warm classify, in seconds."""
    marks: dict[str, float] = {}
    began = last = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        marks[name] = marks.get(name, 0.0) + now - last
        last = now

    import movinet_cli.cli  # noqa: F401  (what `movinet` imports before it parses the command)

    mark("import cli")
    import numpy as np

    mark("import numpy")
    import cv2  # noqa: F401

    mark("import cv2")
    from movinet_cli._lazy import openvino

    openvino()
    mark("import openvino")
    from movinet_cli import load_classifier
    from movinet_cli.model.engines import cache, conversion
    from movinet_cli.options import ReadOptions, RunOptions

    for owner, name, label in [(conversion, "saved_model_identity", "load: hash the SavedModel"), (cache.ConversionCache, "load", "load: check + read the IR")]:
        original = getattr(owner, name)

        def timed(*args, _original=original, _label=label, **kwargs):
            mark("load: other")
            result = _original(*args, **kwargs)
            mark(_label)
            return result

        setattr(owner, name, timed)
    mark("import rest")
    classifier = load_classifier(model)
    mark("load: other")
    read, run = ReadOptions(fps=fps), RunOptions()
    opened = classifier.open(clip, read, ahead=10**6)
    frames = np.stack([frame for _, frame in opened.frames])
    opened.close()
    mark("decode (child process)")
    infer = classifier.model.logits if classifier.mode == "clip" else classifier.stream_state().step
    length = run.window_frames(fps) if classifier.mode == "clip" else run.chunk
    infer(frames[:length])
    mark("first inference (compile from cache)")
    if classifier.mode == "clip":
        for at in range(0, len(frames), length):
            infer(frames[at : at + length])
    else:
        state = classifier.stream_state()
        for at in range(0, len(frames), length):
            state.step(frames[at : at + length])
    mark("model, steady")
    marks["total in process"] = time.perf_counter() - began
    return marks


def run_process(arguments: list[str], cache: str, tree: str = ROOT) -> tuple[float, str]:
    """Runs Python with ``arguments`` and movinet from ``tree``; returns its wall seconds and stdout."""
    env = {**os.environ, "MOVINET_CACHE_DIR": cache, "PYTHONPATH": tree}
    began = time.perf_counter()
    done = subprocess.run([sys.executable, *arguments], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{arguments}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return time.perf_counter() - began, done.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--clip", help="a video (default: a made one of --seconds)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--fps", type=float, default=12, help="the model's frame rate asked for (120 frames in 10 s at 12)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", help="another checkout of movinet: its `movinet classify` is timed too, in the same rounds")
    parser.add_argument("--walk", nargs=3, help=argparse.SUPPRESS)  # MODEL CLIP FPS: the phase process
    args = parser.parse_args(argv)
    if args.walk:
        print(json.dumps(walk(args.walk[0], args.walk[1], float(args.walk[2]))))
        return 0
    from machine import cpu_features
    from media import synthetic_video

    workdir = tempfile.mkdtemp(prefix="movinet-phases-")
    clip = args.clip or synthetic_video(os.path.join(workdir, f"clip-{args.seconds:g}s.mp4"), args.seconds)
    print(f"{cpu_features()}; clip {clip}; --fps {args.fps:g}; {time.strftime('%Y-%m-%d %H:%M:%S')}; load {os.getloadavg()[0]:.1f}")
    for model in args.models:
        cache = os.path.join(workdir, "cache")
        command = ["-m", "movinet_cli", "classify", "--fps", f"{args.fps:g}", "--model", model, clip]
        run_process(command, cache)  # converts and compiles into the cache: the runs below are warm
        kinds = {"command": command, "interpreter": ["-c", "pass"], "phases": [os.path.abspath(__file__), "--walk", model, clip, f"{args.fps:g}"]}
        if args.baseline:
            kinds["baseline"] = command
            run_process(command, cache + "-baseline", args.baseline)  # a cache of its own: another version's may lay it out otherwise
        walls: dict[str, list[float]] = {kind: [] for kind in kinds}
        phases: list[dict] = []
        for number in range(args.rounds):
            order = list(kinds)[number % len(kinds) :] + list(kinds)[: number % len(kinds)]
            for kind in order:
                baseline = kind == "baseline"
                wall, out = run_process(kinds[kind], cache + "-baseline" if baseline else cache, args.baseline if baseline else ROOT)
                walls[kind].append(wall)
                if kind == "phases":
                    phases.append(json.loads(out))
        report(model, walls, phases)
    return 0


def report(model: str, walls: dict[str, list[float]], phases: list[dict]) -> None:
    """Medians over the rounds: each phase, the command's wall time, and its fixed part."""
    print(f"\n{model}: medians of {len(phases)} rounds, seconds")
    for name in phases[0]:
        print(f"  {name:<40} {statistics.median(p[name] for p in phases):6.2f}")
    command, interpreter = statistics.median(walls["command"]), statistics.median(walls["interpreter"])
    steady = statistics.median(p["model, steady"] + p["decode (child process)"] for p in phases)
    print(f"  {'interpreter start and exit':<40} {interpreter:6.2f}")
    print(f"  {'`movinet classify` wall (min/median)':<40} {min(walls['command']):6.2f} / {command:.2f}")
    print(f"  {'in process: decode + model, steady':<40} {steady:6.2f}  (command / that: {command / steady:.2f}x)")
    print(f"  {'fixed: command less decode and model':<40} {command - steady:6.2f}")
    if "baseline" in walls:
        ratios = [mine / theirs for mine, theirs in zip(walls["command"], walls["baseline"])]
        print(f"  {'baseline `movinet classify` (min/median)':<40} {min(walls['baseline']):6.2f} / {statistics.median(walls['baseline']):.2f}")
        print(f"  {'command / baseline, median of rounds':<40} {statistics.median(ratios):6.2f}")


if __name__ == "__main__":
    sys.exit(main())
