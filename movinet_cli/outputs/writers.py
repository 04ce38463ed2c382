"""The outputs of a run, each a ``sinks.Sink``: failures and warnings as they come
(``Notices``), the rows on stdout (``StdoutSink``), the annotated video (``VideoSink``), a
timeline file or stream (``TimelineSink``), one timeline per video (``TimelinesSink``) and the
HTML report (``ReportSink``; ``ResultsReportSink`` for a batch's results file). Each imports what it writes with only when it runs, so that
``--help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from movinet_cli.errors import MovinetError, OutputError, UsageError, one_line
from movinet_cli.outcomes.timeline import timeline_names
from movinet_cli.outputs.sinks import Emit, OutputPath, ResultsOutput, RunContext, Sink

if TYPE_CHECKING:  # numpy-heavy: not imported for --help
    from movinet_cli.outcomes.result import Outcome
    from movinet_cli.outputs.rows import Row


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
    ``formats.get_writer``)."""

    path = "-"

    def __init__(self, format: str, emit: Emit):
        self.format, self.emit, self.option = format, emit, f"the {format} output"

    def start(self, context: RunContext) -> None:
        from movinet_cli.outputs.formats import get_writer

        super().start(context)
        self.writer = get_writer(self.format, self.emit, context.top_k, context.info, context.document)

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


class ResultsReportSink(ReportSink):
    """``batch --report``: the report of every row of a results file, from the rows as they
    come (the file is not read back: it may be stdout, or another program's by now): those an
    earlier run wrote that ``results`` keeps (``--resume``) and this run's as the file reads
    them back, in the file's final order. ``records`` makes the report's records of the rows
    (``report_records.records_of``, with the videos' directory and timelines)."""

    def __init__(self, path: str, write: Callable[[str, list], None] | None, results: ResultsOutput, records: Callable[[list[Row]], list]):
        super().__init__(path, write)
        self.results, self.to_records = results, records
        self.rows: list[Row] = []

    def add(self, outcome: Outcome) -> Outcome:
        from movinet_cli.outputs.rows import Row

        self.rows.append(self.results.as_read(Row.of(outcome, self.context.info)))
        return outcome

    def close(self, finished: bool) -> None:
        if finished:
            rank = {path: index for index, path in enumerate(self.results.order)}
            self.records = self.to_records(sorted([*self.results.kept, *self.rows], key=lambda row: rank.get(row.path, len(rank))))
        super().close(finished)
