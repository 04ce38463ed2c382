#!/usr/bin/env python3
"""Benchmark: HTML report size and time to make, for a real batch and for many generated rows.

Classifies a directory of synthetic 10-second clips (640x360, 30 fps) with ``movinet batch``'s
library code, then times ``write_report`` on its rows (pictures decoded from the clips).
Then generates results files of N rows (Kinetics labels drawn at random, one row in 50 an
error) whose paths cycle through the same clips, so every row costs a real picture, and times
the report of each. With Chromium installed, also times how long the largest page takes to
load in it (``--dump-dom`` returns after the load event and the report's script).

Usage:
    python benchmarks/report.py MODEL [--videos 20] [--rows 1000,10000]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from media import synthetic_clips  # noqa: E402

from movinet_cli import load_classifier  # noqa: E402
from movinet_cli.commands.batch import find_videos, run_batch  # noqa: E402
from movinet_cli.model.labels import load_labels  # noqa: E402
from movinet_cli.outputs.report import write_report  # noqa: E402
from movinet_cli.outputs.report_records import load_results  # noqa: E402
from movinet_cli.outputs.results_sink import ResultsSink  # noqa: E402
from movinet_cli.outputs.rows import columns  # noqa: E402


def generated_rows(path: str, clips: list[str], count: int, top_k: int = 5, seed: int = 0) -> None:
    """Writes ``count`` batch CSV rows whose paths cycle through ``clips``."""
    rng, labels = random.Random(seed), load_labels()
    common = labels[:40]  # a few labels dominate, as in real collections
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(top_k), lineterminator="\n")
        writer.writeheader()
        for index in range(count):
            row = dict.fromkeys(columns(top_k), "")
            row.update(path=f"{clips[index % len(clips)]}", model="a0-base", engine="openvino", mode="clip", seconds=f"{rng.uniform(0.2, 2):.3f}")
            if index % 50 == 49:
                row.update(status="error", error="cannot be decoded: not a video file OpenCV can read")
            else:
                chosen = rng.sample(common if rng.random() < 0.8 else labels, top_k)
                weights = sorted((rng.random() for _ in chosen), reverse=True)
                for rank, (label, weight) in enumerate(zip(chosen, weights), 1):
                    row[f"label_{rank}"], row[f"prob_{rank}"] = label, f"{weight / sum(weights):.6f}"
                row.update(status="ok", duration_s="10.000", frames=50)
            writer.writerow(row)


def measure(results: str, clips_dir: str, out_dir: str, name: str) -> str:
    records = load_results(results, videos=clips_dir)
    report = os.path.join(out_dir, name)
    summary = write_report(report, records, source=os.path.basename(results))
    folder_bytes = sum(os.path.getsize(os.path.join(summary.folder, f)) for f in os.listdir(summary.folder)) if summary.folder else 0
    where = f"{summary.thumbnails} pictures in {os.path.basename(summary.folder)}/ ({folder_bytes / 1e6:.1f} MB)" if summary.folder else f"{summary.thumbnails} pictures inline"
    print(f"{len(records):>6} rows: {summary.html_bytes / 1e6:6.2f} MB of HTML, {where}, {summary.seconds:5.1f} s ({1000 * summary.seconds / len(records):.1f} ms/row)", flush=True)
    return report


def browser_load_s(report: str) -> float | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        return None
    with tempfile.TemporaryDirectory() as profile:
        command = [browser, "--headless", "--disable-gpu", f"--user-data-dir={profile}", "--dump-dom", "file://" + os.path.abspath(report)]
        if os.geteuid() == 0:
            command.append("--no-sandbox")
        began = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, timeout=300)
        return time.perf_counter() - began


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rows", default="1000,10000")
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "movinet-bench-batch"))
    args = parser.parse_args(argv)

    clips_dir = synthetic_clips(args.workdir, args.videos, args.seconds)
    clips = find_videos(clips_dir)
    out_dir = tempfile.mkdtemp(prefix="movinet-bench-report-")
    classifier = load_classifier(args.model, engine=args.engine)
    results = ResultsSink(os.path.join(out_dir, "batch.csv"), "csv")
    run_batch(classifier, clips_dir, results, clips)
    results.close()
    print(f"reports in {out_dir}; {len(clips)} clips of {args.seconds:g} s, 640x360 at 30 fps")
    measure(results.path, clips_dir, out_dir, "batch.html")
    largest = None
    for count in (int(n) for n in args.rows.split(",") if n):
        generated = os.path.join(out_dir, f"rows{count}.csv")
        generated_rows(generated, clips, count)
        largest = measure(generated, clips_dir, out_dir, f"rows{count}.html")
    if largest:
        seconds = browser_load_s(largest)
        if seconds is not None:
            print(f"Chromium loads {os.path.basename(largest)} (headless, --dump-dom after its script): {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
