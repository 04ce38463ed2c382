#!/usr/bin/env python3
"""Benchmark: a results database of synthetic rows: the time to write it through
``DatabaseSink`` (one transaction per video, as a run commits) and to ``search`` it.

Writes VIDEOS videos of SEGMENTS timeline segments each (Kinetics labels drawn at random, a
few labels far more common, as in real collections; one video in 50 failed) with
``DatabaseSink.add_row``: the write path of a run, without a model. Then times, as medians of
REPEAT runs in this process, ``commands.search.search`` for a common and a rare label, several
labels, ``--like``, a high ``--min-probability``, all results of a common label, the videos'
top-k (``--videos-only``), ``--failed``; and once each: ``movinet search`` as a command
(Python's start and imports included), reading every row back (``read_rows``, what the report
reads), and a resume's check of the file (``DatabaseSink(resume=True)``: ``quick_check``, its
rows read and checked). First, on COMMIT_VIDEOS videos, what one commit per video costs
against a commit per 100 videos, and with ``synchronous=FULL`` (an fsync per commit).

Usage:
    python benchmarks/search.py [--videos 20000] [--segments 50] [--repeat 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from movinet_cli.commands.search import failed_videos, search
from movinet_cli.model.labels import load_labels
from movinet_cli.outcomes.result import Prediction
from movinet_cli.outcomes.timeline import Segment
from movinet_cli.outputs.database import read_rows
from movinet_cli.outputs.database_sink import DatabaseSink
from movinet_cli.outputs.rows import Row
from movinet_cli.outputs.sinks import RunContext

TOP_K = 5
INFO = {"model": "a0-base", "engine": "openvino", "precision": "f32", "mode": "clip"}


def video(rng: random.Random, labels: list[str], index: int, segments: int) -> tuple[Row, list[Segment]]:
    """A made-up video's row and timeline: ``segments`` segments of 2 s each."""
    path = f"folder{index // 1000:03d}/video{index:06d}.mp4"
    if index % 50 == 49:
        return Row(path, "error", "cannot be decoded: not a video file OpenCV can read", seconds=0.1, **INFO), []
    common = labels[:40]
    chosen = rng.sample(common if rng.random() < 0.8 else labels, TOP_K)
    weights = sorted((rng.random() for _ in chosen), reverse=True)
    predictions = [Prediction(label, weight / sum(weights)) for label, weight in zip(chosen, weights)]
    timeline = []
    for number in range(segments):
        label = rng.choice(common) if rng.random() < 0.8 else rng.choice(labels)
        probability = rng.random()
        others = [Prediction(rng.choice(labels), probability * rng.random() / 2) for _ in range(TOP_K - 1)]
        timeline.append(Segment(2.0 * number, 2.0 * number + 2, label, round(probability, 6), [Prediction(label, probability), *others]))
    row = Row(path, "ok", "", predictions, 2.0 * segments, 10 * segments, seconds=1.0, action=predictions[0].label, fps=5.0, size=172, resize="crop", **INFO)
    return row, timeline


class Batched(DatabaseSink):
    """A sink committing every ``every`` videos instead of each one: the alternative measured."""

    every = 100

    def _write(self, write) -> None:
        assert self._connection is not None
        if not self._connection.in_transaction:
            self._connection.execute("BEGIN")
        write(self._connection)
        self.count = getattr(self, "count", 0) + 1
        if self.count % self.every == 0:
            self._connection.execute("COMMIT")

    def close(self, finished: bool = False) -> None:
        if self._connection is not None and self._connection.in_transaction:
            self._connection.execute("COMMIT")
        super().close(finished)


def write(path: str, count: int, segments: int, labels: list[str], sink_type: type[DatabaseSink] = DatabaseSink, synchronous: str = "") -> float:
    """Seconds to write ``count`` videos into a new database ``path`` (the rows made beforehand)."""
    rng = random.Random(0)
    videos = [video(rng, labels, index, segments) for index in range(count)]
    began = time.perf_counter()
    sink = sink_type(path, TOP_K, timelines=True, recipe={"--model": "a0-base"})
    if synchronous:
        assert sink._connection is not None
        sink._connection.execute(f"PRAGMA synchronous = {synchronous}")
    sink.start(RunContext(labels, INFO, TOP_K))
    for row, timeline in videos:
        sink.add_row(row, timeline)
    sink.close(True)
    return time.perf_counter() - began


def median_ms(call, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times), result


def commit_costs(directory: str, count: int, segments: int, labels: list[str]) -> None:
    for name, sink_type, synchronous in (("commit per video (movinet)", DatabaseSink, ""), ("commit per 100 videos", Batched, ""), ("commit per video, synchronous=FULL", DatabaseSink, "FULL")):
        seconds = write(os.path.join(directory, f"commit-{len(name)}.db"), count, segments, labels, sink_type, synchronous)
        print(f"  {name:<36} {1000 * seconds / count:7.3f} ms/video ({count} videos of {segments} segments)")


def queries(path: str, repeat: int, labels: list[str]) -> None:
    common, rare = labels[0], labels[-1]
    cases = {
        f"common label {common!r}, top 100": lambda: search(path, [common], limit=100),
        f"rare label {rare!r}, top 100": lambda: search(path, [rare], limit=100),
        "3 labels, top 100": lambda: search(path, labels[:3], limit=100),
        "--like 'ing' (most labels), top 100": lambda: search(path, ["ing"], like=True, limit=100),
        f"{common!r} --min-probability 0.99, all": lambda: search(path, [common], min_probability=0.99),
        f"{common!r}, all results": lambda: search(path, [common]),
        f"{common!r} --videos-only, top 100": lambda: search(path, [common], videos_only=True, limit=100),
        "--failed, all": lambda: failed_videos(path),
    }
    for name, call in cases.items():
        milliseconds, found = median_ms(call, repeat)
        print(f"  {name:<44} {milliseconds:9.1f} ms  ({len(found.items)} results)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=20_000)
    parser.add_argument("--segments", type=int, default=50, help="segments per video")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--commit-videos", type=int, default=2000)
    parser.add_argument("--keep", help="write the database here and keep it (default: a temporary directory)")
    args = parser.parse_args()
    labels = load_labels()
    directory = args.keep or tempfile.mkdtemp(prefix="search-bench-")
    os.makedirs(directory, exist_ok=True)
    try:
        print("writing:")
        commit_costs(directory, args.commit_videos, args.segments, labels)
        path = os.path.join(directory, "library.db")
        if os.path.exists(path):
            os.unlink(path)
        seconds = write(path, args.videos, args.segments, labels)
        ok = args.videos - args.videos // 50
        print(f"  {args.videos} videos, {ok * args.segments} segments: {seconds:.1f} s, {os.path.getsize(path) / 1e6:.0f} MB")
        print(f"search (median of {args.repeat}):")
        queries(path, args.repeat, labels)
        print("once:")
        began = time.perf_counter()
        command = subprocess.run([sys.executable, "-m", "movinet_cli", "search", path, labels[0], "-q"], capture_output=True, text=True)
        print(f"  movinet search {labels[0]!r} (a process: start, imports, query)  {time.perf_counter() - began:6.2f} s (exit {command.returncode})")
        milliseconds, rows = median_ms(lambda: read_rows(path), 1)
        print(f"  read_rows (every video, what the report reads)       {milliseconds / 1000:6.2f} s ({len(rows)} rows)")
        milliseconds, sink = median_ms(lambda: DatabaseSink(path, TOP_K, resume=True, recipe={"--model": "a0-base"}), 1)
        sink.close()
        print(f"  resume's check (quick_check, rows read, failed deleted) {milliseconds / 1000:6.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
