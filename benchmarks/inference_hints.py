#!/usr/bin/env python3
"""Benchmark: batch videos/minute with one infer request using all cores (OpenVINO's LATENCY
hint, what `movinet batch` does today) against several requests in flight on different
videos (THROUGHPUT hint with an AsyncInferQueue, and LATENCY with Python threads).

Generates --videos synthetic clips (640x360, 30 fps, --seconds long), decodes every window
of model input through movinet's own reader into memory first, then classifies all of them
with each setting (and each of --precisions), alternating the settings over --rounds after a
warm-up, and prints videos/minute (median) per setting with its ratio to the first. So only
inference is compared: decoding is the same for all and outside the timing. The settings:

  latency            today's way: the classifier's own model (PERFORMANCE_HINT LATENCY, one
                     stream using all cores), one window after another (``model.logits``)
  throughput         the same converted IR compiled with PERFORMANCE_HINT THROUGHPUT, an
                     ``openvino.AsyncInferQueue`` of OPTIMAL_NUMBER_OF_INFER_REQUESTS requests,
                     each window (of a different video) started on the next idle request
  latency-threads    the LATENCY compilation, --threads Python threads each with its own
                     infer request, taking windows from a shared list (``infer`` drops the GIL)

With --end-to-end, a second table times the whole pipeline including decoding through our
reader in child processes, for `latency` (``classify_many`` as `movinet batch` runs it,
--workers videos decoded ahead) and `throughput` (the same videos opened --workers ahead, and
their windows started on the AsyncInferQueue as they arrive).

Every setting's top-1 per video is checked against the first setting of the same precision.
With --memory, each hint is also compiled in a fresh process for its peak RSS (several streams
hold several sets of intermediate buffers; --memory-streams adds THROUGHPUT with set NUM_STREAMS).

Usage:
    MOVINET_CACHE_DIR=/tmp/bench-cache python benchmarks/inference_hints.py MODEL [--videos 8] [--seconds 10]
        [--precisions f32,auto] [--settings latency,throughput,latency-threads] [--threads 2] [--rounds 3]
        [--end-to-end --workers 2] [--memory --memory-streams 1,4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import cpu_features  # noqa: E402
from media import synthetic_clips  # noqa: E402

from movinet_cli import load_classifier  # noqa: E402
from movinet_cli._lazy import openvino  # noqa: E402
from movinet_cli.commands.batch import find_videos  # noqa: E402
from movinet_cli.inputs.sampling import windows as frame_windows  # noqa: E402
from movinet_cli.options import (  # noqa: E402
    CLIP_SECONDS,  # noqa: E402
    ReadOptions,
    RunOptions,
)
from movinet_cli.outcomes.pipeline import classify_many, softmax  # noqa: E402

SETTINGS = ("latency", "throughput", "latency-threads")


class Compiled:
    """The IR that the classifier runs (our converted model, from our cache), compiled per
    window shape with the classifier's own configuration (precision, blob cache, thread
    limit) but another PERFORMANCE_HINT. Reads the engine's private attributes: a benchmark."""

    def __init__(self, classifier, hint: str):
        model = classifier.model
        self._ir = model._request_for.model()
        self._core = model._request_for._compiler.core
        self.config = {**model._request_for._compiler.config, "PERFORMANCE_HINT": hint}
        self._by_shape: dict[tuple, object] = {}

    def __call__(self, shape: tuple):
        if shape not in self._by_shape:
            from movinet_cli.model.engines.openvino import _reshaped

            self._by_shape[shape] = self._core.compile_model(_reshaped(self._ir, 0, [1, *shape]), "CPU", self.config)
        return self._by_shape[shape]

    def describe(self) -> str:
        compiled = next(iter(self._by_shape.values()))
        values = {key: compiled.get_property(key) for key in ("NUM_STREAMS", "INFERENCE_NUM_THREADS", "OPTIMAL_NUMBER_OF_INFER_REQUESTS")}
        return f"{self.config['PERFORMANCE_HINT']}: " + ", ".join(f"{key} {value}" for key, value in values.items())


class Queues:
    """An AsyncInferQueue per window shape (of OPTIMAL_NUMBER_OF_INFER_REQUESTS requests),
    whose callbacks put each window's logits into ``self.logits[userdata]``."""

    def __init__(self, compiled: Compiled):
        self._compiled, self._queues, self.logits = compiled, {}, {}

    def _done(self, request, userdata) -> None:
        self.logits[userdata] = request.get_output_tensor(0).data[0].copy()

    def start(self, frames: np.ndarray, userdata) -> None:
        """Starts ``frames`` on the next idle request (waiting for one if all are busy)."""
        if frames.shape not in self._queues:
            model = self._compiled(frames.shape)
            queue = openvino().AsyncInferQueue(model, model.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            queue.set_callback(self._done)
            self._queues[frames.shape] = queue
        self._queues[frames.shape].start_async({0: np.ascontiguousarray(frames[np.newaxis], np.float32)}, userdata)

    def wait_all(self) -> None:
        for queue in self._queues.values():
            queue.wait_all()

    def jobs(self) -> int:
        return sum(len(queue) for queue in self._queues.values())


def decoded_windows(classifier, clips: str, paths: list[str]) -> list[tuple[int, np.ndarray]]:
    """Every window of model input of every video, ``(video index, frames [T, H, W, 3])``,
    decoded through movinet's reader as `movinet batch` decodes them."""
    found = []
    for index, path in enumerate(paths):
        source = classifier.open(Path(clips, path))
        try:
            found += [(index, window.frames) for window in frame_windows(source.frames, round(CLIP_SECONDS * source.fps), source.fps)]
        finally:
            source.close()
    return found


def per_video(videos: int, windows: list[tuple[int, np.ndarray]], logits: list[np.ndarray]) -> list[np.ndarray]:
    """Each video's probabilities: the frame-weighted mean of its windows', as
    ``Classifier.run`` computes them in clip mode."""
    sums, frames_of = [0.0] * videos, [0] * videos
    for (video, frames), each in zip(windows, logits):
        sums[video] = sums[video] + softmax(each) * len(frames)
        frames_of[video] += len(frames)
    return [total / count for total, count in zip(sums, frames_of)]


def agreement(probabilities: list[np.ndarray], reference: list[np.ndarray], name: str) -> str:
    """How many videos have the same top-1 class as ``reference``, and the largest difference
    of any class's probability."""
    same = sum(int(np.argmax(a)) == int(np.argmax(b)) for a, b in zip(probabilities, reference))
    largest = max(float(np.max(np.abs(a - b))) for a, b in zip(probabilities, reference))
    return f"top-1 as {name}: {same}/{len(reference)}, max |dp| {largest:.1e}"


def run_latency(classifier, compiled, windows, threads):
    return [classifier.model.logits(frames) for _, frames in windows]


def run_throughput(classifier, compiled, windows, threads):
    queues = Queues(compiled)
    for index, (_, frames) in enumerate(windows):
        queues.start(frames, index)
    queues.wait_all()
    return [queues.logits[index] for index in range(len(windows))]


def run_threads(classifier, compiled, windows, threads):
    """``threads`` Python threads, each with its own infer request, taking the next window."""
    logits, lock, taken = [None] * len(windows), threading.Lock(), iter(range(len(windows)))
    requests = {}

    def work() -> None:
        while True:
            with lock:
                index = next(taken, None)
            if index is None:
                return
            frames = windows[index][1]
            key = (threading.get_ident(), frames.shape)
            if key not in requests:
                requests[key] = compiled(frames.shape).create_infer_request()
            request = requests[key]
            request.infer({0: np.ascontiguousarray(frames[np.newaxis], np.float32)})
            logits[index] = request.get_output_tensor(0).data[0].copy()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return logits


def peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM (ru_maxrss would include the parent's peak, inherited
    through fork before exec)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_of(model: str, precision: str, hint: str, streams: int | None) -> dict:
    """Runs in a child process: peak RSS (MB) after loading the model, then after compiling
    one window shape with ``hint`` (and ``streams``, if given) and running as many windows at
    once as it has streams."""
    classifier = load_classifier(model, engine="openvino", precision=precision)
    loaded = peak_rss_mb()
    compiled = Compiled(classifier, hint)
    if streams:
        compiled.config["NUM_STREAMS"] = streams
    shape = (round(CLIP_SECONDS * classifier.fps), classifier.size, classifier.size, 3)
    frames = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    compiled(shape)
    queues = Queues(compiled)
    for index in range(int(compiled(shape).get_property("NUM_STREAMS"))):
        queues.start(frames, index)
    queues.wait_all()
    peak = peak_rss_mb()
    return {"precision": classifier.model.precision, "loaded_mb": loaded, "peak_mb": peak, "described": compiled.describe()}


def print_memory(model: str, precisions: list[str], streams: list[int]) -> None:
    """Peak RSS per hint (each in a fresh process): what several streams cost in memory."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    print("memory (each in a fresh process: peak RSS after compiling one window shape and running one window per stream):")
    spawn = multiprocessing.get_context("spawn")
    for precision in precisions:
        for hint, count in [("LATENCY", None), ("THROUGHPUT", None), *(("THROUGHPUT", n) for n in streams)]:
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                row = pool.submit(memory_of, model, precision, hint, count).result()
            setting = f"{hint.lower()}{f' NUM_STREAMS={count}' if count else ''} {precision} ({row['precision']})"
            print(
                f"  {setting:<34} peak {row['peak_mb']:6.0f} MB, {row['peak_mb'] - row['loaded_mb']:6.0f} MB over the loaded model  "
                f"({row['described']})",
                flush=True,
            )


RUNNERS = {"latency": (run_latency, "LATENCY"), "throughput": (run_throughput, "THROUGHPUT"), "latency-threads": (run_threads, "LATENCY")}


def end_to_end_latency(classifier, clips, paths, workers, compiled):
    """`movinet batch` today: classify_many, one video at a time, ``workers`` decoded ahead."""
    probabilities = []
    for outcome in classify_many(classifier, paths, directory=clips, ahead=workers):
        assert outcome.ok, outcome.error
        probabilities.append(outcome.result.probabilities)
    return probabilities


def end_to_end_throughput(classifier, clips, paths, workers, compiled):
    """Videos opened ``workers`` ahead as classify_many opens them (each decoded in its own
    child process), their windows started on an AsyncInferQueue as they arrive, so the next
    video's first window runs while the current one's last is still in flight."""
    queues = Queues(compiled)
    frames_ahead = classifier.frames_ahead(ReadOptions(), RunOptions())
    remaining, ahead, windows = iter(paths), deque(), []
    index = 0
    while True:
        while len(ahead) < workers + 1:
            path = next(remaining, None)
            if path is None:
                break
            ahead.append(classifier.open(Path(clips, path), ahead=frames_ahead))
        if not ahead:
            break
        source = ahead.popleft()
        try:
            for window in frame_windows(source.frames, round(CLIP_SECONDS * source.fps), source.fps):
                windows.append((index, window.frames))
                queues.start(window.frames, len(windows) - 1)
        finally:
            source.close()
        index += 1
    queues.wait_all()
    return per_video(len(paths), windows, [queues.logits[i] for i in range(len(windows))])


def alternate(run: dict, rounds: int, videos: int, label: str) -> dict[str, list[float]]:
    """Runs each setting once per round (order reversed every other round); videos/minute."""
    rates = {setting: [] for setting in run}
    for round_index in range(rounds):
        for setting in list(run) if round_index % 2 == 0 else list(run)[::-1]:
            began = time.perf_counter()
            run[setting]()
            rates[setting].append(60 * videos / (time.perf_counter() - began))
            print(f"# {label} round {round_index + 1}, {setting}: {rates[setting][-1]:.1f} videos/min", file=sys.stderr, flush=True)
    return rates


def print_table(title: str, rates: dict[str, list[float]], agree: dict[str, str], precision_of: dict[str, str]) -> None:
    """Medians, with their ratio to the first setting and to the first of the same precision."""
    print(title)
    first = next(iter(rates))
    baseline = statistics.median(rates[first])
    width = max(len(setting) for setting in rates) + 2
    print(f"  {'':<{width}} {'median':>18}  {'x first':>7}  {'x same prec.':>12}  {'paired':>6}  {'rounds':>9}")
    for setting, values in rates.items():
        median = statistics.median(values)
        same = rates[next(other for other in rates if precision_of[other] == precision_of[setting])]
        paired = statistics.median(value / reference for value, reference in zip(values, same))
        spread = f"{min(values):.0f}-{max(values):.0f}"
        print(
            f"  {setting:<{width}} {median:7.1f} videos/min  {median / baseline:6.2f}x  {median / statistics.median(same):11.2f}x  "
            f"{paired:5.2f}x  {spread:>9}  {agree.get(setting, '')}"
        )
    print(
        f"  (x first: against {first}; x same prec.: against the first setting of the same precision; "
        "paired: the median of that ratio taken within each round, steadier when the machine's load drifts)"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--precisions", default="f32,auto")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"of {', '.join(SETTINGS)}; ratios against the first")
    parser.add_argument("--threads", type=int, default=2, help="Python threads of latency-threads")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--end-to-end", action="store_true", help="also time decoding + inference (latency and throughput)")
    parser.add_argument("--workers", type=int, default=2, help="end to end: videos decoded ahead (movinet batch's default)")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS per hint, each in a fresh process")
    parser.add_argument("--memory-streams", default="", help="with --memory: also THROUGHPUT with these NUM_STREAMS, e.g. 1,4")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "movinet-bench-batch"))
    args = parser.parse_args(argv)
    settings = args.settings.split(",")
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        parser.error(f"unknown settings {sorted(unknown)}")
    load_before = os.getloadavg()

    clips = synthetic_clips(args.workdir, args.videos, args.seconds)
    paths = find_videos(clips)
    precisions = args.precisions.split(",")
    classifiers = {precision: load_classifier(args.model, engine="openvino", precision=precision) for precision in precisions}
    windows = decoded_windows(classifiers[precisions[0]], clips, paths)
    shapes = sorted({frames.shape for _, frames in windows})
    megabytes = sum(frames.nbytes for _, frames in windows) / 2**20
    print(f"# decoded {len(windows)} windows of {len(paths)} clips into memory ({megabytes:.0f} MB), shapes {shapes}", file=sys.stderr, flush=True)

    run, compiled_for, probabilities_of, described, precision_of = {}, {}, {}, {}, {}
    for precision in precisions:
        classifier = classifiers[precision]
        for hint in {RUNNERS[setting][1] for setting in settings} | ({"THROUGHPUT"} if args.end_to_end else set()):
            compiled_for[precision, hint] = Compiled(classifier, hint)
        for setting in settings:
            function, hint = RUNNERS[setting]
            name = f"{setting}{f' x{args.threads}' if setting == 'latency-threads' else ''} {precision} ({classifier.model.precision})"
            compiled = compiled_for[precision, hint]
            precision_of[name] = precision
            run[name] = lambda function=function, classifier=classifier, compiled=compiled: function(classifier, compiled, windows, args.threads)
            logits = run[name]()  # warm-up: compiles each window shape, first inferences
            probabilities_of[name] = per_video(len(paths), windows, logits)
            if setting != "latency":
                described[name] = compiled.describe()
    agree = {}
    for name in run:
        reference = next(other for other in run if precision_of[other] == precision_of[name])
        if name != reference:
            agree[name] = agreement(probabilities_of[name], probabilities_of[reference], reference.split(" ")[0])
        elif name != next(iter(run)):  # another precision: against the first one
            agree[name] = agreement(probabilities_of[name], probabilities_of[next(iter(run))], next(iter(run)))
    rates = alternate(run, args.rounds, len(paths), "inference")

    e2e_rates, e2e_agree = {}, {}
    if args.end_to_end:
        e2e = {}
        for precision in precisions:
            classifier = classifiers[precision]
            precision_name = f"{precision} ({classifier.model.precision})"
            for setting, function in (("latency", end_to_end_latency), ("throughput", end_to_end_throughput)):
                name = f"{setting} workers={args.workers} {precision_name}"
                precision_of[name] = precision
                compiled = compiled_for[precision, "THROUGHPUT"]
                e2e[name] = lambda function=function, classifier=classifier, compiled=compiled: function(classifier, clips, paths, args.workers, compiled)
                e2e_probabilities = e2e[name]()  # warm-up
                reference = next(other for other in probabilities_of if precision_of[other] == precision)
                e2e_agree[name] = agreement(e2e_probabilities, probabilities_of[reference], f"in-memory {reference.split(' ')[0]}")
        e2e_rates = alternate(e2e, args.rounds, len(paths), "end to end")

    load_after = os.getloadavg()
    print(
        f"model {args.model} on OpenVINO {openvino().__version__}: {len(paths)} clips of {args.seconds:g} s, 640x360 at 30 fps, "
        f"{len(windows)} windows {shapes}, {args.rounds} rounds (median)"
    )
    print(cpu_features())
    print(f"load average (1, 5, 15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}")
    for name, text in described.items():
        print(f"  {name}: {text}")
    print_table("inference only (windows decoded into memory beforehand):", rates, agree, precision_of)
    if e2e_rates:
        print_table(f"end to end (decoding through movinet's reader in child processes, {args.workers} videos ahead):", e2e_rates, e2e_agree, precision_of)
    if args.memory:
        print_memory(args.model, precisions, [int(n) for n in args.memory_streams.split(",") if n])
    return 0


if __name__ == "__main__":
    sys.exit(main())
