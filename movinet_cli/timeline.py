"""Timelines: what happens when, from a result's per-step probabilities.

Steps (windows in clip mode, chunks in stream mode) are optionally pooled into bins of a
fixed number of seconds (their probabilities averaged, weighted by frames), and runs of
consecutive bins with the same top label are merged into one segment.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from .classify import Result, Step, frame_weighted_mean
from .files import atomic_writer
from .models import CLIP_SECONDS
from .options import MIN_TIMELINE_STEP_S
from .output import csv_text

TIMELINE_FORMATS = {".csv": "csv", ".json": "json"}
COLUMNS = ["path", "start_s", "end_s", "label", "probability"]


@dataclass
class Segment:
    start_s: float  # seconds
    end_s: float  # seconds
    label: str
    probability: float  # frame-weighted mean probability of ``label`` over the segment


def bin_seconds(mode: str, step_s: float | None) -> float | None:
    """The bin width of a timeline asked for with ``step_s`` seconds (--timeline-step): in
    stream mode, ``step_s``; in clip mode, None (one segment per window, which is ``step_s``
    long) unless the step is longer than a window may be (one training clip): then windows
    are pooled into ``step_s`` bins. ValueError for a step under MIN_TIMELINE_STEP_S."""
    _check_bin(step_s)
    return step_s if mode == "stream" or (step_s or 0) > CLIP_SECONDS else None


def pool(steps: list[Step], bin_s: float | None = None) -> list[Step]:
    """Steps pooled into bins [k * bin_s, (k + 1) * bin_s) by start time; as they are if None.
    ValueError for a bin under MIN_TIMELINE_STEP_S."""
    if bin_s is None:
        return steps
    _check_bin(bin_s)
    bins: dict[int, list[Step]] = {}
    for step in steps:
        bins.setdefault(int(step.start_s // bin_s + 1e-9), []).append(step)
    pooled = []
    for members in bins.values():
        frames = sum(step.frames for step in members)
        pooled.append(Step(members[0].start_s, members[-1].end_s, frames, frame_weighted_mean(members)))
    return pooled


def _check_bin(step_s: float | None) -> None:
    if step_s is not None and not (math.isfinite(step_s) and step_s >= MIN_TIMELINE_STEP_S):
        raise ValueError(f"timeline step must be a finite number of seconds from {MIN_TIMELINE_STEP_S:g}, got {step_s!r}")


def runs(steps: list[Step], bin_s: float | None = None) -> list[list[Step]]:
    """The steps, pooled as by ``pool``, grouped into runs of consecutive steps with the same
    top class: one run per timeline segment."""
    grouped: list[tuple[int, list[Step]]] = []
    for step in pool(steps, bin_s):
        top = int(np.argmax(step.probabilities))
        if grouped and grouped[-1][0] == top:
            grouped[-1][1].append(step)
        else:
            grouped.append((top, [step]))
    return [members for _, members in grouped]


def segments(result: Result, labels: list[str], bin_s: float | None = None) -> list[Segment]:
    """The result's timeline: one segment per run of equal top labels (see ``runs``)."""
    timeline = []
    for members in runs(result.steps, bin_s):
        top = int(np.argmax(members[0].probabilities))
        frames = sum(step.frames for step in members)
        probability = sum(float(step.probabilities[top]) * step.frames for step in members) / frames
        timeline.append(Segment(round(members[0].start_s, 3), round(members[-1].end_s, 3), labels[top], round(probability, 6)))
    return timeline


def timeline_format(path: str | os.PathLike) -> str:
    """"csv" or "json" from the file extension; ValueError otherwise."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in TIMELINE_FORMATS:
        raise ValueError(f"timeline file must end in {' or '.join(TIMELINE_FORMATS)}, got {os.fspath(path)!r}")
    return TIMELINE_FORMATS[extension]


def write_timeline(path: str | os.PathLike, timelines: dict[str, list[Segment]]) -> None:
    """Writes ``{video path: segments}`` as CSV or JSON rows (``COLUMNS``), atomically (CSV
    cells made safe for spreadsheets, see ``output``)."""
    rows = [{"path": video, **asdict(segment)} for video, timeline in timelines.items() for segment in timeline]
    with atomic_writer(path, newline="") as handle:
        if timeline_format(path) == "json":
            json.dump(rows, handle, indent=1, ensure_ascii=False)
            handle.write("\n")
        else:
            handle.write(csv_text(rows, COLUMNS, with_header=True))
