"""Drawing labels on video frames, and writing a whole video annotated with a timeline.

The overlay is drawn at the resolution of the picture it goes on (a live window draws it on
the frame scaled to the window), its text sized to the picture's area and never larger than
fits: on a narrow frame the bars shrink, then long labels are shortened, but a probability
is never cut.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import cv2
import numpy as np

from movinet_cli.inputs.sampling import TIMESTAMP_TOLERANCE_S
from movinet_cli.inputs.video import VideoReader
from movinet_cli.options import NO_CLEAR_ACTION
from movinet_cli.outcomes.result import LiveUpdate, Result
from movinet_cli.outcomes.timeline import shown_steps
from movinet_cli.outputs.encoding import write_video
from movinet_cli.text import percent

PANEL_ALPHA = 0.6  # opacity of the dark panel behind the text
BAR_COLOUR = (80, 200, 80)  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX
# Text scale (OpenCV's: 1.0 is about 22 px high) for a 1280x720 picture; others by the
# square root of their area, so a 4K picture gets twice the size.
SCALE_720P = 0.8
MIN_SCALE = 0.4  # about 9 px high: the smallest that stays legible
FOOTER_SCALE = 0.7  # of the labels' scale
WHITE, GREY = (255, 255, 255), (200, 200, 200)


def text_scale(width: int, height: int) -> float:
    """The overlay's text scale on a ``width`` x ``height`` picture (``SCALE_720P``)."""
    return max(MIN_SCALE, SCALE_720P * math.sqrt(width * height / (1280 * 720)))


def _width(text: str, scale: float, thickness: int) -> int:
    return cv2.getTextSize(text, FONT, scale, thickness)[0][0]


def _shortened(text: str, width: int, scale: float, thickness: int) -> str:
    """``text`` cut with ".." to fit ``width`` pixels (at least its first character)."""
    if _width(text, scale, thickness) <= width:
        return text
    while len(text) > 1 and _width(text + "..", scale, thickness) > width:
        text = text[:-1]
    return text + ".."


def _wrapped(text: str, width: int, scale: float, thickness: int) -> list[str]:
    """``text`` in lines of at most ``width`` pixels, broken after ", "."""
    lines: list[str] = []
    for piece in text.split(", "):
        joined = f"{lines[-1]}, {piece}" if lines else piece
        if lines and _width(joined, scale, thickness) <= width:
            lines[-1] = joined
        else:
            lines.append(piece)
    return lines


def draw_labels(frame: np.ndarray, labels: Sequence[tuple[str, float | None]], footer: str | None = None) -> np.ndarray:
    """Draws ``(label, probability)`` lines with probability bars on a BGR uint8 frame, in
    place, over a translucent panel at the top left (a probability of None: the text alone);
    ``footer`` is smaller lines below, wrapped after commas to fit. Returns ``frame``."""
    height, width = frame.shape[:2]
    scale = text_scale(width, height)
    thickness = max(1, round(scale * 1.6))
    line_height = round(40 * scale)
    margin = max(2, round(8 * scale))
    percents = [percent(p) if p is not None else "" for _, p in labels]
    percent_width = max([_width(text, scale, thickness) for text in percents] + [0])
    room = width - 2 * margin  # for label, bar and percentage
    label_width = max([_width(text, scale, thickness) for text, _ in labels] + [1])
    bar_width = min(round(110 * scale), max(0, room - label_width - percent_width - 2 * margin))
    if bar_width < 4 * margin:  # too narrow for a useful bar: the text gets the room
        bar_width = 0
    bar_gap = margin if bar_width else 0
    label_room = max(1, room - percent_width - 2 * bar_gap - bar_width - (margin if percent_width else 0))
    texts = [_shortened(text, label_room if p is not None else room, scale, thickness) for text, p in labels]
    label_width = max([_width(text, scale, thickness) for text, p in zip(texts, percents) if p] + [0])
    footer_scale = max(MIN_SCALE, scale * FOOTER_SCALE)
    footer_thickness = max(1, thickness - 1)
    footer_lines = _wrapped(footer, room, footer_scale, footer_thickness) if footer else []
    footer_height = round(line_height * 0.8)
    widest = max(
        [margin * 2 + label_width + 2 * bar_gap + bar_width + (margin + percent_width if percent_width else 0)]
        + [margin * 2 + _width(text, scale, thickness) for text, p in zip(texts, percents) if not p]
        + [margin * 2 + _width(text, footer_scale, footer_thickness) for text in footer_lines]
    )
    bottom = min(height, line_height * len(labels) + footer_height * len(footer_lines) + margin)
    panel = frame[:bottom, : min(width, widest)]
    panel[:] = (panel * (1 - PANEL_ALPHA)).astype(np.uint8)
    baseline = 0
    for text, probability, shown in zip(texts, (p for _, p in labels), percents):
        baseline += line_height
        cv2.putText(frame, text, (margin, baseline - margin // 2), FONT, scale, WHITE, thickness, cv2.LINE_AA)
        if probability is None:
            continue
        bar_left = margin + label_width + bar_gap
        if bar_width:
            top = baseline - margin // 2 - round(line_height * 0.55)
            cv2.rectangle(frame, (bar_left, top), (bar_left + round(bar_width * probability), baseline - margin // 2), BAR_COLOUR, -1)
        right = bar_left + bar_width + bar_gap + margin + percent_width
        cv2.putText(frame, shown, (right - _width(shown, scale, thickness), baseline - margin // 2), FONT, scale, WHITE, thickness, cv2.LINE_AA)
    for text in footer_lines:
        baseline += footer_height
        cv2.putText(frame, text, (margin, baseline - margin // 2), FONT, footer_scale, GREY, footer_thickness, cv2.LINE_AA)
    return frame


def draw_note(frame: np.ndarray, text: str) -> np.ndarray:
    """Draws ``text`` large in the middle of a BGR uint8 frame over a dark band, in place
    (a brief notice, e.g. "reset"). Returns ``frame``."""
    height, width = frame.shape[:2]
    scale = text_scale(width, height) * 1.5
    thickness = max(1, round(scale * 2))
    text = _shortened(text, width - 8, scale, thickness)
    (text_width, text_height), _ = cv2.getTextSize(text, FONT, scale, thickness)
    top, bottom = max(0, (height - text_height) // 2 - text_height), min(height, (height + text_height) // 2 + text_height)
    band = frame[top:bottom]
    band[:] = (band * (1 - PANEL_ALPHA)).astype(np.uint8)
    cv2.putText(frame, text, ((width - text_width) // 2, (height + text_height) // 2), FONT, scale, WHITE, thickness, cv2.LINE_AA)
    return frame


def annotate_video(source: str | os.PathLike, destination: str | os.PathLike, result: Result, labels: list[str], top_k: int | None = None) -> int:
    """Writes ``source`` to ``destination`` (a codec browsers play, see ``encoding``) at its
    own size, each frame at its own time (a variable frame rate kept), showing the top ``top_k`` labels (default: as many
    as the result's predictions) of the output shown at its time (``timeline.shown_steps``,
    as in the timeline: a label never appears before the frame after which the model's
    output changed). Returns the number of frames written."""
    steps = shown_steps(result)
    top_k = top_k or max(1, len(result.predictions))

    def annotated(reader: VideoReader):
        index = 0
        for timestamp, frame in reader.raw_frames():
            while index + 1 < len(steps) and timestamp >= steps[index + 1].start_s - TIMESTAMP_TOLERANCE_S:
                index += 1
            probabilities = steps[index].probabilities
            top = np.argsort(probabilities)[::-1][:top_k]
            yield timestamp, draw_labels(frame, [(labels[i], float(probabilities[i])) for i in top], footer=f"{timestamp:.1f} s")

    with VideoReader(source) as reader:
        return write_video(destination, annotated(reader), reader.info.nominal_fps)


def annotate(frame: np.ndarray, update: LiveUpdate | None) -> np.ndarray:
    """The overlay shown live, drawn on ``frame`` (BGR uint8, in place) at its own scale:
    the update's top-k labels with bars, and a footer with the model's pace (the frames/s it
    classifies against the frames/s due), or a waiting note."""
    if update is None:
        return draw_labels(frame, [("Waiting for action...", None)])
    lines = [(p.label, p.probability) for p in update.predictions]
    if update.label == NO_CLEAR_ACTION:
        lines = [(NO_CLEAR_ACTION, update.predictions[0].probability)] + lines[:-1]
    footer = (
        f"model {update.model_fps:.1f} frames/s of {update.fps:g}, {update.frames} frames/step, "
        f"{update.inference_ms:.0f} ms/step, latency {update.latency_s:.2f} s, dropped {update.dropped}"
    )
    return draw_labels(frame, lines, footer)
