"""``report.html`` of a MODEL_DIR (``movinet train``): the figures, the confusion matrix (its most
frequent confusions past ``labelled.MAX_MATRIX`` classes) and the misclassified videos, the
first PICTURES of them with a picture from the middle of each."""

from __future__ import annotations

import base64
import html
import os
from typing import TYPE_CHECKING

from movinet_cli.commands.labelled import MAX_MATRIX

if TYPE_CHECKING:
    from movinet_cli.commands.train import Summary
    from movinet_cli.model.head import Backbone

PICTURES = 60  # misclassified videos shown with a picture in report.html
MOST_CONFUSED_SHOWN = 200  # rows of the table of most frequent confusions, past MAX_MATRIX classes


def report_html(summary: Summary, backbone: Backbone, directory: str) -> str:
    """A self-contained page: the figures, the confusion matrix and the misclassified videos
    with a picture from the middle of each (the first PICTURES of them). Its size grows with
    the classes and the videos, never with their product."""
    escape = html.escape
    classes = "".join(
        f"<tr><td>{escape(label)}</td><td>{p:.1%}</td><td>{r:.1%}</td><td>{n}</td></tr>"
        for label, p, r, n in zip(summary.labels, summary.precision, summary.recall, summary.support)
    )
    wrong = "".join(
        f"<figure>{_picture(os.path.join(directory, item['path'])) if number < PICTURES else ''}"
        f"<figcaption>{escape(item['path'])}<br>{escape(item['label'])} &rarr; <b>{escape(item['predicted'])}</b></figcaption></figure>"
        for number, item in enumerate(summary.misclassified)
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>movinet train</title><style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td.hit{{background:#d4f4d4}} td.miss{{background:#f8d0d0}} figure{{display:inline-block;margin:6px;width:180px;font-size:12px}} img{{width:180px}}
</style></head><body><h1>Trained head</h1>
<p>Backbone {escape(backbone.model)} ({escape(backbone.kind)}, {backbone.fps:g} frames/s, {backbone.size} px). {summary.videos} videos.</p>
<p><b>Accuracy {summary.accuracy:.1%}</b> ({escape(summary.method)}).</p>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>videos</th></tr>{classes}</table>
{_confusion(summary)}
<h2>Misclassified videos ({len(summary.misclassified)})</h2>{wrong or "<p>None.</p>"}
</body></html>
"""


def _confusion(summary: Summary) -> str:
    """The confusion matrix as a table, or past MAX_MATRIX classes its most frequent confusions."""
    escape = html.escape
    if summary.confusion is None:
        pairs = summary.most_confused(MOST_CONFUSED_SHOWN)
        rows = "".join(f"<tr><td>{escape(true)}</td><td>{escape(predicted)}</td><td>{count}</td></tr>" for true, predicted, count in pairs)
        return (
            f"<h2>Most frequent confusions</h2><p>{len(summary.labels)} classes: too many for a matrix (at most {MAX_MATRIX}); "
            f"the {len(pairs)} most frequent confusions.</p><table><tr><th>true class</th><th>predicted</th><th>videos</th></tr>{rows}</table>"
        )
    rows = "".join(
        f"<tr><th>{escape(label)}</th>" + "".join(f"<td class='{'hit' if i == j else 'miss' if count else ''}'>{count}</td>" for j, count in enumerate(row)) + "</tr>"
        for i, (label, row) in enumerate(zip(summary.labels, summary.confusion))
    )
    header = "".join(f"<th>{escape(label)}</th>" for label in summary.labels)
    return f"<h2>Confusion matrix</h2><p>Rows: true class; columns: predicted.</p><table><tr><th></th>{header}</tr>{rows}</table>"


def _picture(path: str) -> str:
    """An <img> of the middle frame of a video, or "" if none can be had."""
    from movinet_cli.inputs.frames import jpeg_thumbnail
    from movinet_cli.inputs.video import VideoReader

    try:
        with VideoReader(path) as reader:
            frame = reader.frame_at((reader.info.claimed_duration_s or 0) / 2)
        if frame is None:
            return ""
        return f"<img alt='' src='data:image/jpeg;base64,{base64.b64encode(jpeg_thumbnail(frame, 180)).decode()}'>"
    except Exception:  # a broken video costs its picture, never the report
        return ""
