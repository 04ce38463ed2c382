#!/usr/bin/env python3
"""Benchmark: memory and speed of `classify` on long videos, 1 minute against 10 minutes.

Generates synthetic 640x360 30-fps videos of each length (once, in --workdir), converts the
model with a warm-up run on a 12-s video, classifies each length in its own child process (so
each peak RSS is its own), and prints wall time, frames, model frames/s and peak RSS per
length, and the ratio of the longest to the shortest peak RSS.

Usage:
    python benchmarks/long_video.py MODEL [--minutes 1,10] [--engine openvino] [--chunk 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from media import synthetic_video  # noqa: E402


def classify_once(model: str, engine: str, video: str, chunk: int) -> dict:
    from movinet_cli import load_classifier

    classifier = load_classifier(model, engine=engine)
    began = time.perf_counter()
    result = classifier.classify(video, chunk=chunk)
    seconds = time.perf_counter() - began
    return {
        "mode": result.mode,
        "engine": result.engine,
        "video_s": round(result.duration_s, 1),
        "frames": result.frames,
        "seconds": round(seconds, 1),
        "model_frames_per_s": round(result.frames / seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "top": result.predictions[0].label,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--minutes", default="1,10")
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--chunk", type=int, default=8, help="stream models: frames per call")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "movinet-bench-long"))
    args = parser.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    spawn = multiprocessing.get_context("spawn")
    warm_up = synthetic_video(os.path.join(args.workdir, "warm-up.mp4"), 12)
    rows = []
    for minutes in [None] + [float(m) for m in args.minutes.split(",")]:
        # The warm-up run does the one-time conversion, so that no measured run includes it.
        video = warm_up if minutes is None else synthetic_video(os.path.join(args.workdir, f"long-{minutes:g}min.mp4"), minutes * 60)
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            row = pool.submit(classify_once, args.model, args.engine, video, args.chunk).result()
        if minutes is None:
            continue
        rows.append({"minutes": minutes, **row})
        print(f"# {rows[-1]}", file=sys.stderr, flush=True)
    print(f"model {args.model}, {rows[0]['mode']} mode on {rows[0]['engine']}, 640x360 30-fps synthetic videos")
    for row in rows:
        print(
            f"  {row['minutes']:>4g} min: {row['frames']:>6} frames in {row['seconds']:>7.1f} s "
            f"({row['model_frames_per_s']:.1f} model frames/s), peak RSS {row['peak_rss_mb']} MB"
        )
    print(f"peak RSS {rows[-1]['minutes']:g} min / {rows[0]['minutes']:g} min: {rows[-1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
