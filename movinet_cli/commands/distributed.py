"""``movinet batch --ray``: classifying a directory on a Ray cluster, from the driver.

The driver (this process) connects to the cluster (``connected``), lists the videos and
starts ``Actors``: Ray Core actors (``ray_actors.VideoClassifier``), each loading one
classifier. They start while the driver loads and checks its own model, so that the two
loads overlap. Each actor is then given one video at a time, with the name of the next one
it will get (``Schedule``): it starts decoding that one while the model runs on the current
one. Each actor returns the video's ``Outcome``; they stream back to the driver, which alone
writes every output (``batch.run_batch``: the results file with its lock, resume and final
order, the timelines, the report), as a local batch does.

Ray Core rather than Ray Data: a Ray Data actor pool costs seconds before the first row
(its executor, Arrow blocks; ray-project/ray#44905), which a short job never earns back, and
a long one gains nothing from it here: the driver keeps one video per actor in flight (and
one more reserved for it, decoding), so memory stays bounded however many videos there are.
One path serves every size of job.

The videos (and a local model directory or label file) must be readable on every node under
the same path: a shared filesystem.

Faults: Ray restarts an actor whose process dies (killed, out of memory, its node lost) and
retries its video on it, up to ``MAX_ATTEMPTS`` tries in all (Ray counts them, and waits for
the restart before retrying); a video that kills its actor every time fails.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import socket
import sys
from collections.abc import Callable, Generator, Iterable, Iterator

from movinet_cli import environment
from movinet_cli._lazy import native_stderr_silenced
from movinet_cli.commands.batch import Summary, run_batch
from movinet_cli.commands.ray_actors import MAX_ATTEMPTS, WORKER_LOAD_FAILED, VideoClassifier, died
from movinet_cli.errors import ModelError, MovinetError, UsageError, one_line
from movinet_cli.options import RAY_TIMEOUT_S, ModelOptions, ReadOptions, RunOptions
from movinet_cli.outcomes.pipeline import Classifier
from movinet_cli.outcomes.result import Outcome
from movinet_cli.outputs.sinks import ResultsOutput

INSTALL_HINT = "pip install 'movinet-cli[ray]' (in a checkout: pip install '.[ray]')"


class RayUnavailableError(MovinetError):
    """``--ray`` was asked for, but Ray (the optional ``ray`` extra) is not installed."""


class RayConnectionError(MovinetError):
    """The Ray cluster asked for cannot be reached: an address that is not one, a host that
    does not resolve, nothing answering in time. One line naming the address."""


class RayResourcesError(UsageError):
    """The cluster cannot give an actor the CPUs it asks for (it would wait for ever)."""


def require_ray() -> None:
    """Raises RayUnavailableError, saying what to install, unless Ray can be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RayUnavailableError(f"--ray needs Ray, an optional extra: {INSTALL_HINT}") from None


class Actors:
    """The ``VideoClassifier`` actors of one run on the connected cluster (see ``connected``),
    started at once without waiting for them: their start (a worker process, the model's
    load and warm-up) overlaps whatever the caller does next, such as loading its own model.
    A context manager: on exit the actors are killed (Ray would otherwise keep them as long
    as the driver lives).

    Args:
        directory: the videos' directory (made absolute, as every node must see it).
        load: the model each actor loads (relative paths made absolute).
        read, run: what to read and how to run.
        videos: how many videos there are at most: no more actors start.
        actors: how many actors; default: as many as the cluster's CPUs hold at
            ``cpus_per_actor`` each.
        cpus_per_actor: CPUs Ray reserves for each actor (and the threads its engine uses).
        fail_hook: for tests (see ``VideoClassifier``).

    Raises RayResourcesError when the cluster cannot hold them (see ``check_resources``).
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        load: ModelOptions,
        read: ReadOptions = ReadOptions(),
        run: RunOptions = RunOptions(),
        *,
        videos: int,
        actors: int | None = None,
        cpus_per_actor: float = 1,
        fail_hook: Callable[[str], None] | None = None,
    ):
        import ray

        check_resources(actors, cpus_per_actor)
        count = min(actors or max(1, int(cluster_cpus() // cpus_per_actor)), max(1, videos))
        # Paths relative to this process's working directory mean the same on every node only
        # once absolute (a worker starts elsewhere).
        load = dataclasses.replace(
            load,
            model=os.path.abspath(load.model) if load.model and os.path.isdir(load.model) else load.model,
            labels=load.labels and os.path.abspath(load.labels),
        )
        # A dead actor is restarted and its video retried on it, by Ray: a task sent while the
        # actor restarts waits for it, instead of failing as unavailable (at-least-once tasks).
        actor = ray.remote(num_cpus=cpus_per_actor, max_restarts=-1, max_task_retries=MAX_ATTEMPTS - 1)(VideoClassifier)
        self.handles = [actor.remote(os.path.abspath(directory), load, read, run, cpus_per_actor, fail_hook) for _ in range(count)]

    def __enter__(self) -> Actors:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Kills the actors (their videos decoding ahead with them)."""
        import ray

        for handle in self.handles:
            ray.kill(handle)

    def outcomes(self, videos: list[str], top_k: int, model_name: str) -> Generator[Outcome, None, None]:
        """The ``Outcome`` of each of ``videos`` (relative to the directory), in the order they
        come, with ``top_k`` predictions and the model named ``model_name`` (as the user named
        it), given out as ``Schedule`` says: one video in flight per actor, the next reserved
        for it and decoding there. A video whose actor dies is given to it again (restarted)
        up to ``MAX_ATTEMPTS`` tries, then fails. ModelError, one line, if an actor cannot
        load the model."""
        import ray

        schedule = Schedule(videos, len(self.handles))
        running: dict = {}  # ObjectRef -> (actor, video)

        def give(actor: int) -> None:
            if (task := schedule.next(actor)) is not None:
                video, then = task
                running[self.handles[actor].outcome.remote(video, then, top_k, model_name)] = (actor, video)

        for actor in range(len(self.handles)):
            give(actor)
        while running:
            [ready], _ = ray.wait(list(running), num_returns=1)
            actor, video = running.pop(ready)
            try:
                outcome = _result(ready)
            except ray.exceptions.RayActorError:  # its worker died on this video MAX_ATTEMPTS times
                outcome = died(video)
            give(actor)
            yield outcome


class Schedule:
    """Which video each of ``actors`` actors (numbered from 0) gets next, given out in the
    order of ``videos``: ``next(actor)`` is its video and the one it will get after it (so
    that it decodes that one meanwhile), reserved for it. An actor with nothing left takes a
    video reserved for another rather than wait idle (that one's decoding ahead is lost).
    Every video is given once."""

    def __init__(self, videos: Iterable[str], actors: int):
        self.queue = collections.deque(videos)
        self.reserved: list[str | None] = [None] * actors  # each actor's next video, decoding there

    def next(self, actor: int) -> tuple[str, str | None] | None:
        """``(video, then)`` for ``actor`` once it is done with its last video (``then``:
        None if it gets none after it, so far); None when no video is left for it."""
        video = self.reserved[actor] or self._take() or self._steal()
        self.reserved[actor] = self._take() if video else None
        return (video, self.reserved[actor]) if video else None

    def _take(self) -> str | None:
        return self.queue.popleft() if self.queue else None

    def _steal(self) -> str | None:
        for actor, video in enumerate(self.reserved):
            if video is not None:
                self.reserved[actor] = None
                return video
        return None


def _result(ref) -> Outcome:
    """An actor's outcome, with the error of an actor that cannot load the model as one line."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayActorError as error:
        # An actor that cannot load the model stops the run (rows so far kept), but Ray
        # passes its error on only inside a traceback's text: its last line is ours.
        text = str(error)
        if WORKER_LOAD_FAILED not in text:
            raise
        raise ModelError(text[text.rindex(WORKER_LOAD_FAILED) :].splitlines()[0]) from None


@contextlib.contextmanager
def connected(address: str | None = None, timeout_s: float = RAY_TIMEOUT_S) -> Iterator[None]:
    """Connects to the Ray cluster at ``address`` (``host:port``, or ``ray://host:port`` for
    Ray Client); with None, the one named by RAY_ADDRESS or started on this machine with
    ``ray start``, else a new local one (stopped on exit). An address is first reached over
    TCP within ``timeout_s`` seconds (``reach``): RayConnectionError, one line, when it is not
    an address or nothing answers there. Ray's logs stay off the terminal, so the progress
    bar and summary stay readable."""
    if not _connected_already():
        reach(address if address is not None else environment.ray_address(), timeout_s)
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    # The driver's C++ core worker logs warnings on stderr, and says at start-up that it
    # read this.
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
            # A Ray started for this run alone gets no dashboard: nobody looks at it, and it
            # takes a second of the start (a cluster that runs already keeps its own).
            no_dashboard = {} if (address or "").startswith("ray://") else {"include_dashboard": False}
            try:
                with native_stderr_silenced():
                    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False, **no_dashboard)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as error:  # it answered, but not as Ray
                raise RayConnectionError(f"cannot connect to the Ray cluster at {address or environment.ray_address()}: {one_line(error)}") from None
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
    results: ResultsOutput,
    paths: list[str],
    read: ReadOptions = ReadOptions(),
    run: RunOptions = RunOptions(),
    *,
    load: ModelOptions,
    actors: int | None = None,
    cpus_per_actor: float = 1,
    fail_hook: Callable[[str], None] | None = None,
    **options,
) -> Summary:
    """``batch.run_batch`` on the connected Ray cluster (see ``connected``), on ``Actors``
    started here (and killed at the end) that load the model ``load``: the same rows,
    written by this process only, in the same final order. ``options`` are run_batch's."""
    todo = len(results.todo(paths)) if results.top_k else len(paths)
    with Actors(directory, load, read, run, videos=todo, actors=actors, cpus_per_actor=cpus_per_actor, fail_hook=fail_hook) as started:
        return run_batch(classifier, directory, results, paths, read, run, actors=started, **options)
