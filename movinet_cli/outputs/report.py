"""HTML reports: what each video shows, to look at rather than read.

A report is rendered from plain per-video records (``VideoRecord``), made either from a
``Result`` (``record_from_result``, with its timeline and, in stream mode, the probability of
its top labels over time) or from the rows of a results file (``load_results``: the CSV or
JSON lines of ``movinet batch``, or the JSON of ``movinet classify --format json``; with the
timelines ``batch --timelines`` wrote beside them, ``read_timelines``), so one function,
``write_report``, serves ``classify --report``, ``batch --report`` and ``movinet report``.
Each video's answer is its row's ``action`` (``answer``), or is decided again from a minimum
probability (``decide``): below it, NO_CLEAR_ACTION, drawn in a neutral grey.

The page is one self-contained HTML file (Jinja2 templates in ``templates/``, inline CSS,
a small inline script, charts as inline SVG; nothing is fetched when it is viewed but the
videos themselves, by relative links: a video browsers may play gets a ``<video>`` player that
a click on a segment seeks to the segment's start). Small
JPEG thumbnails are decoded from the videos and inlined while they stay under a size budget;
beyond it they go to a ``<report>_files/`` folder beside the page, loaded lazily. That folder is
the report's own: made fresh, or one an earlier report made (its ``.movinet-report`` marker
lists the pictures it wrote); only those pictures are ever replaced or removed, and a name taken
by anything else is refused up front (``check_report_path``). Every name
and label is escaped by the template engine, so a file called ``<script>.mp4`` shows as text.
"""

from __future__ import annotations

import colorsys
import os
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from movinet_cli.files import ReadError, atomic_writer, is_special
from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outcomes.result import Result
from movinet_cli.outcomes.timeline import TIMELINE_FORMATS, Segment, last_frame_s, segments, timeline_names
from movinet_cli.outputs.report_files import check_report_path, image_sources, thumbnail_folder, write_thumbnail_folder
from movinet_cli.outputs.results_file import MalformedResultsError, ResultRow, read_results, read_timeline

THUMBNAIL_WIDTH = 160  # pixels: one per timeline segment
INDEX_THUMBNAIL_WIDTH = 96  # pixels: one per video in the index, so 10,000 rows stay light
JPEG_QUALITY = 75  # a 160x90 thumbnail of real footage is about 4 kB
INLINE_LIMIT_BYTES = 3_000_000  # thumbnails inlined up to this total (a 4 MB page), else a folder
CHART_LABELS = 5  # labels drawn in a stream-mode chart
SUMMARY_LABELS = 10  # most frequent top labels in a batch summary
CHART_WIDTH, CHART_HEIGHT = 720, 160  # SVG user units of a chart's plot area
# A video of these extensions gets a player that a click on a segment seeks (browsers play
# H.264/AV1 in MP4 and QuickTime, VP9 in WebM: what ``encoding`` writes; a source of another
# codec in such a file shows a note instead, once the browser has refused it).
PLAYABLE_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm")
PRELOADED_PLAYERS = 20  # up to this many players load their first frame with the page; beyond, on a click
# Tableau 10: distinct, colour-blind-aware; labels beyond it get golden-angle hues.
NEUTRAL = "#c4c9d0"  # NO_CLEAR_ACTION's colour: a grey that no label gets
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


@dataclass
class VideoRecord(ResultRow):
    """One video of a report: its results row, and what the page draws beside it."""

    video_file: str | None = None  # where to decode thumbnails from; None: no thumbnails
    segments: list[Segment] | None = None  # the timeline (with each segment's top-k), where it was computed
    # Stream mode: label -> [(time_s, probability)], the top labels' probabilities over time.
    series: dict[str, list[tuple[float, float]]] | None = None


@dataclass
class ReportSummary:
    """What ``write_report`` wrote."""

    path: str
    videos: int
    html_bytes: int
    thumbnails: int
    thumbnail_bytes: int
    folder: str | None  # the thumbnail folder, or None when they are inline
    seconds: float  # wall-clock time taken

    def __str__(self) -> str:
        pictures = f"{self.thumbnails} pictures " + (f"in {self.folder}" if self.folder else "inline") if self.thumbnails else "no pictures"
        return f"{self.path} ({self.videos} videos, {self.html_bytes / 1e3:,.0f} kB, {pictures}, {self.seconds:.1f} s)"


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


# --- results files ---------------------------------------------------------------------------


def load_results(
    path: str | os.PathLike,
    videos: str | os.PathLike | None = None,
    *,
    timelines: str | os.PathLike | None = None,
    timeline_format: str | None = None,
    min_probability: float | None = None,
    notice: Callable[[str], None] | None = None,
) -> list[VideoRecord]:
    """Records from a results file (``results_file.read_results``: ``movinet batch`` CSV or JSON
    lines, or the JSON document of ``movinet classify --format json``).

    Args:
        path: the results file.
        videos: the directory its paths are relative to, for pictures (and players); None:
            no pictures.
        timelines: a ``batch --timelines`` directory: each classified video's timeline is read
            back from it (``read_timelines``) and drawn as a strip with pictures.
        timeline_format: the format of those files ("csv", "vtt", ...); None: for each
            video, the first of ``timeline.TIMELINE_FORMATS`` that is there.
        min_probability: re-decide each row's answer and each segment's label (``decide``);
            None: the rows' own ``action``.
        notice: called with one line when timelines are left out (missing or malformed).

    Raises ReadError or MalformedResultsError (one line: the file, the row, the column).
    """
    rows, _ = read_results(path)
    records = [VideoRecord(**vars(row), video_file=None if videos is None else os.path.join(videos, row.path)) for row in rows]
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


# --- thumbnails ------------------------------------------------------------------------------


def _thumbnails(video_file: str, requests: list[tuple[float, int]]) -> list[bytes | None]:
    """JPEGs of the frames at ``(time_s, width)`` of one video; None where none can be had
    (a missing or broken video costs its thumbnails, never the report)."""
    from movinet_cli.inputs.frames import jpeg_thumbnail
    from movinet_cli.inputs.video import VideoReader

    try:
        with VideoReader(video_file) as reader:
            frames = [reader.frame_at(time_s) for time_s, _ in requests]
        return [None if frame is None else jpeg_thumbnail(frame, width, JPEG_QUALITY) for frame, (_, width) in zip(frames, requests)]
    except Exception:  # whatever a broken file makes OpenCV do, the report goes on without its pictures
        return [None] * len(requests)


def _thumbnail_requests(record: VideoRecord) -> list[tuple[float, int]]:
    """The index thumbnail (the middle of what was classified), then one per segment (its
    middle); times in seconds."""
    start_s, end_s = _span(record)
    return [((start_s + end_s) / 2, INDEX_THUMBNAIL_WIDTH)] + [((s.start_s + s.end_s) / 2, THUMBNAIL_WIDTH) for s in record.segments or []]


# --- rendering -------------------------------------------------------------------------------


def label_colours(records: Iterable[VideoRecord]) -> dict[str, str]:
    """A CSS colour per label, the same everywhere in a report: the most frequent actions
    (of videos and segments) get the palette's colours first, other labels follow in order of
    appearance with hues spread by the golden angle; NO_CLEAR_ACTION is NEUTRAL."""
    records = list(records)
    salient: Counter[str] = Counter()
    everything: list[str] = []
    for record in records:
        tops = [answer(record)] if record.predictions else []
        tops += [segment.label for segment in record.segments or []]
        salient.update(tops)
        everything += tops + [p.label for p in record.predictions] + list(record.series or {})
        everything += [p.label for segment in record.segments or [] for p in segment.predictions]
    order = [label for label, _ in salient.most_common()] + everything
    colours: dict[str, str] = {NO_CLEAR_ACTION: NEUTRAL}
    for label in dict.fromkeys(order):
        if label == NO_CLEAR_ACTION:
            continue
        index = len(colours) - 1
        if index < len(PALETTE):
            colours[label] = PALETTE[index]
        else:
            red, green, blue = colorsys.hls_to_rgb((index * 0.381966) % 1.0, 0.5, 0.55)
            colours[label] = f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
    return colours


def _text_colour(background: str) -> str:
    """Black or white, whichever reads better on a ``#rrggbb`` background."""
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "#fff"


def _span(record: VideoRecord) -> tuple[float, float]:
    """The seconds of video that the timeline covers (``--start`` to ``--end``, or all of it)."""
    segments = record.segments or []
    if not segments:
        return 0.0, record.duration_s or 0.0
    return segments[0].start_s, segments[-1].end_s


def _chart(record: VideoRecord, colours: dict[str, str]) -> dict | None:
    """Polylines for the stream chart, in SVG units: time on x (the timeline's span), the
    probability on y (1 at the top)."""
    if not record.series:
        return None
    start_s, end_s = _span(record)
    length_s = (end_s - start_s) or 1.0
    highest = max((p for points in record.series.values() for _, p in points), default=0.0)
    # The y-axis ends at the first of 1, 2, 5 x 10^n (percent) at or above the data, so lines
    # at 0.4-1.5% do not lie on zero.
    top = next((step / 100 for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if highest <= step / 100), 1.0)
    lines = []
    for label, points in record.series.items():
        coordinates = " ".join(f"{(t - start_s) / length_s * CHART_WIDTH:.1f},{(1 - p / top) * CHART_HEIGHT:.1f}" for t, p in points)
        lines.append({"label": label, "colour": colours[label], "points": coordinates})
    ticks = [((1 - fraction) * CHART_HEIGHT, f"{100 * top * fraction:g}%") for fraction in (0, 0.5, 1)]
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "start_s": start_s, "end_s": end_s, "lines": lines, "ticks": ticks}


def _playable(record: VideoRecord) -> bool:
    """Whether the record's section gets a player: a video with a timeline, in a file that
    browsers may play."""
    return bool(record.video_file and record.segments and os.path.splitext(record.video_file)[1].lower() in PLAYABLE_EXTENSIONS)


def _href(target: str, report_dir: str) -> str:
    """A relative URL from the report's folder to a file. Every character but ``/`` is
    percent-encoded, so a name such as ``javascript:x.mp4`` stays a relative path."""
    try:
        relative = os.path.relpath(os.path.abspath(target), report_dir)
    except ValueError:  # another drive on Windows
        relative = os.path.abspath(target)
    return "./" + urllib.parse.quote(os.fsencode(relative.replace(os.sep, "/")), safe="/")  # a name's own bytes


def _seconds(value: float | None) -> str:
    """``12.3 s``, or ``1:02:03`` beyond a minute; a dash when unknown."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _environment():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("movinet_cli", "templates"),
        autoescape=True,  # every name, label and message is text, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["seconds"] = _seconds
    environment.filters["percent"] = lambda p: f"{p:.1%}"
    return environment


def write_report(
    path: str | os.PathLike,
    records: list[VideoRecord],
    *,
    title: str = "movinet report",
    source: str = "",
    inline_limit_bytes: int = INLINE_LIMIT_BYTES,
    progress: Callable[[int, int], None] | None = None,
) -> ReportSummary:
    """Writes the HTML report of ``records`` to ``path`` (atomically).

    Args:
        path: the HTML file.
        records: one per video, in the order shown.
        title: the page's heading.
        source: where the records came from, shown under the title (e.g. the results file).
        inline_limit_bytes: thumbnails (JPEG bytes in all) inlined up to this size; beyond
            it they are written to ``thumbnail_folder(path)`` instead.
        progress: called with (videos done, videos) while thumbnails are decoded.
    """
    began = time.perf_counter()
    path = os.fspath(path)
    check_report_path(path)
    images: list[list[bytes | None]] = []
    for done, record in enumerate(records, 1):
        wanted = _thumbnail_requests(record)
        # A video that failed (a decoder crash among the reasons) is not decoded again here.
        usable = record.video_file if record.status == "ok" else None
        images.append(_thumbnails(usable, wanted) if usable else [None] * len(wanted))
        if progress:
            progress(done, len(records))
    total = sum(len(data) for per_video in images for data in per_video if data)
    folder = thumbnail_folder(path) if total > inline_limit_bytes and not is_special(path) else None
    sources = image_sources(images, folder)
    report_dir = os.path.dirname(os.path.abspath(path))
    colours = label_colours(records)
    players = sum(_playable(record) for record in records)
    videos = []
    for index, (record, (thumbnail, *segment_thumbnails)) in enumerate(zip(records, sources)):
        strip = []
        start_s, end_s = _span(record)
        length_s = (end_s - start_s) or 1.0
        for number, (segment, image) in enumerate(zip(record.segments or [], segment_thumbnails)):
            strip.append(
                {
                    "id": f"v{index}-s{number}",
                    "segment": segment,
                    "thumbnail": image,
                    "left": 100 * (segment.start_s - start_s) / length_s,
                    "width": 100 * (segment.end_s - segment.start_s) / length_s,
                }
            )
        videos.append(
            {
                "id": f"v{index}",
                "record": record,
                "answer": answer(record),
                "thumbnail": thumbnail,
                "href": _href(record.video_file, report_dir) if record.video_file else None,
                "player": _playable(record),
                "segments": strip,
                "chart": _chart(record, colours),
                "detail": record.segments is not None,
            }
        )
    ok = [record for record in records if record.status == "ok"]
    answers = Counter(answer(record) for record in ok if record.predictions)
    html = _environment().get_template("report.html.j2").render(
        title=title,
        source=source,
        generated=time.strftime("%Y-%m-%d %H:%M"),
        videos=videos,
        # The index lists the videos; one video with its timeline needs none.
        show_index=len(videos) != 1 or not videos[0]["detail"],
        pictures_in_folder=folder is not None,
        preload="metadata" if players <= PRELOADED_PLAYERS else "none",
        # Without pictures (no --videos, say) the index says how to get them instead of empty boxes.
        any_pictures=any(video["thumbnail"] for video in videos),
        ok=len(ok),
        failed=len(records) - len(ok),
        total_duration_s=sum(record.duration_s or 0.0 for record in ok),
        models=sorted({record.model for record in records if record.model}),
        engines=sorted({record.engine for record in records if record.engine}),
        modes=sorted({record.mode for record in records if record.mode}),
        top_labels=answers.most_common(),
        summary_labels=answers.most_common(SUMMARY_LABELS),
        unclear=answers[NO_CLEAR_ACTION],
        colours=colours,
        text_colours={label: _text_colour(colour) for label, colour in colours.items()},
    )
    # A file name that is not UTF-8 (its bytes kept as surrogates) shows with U+FFFD in its
    # place, so that the page is valid UTF-8; its link keeps its bytes (``_href``).
    html = html.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if folder:
        write_thumbnail_folder(folder, images)
    with atomic_writer(path, encoding="utf-8") as handle:
        handle.write(html)
    return ReportSummary(
        path=path,
        videos=len(records),
        html_bytes=len(html.encode("utf-8")),
        thumbnails=sum(data is not None for per_video in images for data in per_video),
        thumbnail_bytes=total,
        folder=folder,
        seconds=time.perf_counter() - began,
    )


