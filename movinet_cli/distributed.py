"""``movinet batch --ray``: classifying a directory on a Ray cluster.

The driver (this process) lists the videos, and a Ray Dataset of their paths goes through
``map_batches`` with ``VideoClassifier``: a pool of Ray actors, each holding one loaded
classifier and classifying one video per call with the local batch's own loop
(``classify.classify_many``: decoded in a child process, errors as rows). Each actor returns the
video's finished row; the rows stream back to the driver, which alone writes the results file
(``batch.write_rows``: flushed rows, the file's lock, resume, the final order).

The videos (and a local model directory or label file) must be readable on every node under
the same path: a shared filesystem. A video that a worker cannot read is an error row naming
that node.

Faults: Ray restarts an actor whose process dies (killed, out of memory, its node lost) and
retries its video on it. ``AttemptCounter`` counts the tries of each video across restarts,
so a video that kills its actor every time ends as an error row after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from . import isolated
from ._lazy import native_stderr_silenced
from .batch import ResultsFile, Summary, write_rows
from .classify import Classifier, Outcome, classify_many
from .engines.openvino import CPU_THREADS_VARIABLE  # inference threads an engine may use: set in each actor
from .errors import ModelError, MovinetError, UsageError, one_line
from .loading import load_classifier
from .options import RAY_TIMEOUT_S, ModelOptions, ReadOptions, RunOptions
from .output import result_row

MAX_ATTEMPTS = 3  # tries of a video whose worker process dies: a video that kills it every time is an error row
INSTALL_HINT = "pip install 'movinet-cli[ray]' (in a checkout: pip install '.[ray]')"
WORKER_LOAD_FAILED = "cannot load the model on node"  # how the error of an actor that cannot load the model starts


class RayUnavailableError(MovinetError):
    """``--ray`` was asked for, but Ray (the optional ``ray`` extra) is not installed."""


class RayConnectionError(MovinetError):
    """The Ray cluster asked for cannot be reached: an address that is not one, a host that
    does not resolve, nothing answering in time. One line naming the address."""


class RayResourcesError(UsageError):
    """The cluster cannot give an actor the CPUs it asks for (it would wait for ever)."""


def require_ray() -> None:
    """Raises RayUnavailableError, saying what to install, unless Ray Data can be imported."""
    try:
        import ray.data  # noqa: F401
    except ImportError:
        raise RayUnavailableError(f"--ray needs Ray, an optional extra: {INSTALL_HINT}") from None


def node_name() -> str:
    """This machine as a person would name it: its host name and IP address."""
    import ray

    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"


class AttemptCounter:
    """Counts the tries of each video, across actor restarts (a Ray actor that lives with the
    driver: it outlives any worker that dies)."""

    def __init__(self):
        self._nodes: dict[str, list[str]] = {}

    def start(self, path: str, node: str) -> list[str]:
        """Records a try of ``path`` on ``node``; returns the nodes of every try so far."""
        self._nodes.setdefault(path, []).append(node)
        return self._nodes[path]


class VideoClassifier:
    """One Ray actor's work: a classifier loaded once, then one row per video.

    Args:
        directory: the videos' directory (absolute, the same on every node).
        load: the model to load (paths absolute).
        model_name: the model as the user named it, for the rows (the local batch's rows).
        format: the results file's row format.
        read, run: what to read and how to run (``run.top_k``: predictions per row).
        attempts: an ``AttemptCounter`` actor.
        cpus: the CPUs Ray gives this actor; its engine is told to use as many threads.
        fail_hook: for tests, called with each path before it is classified (to kill the actor).
    """

    def __init__(self, directory, load, model_name, format, read, run, attempts, cpus, fail_hook=None):
        # The engine reads this when it compiles: as many threads as this actor's CPUs, so
        # that actors sharing a node do not fight over its cores.
        os.environ[CPU_THREADS_VARIABLE] = str(max(1, int(cpus)))
        # The decoding children's server starts (a new interpreter importing OpenCV) while
        # the model loads, instead of when the first video opens. Best effort: a server that
        # cannot start (a working directory gone, say) is each video's error to report.
        with contextlib.suppress(OSError):
            isolated.start_server()
        self.node = node_name()
        try:
            self.classifier = load_classifier(**dataclasses.asdict(load))
        except MovinetError as error:  # it loaded on the driver: this node lacks something
            raise ModelError(f"{WORKER_LOAD_FAILED} {self.node}: {error}") from None
        self.classifier.source = dataclasses.replace(self.classifier.source, name=model_name)
        self.directory, self.format, self.read, self.run = directory, format, read, run
        self.attempts, self.fail_hook = attempts, fail_hook
        with contextlib.suppress(Exception):  # best effort: a failure is the first video's to report
            self.classifier.warm_up(self.read, self.run)

    def __call__(self, batch: dict) -> dict:
        """``{"path": [fs-encoded path bytes]}`` -> ``{"row": [the row as JSON]}``; JSON
        (ASCII) carries any file name and cell through Arrow unchanged."""
        return {"row": [json.dumps(self.row(os.fsdecode(path))) for path in batch["path"]]}

    def row(self, path: str) -> dict:
        """The results row of one video (relative to ``directory``)."""
        import ray

        tries = ray.get(self.attempts.start.remote(path, self.node))
        if len(tries) > MAX_ATTEMPTS:
            error = (
                f"the worker process died {MAX_ATTEMPTS} times classifying this video (killed, out of memory, "
                f"or its node lost), on {', '.join(dict.fromkeys(tries[:-1]))}"
            )
            return result_row(self.format, self.run.top_k, Outcome(path, None, error), self.classifier.info)
        if self.fail_hook:
            self.fail_hook(path)
        [outcome] = classify_many(self.classifier, [path], self.read, self.run, directory=self.directory)
        if outcome.error and not os.access(Path(self.directory, path), os.R_OK):
            outcome.error += f" on node {self.node} (the videos must be on a filesystem that every node shares, under the same path)"
        return result_row(self.format, self.run.top_k, outcome, self.classifier.info)


@contextlib.contextmanager
def connected(address: str | None = None, timeout_s: float = RAY_TIMEOUT_S) -> Iterator[None]:
    """Connects to the Ray cluster at ``address`` (``host:port``, or ``ray://host:port`` for
    Ray Client); with None, the one named by RAY_ADDRESS or started on this machine with
    ``ray start``, else a new local one (stopped on exit). An address is first reached over
    TCP within ``timeout_s`` seconds (``reach``): RayConnectionError, one line, when it is not
    an address or nothing answers there. Ray's logs stay off the terminal, so the progress
    bar and summary stay readable."""
    if not _connected_already():
        reach(address if address is not None else os.environ.get("RAY_ADDRESS"), timeout_s)
    import ray
    import ray.data

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_auto_log_stats = False
    # The driver's C++ core worker logs warnings (about Ray Data's own actor options, say) on
    # stderr, and says at start-up that it read this.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    # The driver prints the raylet's messages (a worker died, its task is retried) on
    # stdout, where they would corrupt rows written to stdout (-o -) whatever log_to_driver
    # says. Ray has no switch for them, so its private printer is swapped for one that drops
    # them: they stay in each node's Ray logs (/tmp/ray/session_latest/logs), and a video
    # whose worker dies for good gets an error row.
    from ray._private import worker as ray_worker

    printer = getattr(ray_worker, "print_to_stdstream", None)
    if printer:
        ray_worker.print_to_stdstream = lambda data, ignore_prefix: None
    started_here = not ray.is_initialized()
    try:
        if started_here:
            try:
                with native_stderr_silenced():
                    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as error:  # it answered, but not as Ray
                raise RayConnectionError(f"cannot connect to the Ray cluster at {address or os.environ.get('RAY_ADDRESS')}: {one_line(error)}") from None
        yield
    finally:
        if started_here:
            ray.shutdown()
        if printer:  # a library user's Ray prints as before once the run is over
            ray_worker.print_to_stdstream = printer


def _connected_already() -> bool:
    """Whether this process already has Ray running (a library user's own ``ray.init``)."""
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def reach(address: str | None, timeout_s: float = RAY_TIMEOUT_S) -> None:
    """Raises RayConnectionError (one line naming ``address``) unless ``address`` is
    ``host:port`` (or ``ray://host:port``) and a TCP connection to it opens within
    ``timeout_s`` seconds, name resolution included. None, "auto" and "local" are Ray's own
    (a cluster started with ``ray start``, or a new local one) and pass as they are."""
    if address in (None, "", "auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # an IPv6 address: [::1]:6379
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayConnectionError(f"Ray address {address!r} is not host:port (as `ray start --head` prints it, e.g. 192.168.1.10:6379)")

    def connect() -> None:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()

    # Name resolution has no timeout of its own: it runs in a thread waited on for as long.
    attempt = concurrent.futures.ThreadPoolExecutor(1)
    future = attempt.submit(connect)
    attempt.shutdown(wait=False)
    try:
        future.result(timeout=timeout_s)
    except concurrent.futures.TimeoutError:
        raise RayConnectionError(f"no Ray cluster answers at {address} within {timeout_s:g} s") from None
    except socket.gaierror as error:
        raise RayConnectionError(f"cannot find the Ray cluster's host {host}: {error.strerror}") from None
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else error.strerror or one_line(error)
        raise RayConnectionError(f"cannot reach a Ray cluster at {address}: {reason}") from None


def cluster_cpus() -> int:
    """The CPUs of the connected cluster."""
    import ray

    return int(ray.cluster_resources().get("CPU", 1))


def check_resources(actors: int | None, cpus_per_actor: float) -> None:
    """Raises RayResourcesError, naming the cluster's CPUs, if no node of the connected
    cluster has ``cpus_per_actor`` CPUs, or the cluster cannot hold ``actors`` such actors
    at once: Ray would wait for them for ever."""
    import ray

    nodes = [node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")]
    largest, total = max(nodes, default=0), sum(nodes)
    cluster = f"the Ray cluster has {total:g} CPUs in {len(nodes)} node{'s' if len(nodes) != 1 else ''}, at most {largest:g} on one"
    if cpus_per_actor > largest:
        raise RayResourcesError(f"an actor of {cpus_per_actor:g} CPUs cannot start: {cluster} (an actor runs on one node)")
    if actors and actors * cpus_per_actor > total:
        raise RayResourcesError(f"{actors} actors of {cpus_per_actor:g} CPUs cannot all start: {cluster}")


def run_batch_on_ray(
    classifier: Classifier,
    directory: str | os.PathLike,
    results: ResultsFile,
    paths: list[str],
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    load: ModelOptions,
    actors: int | None = None,
    cpus_per_actor: float = 1,
    on_video: Callable[[dict], None] | None = None,
    fail_hook: Callable[[str], None] | None = None,
) -> Summary:
    """Classifies ``paths`` (relative to ``directory``) not already in ``results.done`` on the
    connected Ray cluster (see ``connected``), as ``batch.run_batch`` does locally: the same
    rows, written by this process only, in the same final order.

    Args:
        classifier: this process's classifier, loaded with ``load`` (which checks the model
            before any work starts); the rows name its model.
        read, run: what to read and how to run (``run.top_k`` is the results file's).
        load: the model each actor loads.
        actors: actors in the pool; default: as many as the cluster's CPUs hold at
            ``cpus_per_actor`` each.
        cpus_per_actor: CPUs Ray reserves for each actor (and the threads its engine uses).
        on_video: gets each row once it is written.
        fail_hook: for tests (see ``VideoClassifier``).
    """
    import ray
    import ray.data
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    classifier.reading(read)  # a read the model refuses (a trained head's): here, not in every actor
    todo = results.todo(paths)
    if not todo:
        return write_rows(results, paths, [], on_video)
    check_resources(actors, cpus_per_actor)
    actors = actors or max(1, int(cluster_cpus() // cpus_per_actor))
    # Paths relative to this process's working directory mean the same on every node only
    # once absolute (a worker starts elsewhere).
    load = dataclasses.replace(
        load,
        model=os.path.abspath(load.model) if load.model and os.path.isdir(load.model) else load.model,
        labels=load.labels and os.path.abspath(load.labels),
    )
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    attempts = ray.remote(num_cpus=0, scheduling_strategy=here)(AttemptCounter).remote()
    # Rows are written as they come and sorted at the end; a file that cannot be sorted
    # afterwards (stdout, a FIFO) gets them in order.
    ray.data.DataContext.get_current().execution_options.preserve_order = not results.sortable
    dataset = ray.data.from_items([{"path": os.fsencode(path)} for path in todo]).map_batches(
        VideoClassifier,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=min(actors, len(todo))),
        num_cpus=cpus_per_actor,
        fn_constructor_kwargs={
            "directory": os.path.abspath(directory),
            "load": load,
            "model_name": classifier.source.name,
            "format": results.format,
            "read": read,
            "run": dataclasses.replace(run, top_k=results.top_k),
            "attempts": attempts,
            "cpus": cpus_per_actor,
            "fail_hook": fail_hook,
        },
    )
    try:
        # Each block (one row) as soon as it comes: prefetching would hold rows back.
        blocks = dataset.iter_batches(batch_size=None, prefetch_batches=0)
        return write_rows(results, paths, (json.loads(row) for block in blocks for row in block["row"]), on_video)
    except ray.exceptions.RayActorError as error:
        # An actor that cannot load the model stops the run (rows so far kept), but Ray
        # passes its error on only inside a traceback's text: its last line is ours.
        text = str(error)
        if not error.actor_init_failed or WORKER_LOAD_FAILED not in text:
            raise
        raise ModelError(text[text.rindex(WORKER_LOAD_FAILED) :].splitlines()[0]) from None
    finally:
        ray.kill(attempts)  # this run's counts end with it (a driver may run several)
