"""Questions to a results database (``outputs.database``): which videos show these labels,
and where; which videos failed, and why.

``search`` finds the videos whose top-k holds one of the labels at ``min_probability`` or
more; in a database with timelines, the segments whose label is one of them, with where
they start and end. Best first, then in the run's order of videos. ``failed_videos`` lists
the videos that failed with their errors. ``hits_text`` and ``failures_text`` render either
as text for people, JSON or CSV. Both read the file read-only: a run may be writing it.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import asdict, dataclass

from movinet_cli.errors import UsageError
from movinet_cli.options import MIN_SEARCH_PROBABILITY
from movinet_cli.outputs.database import known_labels, loaded, opened, stored
from movinet_cli.text import csv_text, percent, printable

HIT_COLUMNS = ["path", "start_s", "end_s", "label", "probability"]
FAILURE_COLUMNS = ["path", "error"]
CLOSEST = 3  # labels named when one asked for is unknown


@dataclass
class Hit:
    """A video, or a moment of one, that shows ``label``."""

    path: str
    start_s: float | None  # seconds into the video; None: the whole video (its top-k)
    end_s: float | None
    label: str
    probability: float  # the video's, or the segment's frame-weighted mean


@dataclass
class Failure:
    path: str
    error: str  # one line


@dataclass
class Found:
    """What a question found: ``items`` (Hits or Failures), best first; ``more``: the limit
    left some out; ``segments``: the hits are timeline segments, not whole videos."""

    items: list
    more: bool = False
    segments: bool = False


class UnknownLabelError(UsageError):
    """A label asked for that no model of the database knows (exit code 2)."""


def choose_labels(known: list[str], asked: list[str], like: bool, path: str) -> list[str]:
    """The labels of ``known`` that ``asked`` names: each exactly, or with ``like`` each label
    holding it (any case). UnknownLabelError naming the closest known labels for one that
    names none."""
    if not known:
        raise UnknownLabelError(f"{path} holds no labels yet: no run has classified a video into it")
    chosen: list[str] = []
    for word in asked:
        found = [label for label in known if word.casefold() in label.casefold()] if like else [word] if word in known else []
        if not found:
            closest = difflib.get_close_matches(word, known, n=CLOSEST, cutoff=0)  # the best, however far
            what = "no label holds" if like else "no label"
            raise UnknownLabelError(f"{what} {word!r} in {path}; the closest: {', '.join(map(repr, closest))}" + ("" if like else " (or try --like)"))
        chosen += [label for label in found if label not in chosen]
    return chosen


SEGMENTS = (  # a hit's columns, then what orders equal hits: the run's order of videos, then time
    "SELECT v.path, s.start_s, s.end_s, s.label, s.probability, v.position, v.id FROM segments s JOIN videos v ON v.id = s.video_id "
    "WHERE s.label IN ({marks}) AND s.probability >= ? ORDER BY s.probability DESC, v.position, v.id, s.start_s LIMIT ?"
)
VIDEOS = (
    "SELECT v.path, NULL, NULL, p.label, p.probability, v.position, v.id FROM predictions p JOIN videos v ON v.id = p.video_id "
    "WHERE p.label IN ({marks}) AND p.probability >= ? ORDER BY p.probability DESC, v.position, v.id LIMIT ?"
)


def search(
    path: str | os.PathLike, labels: list[str], *, like: bool = False, min_probability: float = MIN_SEARCH_PROBABILITY, limit: int | None = None, videos_only: bool = False
) -> Found:
    """The videos of the database ``path`` whose top-k holds one of ``labels`` (see
    ``choose_labels``) at ``min_probability`` or more; where the database has timeline
    segments (and not ``videos_only``), the segments whose label is one of them. Best first,
    at most ``limit`` (None: all). Raises ReadError, ForeignDatabaseError, UnknownLabelError."""
    name = os.fsdecode(path)
    with opened(path) as connection:
        chosen = choose_labels(known_labels(connection), labels, like, name)
        segments = not videos_only and connection.execute("SELECT EXISTS (SELECT 1 FROM segments)").fetchone()[0] == 1
        query = SEGMENTS if segments else VIDEOS
        # With a limit, each label's best come in order from its index, and stop there: the
        # best of all are among them. One query for many labels sorts all their rows instead.
        groups = [[label] for label in chosen] if limit is not None else [chosen]
        rows = []
        for group in groups:
            rows += connection.execute(query.format(marks=", ".join("?" * len(group))), [*map(stored, group), min_probability, _limit(limit)]).fetchall()
    rows.sort(key=lambda row: (-row[4], row[5], row[6], row[1] or 0.0))
    hits = [Hit(str(loaded(video)), start_s, end_s, str(loaded(label)), probability) for video, start_s, end_s, label, probability, _, _ in rows[:limit]]
    return Found(hits, limit is not None and len(rows) > limit, segments)


def failed_videos(path: str | os.PathLike, limit: int | None = None) -> Found:
    """The videos of the database ``path`` that failed, with their errors, in the run's
    order; at most ``limit`` (None: all). Raises ReadError or ForeignDatabaseError."""
    with opened(path) as connection:
        rows = connection.execute("SELECT path, error FROM videos WHERE status = 'error' ORDER BY position, id LIMIT ?", [_limit(limit)]).fetchall()
    failures = [Failure(str(loaded(video)), str(loaded(error))) for video, error in rows]
    return Found(failures[:limit], limit is not None and len(failures) > limit)


def _limit(limit: int | None) -> int:
    """SQL's LIMIT for at most ``limit`` items and one more (to tell that there are more); -1: all."""
    return -1 if limit is None else limit + 1


def hits_text(hits: list[Hit], format: str) -> str:
    """``hits`` as "text" (aligned lines for people: probability, time range or "whole
    video", label, path), "json" (a list of objects of ``HIT_COLUMNS``) or "csv"."""
    if format != "text":
        return _rendered([asdict(hit) for hit in hits], HIT_COLUMNS, format)
    from movinet_cli.outcomes.timeline import clock

    spans = ["whole video" if hit.start_s is None else f"{clock(hit.start_s)} - {clock(hit.end_s or 0.0)}" for hit in hits]
    labels = [printable(hit.label) for hit in hits]
    span_width, label_width = max(map(len, spans), default=0), max(map(len, labels), default=0)
    return "".join(
        f"{percent(hit.probability):>5}  {span:<{span_width}}  {label:<{label_width}}  {printable(hit.path)}\n" for hit, span, label in zip(hits, spans, labels)
    )


def failures_text(failures: list[Failure], format: str) -> str:
    """``failures`` as "text" (``path: error`` lines), "json" or "csv" (``FAILURE_COLUMNS``)."""
    if format != "text":
        return _rendered([asdict(failure) for failure in failures], FAILURE_COLUMNS, format)
    return "".join(f"{printable(failure.path)}: {printable(failure.error)}\n" for failure in failures)


def _rendered(rows: list[dict], columns: list[str], format: str) -> str:
    if format == "json":
        return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"
    return csv_text([{column: "" if value is None else value for column, value in row.items()} for row in rows], columns, with_header=True)
