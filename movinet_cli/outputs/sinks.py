"""Where a run's outcomes go: each output of a run is one ``Sink``.

A sink is built at the edge from its option (``--timeline t.csv``, ``--report r.html``...),
``check``ed before the model loads (a usage error, before any work, if it cannot be
written), ``start``ed once the model is known, given each video's ``Outcome`` by ``add`` as it
comes, and ``close``d at the end. ``drain`` runs one loop of outcomes through a list of sinks,
for the command line and library users alike::

    sinks = [writers.TimelineSink("t.csv"), writers.ReportSink("r.html")]
    check_outputs(sinks, inputs=videos)
    tally = drain(classify_many(classifier, videos, read, run), sinks, RunContext.of(classifier, run))

A sink may turn an outcome into a failure (an annotated video that cannot be written fails
its video): the sinks after it see the failure, so the rows, the timeline and the report all
tell the same story.

No output may be an input or another output of the same run (``same_file.check_outputs``).
The sinks themselves (stdout, timelines, annotated video, report, notices) are in ``writers``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from movinet_cli.errors import MovinetError, OutputError, UsageError
from movinet_cli.files import check_output_path

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from movinet_cli.options import RunOptions
    from movinet_cli.outcomes.pipeline import Classifier
    from movinet_cli.outcomes.result import Outcome
    from movinet_cli.outputs.rows import Row

Emit = Callable[[str], None]  # writes text as it is (no line break added)


@dataclass
class RunContext:
    """What every sink learns once the model has loaded.

    Attributes:
        labels: one name per logit.
        info: model, engine, precision and mode: rows of failed videos carry it.
        top_k: predictions per video.
        bin_s: timeline bins in seconds (None: one segment per step; see ``timeline.bin_seconds``).
        document: the head of a JSON document (model, engine and precision with their reasons, mode).
    """

    labels: list[str]
    info: dict
    top_k: int
    bin_s: float | None = None
    document: dict = field(default_factory=dict)

    @classmethod
    def of(cls, classifier: Classifier, run: RunOptions, bin_s: float | None = None) -> RunContext:
        info = classifier.info
        document = {  # in this order
            "model": info["model"],
            "engine": info["engine"],
            "engine_reason": classifier.engine_reason,
            "precision": info["precision"],
            "precision_reason": classifier.model.precision_reason,
            "mode": info["mode"],
        }
        return cls(classifier.labels, info, run.top_k, bin_s, document)


class Sink:
    """One output of a run. Subclasses set ``option`` and ``path`` and override what they need.

    Attributes:
        option: the option that asked for this output, for messages ("--timeline").
        path: the file written; "-" for stdout; None for no file.
    """

    option: str = ""
    path: str | None = None

    @property
    def name(self) -> str:
        """The output as messages name it: "--timeline t.csv", "the json output on stdout"."""
        if self.path != "-":
            return f"{self.option} {self.path}"
        return f"{self.option} - (stdout)" if self.option.startswith("-") else f"{self.option} on stdout"

    def check(self) -> None:
        """Raises UsageError (naming ``option``) if this output cannot be written. Cheap:
        called before the model loads."""
        if self.path not in (None, "-"):
            try:
                check_output_path(self.path, self.option)
            except OutputError as error:
                raise UsageError(str(error)) from None

    def start(self, context: RunContext) -> None:
        self.context = context

    def add(self, outcome: Outcome) -> Outcome:
        """Takes one video's outcome; returns it, or the failure it became here."""
        return outcome

    def close(self, finished: bool) -> None:
        """Ends the output: ``finished`` False after Ctrl-C or an error, when only what is
        already written stays (a file written at the end is then not written)."""


class ResultsOutput(Sink):
    """A run's results: a row per video in a file that a run may resume (a CSV or JSON-lines
    file, ``results_sink.ResultsSink``; a database, ``database_sink.DatabaseSink``).

    Built at the edge and ``check``ed before the model loads; ``open``ed once it has loaded:
    the file is claimed (``claim.Claim``: one writer) until ``close``, and with --resume the
    ``ok`` rows of an earlier run are ``kept`` when they were made as this run makes them
    (``claim.check_recipes``), so that the run classifies only the others (``todo``).
    """

    option = "--output"
    top_k = 0  # predictions per row, once open
    sortable = True  # whether rows may come in any order (the file is put in ``order`` at the end)

    def __init__(self) -> None:
        self.order: list[str] = []  # the videos' paths: the order the rows end in
        self.kept: list[Row] = []  # the ok rows of an earlier run that this one keeps (resume), as read back

    @property
    def opened(self) -> bool:
        """Whether ``open`` has taken the file (rows may be added)."""
        return self.top_k > 0  # ``open`` sets it; a row holds at least one prediction

    def open(self, top_k: int, recipe: Mapping[str, object] | None = None, order: Iterable[str] = ()) -> ResultsOutput:
        """Takes the file for rows of ``top_k`` predictions: with --resume, keeps the rows of
        an earlier run, refused (RecipeError) unless they were made with ``recipe`` (and
        ``top_k``; see ``Classifier.recipe``); ``order``: the videos' paths, the order the
        rows end in. Returns itself. Usage errors (the file left as it was) for a file that
        cannot be written or resumed as asked."""
        raise NotImplementedError

    def todo(self, paths: Iterable[str]) -> list[str]:
        """The ``paths`` that this run still has to classify (no ``ok`` row yet)."""
        done = {row.path for row in self.kept}
        return [path for path in paths if path not in done]

    def as_read(self, row: Row) -> Row:
        """``row`` as reading the file back gives it (numbers rounded as written)."""
        return row


@dataclass
class Tally:
    """How many videos ``drain`` saw classified and failed, and the failed ones' names."""

    ok: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.ok} ok, {self.failed} failed"


def passed(outcomes: Iterable[Outcome], sinks: Sequence[Sink], context: RunContext) -> Generator[Outcome, None, None]:
    """Each outcome after it went through ``sinks`` in order (each may turn it into a
    failure). The sinks start before the first and are all closed at the end: as finished
    once ``outcomes`` are exhausted, as not finished after an error, Ctrl-C, or the caller
    closing this generator early."""
    for sink in sinks:
        sink.start(context)
    finished = False
    try:
        for outcome in outcomes:
            for sink in sinks:
                outcome = sink.add(outcome)
            yield outcome
        finished = True
    finally:
        close_all(sinks, finished)


def drain(outcomes: Iterable[Outcome], sinks: Sequence[Sink], context: RunContext) -> Tally:
    """Passes every outcome through ``sinks`` (see ``passed``); returns the tally."""
    tally = Tally()
    for outcome in passed(outcomes, sinks, context):
        if outcome.ok:
            tally.ok += 1
        else:
            tally.failed += 1
            tally.failures.append(outcome.video)
    return tally


def close_all(sinks: Sequence[Sink], finished: bool) -> None:
    """Closes every sink even if one fails, then raises the first failure."""
    failure = None
    for sink in sinks:
        try:
            sink.close(finished)
        except BaseException as error:  # noqa: BLE001 - re-raised below, after the others close
            failure = failure or error
            finished = False
    if failure is not None:
        raise failure


def asked_wrongly(check: Callable[[], None]) -> None:
    """Runs ``check``: a MovinetError it raises, found before any work, is a UsageError (the
    command was asked wrongly)."""
    try:
        check()
    except UsageError:
        raise
    except MovinetError as error:
        raise UsageError(str(error)) from None


class OutputPath(Sink):
    """An output that is written by other means than ``add`` (the batch rows and report, a
    live recording): it takes part in ``check_outputs`` only. ``check``, if given, replaces
    the usual writability check (a MovinetError it raises is a usage error)."""

    def __init__(self, option: str, path: str | None, *, check: Callable[[], None] | None = None):
        self.option, self.path, self._check = option, path, check

    def check(self) -> None:
        if self._check is None:
            super().check()
            return
        asked_wrongly(self._check)
