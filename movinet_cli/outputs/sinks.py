"""Where a run's outcomes go: each output of a run is one ``Sink``.

A sink is built at the edge from its option (``--timeline t.csv``, ``--report r.html``...),
``check``ed before the model loads (a usage error, before any work, if it cannot be
written), ``start``ed once the model is known, given each video's ``Outcome`` by ``add`` as it
comes, and ``close``d at the end. ``drain`` runs one loop of outcomes through a list of sinks,
for the command line and library users alike::

    sinks = [TimelineSink("t.csv"), ReportSink("r.html")]
    check_outputs(sinks, inputs=videos)
    tally = drain(classify_many(classifier, videos, read, run), sinks, RunContext.of(classifier, run))

A sink may turn an outcome into a failure (an annotated video that cannot be written fails
its video): the sinks after it see the failure, so the rows, the timeline and the report all
tell the same story.

No output may be an input or another output of the same run (``check_outputs``): two writers
of one file, or a report written over the video it describes, destroy one of them.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import stat
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from movinet_cli.errors import MovinetError, OutputError, UsageError, one_line
from movinet_cli.files import check_output_path, is_special
from movinet_cli.outcomes.timeline import timeline_names

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from movinet_cli.options import RunOptions
    from movinet_cli.outcomes.pipeline import Classifier
    from movinet_cli.outcomes.result import Outcome

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
        reads_back: whether the file is read again after it is written (it must be a regular file).
    """

    option: str = ""
    path: str | None = None
    reads_back: bool = False

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


# --- the same-file rule ----------------------------------------------------------------------


def file_identity(path: str | os.PathLike) -> tuple | None:
    """What a path names, comparable across spellings: (device, inode) of an existing file
    (through links, ``/dev/stdout`` to the descriptor's file), ("path", real path) of one
    that does not exist yet; "-" is stdout's own descriptor. None for a character device
    (a terminal, /dev/null), which two writers may share: nothing written there is read back."""
    try:
        status = os.fstat(1) if os.fspath(path) == "-" else os.stat(path)
    except (OSError, ValueError):
        return ("path", os.path.realpath(path))
    return _identity(status)


def _identity(status: os.stat_result) -> tuple | None:
    """(device, inode), or None for a character device (see ``file_identity``)."""
    return None if stat.S_ISCHR(status.st_mode) else (status.st_dev, status.st_ino)


def check_outputs(sinks: Sequence[Sink], inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Checks each sink (``Sink.check``), then that no two outputs, and no output and input,
    are one file (compared by device and inode, so links, ``/dev/stdout`` and ``-`` are seen
    through). Outputs read back must be regular files. Raises UsageError before any work."""
    for sink in sinks:
        sink.check()
        if sink.reads_back and sink.path is not None and (sink.path == "-" or is_special(sink.path)):
            raise UsageError(f"{sink.name} is read back after it is written: give a regular file")
    seen: dict[tuple, str] = {}
    for sink in sinks:
        if sink.path is None:
            continue
        identity = file_identity(sink.path)
        if identity is None:
            continue
        if identity in seen:
            raise UsageError(f"{sink.name} is the same file as {seen[identity]}: give each output a file of its own")
        seen[identity] = sink.name
    for video in inputs:
        identity = file_identity(video)
        if identity is not None and identity[0] != "path" and identity in seen:
            raise UsageError(f"{seen[identity]} is the input {os.fsdecode(video)}: an output may not replace an input")
    # Messages go to stderr as the run goes: an output opened by its own name onto the same
    # file (`--report /dev/stderr 2> f`, `-o /dev/stdout > f 2>&1`) would write over them, or
    # they over it. Stdout itself ("-") shares stderr's file the way a shell shares it: in turn.
    messages = _stderr_identity()
    for sink in sinks:
        if messages is not None and sink.path not in (None, "-") and file_identity(sink.path) == messages:
            raise UsageError(f"{sink.name} is where the messages on stderr go: give the output a file of its own (or send stderr elsewhere)")


def _stderr_identity() -> tuple | None:
    """``file_identity`` of this process's stderr (None for a terminal or /dev/null, or none)."""
    try:
        return _identity(os.fstat(2))
    except OSError:
        return None


class OutputPath(Sink):
    """An output that is written by other means than ``add`` (the batch rows and report, a
    live recording): it takes part in ``check_outputs`` only. ``check``, if given, replaces
    the usual writability check (a MovinetError it raises is a usage error)."""

    def __init__(self, option: str, path: str | None, *, reads_back: bool = False, check: Callable[[], None] | None = None):
        self.option, self.path, self.reads_back, self._check = option, path, reads_back, check

    def check(self) -> None:
        if self._check is None:
            super().check()
            return
        try:
            self._check()
        except UsageError:
            raise
        except MovinetError as error:  # found before any work: the command was asked wrongly
            raise UsageError(str(error)) from None


# --- the sinks -------------------------------------------------------------------------------


class Notices(Sink):
    """Each failed video as one line ("Error: NAME: why") and each warning ("warning: NAME:
    ..."), as they come, through ``emit`` (stderr above the progress bars, on the command
    line). With ``raise_unexpected``, a failure that is a bug of ours (not a bad file) is
    raised with its traceback instead (MOVINET_DEBUG)."""

    def __init__(self, emit: Emit, raise_unexpected: bool = False):
        self.emit, self.raise_unexpected = emit, raise_unexpected

    def add(self, outcome: Outcome) -> Outcome:
        from movinet_cli.text import printable

        if outcome.result is not None:
            for warning in outcome.result.warnings:
                self.emit(printable(f"warning: {outcome.video}: {warning}"))
            return outcome
        hint = ""
        if outcome.exception is not None:
            if self.raise_unexpected:
                raise outcome.exception
            hint = " (set MOVINET_DEBUG=1 to see the traceback)"
        self.emit(f"Error: {printable(outcome.video)}: {printable(outcome.error)}{hint}")
        return outcome


class StdoutSink(Sink):
    """The rows on stdout (or any ``emit``): a table, JSON document, CSV or JSON lines (see
    ``formats.Writer``)."""

    path = "-"

    def __init__(self, format: str, emit: Emit):
        self.format, self.emit, self.option = format, emit, f"the {format} output"

    def start(self, context: RunContext) -> None:
        from movinet_cli.outputs.formats import Writer

        super().start(context)
        self.writer = Writer(self.format, self.emit, context.top_k, context.info, context.document)

    def add(self, outcome: Outcome) -> Outcome:
        self.writer.write(outcome)
        return outcome

    def close(self, finished: bool) -> None:
        if finished:
            self.writer.close()


class VideoSink(Sink):
    """The video with its current top labels drawn on it (``overlay.annotate_video``). A
    video that cannot be written fails its video; the other outputs still come."""

    option = "--output-video"

    def __init__(self, path: str):
        self.path: str = path

    def check(self) -> None:
        from movinet_cli.outputs.encoding import check_video_output

        super().check()
        try:
            check_video_output(self.path)
        except OutputError as error:
            raise UsageError(str(error)) from None

    def add(self, outcome: Outcome) -> Outcome:
        if outcome.result is None:
            return outcome
        from movinet_cli.outputs.overlay import annotate_video

        try:
            annotate_video(outcome.video, self.path, outcome.result, self.context.labels)
        except MovinetError as error:
            return dataclasses.replace(outcome, result=None, error=one_line(error))
        return outcome


class TimelineSink(Sink):
    """What happens when in each video (``timeline.segments``): written at the end to a file,
    in the format of its extension (``timeline.write_timeline``), or, with ``emit``, on
    stdout as each video comes: a table ("table"), CSV ("csv") or JSON lines ("jsonl").
    ``videos`` is how many the run has (subtitles hold one). ``beside`` says stdout also
    carries the results (the text table), so this sink claims no file of its own."""

    option = "--timeline"

    def __init__(self, path: str, videos: int = 1, emit: Emit | None = None, format: str = "table", beside: bool = False):
        self.file = None if emit else path  # None: on stdout
        self.path = None if beside else path
        self.videos, self.emit, self.format = videos, emit, format
        self.timelines: dict = {}  # for a file: each video's, written at the end
        self.said = 0  # on stdout: videos said so far

    @property
    def name(self) -> str:
        return f"{self.option} - (stdout)" if self.file is None else super().name

    def check(self) -> None:
        from movinet_cli.outcomes.timeline import timeline_format

        if self.file is None:
            return
        try:
            timeline_format(self.file, self.videos)
        except ValueError as error:
            raise UsageError(f"{self.option}: {error}") from None
        super().check()

    def add(self, outcome: Outcome) -> Outcome:
        from movinet_cli.outcomes.timeline import segments, timeline_rows, timeline_text

        if outcome.result is None:
            return outcome
        timeline = segments(outcome.result, self.context.labels, self.context.bin_s, self.context.top_k)
        if self.emit is None:
            self.timelines[outcome.video] = timeline
        elif self.format == "csv":  # one header for every video
            from movinet_cli.outcomes.timeline import COLUMNS
            from movinet_cli.text import csv_text

            self.emit(csv_text(timeline_rows({outcome.video: timeline}), COLUMNS, with_header=not self.said))
            self.said += 1
        else:
            self.emit(("\n" if self.format == "table" else "") + timeline_text({outcome.video: timeline}, self.format))
            self.said += 1
        return outcome

    def close(self, finished: bool) -> None:
        from movinet_cli.outcomes.timeline import write_timeline

        if finished and self.file is not None:
            write_timeline(self.file, self.timelines)


class TimelinesSink(Sink):
    """One timeline file per video in ``directory``, in ``format`` (an extension of
    ``timeline.TIMELINE_FORMATS`` without its dot), written as each video comes:
    ``DIRECTORY/<video's relative path without its extension>.<format>`` (with the video's
    extension kept where two videos would share a name)."""

    option = "--timelines"
    path: str  # the directory

    def __init__(self, directory: str, format: str, videos: Sequence[str]):
        self.path, self.format = directory, format
        self.names = timeline_names(videos, format)

    def check(self) -> None:
        if not os.path.isdir(self.path):
            raise UsageError(f"{self.option} {self.path}: not a directory (make it first)")
        if not os.access(self.path, os.W_OK):
            raise UsageError(f"{self.option} {self.path}: permission denied")

    def outputs(self, replace: bool = False) -> list[OutputPath]:
        """Each file this sink would write, for ``check_outputs``: one that exists already is
        refused unless ``replace`` (an earlier run's, with --overwrite or --resume)."""

        def check(path: str) -> None:
            if not replace and os.path.lexists(path):
                raise UsageError(f"{self.option}: {path} already exists: pass --overwrite (or --resume) to replace the timelines there")

        paths = [os.path.join(self.path, name) for name in self.names.values()]
        return [OutputPath(self.option, path, check=functools.partial(check, path)) for path in paths]

    def add(self, outcome: Outcome) -> Outcome:
        from movinet_cli.outcomes.timeline import segments, write_timeline

        if outcome.result is not None:
            target = os.path.join(self.path, self.names[outcome.video])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            write_timeline(target, {outcome.video: segments(outcome.result, self.context.labels, self.context.bin_s, self.context.top_k)})
        return outcome


class ReportSink(Sink):
    """An HTML report of every video (``report.write_report``), written at the end;
    ``write`` is called with the path and the records (the command line adds a progress bar
    and a summary line)."""

    option = "--report"

    def check(self) -> None:
        from movinet_cli.outputs.report_files import check_report_path

        try:
            check_report_path(self.path, self.option)
        except OutputError as error:
            raise UsageError(str(error)) from None

    def __init__(self, path: str, write: Callable[[str, list], None] | None = None):
        self.path: str = path
        self.records: list = []
        self._write = write

    def add(self, outcome: Outcome) -> Outcome:
        from movinet_cli.outputs.report_records import error_record, record_from_result

        if outcome.result is not None:
            self.records.append(record_from_result(outcome.video, outcome.result, self.context.labels, bin_s=self.context.bin_s))
        else:
            self.records.append(error_record(outcome.video, outcome.error))
        return outcome

    def close(self, finished: bool) -> None:
        if not finished:
            return
        if self._write is not None:
            self._write(self.path, self.records)
        else:
            from movinet_cli.outputs.report import write_report

            write_report(self.path, self.records)
