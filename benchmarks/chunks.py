#!/usr/bin/env python3
"""Benchmark: a stream model's time per frame and its latency by chunk length, to choose one.

Each chunk length runs in a process of its own (``peer_runners.project``), in an order
rotated round by round, over the same --frames seeded frames in carried chunks. Per length:
ms per frame (the median step / the chunk, min/median over the rounds, and as a ratio to
--against), the CPU time per frame, the peak RSS, and for a live source at --fps: the latency
of a frame that opens a chunk ((chunk - 1) / fps of waiting for the rest, then the step) and
whether a step keeps up (step <= chunk / fps). It ends with one line: the chunk for files
(the least time per frame, the CPU time's with --threads 1, unless a shorter one is within
--tolerance of it) and the one for live (the least latency among those that keep up).

Usage:
    python benchmarks/chunks.py STREAM_MODEL_DIR [--chunks 1,2,4,8,16,24,32] [--frames 96]
        [--fps 12] [--rounds 3] [--repeats 2] [--threads 0] [--precision auto] [--against 8]
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


def one(job: dict, precision: str) -> dict:
    """In a fresh process: ``peer_runners.project`` on the job, with the process's peak RSS."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    code = (
        "import json, resource, sys; sys.path.insert(0, sys.argv[1]); from peer_runners import project;"
        "result = project(json.loads(sys.argv[2]), sys.argv[3]);"
        "result['rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print('RESULT ' + json.dumps(result))"
    )
    done = subprocess.run([sys.executable, "-c", code, HERE, json.dumps(job), precision], env=env, capture_output=True, text=True)
    line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"chunk {job['chunk']}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return json.loads(line[len("RESULT ") :])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--chunks", default="1,2,4,8,16,24,32")
    parser.add_argument("--frames", type=int, default=96, help="frames fed in all (each chunk length should divide it)")
    parser.add_argument("--size", type=int, default=172)
    parser.add_argument("--fps", type=float, default=12, help="a live source's frame rate, for the latency")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--against", type=int, default=8, help="the chunk length the ratios are to (today's default)")
    parser.add_argument("--tolerance", type=float, default=0.05, help="a longer chunk is chosen for files only if it saves more than this share")
    args = parser.parse_args(argv)
    from machine import cpu_features

    chunks = [int(chunk) for chunk in args.chunks.split(",")]
    cache = tempfile.mkdtemp(prefix="movinet-chunks-")
    base = {
        "model": os.path.abspath(args.model),
        "kind": "stream",
        "size": args.size,
        "frames": args.frames,
        "cache": cache,
        "threads": args.threads,
        "repeats": args.repeats,
    }
    print(f"{cpu_features()}; {time.strftime('%Y-%m-%d %H:%M:%S')}; load {os.getloadavg()[0]:.1f}", flush=True)
    one({**base, "chunk": chunks[0], "repeats": 0}, args.precision)  # converts once, into the shared cache
    per_frame: dict[int, list[float]] = {chunk: [] for chunk in chunks}
    cpu: dict[int, list[float]] = {chunk: [] for chunk in chunks}
    rss: dict[int, float] = {}
    for number in range(args.rounds):
        for chunk in chunks[number % len(chunks) :] + chunks[: number % len(chunks)]:
            result = one({**base, "chunk": chunk}, args.precision)
            per_frame[chunk].append(statistics.median(result["ms"]) / args.frames)
            cpu[chunk].append(statistics.median(result["cpu_ms"]) / args.frames)
            rss[chunk] = max(rss.get(chunk, 0.0), result["rss_mb"])
            print(f"  round {number + 1} chunk {chunk}: {per_frame[chunk][-1]:.2f} ms/frame", flush=True)
    report(args, chunks, per_frame, cpu, rss)
    return 0


def report(args: argparse.Namespace, chunks: list[int], per_frame: dict, cpu: dict, rss: dict) -> None:
    threads = f"{args.threads} thread(s)" if args.threads else "OpenVINO's threads"
    print(f"\n{args.model}, {args.frames} frames at {args.size}x{args.size}, precision {args.precision}, {threads}")
    print(f"| chunk | ms/frame min/median | x chunk {args.against} | CPU ms/frame | peak RSS MB | live at {args.fps:g} fps: latency ms, keeps up |")
    print("|---|---|---|---|---|---|")
    latency, keeps = {}, {}
    for chunk in chunks:
        ratio = statistics.median(t / a for t, a in zip(per_frame[chunk], per_frame[args.against])) if args.against in per_frame else float("nan")
        step_ms = statistics.median(per_frame[chunk]) * chunk
        latency[chunk], keeps[chunk] = (chunk - 1) / args.fps * 1000 + step_ms, step_ms <= chunk / args.fps * 1000
        print(
            f"| {chunk} | {min(per_frame[chunk]):.2f}/{statistics.median(per_frame[chunk]):.2f} | {ratio:.2f} | {statistics.median(cpu[chunk]):.2f} | "
            f"{rss[chunk]:.0f} | {latency[chunk]:.0f}, {'yes' if keeps[chunk] else 'no'} |"
        )
    cost = cpu if args.threads == 1 else per_frame  # one thread: its CPU time, steadier on a shared machine
    files = min(chunks, key=lambda chunk: statistics.median(cost[chunk]))
    for chunk in sorted(chunks):  # the shortest within the tolerance of the cheapest
        if statistics.median(cost[chunk]) <= statistics.median(cost[files]) * (1 + args.tolerance):
            files = chunk
            break
    live = min((chunk for chunk in chunks if keeps[chunk]), key=lambda chunk: latency[chunk], default=None)
    print(f"\nchunk for files: {files} frames; for live at {args.fps:g} fps: {live if live else 'none keeps up'}")


if __name__ == "__main__":
    sys.exit(main())
