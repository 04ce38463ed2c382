#!/usr/bin/env python3
"""Embedding throughput against plain classification, and training time for N feature vectors.

    python benchmarks/embed_train.py MODEL [--videos 20 --seconds 10 --features 480 --classes 10 --vectors 1000]

Prints videos/min of ``Classifier.embed`` and of ``Classifier.classify`` on the same generated
clips (in one process, alternating, so the ratio holds on a noisy machine), and the seconds
``train.evaluate`` plus ``train.fit_head`` take on ``--vectors`` random vectors. Run it on a
quiet machine; the figures are not quoted in the README for that reason.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))

import make_sample_videos  # noqa: E402

from movinet_cli.commands.train import evaluate, fit_head  # noqa: E402
from movinet_cli.outcomes.loading import load_classifier  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--features", type=int, default=480, help="A0: 480 ... A5: 992")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--vectors", type=int, default=1000)
    args = parser.parse_args()

    classifier = load_classifier(args.model)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        videos = [
            make_sample_videos.write_colour_video(os.path.join(folder, f"{n}.mp4"), [(tuple(int(c) for c in rng.integers(0, 256, 3)), args.seconds)], 25, (320, 240))
            for n in range(args.videos)
        ]
        classifier.classify(videos[0])  # compile both outputs before timing
        classifier.embed(videos[0])
        timings = {"classify": [], "embed": []}
        for video in videos:
            for name, call in (("classify", classifier.classify), ("embed", classifier.embed)):
                began = time.perf_counter()
                call(video)
                timings[name].append(time.perf_counter() - began)
    for name, seconds in timings.items():
        print(f"{name}: {60 / statistics.median(seconds):.1f} videos/min (median of {len(seconds)} {args.seconds:g}-s videos)")
    print(f"embed / classify time: {statistics.median(timings['embed']) / statistics.median(timings['classify']):.2f}")

    targets = np.arange(args.vectors) % args.classes
    features = rng.normal(size=(args.vectors, args.features)).astype(np.float32) + targets[:, None] * 0.1
    began = time.perf_counter()
    method, _, predicted = evaluate(features, targets, [str(c) for c in range(args.classes)])
    evaluated = time.perf_counter() - began
    began = time.perf_counter()
    fit_head(features, targets, args.classes)
    print(f"training on {args.vectors} x {args.features} vectors, {args.classes} classes: evaluation ({method}) {evaluated:.1f} s, final fit {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
