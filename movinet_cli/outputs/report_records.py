"""What a report shows of each video (``VideoRecord``): made from a ``Result``
(``record_from_result``, with its timeline and, in stream mode, the probability of its top
labels over time) or read back from the rows of a results file (``load_results``: the CSV or
JSON lines of ``movinet batch``, or the JSON of ``movinet classify --format json``; with the
timelines ``batch --timelines`` wrote beside them, ``read_timelines``), or of a results
database with the timelines it holds. Each video's answer is
its row's ``action`` (``answer``), or is decided again from a minimum probability
(``decide``): below it, NO_CLEAR_ACTION.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from movinet_cli.files import ReadError
from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outcomes.result import Result
from movinet_cli.outcomes.timeline import TIMELINE_FORMATS, Segment, last_frame_s, segments, timeline_names
from movinet_cli.outputs.database import is_database, opened, rows_of, segments_of
from movinet_cli.outputs.results_file import read_results, read_timeline
from movinet_cli.outputs.rows import MalformedResultsError, Row

CHART_LABELS = 5  # labels drawn in a stream-mode chart


@dataclass
class VideoRecord(Row):
    """One video of a report: its results row, and what the page draws beside it."""

    video_file: str | None = None  # where to decode thumbnails from; None: no thumbnails
    segments: list[Segment] | None = None  # the timeline (with each segment's top-k), where it was computed
    # Stream mode: label -> [(time_s, probability)], the top labels' probabilities over time.
    series: dict[str, list[tuple[float, float]]] | None = None


def record_from_result(
    path: str,
    result: Result,
    labels: list[str],
    *,
    bin_s: float | None = None,
    video_file: str | None = None,
) -> VideoRecord:
    """A record with the result's timeline (steps pooled into ``bin_s``-second bins, as by
    ``timeline.segments``) and, in stream mode, its top labels' probability after each step.
    ``video_file`` (default: ``path``) is where thumbnails come from."""
    timeline = segments(result, labels, bin_s)
    series = None
    if result.mode == "stream":
        named = [segment.label for segment in timeline if segment.label != NO_CLEAR_ACTION] + [p.label for p in result.predictions]
        chosen = list(dict.fromkeys(named))[:CHART_LABELS]  # labels the model has (no clear action is none of them)
        index = {label: labels.index(label) for label in chosen}
        # each output at its last frame, the moment it describes (as the timeline)
        series = {label: [(round(last_frame_s(step), 3), round(float(step.probabilities[i]), 4)) for step in result.steps] for label, i in index.items()}
    return VideoRecord(
        path=path,
        predictions=list(result.predictions),
        duration_s=result.duration_s,
        frames=result.frames,
        model=result.model,
        engine=result.engine,
        precision=result.precision,
        mode=result.mode,
        seconds=result.seconds,
        warnings=list(result.warnings),
        action=result.action,
        video_file=path if video_file is None else video_file,
        segments=timeline,
        series=series,
    )


def error_record(path: str, error: str, *, video_file: str | None = None) -> VideoRecord:
    """A record for a video that could not be classified."""
    return VideoRecord(path=path, status="error", error=error, video_file=video_file)


def answer(record: VideoRecord) -> str:
    """What the report says the video shows: its row's ``action`` (the top label, or
    NO_CLEAR_ACTION), else (a file written before actions were) its top label; "" for none."""
    return record.action or (record.predictions[0].label if record.predictions else "")


def decide(records: Iterable[VideoRecord], min_probability: float) -> None:
    """Re-decides each record's answer from its top probability: NO_CLEAR_ACTION below
    ``min_probability`` (the probability still shown beside it), else its top label; and
    names each timeline segment below it NO_CLEAR_ACTION. A segment that was written as
    NO_CLEAR_ACTION stays so (its steps, which a lower minimum would relabel, are not kept)."""
    for record in records:
        if record.predictions:
            top = record.predictions[0]
            record.action = top.label if top.probability >= min_probability else NO_CLEAR_ACTION
        if record.segments:
            record.segments = [
                s if s.probability >= min_probability or s.label == NO_CLEAR_ACTION else replace(s, label=NO_CLEAR_ACTION)
                for s in record.segments
            ]


def load_results(path: str | os.PathLike, videos: str | os.PathLike | None = None, **options) -> list[VideoRecord]:
    """Records (``records_of``, whose keyword ``options`` these are) from the results file
    ``path`` (``results_file.read_results``: ``movinet batch`` CSV or JSON lines, or the JSON
    document of ``movinet classify --format json``), or the results database (``database``:
    with the timelines it holds, unless ``timelines`` names a directory to read them from).
    Raises ReadError, MalformedResultsError (one line: the file, the row, the column) or
    ForeignDatabaseError."""
    if is_database(path):
        with opened(path) as connection:
            rows = rows_of(connection, os.fsdecode(path))
            if options.get("timelines") is None:
                options["segments"] = segments_of(connection, os.fsdecode(path))
    else:
        rows, _ = read_results(path)
    return records_of(rows, videos, **options)


def records_of(
    rows: list[Row],
    videos: str | os.PathLike | None = None,
    *,
    timelines: str | os.PathLike | None = None,
    timeline_format: str | None = None,
    segments: dict[str, list[Segment]] | None = None,
    min_probability: float | None = None,
    notice: Callable[[str], None] | None = None,
) -> list[VideoRecord]:
    """Records from ``rows``: a results file's (``load_results``), or a batch's as they come.

    Args:
        rows: the rows.
        videos: the directory their paths are relative to, for pictures (and players); None:
            no pictures.
        timelines: a ``batch --timelines`` directory: each classified video's timeline is read
            back from it (``read_timelines``) and drawn as a strip with pictures.
        timeline_format: the format of those files ("csv", "vtt", ...); None: for each
            video, the first of ``timeline.TIMELINE_FORMATS`` that is there.
        segments: the timelines, already read (a database's): ``{video path: segments}``.
        min_probability: re-decide each row's answer and each segment's label (``decide``);
            None: the rows' own ``action``.
        notice: called with one line when timelines are left out (missing or malformed).
    """
    records = [VideoRecord(**vars(row), video_file=None if videos is None else os.path.join(videos, row.path)) for row in rows]
    if segments is not None:
        for record in records:
            record.segments = segments.get(record.path) if record.status == "ok" else None
    if timelines is not None:
        missing = read_timelines(records, timelines, timeline_format)
        if missing and notice:
            wanted = sum(record.status == "ok" for record in records)
            notice(f"{len(missing)} of {wanted} videos have no timeline that can be read in {os.fsdecode(timelines)}, left out (first: {missing[0]})")
    if min_probability is not None:
        decide(records, min_probability)
    return records


def read_timelines(records: list[VideoRecord], directory: str | os.PathLike, format: str | None = None) -> list[str]:
    """Gives each classified record its timeline from ``directory``, where ``batch --timelines``
    wrote it (``timeline.timeline_names``: named after the records' paths), in ``format`` (None:
    the first of ``TIMELINE_FORMATS`` found). A missing or malformed file leaves its record
    without; returns why, one ``"video: reason"`` per record left without."""

    classified = [record for record in records if record.status == "ok"]
    paths = [record.path for record in classified]
    formats = [format] if format else list(dict.fromkeys(TIMELINE_FORMATS.values()))
    names = {candidate: timeline_names(paths, candidate) for candidate in formats}
    missing = []
    for record in classified:
        if os.path.isabs(record.path) or os.pardir in record.path.split(os.sep):
            missing.append(f"{record.path}: a path that is not under the directory")  # read nothing outside it
            continue
        files = [os.path.join(directory, names[candidate][record.path]) for candidate in formats]
        found = next((file for file in files if os.path.lexists(file)), None)
        if found is None:
            others = "" if len(formats) == 1 else f" (nor .{', .'.join(formats[1:])})"
            missing.append(f"{record.path}: no {names[formats[0]][record.path]}{others}")
            continue
        try:
            record.segments = read_timeline(found, record.path)
        except (ReadError, MalformedResultsError) as error:
            missing.append(f"{record.path}: {error}")
    return missing
