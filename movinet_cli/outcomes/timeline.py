"""Timelines: what happens when, from a result's per-step probabilities.

A step's output is shown from the moment it describes (``shown_steps``): a clip window's
output describes the whole window, so it holds from the window's first frame; a stream
model's output after a chunk describes the frames up to the chunk's last one, so it holds
from that last frame until the next chunk's last frame (the first chunk's from the video's
start). A label thus never changes before the frame after which the model's output changed.
Steps are then optionally pooled into bins of a fixed number of seconds (their
probabilities averaged, weighted by frames), and runs of consecutive bins with the same top
label are merged into one segment.

Renderings: CSV, a JSON list, JSON lines, SubRip (``.srt``) and WebVTT (``.vtt``) subtitles
(one cue per segment: the label and its probability, then the runners-up) for players and
browsers, and an aligned table for a terminal.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from movinet_cli.files import atomic_writer
from movinet_cli.options import CLIP_SECONDS, MIN_TIMELINE_STEP_S, NO_CLEAR_ACTION
from movinet_cli.outcomes.result import Prediction, Result, Step, frame_weighted_mean, top_predictions
from movinet_cli.text import csv_text, percent, printable

TIMELINE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".srt": "srt", ".vtt": "vtt"}
SUBTITLE_FORMATS = ("srt", "vtt")  # one video per file
COLUMNS = ["path", "start_s", "end_s", "label", "probability"]


@dataclass
class Segment:
    start_s: float  # seconds
    end_s: float  # seconds
    label: str
    probability: float  # frame-weighted mean probability of ``label`` over the segment
    # Top-k of the segment's mean probabilities, most probable first (``label`` first).
    predictions: list[Prediction] = field(default_factory=list, compare=False)


def bin_seconds(mode: str, step_s: float | None) -> float | None:
    """The bin width of a timeline asked for with ``step_s`` seconds (--timeline-step): in
    stream mode, ``step_s``; in clip mode, None (one segment per window, which is ``step_s``
    long) unless the step is longer than a window may be (one training clip): then windows
    are pooled into ``step_s`` bins. ValueError for a step under MIN_TIMELINE_STEP_S."""
    _check_bin(step_s)
    return step_s if mode == "stream" or (step_s or 0) > CLIP_SECONDS else None


def last_frame_s(step: Step) -> float:
    """Video time of ``step``'s last frame, seconds (its frames are evenly spaced)."""
    return step.end_s - (step.end_s - step.start_s) / max(1, step.frames)


def shown_steps(result: Result) -> list[Step]:
    """The result's steps with the times over which each output holds (module docstring):
    clip windows as they are; a stream chunk's output from its last frame to the next
    chunk's last frame (the first from its start, the last to its end). Contiguous."""
    steps = result.steps
    if result.mode != "stream":
        return steps
    starts = [steps[0].start_s] + [last_frame_s(step) for step in steps[1:]] if steps else []
    ends = starts[1:] + [steps[-1].end_s] if steps else []
    return [replace(step, start_s=start, end_s=end) for step, start, end in zip(steps, starts, ends)]


def pool(steps: list[Step], bin_s: float | None = None) -> list[Step]:
    """Steps pooled into bins [k * bin_s, (k + 1) * bin_s) (cut to the steps' span); as they
    are if None. A step that straddles a bin edge counts in each bin for the share of its
    time that lies there, so a bin's probabilities are those shown during it, averaged by
    frames (a pooled step's ``frames`` is that weight, fractional where a step was cut).
    ValueError for a bin under MIN_TIMELINE_STEP_S."""
    if bin_s is None:
        return steps
    _check_bin(bin_s)
    bins: dict[int, list[tuple[Step, float]]] = {}
    for step in steps:
        length = step.end_s - step.start_s
        first = int(step.start_s / bin_s + 1e-9)
        last = max(first, math.ceil(step.end_s / bin_s - 1e-9) - 1)
        for k in range(first, last + 1):
            overlap = min(step.end_s, (k + 1) * bin_s) - max(step.start_s, k * bin_s)
            if overlap > 1e-9 or length <= 0:
                bins.setdefault(k, []).append((step, step.frames * (overlap / length if length > 0 else 1.0)))
    pooled = []
    for k, members in bins.items():
        weights = np.array([weight for _, weight in members], np.float64)
        probabilities = (np.stack([step.probabilities for step, _ in members]) * weights[:, None]).sum(0) / weights.sum()
        start, end = max(k * bin_s, members[0][0].start_s), min((k + 1) * bin_s, members[-1][0].end_s)
        pooled.append(Step(start, end, float(weights.sum()), probabilities.astype(np.float32)))
    return pooled


class _Bin:
    """A bin being filled by ``pooled``: its index, and its steps' frame-weighted sum."""

    def __init__(self, k: int, step: Step, weight: float):
        self.k, self.start_s, self.end_s, self.weight = k, step.start_s, step.end_s, 0.0
        self.total = np.zeros(step.probabilities.shape, np.float64)
        self.add(step, weight)

    def add(self, step: Step, weight: float) -> None:
        self.total += step.probabilities * weight
        self.weight += weight
        self.end_s = step.end_s

    def step(self, bin_s: float) -> Step:
        start, end = max(self.k * bin_s, self.start_s), min((self.k + 1) * bin_s, self.end_s)
        return Step(start, end, self.weight, (self.total / self.weight).astype(np.float32))


def _share(step: Step, start: float, end: float) -> float:
    """The frames of ``step`` that lie in [start, end] (all of them for a step of no length)."""
    length = step.end_s - step.start_s
    return step.frames * ((end - start) / length) if length > 0 else step.frames


def pooled(steps: Sequence[Step], bin_s: float | None = None) -> Iterator[Step]:
    """``pool``'s bins of contiguous steps in time order, as they complete, with the bins that
    lie wholly inside one step (all alike: that step's probabilities) merged into one: what
    the timeline's runs are made of, in memory that grows with the steps, not the bins (a
    0.001-s step over a 10-minute video is 600,000 bins). ValueError as ``pool``."""
    if bin_s is None:
        yield from steps
        return
    _check_bin(bin_s)
    filling: _Bin | None = None
    for step in steps:
        first = int(step.start_s / bin_s + 1e-9)
        last = max(first, math.ceil(step.end_s / bin_s - 1e-9) - 1)
        if filling is not None and filling.k != first:
            yield filling.step(bin_s)
            filling = None
        weight = _share(step, step.start_s, min(step.end_s, (first + 1) * bin_s))
        if filling is None:
            filling = _Bin(first, step, weight)
        else:
            filling.add(step, weight)
        if last == first:
            continue
        yield filling.step(bin_s)  # the step runs past its first bin: no later step reaches that bin
        if last > first + 1:  # the bins wholly inside the step, merged
            start, end = (first + 1) * bin_s, last * bin_s
            yield Step(start, end, _share(step, start, end), step.probabilities)
        filling = None
        if step.end_s - last * bin_s > 1e-9:
            filling = _Bin(last, replace(step, start_s=last * bin_s), _share(step, last * bin_s, step.end_s))
    if filling is not None:
        yield filling.step(bin_s)


def _check_bin(step_s: float | None) -> None:
    if step_s is not None and not (math.isfinite(step_s) and step_s >= MIN_TIMELINE_STEP_S):
        raise ValueError(f"timeline step must be a finite number of seconds from {MIN_TIMELINE_STEP_S:g}, got {step_s!r}")


UNCLEAR = -1  # the "class" of a step whose top label is below the minimum probability


def top_class(step: Step, min_probability: float = 0.0) -> int:
    """The step's most probable class, or UNCLEAR when its probability is below ``min_probability``."""
    top = int(np.argmax(step.probabilities))
    return top if step.probabilities[top] >= min_probability else UNCLEAR


def runs(steps: list[Step], bin_s: float | None = None, min_probability: float = 0.0) -> list[list[Step]]:
    """The steps, pooled as by ``pool`` (``pooled``: bins alike within a step merged), grouped into runs of consecutive steps with the same
    top class (``top_class``: steps below ``min_probability`` form runs of their own): one
    run per timeline segment."""
    grouped: list[tuple[int, list[Step]]] = []
    for step in pooled(steps, bin_s):
        top = top_class(step, min_probability)
        if grouped and grouped[-1][0] == top:
            grouped[-1][1].append(step)
        else:
            grouped.append((top, [step]))
    return [members for _, members in grouped]


def segments(
    result: Result, labels: list[str], bin_s: float | None = None, top_k: int | None = None, min_probability: float | None = None
) -> list[Segment]:
    """The result's timeline: one segment per run of equal top labels (see ``runs``) of its
    ``shown_steps``, each with the top ``top_k`` (default: as many as the result's
    predictions) of its frame-weighted mean probabilities. Steps whose top label is below
    ``min_probability`` (default: the result's) are NO_CLEAR_ACTION, with the mean
    probability of their top labels."""
    top_k = top_k or max(1, len(result.predictions))
    min_probability = result.min_probability if min_probability is None else min_probability
    timeline = []
    for members in runs(shown_steps(result), bin_s, min_probability):
        top = top_class(members[0], min_probability)
        frames = sum(step.frames for step in members)
        chances = [float(step.probabilities.max() if top == UNCLEAR else step.probabilities[top]) for step in members]
        probability = sum(chance * step.frames for chance, step in zip(chances, members)) / frames
        predictions = top_predictions(frame_weighted_mean(members), labels, top_k)
        label = NO_CLEAR_ACTION if top == UNCLEAR else labels[top]
        timeline.append(Segment(round(members[0].start_s, 3), round(members[-1].end_s, 3), label, round(probability, 6), predictions))
    return timeline


def timeline_format(path: str | os.PathLike, videos: int = 1) -> str:
    """The format of a timeline file from its extension (``TIMELINE_FORMATS``); ValueError
    for another extension, or for subtitles (.srt, .vtt: one video's) of more than one video."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in TIMELINE_FORMATS:
        *others, last = TIMELINE_FORMATS
        raise ValueError(f"timeline file must end in {', '.join(others)} or {last}, got {os.fspath(path)!r}")
    if TIMELINE_FORMATS[extension] in SUBTITLE_FORMATS and videos > 1:
        raise ValueError(f"a {extension} timeline holds one video's subtitles, got {videos} videos (use .csv, .json or .jsonl for several)")
    return TIMELINE_FORMATS[extension]


def timeline_rows(timelines: dict[str, list[Segment]]) -> list[dict]:
    """``{video path: segments}`` as rows of ``COLUMNS``."""
    return [
        {"path": video, "start_s": s.start_s, "end_s": s.end_s, "label": s.label, "probability": s.probability}
        for video, timeline in timelines.items()
        for s in timeline
    ]


def subtitle_time(seconds: float, format: str) -> str:
    """``seconds`` as a cue time: ``HH:MM:SS,mmm`` ("srt") or ``HH:MM:SS.mmm`` ("vtt")."""
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    separator = "," if format == "srt" else "."
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def _cue_text(text: str, format: str) -> str:
    """A label made safe inside a cue: on one line (a blank line would end the cue), and in
    WebVTT with ``& < >`` escaped (so "-->" and tags stay text); SubRip has no escapes, and
    players read ``<...>`` there as formatting, so angle brackets become look-alikes."""
    text = " ".join(printable(text).split())
    if format == "vtt":
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("<", "\u2039").replace(">", "\u203a")


def _others(segment: Segment) -> list[Prediction]:
    """What a segment's second line names: the runners-up of its label, or, for no clear
    action, its whole top-k (the label of the probability given is then among them)."""
    return segment.predictions if segment.label == NO_CLEAR_ACTION else segment.predictions[1:]


def subtitles(timeline: list[Segment], format: str) -> str:
    """One video's timeline as SubRip ("srt") or WebVTT ("vtt") text: a cue per segment, over
    its time range, saying its label and probability and, on a second line, the rest of its top-k."""
    blocks = ["WEBVTT\n"] if format == "vtt" else []
    for number, segment in enumerate(timeline, 1):
        times = f"{subtitle_time(segment.start_s, format)} --> {subtitle_time(segment.end_s, format)}"
        lines = [str(number), times, f"{_cue_text(segment.label, format)} {percent(segment.probability)}"]
        if others := _others(segment):
            lines.append(", ".join(f"{_cue_text(p.label, format)} {percent(p.probability)}" for p in others))
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def clock(seconds: float) -> str:
    """``seconds`` as ``M:SS.ss`` (``H:MM:SS.ss`` from an hour on), for people."""
    hundredths = max(0, round(seconds * 100))
    hours, rest = divmod(hundredths, 360_000)
    minutes, rest = divmod(rest, 6_000)
    text = f"{rest // 100:02d}.{rest % 100:02d}"
    return f"{hours:d}:{minutes:02d}:{text}" if hours else f"{minutes:d}:{text}"


def table(timelines: dict[str, list[Segment]]) -> str:
    """``{video path: segments}`` as aligned text for a terminal: per video its name, then a
    line per segment with its time range, label, probability and the runners-up."""
    blocks = []
    for video, timeline in timelines.items():
        rows = [
            (clock(s.start_s), clock(s.end_s), printable(s.label), percent(s.probability), ", ".join(f"{printable(p.label)} {percent(p.probability)}" for p in _others(s)))
            for s in timeline
        ]
        header = ("start", "end", "label", "prob", "then")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        lines = [printable(video)]
        for row in [header, *rows]:
            line = f"  {row[0]:>{widths[0]}} - {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}"
            lines.append((line + ("  " + row[4] if row[4] else "")).rstrip())
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def timeline_text(timelines: dict[str, list[Segment]], format: str) -> str:
    """``{video path: segments}`` in ``format``: "csv" (header and ``COLUMNS`` rows, cells
    made safe for spreadsheets, see ``output``), "json" (a list of rows), "jsonl" (a row
    per line), "srt" or "vtt" (subtitles of the one video; ValueError for more) or "table"
    (``table``, for a terminal)."""
    if format in SUBTITLE_FORMATS:
        if len(timelines) > 1:
            raise ValueError(f"{format} subtitles hold one video's timeline, got {len(timelines)}")
        return subtitles(next(iter(timelines.values()), []), format)
    if format == "table":
        return table(timelines)
    rows = timeline_rows(timelines)
    if format == "json":
        return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"
    if format == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return csv_text(rows, COLUMNS, with_header=True)


def write_timeline(path: str | os.PathLike, timelines: dict[str, list[Segment]]) -> None:
    """Writes ``{video path: segments}`` in the format of ``path``'s extension
    (``timeline_format``, ``timeline_text``), atomically."""
    text = timeline_text(timelines, timeline_format(path, len(timelines)))
    with atomic_writer(path, newline="") as handle:
        handle.write(text)


def timeline_names(videos: Sequence[str], format: str) -> dict[str, str]:
    """``{video: its timeline file's path in a --timelines directory}``: the video's relative
    path without its extension, then ``.format``; with its extension kept where two of
    ``videos`` would share a name. Where ``TimelinesSink`` writes, and the report reads back.
    A video listed from anywhere (``batch --files-from``) stays inside the directory: see
    ``_inside``."""
    whole = {video: _inside(video) for video in videos}
    names = {video: os.path.splitext(path)[0] for video, path in whole.items()}
    while True:  # a name two videos would share goes back to their whole names, which differ
        counts: dict[str, int] = {}
        for name in names.values():
            counts[name] = counts.get(name, 0) + 1
        shared = {video for video, name in names.items() if counts[name] > 1 and name != whole[video]}
        if not shared:
            return {video: name + "." + format for video, name in names.items()}
        names.update({video: whole[video] for video in shared})


def _inside(video: str) -> str:
    """``video``'s path as a relative one that cannot leave a directory: a URL's host and
    path (no query), an absolute path without its root, each ``..`` as ``__``. A path found
    in a directory (relative, normalised) is itself."""
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", video)
    if scheme:
        video = re.split(r"[?#]", video[scheme.end() :], maxsplit=1)[0]
    parts = ["__" if part == ".." else part for part in video.split("/") if part not in ("", ".")]
    return "/".join(parts) or "_"
