"""The Ray actor of ``movinet batch --ray``: ``VideoClassifier``, one per worker: a
classifier loaded once, then one ``Outcome`` per video, the next video decoding meanwhile.

Every video goes through the local batch's own steps (``pipeline.open_video``,
``outcome_of``: errors as failed outcomes). A video that a worker cannot read fails naming
that node; Ray retries a video whose actor dies, and the driver fails it after
``MAX_ATTEMPTS`` tries (``died``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
from pathlib import Path

from movinet_cli import environment
from movinet_cli.errors import ModelError, MovinetError
from movinet_cli.inputs import children
from movinet_cli.inputs.sources import url_kind
from movinet_cli.outcomes.loading import load_classifier
from movinet_cli.outcomes.opened_video import OpenedVideo
from movinet_cli.outcomes.pipeline import close_video, open_video, outcome_of
from movinet_cli.outcomes.result import Outcome

MAX_ATTEMPTS = 3  # tries of a video whose worker process dies: a video that kills it every time is an error row
WORKER_LOAD_FAILED = "cannot load the model on node"  # how the error of an actor that cannot load the model starts


def node_name() -> str:
    """This machine as a person would name it: its host name and IP address."""
    import ray

    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"


def died(path: str) -> Outcome:
    """The outcome of a video whose worker process died ``MAX_ATTEMPTS`` times on it."""
    return Outcome(path, None, f"the worker process died {MAX_ATTEMPTS} times classifying this video (killed, out of memory, or its node lost)")


class VideoClassifier:
    """One Ray actor's work: a classifier loaded once, then one outcome per video.

    Args:
        directory: the videos' directory (absolute, the same on every node).
        load: the model to load (paths absolute).
        read, run: what to read and how to run.
        cpus: the CPUs Ray gives this actor; its engine is told to use as many threads.
        fail_hook: for tests, called with each path before it is opened, unless its tries are
            spent (to kill the actor).
    """

    def __init__(self, directory, load, read, run, cpus, fail_hook=None):
        # The engine reads this when it compiles: as many threads as this actor's CPUs, so
        # that actors sharing a node do not fight over its cores.
        os.environ[environment.CPU_THREADS] = str(max(1, int(cpus)))
        children.start_server()  # while the model loads, instead of when the first video opens
        self.node = node_name()
        try:
            self.classifier = load_classifier(**dataclasses.asdict(load))
        except MovinetError as error:  # it loaded on the driver: this node lacks something
            raise ModelError(f"{WORKER_LOAD_FAILED} {self.node}: {error}") from None
        self.directory, self.read, self.run = directory, read, run
        self.fail_hook = fail_hook
        self.frames_ahead = self.classifier.frames_ahead(read, run)
        self.ahead: tuple[str, OpenedVideo | Exception] | None = None  # the next video, decoding
        with contextlib.suppress(Exception):  # best effort: a failure is the first video's to report
            self.classifier.warm_up(self.read, self.run)

    def outcome(self, path: str, then: str | None, top_k: int, model_name: str) -> Outcome:
        """The ``Outcome`` of ``path`` (relative to ``directory``) with ``top_k`` predictions,
        its model named ``model_name`` (as the user named it, on the driver); ``then``, the
        video this actor gets next (None: none yet), starts decoding meanwhile."""
        if self.fail_hook:
            self.fail_hook(path)
        source = self._take(path)
        if then is not None:
            self.ahead = (then, self._open(then))
        self.classifier.source = dataclasses.replace(self.classifier.source, name=model_name)
        outcome = outcome_of(self.classifier, path, source, dataclasses.replace(self.run, top_k=top_k))
        if outcome.error and url_kind(path) is None and not os.access(Path(self.directory, path), os.R_OK):
            outcome.error += f" on node {self.node} (the videos must be on a filesystem that every node shares, under the same path)"
        # The driver gets the error's text: an exception object may not survive the trip.
        return dataclasses.replace(outcome, exception=None)

    def _open(self, path: str) -> OpenedVideo | Exception:
        return open_video(self.classifier, path, self.read, directory=self.directory, ahead=self.frames_ahead)

    def _take(self, path: str) -> OpenedVideo | Exception:
        """``path`` opened: the video decoding ahead if it is that one (a video given
        elsewhere meanwhile is closed), else opened now."""
        ahead, self.ahead = self.ahead, None
        if ahead is not None and ahead[0] == path:
            return ahead[1]
        if ahead is not None:
            close_video(ahead[1])
        return self._open(path)
