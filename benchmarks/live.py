#!/usr/bin/env python3
"""Benchmark: `movinet live` pace and capture-to-label latency, per stream model.

Plays a synthetic 640x360 30-fps video at its own speed through LiveSession (as a camera
would deliver frames) and reports, per model: the frame rate it should keep (the model's),
the time and memory (resident set growth) that LiveSession.start takes to compile the chunk
lengths (the conversion loaded before), the model calls per second and the mean frames per
call, the share of due frames classified, the inference time per call and the
capture-to-label latency (median and 95th percentile). A model keeps up when it classifies
at least 99% of the due frames with a 95th-percentile latency under a second.

Usage:
    python benchmarks/live.py MODEL [MODEL ...] [--seconds 30] [--engine openvino]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import cpu_features  # noqa: E402
from media import synthetic_video  # noqa: E402


def play(model: str, engine: str, precision: str, video: str) -> dict:
    from movinet_cli import load_classifier
    from movinet_cli.commands.live import LiveSession

    classifier = load_classifier(model, mode="stream", engine=engine, precision=precision)
    classifier.model.init_states((1, classifier.size, classifier.size))  # loads the conversion
    updates = []
    session = LiveSession(classifier, video)
    rss_before, began = resident_mib(), time.monotonic()
    session.start()
    prepare_s, prepare_mib = time.monotonic() - began, resident_mib() - rss_before
    try:
        while not session.finished or not session.updates.empty():
            try:
                updates.append(session.updates.get(timeout=0.1))
            except queue.Empty:
                continue
    finally:
        session.stop()
    played = updates[-1].time_s - updates[0].time_s
    latencies = sorted(u.latency_s for u in updates)
    classified, dropped = updates[-1].steps, updates[-1].dropped
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    return {
        "model": model,
        "engine": f"{classifier.model.engine} {classifier.model.precision}",
        "target_fps": classifier.fps,
        "prepare_s": round(prepare_s, 1),
        "prepare_mib": round(prepare_mib),
        "steps_per_s": round((len(updates) - 1) / played, 2),
        "frames_per_step": round(classified / len(updates), 2),
        "classified_share": round(classified / (classified + dropped), 3),
        "inference_ms_median": round(statistics.median(u.inference_ms for u in updates), 1),
        "latency_ms_median": round(1000 * statistics.median(latencies)),
        "latency_ms_p95": round(1000 * p95),
        "keeps_up": classified / (classified + dropped) >= 0.99 and p95 < 1.0,
    }


def resident_mib() -> float:
    """This process's resident set size, MiB (Linux)."""
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmRSS:"))
    return int(kib) / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--precisions", default="auto", help="OpenVINO precisions, each a run of every model: e.g. f32,auto")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "movinet-bench-live"))
    args = parser.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    video = synthetic_video(os.path.join(args.workdir, f"live-{args.seconds:g}s.mp4"), args.seconds)
    spawn = multiprocessing.get_context("spawn")
    print(
        f"{'model':<12} {'engine':<15} {'target fps':>10} {'start s':>7} {'start MiB':>9} {'steps/s':>8} "
        f"{'frames/step':>11} {'classified':>10} {'infer ms':>9} {'latency ms (median, p95)':>25}  keeps up"
    )
    print(cpu_features())
    for model, precision in ((model, precision) for precision in args.precisions.split(",") for model in args.models):
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            row = pool.submit(play, model, args.engine, precision, video).result()
        print(
            f"{row['model']:<12} {row['engine']:<15} {row['target_fps']:>10g} {row['prepare_s']:>7.1f} "
            f"{row['prepare_mib']:>9} {row['steps_per_s']:>8.2f} {row['frames_per_step']:>11.2f} "
            f"{row['classified_share']:>10.1%} {row['inference_ms_median']:>9.1f} "
            f"{row['latency_ms_median']:>15} {row['latency_ms_p95']:>9}  {'yes' if row['keeps_up'] else 'no'}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
