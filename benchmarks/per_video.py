#!/usr/bin/env python3
"""Benchmark: the per-video overhead of `movinet batch`: many short clips against a few long
ones of the same total length, and where a short clip's time goes.

Generates VIDEOS clips of SECONDS (default 2,000 x 1 s) and LONG clips of the same total length
(default 20 x 100 s), 640x360 at 30 fps (``media.synthetic_clips``), then for each code tree
(``--trees``: this one, and e.g. a checkout of the code before a change) runs ``run_batch`` on
both directories into a fresh results file, both in one process per tree and round (the tree
first on ``PYTHONPATH``), the order of the trees and of the two directories rotated from round
to round. Before timing, each process classifies one clip of each directory (the model compiles
its window shapes, the decoding server starts).

Each video's wall time is split, from boundaries timed with ``time.perf_counter``:

- decode: the child's opening of the video and decoding of its frames (a ``VideoReader``
  subclass, put in as ``IsolatedReader``'s opener, times itself in the child and appends its
  figures to a file), as far as the parent waited for it (``IsolatedReader._next_message``):
  decoding that overlaps the model costs no wall time;
- model: the engine's inference (``model.logits``, in the parent);
- writing: the results file's ``add`` (the row written, flushed or committed);
- other: the rest: starting the decoding child, the frames' way through the pipe, the
  parent's bookkeeping. With ``--workers 0`` and clips of one window nothing overlaps, and the
  split is exact.

Also the CPU time per video, the parent's (its threads: inference too) and the decoding
children's (from /proc: the children of the decoding server, ended or still running), which a
busy machine disturbs less than the wall time; the short run's time over the long run's (the
same seconds of video) and the overhead per extra video that it implies, (short - long) /
(VIDEOS - LONG); and with several trees, each one's time over the first's. Wall times are
those of each tree's fastest run of each directory (the one least slowed by other work on the
machine); CPU ratios are medians of the rounds' ratios, each from one process (or, between
trees, one round). ``--profile FILE`` writes cProfile statistics of the first tree's first
short run (the parent only).

Usage:
    python benchmarks/per_video.py MODEL [--videos 2000 --seconds 1 --long 20] [--workers 0]
        [--trees new=.,old=/tmp/movinet-main] [--rounds 3] [--output csv|db] [--profile FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from movinet_cli.inputs.video import VideoReader

HERE = os.path.dirname(os.path.abspath(__file__))
TIMES = "PER_VIDEO_TIMES"  # the file decoding children append their figures to


class TimedReader(VideoReader):
    """A ``VideoReader`` that appends "open_s decode_s" to ``$PER_VIDEO_TIMES`` once its
    frames are all out: the seconds of opening and of making the frames (not those spent
    waiting for the parent to take them)."""

    def __init__(self, *args, **kwargs):
        began = time.perf_counter()
        super().__init__(*args, **kwargs)
        self.open_s = time.perf_counter() - began

    def rgb_frames(self):
        frames, busy = super().rgb_frames(), 0.0
        try:
            while True:
                began = time.perf_counter()
                try:
                    item = next(frames)
                except StopIteration:
                    return
                finally:
                    busy += time.perf_counter() - began
                yield item
        finally:
            with open(os.environ[TIMES], "a") as out:
                out.write(f"{self.open_s:.6f} {busy:.6f}\n")


def cpu_seconds(server: int) -> tuple[float, float]:
    """CPU seconds so far of this process (all its threads) and of the decoding server's
    children: those it reaped and those still running."""
    import resource

    def times(pid: int) -> list[int]:
        with open(f"/proc/{pid}/stat") as stat:
            return [int(field) for field in stat.read().rsplit(")", 1)[1].split()[1:16]]

    tick = os.sysconf("SC_CLK_TCK")
    children = sum(times(server)[12:14])  # cutime, cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = times(int(entry))
            except (OSError, ValueError):
                continue
            if fields[0] == server:  # ppid
                children += fields[10] + fields[11]  # utime, stime
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime, children / tick


def measure(args) -> None:
    """In a tree's process: loads the model, warms it up, runs the batch on each directory
    of ``args.sets`` in turn and prints one JSON line per directory."""
    import tempfile
    from multiprocessing import forkserver

    import per_video  # this module under its own name, for the children to unpickle

    from movinet_cli import load_classifier
    from movinet_cli.commands.batch import find_videos, run_batch
    from movinet_cli.inputs import children, decoding
    from movinet_cli.outputs.results_sink import results_output

    children.decoding_context().set_forkserver_preload([decoding.__name__, "per_video"])  # imported once, not per child
    decoding.IsolatedReader.__init__.__kwdefaults__["opener"] = per_video.TimedReader
    os.environ[TIMES] = times = os.path.join(tempfile.mkdtemp(), "times")  # before the server starts: children inherit its environment
    classifier = load_classifier(args.model, engine=args.engine)
    children.start_server()
    spent = {"model": 0.0, "write": 0.0, "wait": 0.0}

    def timed(function, key):
        def call(*a, **k):
            began = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                spent[key] += time.perf_counter() - began

        return call

    classifier.model.logits = timed(classifier.model.logits, "model")
    next_message = decoding.IsolatedReader._next_message
    decoding.IsolatedReader._next_message = lambda self: timed(next_message, "wait")(self)
    for directory in args.sets:
        classifier.classify(os.path.join(directory, find_videos(directory)[0]))
    server = forkserver._forkserver._forkserver_pid
    for directory in args.sets:
        paths = find_videos(directory)
        with tempfile.TemporaryDirectory() as out:
            open(times, "w").close()
            results = results_output(os.path.join(out, "results." + args.output), directory=directory)
            results.add = timed(results.add, "write")
            spent.update(model=0.0, write=0.0, wait=0.0)
            profile = _profiler(args.profile if directory == args.sets[0] else None)
            cpu_before, began = cpu_seconds(server), time.perf_counter()
            with profile:
                summary = run_batch(classifier, directory, results, paths, workers=args.workers)
            wall, cpu = time.perf_counter() - began, cpu_seconds(server)
            with open(times) as lines:
                decode = [[float(x) for x in line.split()] for line in lines]
        assert summary.failed == 0 and len(decode) == len(paths), (summary, len(decode))
        print(json.dumps({
            "set": directory, "videos": len(paths), "wall_s": wall, "model_s": spent["model"], "write_s": spent["write"], "wait_s": spent["wait"],
            "open_s": sum(o for o, _ in decode), "decode_s": sum(d for _, d in decode),
            "cpu_parent_s": cpu[0] - cpu_before[0], "cpu_children_s": cpu[1] - cpu_before[1],
            "engine": f"{classifier.model.engine} {classifier.model.precision}",
        }), flush=True)


class _profiler:
    """cProfile over a block, its statistics written to ``path``; nothing if None."""

    def __init__(self, path):
        import cProfile

        self.path, self.profile = path, cProfile.Profile() if path else None

    def __enter__(self):
        if self.profile:
            self.profile.enable()

    def __exit__(self, *exc):
        if self.profile:
            self.profile.disable()
            self.profile.dump_stats(self.path)


def run_tree(tree: str, args, sets: list[str], profile: str | None) -> list[dict]:
    """Runs ``measure`` on ``sets`` with ``tree`` first on the path; its JSON lines."""
    command = [sys.executable, os.path.abspath(__file__), args.model, "--measure", *sets, "--workers", str(args.workers)]
    command += ["--engine", args.engine, "--output", args.output] + (["--profile", profile] if profile else [])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.abspath(tree), HERE])}
    # In the tree: the decoding server (python -c) has the working directory first on its path.
    done = subprocess.run(command, env=environment, cwd=tree, stdout=subprocess.PIPE, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def breakdown(figures: dict) -> str:
    """ms per video: wall, its parts with their shares, and CPU."""
    videos, wall = figures["videos"], figures["wall_s"]
    child = figures["open_s"] + figures["decode_s"]
    parts = {"decode": min(child, figures["wait_s"]), "model": figures["model_s"], "writing": figures["write_s"]}
    parts["other"] = wall - sum(parts.values())
    shown = "  ".join(f"{name} {1000 * value / videos:6.1f} ({100 * value / wall:2.0f}%)" for name, value in parts.items())
    cpu = 1000 * (figures["cpu_parent_s"] + figures["cpu_children_s"]) / videos
    return (f"{1000 * wall / videos:7.1f} ms = {shown} | child's decoding {1000 * child / videos:6.1f} (opening {1000 * figures['open_s'] / videos:.1f}) | "
            f"CPU {cpu:6.1f} (parent {1000 * figures['cpu_parent_s'] / videos:.1f})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--videos", type=int, default=2000, help="short clips")
    parser.add_argument("--seconds", type=float, default=1.0, help="each short clip's length")
    parser.add_argument("--long", type=int, default=20, help="long clips, of the same total length")
    parser.add_argument("--workers", type=int, default=0, help="batch --workers (0: nothing overlaps, the split is exact)")
    parser.add_argument("--trees", default=".", help="NAME=DIR,...: code trees to compare (DIR holds movinet_cli), the first the reference")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--output", choices=("csv", "db"), default="csv", help="the results file: CSV or a database")
    parser.add_argument("--workdir", default=os.path.join("/tmp", "movinet-bench-per-video"))
    parser.add_argument("--profile", help="cProfile statistics of the first tree's first short run, to this file")
    parser.add_argument("--measure", nargs="+", dest="sets", help=argparse.SUPPRESS)  # in a tree's process
    args = parser.parse_args(argv)
    if args.sets:
        measure(args)
        return 0

    from media import synthetic_clips

    long_seconds = args.videos * args.seconds / args.long
    sets = {"short": synthetic_clips(args.workdir, args.videos, args.seconds), "long": synthetic_clips(args.workdir, args.long, long_seconds)}
    trees = dict(item.split("=", 1) if "=" in item else (item, item) for item in args.trees.split(","))
    runs: dict[tuple[str, str], list[dict]] = {}
    loads = []
    for round_index in range(args.rounds):
        names = list(trees) if round_index % 2 == 0 else list(trees)[::-1]
        for position, name in enumerate(names):
            kinds = ["short", "long"] if (round_index + position) % 2 == 0 else ["long", "short"]
            profile = args.profile if name == list(trees)[0] and kinds[0] == "short" and not runs.get((name, "short")) else None
            for kind, figures in zip(kinds, run_tree(trees[name], args, [sets[kind] for kind in kinds], profile)):
                runs.setdefault((name, kind), []).append(figures)
                print(f"# round {round_index + 1}, {name}, {kind}: {figures['wall_s']:.1f} s", file=sys.stderr, flush=True)
            loads.append(os.getloadavg()[0])
    report(args, trees, runs, long_seconds, loads)
    return 0


def report(args, trees: dict, runs: dict, long_seconds: float, loads: list[float]) -> None:
    from machine import cpu_features

    engine = next(iter(runs.values()))[0]["engine"]
    print(f"model {args.model} ({engine}), batch --workers {args.workers}, results {args.output}, {args.rounds} round(s); "
          f"load average {min(loads):.1f} to {max(loads):.1f} (1 min, after each process)")
    print(cpu_features())
    print("ms per video, fastest run: wall = decode (waited for) + model + writing + other")
    lengths = {"short": f"{args.videos} x {args.seconds:g} s", "long": f"{args.long} x {long_seconds:g} s"}
    fastest = {key: min(figures, key=lambda each: each["wall_s"]) for key, figures in runs.items()}
    for name in trees:
        for kind in ("short", "long"):
            print(f"  {name:<6} {lengths[kind]:>12}: {breakdown(fastest[(name, kind)])}")
        short, long = fastest[(name, "short")]["wall_s"], fastest[(name, "long")]["wall_s"]
        cpu = statistics.median(_cpu(short) / _cpu(long) for short, long in zip(runs[(name, "short")], runs[(name, "long")]))
        print(f"  {name:<6} short / long: {short / long:.2f}x the wall time ({cpu:.2f}x the CPU) for the same video; "
              f"{1000 * (short - long) / (args.videos - args.long):.1f} ms more per extra video")
    first = list(trees)[0]
    for name in list(trees)[1:]:
        for kind in ("short", "long"):
            wall = fastest[(name, kind)]["wall_s"] / fastest[(first, kind)]["wall_s"]
            cpu = statistics.median(_cpu(other) / _cpu(ours) for other, ours in zip(runs[(name, kind)], runs[(first, kind)]))
            print(f"  {name} / {first}, {lengths[kind]}: {wall:.2f}x the wall time, {cpu:.2f}x the CPU")


def _cpu(figures: dict) -> float:
    return figures["cpu_parent_s"] + figures["cpu_children_s"]


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
