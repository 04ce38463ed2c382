#!/usr/bin/env python3
"""Benchmark: `movinet batch` throughput with decode-ahead threads against one video at a time.

Generates a directory of synthetic 10-second clips (640x360, 30 fps), loads the model once,
then classifies the directory with each --workers setting in turn (alternating over several
rounds, after a warm-up), and prints videos/minute per setting and the ratio to workers=0.

Usage:
    python benchmarks/batch_throughput.py MODEL [--videos 20] [--workers 0,1,2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from media import synthetic_video  # noqa: E402

from movinet_cli import load_classifier  # noqa: E402
from movinet_cli.batch import ResultsFile, find_videos, run_batch  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "movinet-bench-batch"))
    args = parser.parse_args(argv)

    clips = os.path.join(args.workdir, f"clips-{args.videos}x{args.seconds:g}s")
    os.makedirs(clips, exist_ok=True)
    for index in range(args.videos):
        synthetic_video(os.path.join(clips, f"clip{index:03d}.mp4"), args.seconds, seed=index)
    paths = find_videos(clips)
    classifier = load_classifier(args.model, engine=args.engine)
    classifier.classify(os.path.join(clips, paths[0]))  # warm-up: compile the window shape
    settings = [int(w) for w in args.workers.split(",")]
    rates: dict[int, list[float]] = {w: [] for w in settings}
    for round_index in range(args.rounds):
        order = settings if round_index % 2 == 0 else settings[::-1]
        for workers in order:
            with tempfile.TemporaryDirectory() as out:
                results = ResultsFile(os.path.join(out, "r.csv"), "csv", 5)
                began = time.perf_counter()
                summary = run_batch(classifier, clips, results, paths, workers=workers)
                elapsed = time.perf_counter() - began
                results.close()
            assert summary.failed == 0, summary
            rates[workers].append(60 * len(paths) / elapsed)
            print(f"# round {round_index + 1}, workers={workers}: {rates[workers][-1]:.1f} videos/min", file=sys.stderr, flush=True)
    baseline = statistics.median(rates[settings[0]])
    print(f"model {args.model} on {classifier.model.engine}: {len(paths)} clips of {args.seconds:g} s, 640x360 at 30 fps, {args.rounds} rounds (median)")
    for workers in settings:
        rate = statistics.median(rates[workers])
        print(f"  workers={workers}: {rate:6.1f} videos/min   {rate / baseline:4.2f}x workers={settings[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
