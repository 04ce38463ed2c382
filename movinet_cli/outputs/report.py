"""HTML reports: what each video shows, to look at rather than read.

A report is rendered from plain per-video records (``report_records.VideoRecord``, made from
a ``Result`` or read back from a results file), so one function, ``write_report``, serves
``classify --report``, ``batch --report`` and ``movinet report``. Each video's answer is its
record's (``report_records.answer``); NO_CLEAR_ACTION is drawn in a neutral grey.

The page is one self-contained HTML file (Jinja2 templates in ``templates/``, inline CSS,
a small inline script, charts as inline SVG; nothing is fetched when it is viewed but the
videos themselves, by relative links: a video browsers may play gets a ``<video>`` player that
a click on a segment seeks to the segment's start). The summary and charts are computed here,
once. The index of the videos is a compact JSON block (``_index``) that the script draws,
only the rows in view, so that 100,000 videos open in a second or two; the details of each
video with a timeline are HTML sections. Small JPEG thumbnails are decoded from the videos and
inlined while they stay under a size budget; beyond it they go, as they are decoded, to a
``<report>_files/`` folder beside the page (``report_files.Pictures``). That folder is the
report's own: made fresh, or one an earlier report made (its ``.movinet-report`` marker lists
the pictures it wrote); only those pictures are ever replaced or removed, and a name taken by
anything else is refused up front (``check_report_path``). Every name and label is escaped:
by the template engine in HTML, as ``\\u003c`` in the JSON block, and set as text by the script,
so a file called ``<script>.mp4`` shows as text.
"""

from __future__ import annotations

import colorsys
import json
import os
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from movinet_cli.files import atomic_writer, is_special
from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outputs.report_files import Pictures, check_report_path, thumbnail_folder
from movinet_cli.outputs.report_records import VideoRecord, answer

THUMBNAIL_WIDTH = 160  # pixels: one per timeline segment
INDEX_THUMBNAIL_WIDTH = 96  # pixels: one per video in the index, so 10,000 rows stay light
JPEG_QUALITY = 75  # a 160x90 thumbnail of real footage is about 4 kB
DECODERS = min(8, os.cpu_count() or 1)  # threads decoding pictures at once
INLINE_LIMIT_BYTES = 3_000_000  # thumbnails inlined up to this total (a 4 MB page), else a folder
SUMMARY_LABELS = 10  # most frequent top labels in a batch summary
CHART_WIDTH, CHART_HEIGHT = 720, 160  # SVG user units of a chart's plot area
# A video of these extensions gets a player that a click on a segment seeks (browsers play
# H.264/AV1 in MP4 and QuickTime, VP9 in WebM: what ``encoding`` writes; a source of another
# codec in such a file shows a note instead, once the browser has refused it).
PLAYABLE_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm")
ROW_HEIGHT_PX, ROW_HEIGHT_NO_PICTURES_PX = 64, 48  # an index row, with and without its picture
INDEX_FIELDS = ("path", "answer", "top", "probability", "duration_s", "seconds", "status", "error", "link", "picture")  # of a row of the index's data
INDEX_MAX_HEIGHT_PX = 8_000_000  # the index's height on the page, beyond which a pixel scrolled is more than one pixel of rows
PRELOADED_PLAYERS = 20  # up to this many players load their first frame with the page; beyond, on a click
# Tableau 10: distinct, colour-blind-aware; labels beyond it get golden-angle hues.
NEUTRAL = "#c4c9d0"  # NO_CLEAR_ACTION's colour: a grey that no label gets
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


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
            it they are written to ``thumbnail_folder(path)`` instead, as they are decoded.
        progress: called with (videos done, videos) while thumbnails are decoded.
    """
    began = time.perf_counter()
    path = os.fspath(path)
    check_report_path(path)
    wanted = [len(_thumbnail_requests(record)) if _decodable(record) else 0 for record in records]
    pictures = Pictures(None if is_special(path) else thumbnail_folder(path), inline_limit_bytes, wanted)
    for video, decoded in enumerate(_decoded(records, wanted)):
        for number, data in enumerate(decoded):
            pictures.add(video, number, data)
        if progress:
            progress(video + 1, len(records))
    pictures.close()
    html = _page(records, pictures, os.path.dirname(os.path.abspath(path)), title=title, source=source)
    with atomic_writer(path, encoding="utf-8") as handle:
        handle.write(html)
    return ReportSummary(
        path=path,
        videos=len(records),
        html_bytes=len(html.encode("utf-8")),
        thumbnails=pictures.count,
        thumbnail_bytes=pictures.bytes,
        folder=pictures.folder if pictures.in_folder else None,
        seconds=time.perf_counter() - began,
    )


def _decoded(records: list[VideoRecord], wanted: list[int]) -> Iterator[list[bytes | None]]:
    """Per record, in order, the JPEGs of ``_thumbnail_requests`` (none where ``wanted`` says
    0), decoded by ``DECODERS`` threads at once (OpenCV lets go of the GIL while it decodes:
    twice as fast on 2 cores), at most ``2 * DECODERS`` videos ahead of the one given."""
    pool = ThreadPoolExecutor(DECODERS, thread_name_prefix="report-pictures")
    ahead: deque[Future | None] = deque()
    try:
        for record, count in zip(records, wanted):
            ahead.append(pool.submit(_thumbnails, record.video_file or "", _thumbnail_requests(record)) if count else None)
            if len(ahead) > 2 * DECODERS:
                done = ahead.popleft()
                yield done.result() if done else []
        for done in ahead:
            yield done.result() if done else []
    finally:  # stopped early (Ctrl-C, a full disk): the videos not started are not decoded
        pool.shutdown(cancel_futures=True)


def _decodable(record: VideoRecord) -> bool:
    """Whether pictures are decoded from the record's video: one that failed (a decoder crash
    among the reasons) is not decoded again here."""
    return bool(record.video_file) and record.status == "ok"


def _page(records: list[VideoRecord], pictures: Pictures, report_dir: str, *, title: str, source: str) -> str:
    """The report's HTML: the summary, the index (a data block that the page's script draws,
    only the rows in view) and a section per video with a timeline; links are relative to
    ``report_dir``."""
    colours = label_colours(records)
    hrefs = _hrefs([record.video_file for record in records], report_dir)
    details = [_video(index, record, pictures, hrefs[index], colours) for index, record in enumerate(records) if record.segments is not None]
    ok = [record for record in records if record.status == "ok"]
    answers = Counter(answer(record) for record in ok if record.predictions)
    any_pictures = pictures.count > 0
    html = _environment().get_template("report.html.j2").render(
        title=title,
        source=source,
        generated=time.strftime("%Y-%m-%d %H:%M"),
        videos=len(records),
        details=details,
        # The index lists the videos; one video with its timeline needs none.
        show_index=len(records) != 1 or not details,
        index_data=_script_data(_index(records, pictures, hrefs, colours)),
        row_height=ROW_HEIGHT_PX if any_pictures else ROW_HEIGHT_NO_PICTURES_PX,
        max_height=INDEX_MAX_HEIGHT_PX,
        preload="metadata" if sum(video["player"] for video in details) <= PRELOADED_PLAYERS else "none",
        # Without pictures (no --videos, say) the index says how to get them instead of empty boxes.
        any_pictures=any_pictures,
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
    # place, so that the page is valid UTF-8; its link keeps its bytes (``_hrefs``).
    return html.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _index(records: list[VideoRecord], pictures: Pictures, hrefs: list[str | None], colours: dict[str, str]) -> dict:
    """The index as the page's script reads it: a row per video of ``INDEX_FIELDS`` (labels as
    positions in ``labels``; ``link`` 0 for the video's section, else a video link after
    ``link_base``; ``picture`` after ``picture_base``), compact so that 100,000 rows stay a
    few MB. Probabilities are fractions, durations and times in seconds, as precise as the
    records (a results file's already rounded), so that the script shows them as ``_seconds``
    and the details do; None where unknown."""
    labels = list(colours)
    position = {label: number for number, label in enumerate(labels)}
    link_base = _common_folder([href for href in hrefs if href])
    picture_base = pictures.base()
    rows = []
    for video, (record, href) in enumerate(zip(records, hrefs)):
        top = record.predictions[0] if record.predictions else None
        picture = pictures.source(video, 0)
        rows.append([
            record.path,
            position[answer(record)] if top else None,
            position[top.label] if top else None,
            top.probability if top else None,
            record.duration_s,
            record.seconds,
            record.status,
            record.error,
            0 if record.segments is not None else None if href is None else href[len(link_base) :],
            None if picture is None else picture[len(picture_base) :],
        ])
    return {"fields": INDEX_FIELDS, "labels": labels, "colours": [colours[label] for label in labels], "link_base": link_base, "picture_base": picture_base, "rows": rows}


def _script_data(value) -> str:
    """``value`` as JSON that can sit in a ``<script type="application/json">`` element: ``<``,
    ``>`` and ``&`` escaped as \\u003c..., so that no name or label can end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _common_folder(hrefs: list[str]) -> str:
    """The longest start, up to a ``/``, that every one of ``hrefs`` shares."""
    common = os.path.commonprefix(hrefs) if hrefs else ""
    return common[: common.rfind("/") + 1]


def _hrefs(targets: list[str | None], report_dir: str) -> list[str | None]:
    """A relative URL from the report's folder to each target file (None for None), each
    folder's worked out once. Every character but ``/`` is percent-encoded, a name's own bytes,
    so that a name such as ``javascript:x.mp4`` stays a relative path."""
    folders: dict[str, str] = {}
    found: list[str | None] = []
    for target in targets:
        if target is None:
            found.append(None)
            continue
        folder, name = os.path.split(os.path.abspath(target))
        if folder not in folders:
            try:
                relative = os.path.relpath(folder, report_dir)
            except ValueError:  # another drive on Windows
                relative = folder
            folders[folder] = "./" if relative == os.curdir else "./" + urllib.parse.quote(os.fsencode(relative.replace(os.sep, "/")), safe="/") + "/"
        found.append(folders[folder] + urllib.parse.quote(os.fsencode(name), safe=""))
    return found


def _video(index: int, record: VideoRecord, pictures: Pictures, href: str | None, colours: dict[str, str]) -> dict:
    """What the template draws of a video with a timeline: a section with its strip of
    segments, each with its picture (positions in percent of the timeline's span)."""
    start_s, end_s = _span(record)
    length_s = (end_s - start_s) or 1.0
    strip = [
        {
            "id": f"v{index}-s{number}",
            "segment": segment,
            "thumbnail": pictures.source(index, number + 1),
            "left": 100 * (segment.start_s - start_s) / length_s,
            "width": 100 * (segment.end_s - segment.start_s) / length_s,
        }
        for number, segment in enumerate(record.segments or [])
    ]
    return {
        "id": f"v{index}",
        "record": record,
        "answer": answer(record),
        "href": href,
        "player": _playable(record),
        "segments": strip,
        "chart": _chart(record, colours),
    }
