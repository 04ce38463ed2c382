#!/usr/bin/env python3
"""Benchmark: a new user's first run, from command to answer, against a second (warm) run.

For each model, with an empty cache and none of the CI variables that silence OpenVINO's
telemetry (CI, TF_BUILD, JENKINS_URL) in the environment, runs `movinet classify --format
json MODEL CLIP` cold, then --warm times again on the filled cache, each in its own process
tree. It prints per run: wall seconds from command to answer, split into download (from the
"Downloading" notice to the conversion's start; 0 for a directory), conversion (its own
"converted in" figure), compile and classify (the video's seconds as the CLI reports them,
compiling on first inference included; compile is estimated as cold minus the warm median),
the rest (interpreter start, imports, decoding), and the peak RSS of the largest process of
the tree (the command or its conversion child); under a cold run, the conversion's progress
lines with the seconds since the command started (where its minutes go).

Usage:
    python benchmarks/cold_start.py MODEL... [--clip sample_videos/red-then-blue.mp4] [--cold 1] [--warm 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import cpu_features  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CI_VARIABLES = ("CI", "TF_BUILD", "JENKINS_URL")


def run_once(model: str, clip: str, cache: str) -> dict:
    """One `movinet classify` in a fresh process tree: timings from its stderr lines as they come."""
    env = {key: value for key, value in os.environ.items() if key not in CI_VARIABLES + ("TFHUB_CACHE_DIR",)}
    env["MOVINET_CACHE_DIR"] = cache
    command = [sys.executable, "-m", "movinet_cli", "classify", "--format", "json", "--model", model, clip]
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []

    def read_stderr():
        for line in process.stderr:
            lines.append((time.perf_counter() - began, line.rstrip()))

    reader = threading.Thread(target=read_stderr)
    reader.start()
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{model}: exit {process.returncode}\n" + "\n".join(line for _, line in lines))
    document = json.loads(stdout)
    (result,) = document["results"]

    def first(pattern: str) -> tuple[float, str] | None:
        return next(((t, line) for t, line in lines if re.search(pattern, line)), None)

    download, converting, converted = first(r"^Downloading"), first(r"^Converting"), first(r"converted in")
    download_s = (converting or (wall, ""))[0] - download[0] if download else 0.0
    conversion_s = float(re.search(r"converted in (\d+)", converted[1])[1]) if converted else 0.0
    if converting and converted:
        conversion_s = converted[0] - converting[0]  # finer than the rounded figure in the line
    classify_s = result["seconds"]
    if document["mode"] == "stream":  # a stream model converts on its first chunk, inside classification
        classify_s -= conversion_s
    phases = [f"{t:6.1f} s  {line.strip()}" for t, line in lines if converting and converting[0] <= t <= (converted or (wall, ""))[0]]
    return {
        "wall_s": wall,
        "download_s": download_s,
        "conversion_s": conversion_s,
        "classify_s": classify_s,
        "rest_s": wall - download_s - conversion_s - classify_s,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "engine": document["engine"],
        "top": result["predictions"][0]["label"],
        "phases": phases,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="anything --model takes (a directory skips the download)")
    parser.add_argument("--clip", default=os.path.join(ROOT, "sample_videos", "red-then-blue.mp4"))
    parser.add_argument("--cold", type=int, default=1, help="cold runs per model, each on an empty cache")
    parser.add_argument("--warm", type=int, default=3, help="warm runs per model, on the last cold run's cache")
    args = parser.parse_args(argv)
    print(f"clip {args.clip}; {cpu_features()}; {time.strftime('%Y-%m-%d %H:%M:%S')}; load {os.getloadavg()[0]:.1f}")
    header = f"{'model':<40} {'run':<6} {'wall':>6} {'download':>8} {'convert':>8} {'classify':>8} {'rest':>6} {'peak MB':>8}  answer"
    print(header)
    for model in args.models:
        colds, warms = [], []
        for _ in range(args.cold):
            cache = tempfile.mkdtemp(prefix="movinet-cold-")
            try:
                colds.append(run_once(model, args.clip, cache))
                for _ in range(args.warm if len(colds) == args.cold else 0):
                    warms.append(run_once(model, args.clip, cache))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        for name, run in [*(("cold", r) for r in colds), *(("warm", r) for r in warms)]:
            print(
                f"{model:<40} {name:<6} {run['wall_s']:6.1f} {run['download_s']:8.1f} {run['conversion_s']:8.1f} "
                f"{run['classify_s']:8.1f} {run['rest_s']:6.1f} {run['peak_rss_mb']:8.0f}  {run['top']} ({run['engine']})"
            )
            for phase in run["phases"]:
                print(f"{'':<48}{phase}")
        cold_wall = statistics.median(r["wall_s"] for r in colds)
        line = f"{model:<40} median cold {cold_wall:.1f} s (conversion {statistics.median(r['conversion_s'] for r in colds):.1f} s, peak {max(r['peak_rss_mb'] for r in colds):.0f} MB)"
        if warms:
            warm_classify = statistics.median(r["classify_s"] for r in warms)
            compile_s = statistics.median(r["classify_s"] for r in colds) - warm_classify
            line += f"; warm {statistics.median(r['wall_s'] for r in warms):.1f} s; compile ~{compile_s:.1f} s, classify {warm_classify:.1f} s"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
