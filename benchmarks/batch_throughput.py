#!/usr/bin/env python3
"""Benchmark: `movinet batch` throughput with videos decoded ahead against one video at a time,
and on Ray (`--ray`).

Generates a directory of synthetic 10-second clips (640x360, 30 fps), loads the model once,
then classifies the directory with each --workers setting (and each of --precisions) in turn (alternating over several
rounds, after a warm-up), and prints videos/minute per setting and the ratio to the first.
With --ray-actors N, each round also runs `batch --ray` on a local Ray of this machine's CPUs
(N actors of --ray-cpus-per-actor CPUs, each loading the model), and with --ray-nodes M, after
those rounds, on a cluster of M simulated nodes on this machine (ray.cluster_utils.Cluster,
the CPUs split between them) for as many rounds. A Ray figure includes starting the actors
and loading their models, as a real run does; not starting Ray itself.

Usage:
    python benchmarks/batch_throughput.py MODEL [--videos 20] [--workers 0,1,2] [--precisions f32,auto] [--rounds 2]
        [--ray-actors 2 --ray-cpus-per-actor 1 --ray-nodes 2]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import cpu_features  # noqa: E402
from media import synthetic_clips  # noqa: E402

from movinet_cli import load_classifier  # noqa: E402
from movinet_cli.commands.batch import find_videos, run_batch  # noqa: E402
from movinet_cli.options import ModelOptions  # noqa: E402
from movinet_cli.outputs.results_sink import ResultsSink  # noqa: E402


def timed(batch) -> tuple[float, float]:
    """Videos/minute of ``batch(results, on_video)`` writing into a fresh results file: over
    the whole run, and from its first row to its last (the pace once started: without
    starting Ray's actors and loading their models, or the first video's latency)."""
    rows_at = []
    with tempfile.TemporaryDirectory() as out:
        results = ResultsSink(os.path.join(out, "r.csv"), "csv")
        began = time.perf_counter()
        summary = batch(results, lambda row: rows_at.append(time.perf_counter()))
        elapsed = time.perf_counter() - began
        results.close()
    assert summary.failed == 0, summary
    return 60 * len(rows_at) / elapsed, 60 * (len(rows_at) - 1) / (rows_at[-1] - rows_at[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--engine", default="openvino")
    parser.add_argument("--precisions", default="auto", help="precisions of the local runs, compared: e.g. f32,auto")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "movinet-bench-batch"))
    parser.add_argument("--ray-actors", type=int, default=0, help="also run on Ray with this many actors (0: not)")
    parser.add_argument("--ray-cpus-per-actor", type=float, default=1.0)
    parser.add_argument("--ray-nodes", type=int, default=0, help="then on this many simulated nodes (0: not)")
    args = parser.parse_args(argv)

    clips = synthetic_clips(args.workdir, args.videos, args.seconds)
    paths = find_videos(clips)
    precisions = args.precisions.split(",")
    classifiers = {precision: load_classifier(args.model, engine=args.engine, precision=precision) for precision in precisions}
    for each in classifiers.values():
        each.classify(os.path.join(clips, paths[0]))  # warm-up: compile the window shape
    classifier = classifiers[precisions[0]]  # Ray's actors load their own, in the first precision
    run = {
        f"workers={workers} {precision} ({classifiers[precision].model.precision})": functools.partial(
            local_batch, classifiers[precision], clips, paths, int(workers)
        )
        for precision in precisions
        for workers in args.workers.split(",")
    }
    settings = list(run)
    load = ModelOptions(model=args.model, engine=args.engine, precision=precisions[0])
    if args.ray_actors:
        ray_setting = f"ray {args.ray_actors} actors x {args.ray_cpus_per_actor:g} CPU"
        run[ray_setting] = functools.partial(ray_batch, classifier, clips, paths, load, args.ray_actors, args.ray_cpus_per_actor)
    rates: dict[str, list[tuple[float, float]]] = {setting: [] for setting in run}
    with ray_started(args.ray_actors and (os.cpu_count() or 1)):
        for round_index in range(args.rounds):
            order = list(run) if round_index % 2 == 0 else list(run)[::-1]
            for setting in order:
                rates[setting].append(timed(run[setting]))
                print(f"# round {round_index + 1}, {setting}: {rates[setting][-1][0]:.1f} videos/min", file=sys.stderr, flush=True)
    if args.ray_nodes:
        cluster_setting = f"ray on {args.ray_nodes} simulated nodes"
        rates[cluster_setting] = []
        with ray_started(os.cpu_count() or 1, nodes=args.ray_nodes):
            for round_index in range(args.rounds):
                rates[cluster_setting].append(timed(functools.partial(ray_batch, classifier, clips, paths, load, None, args.ray_cpus_per_actor)))
                print(f"# round {round_index + 1}, {cluster_setting}: {rates[cluster_setting][-1][0]:.1f} videos/min", file=sys.stderr, flush=True)
    medians = {setting: [statistics.median(column) for column in zip(*values)] for setting, values in rates.items()}
    baseline = medians[settings[0]]
    print(f"model {args.model} on {classifier.model.engine}: {len(paths)} clips of {args.seconds:g} s, 640x360 at 30 fps, {args.rounds} rounds (median)")
    print(cpu_features())
    print(f"  {'':<28} {'whole run':>22}   {'first row to last':>28}")
    for setting, (whole, paced) in medians.items():
        print(
            f"  {setting:<28} {whole:6.1f} videos/min {whole / baseline[0]:4.2f}x   "
            f"{paced:6.1f} videos/min {paced / baseline[1]:4.2f}x   (x {settings[0]})"
        )
    return 0


def local_batch(classifier, clips, paths, workers, results, on_video):
    return run_batch(classifier, clips, results, paths, workers=workers, on_video=on_video)


def ray_batch(classifier, clips, paths, load, actors, cpus_per_actor, results, on_video):
    from movinet_cli.commands.distributed import run_batch_on_ray

    return run_batch_on_ray(
        classifier, clips, results, paths, load=load, actors=actors, cpus_per_actor=cpus_per_actor, on_video=on_video
    )


@contextlib.contextmanager
def ray_started(cpus: int, nodes: int = 1):
    """A Ray of ``cpus`` CPUs on this machine for the block (nothing if 0): one node, or
    ``nodes`` simulated ones sharing them."""
    if not cpus:
        yield
        return
    import ray
    from ray.cluster_utils import Cluster

    from movinet_cli.commands.distributed import connected

    cluster = None
    if nodes > 1:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus // nodes})
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=cpus // nodes)
        cluster.wait_for_nodes()
    else:
        ray.init(address="local", num_cpus=cpus, log_to_driver=False, logging_level="ERROR")  # not a cluster of `ray start`
    try:
        with connected(cluster.address if cluster else None):
            yield
    finally:
        ray.shutdown()
        if cluster:
            cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
