"""Drawing labels on video frames, and writing a whole video annotated with a timeline."""

from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np

from .classify import Result
from .video import VideoReader, write_video

OVERLAY_LABELS = 3  # labels drawn per frame
PANEL_ALPHA = 0.6  # opacity of the dark panel behind the text
BAR_COLOUR = (80, 200, 80)  # BGR


def draw_labels(frame: np.ndarray, labels: Sequence[tuple[str, float]], footer: str | None = None) -> np.ndarray:
    """Draws ``(label, probability)`` lines with probability bars on a BGR uint8 frame, in
    place, over a translucent panel at the top left; ``footer`` is a smaller last line."""
    height = frame.shape[0]
    scale = max(0.4, height / 720 * 0.8)
    thickness = max(1, round(scale * 1.5))
    line_height = round(32 * scale)
    text_width = max([cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] for text, _ in labels] + [1])
    bar_width = round(120 * scale)
    lines = len(labels) + (1 if footer else 0)
    footer_width = cv2.getTextSize(footer, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.7, thickness)[0][0] if footer else 0
    margin = round(10 * scale)
    right = min(frame.shape[1], max(margin * 4 + text_width + bar_width + round(60 * scale), margin * 2 + footer_width))
    bottom = min(height, line_height * lines + round(12 * scale))
    panel = frame[:bottom, :right]
    panel[:] = (panel * (1 - PANEL_ALPHA)).astype(np.uint8)
    for row, (text, probability) in enumerate(labels):
        baseline = line_height * (row + 1)
        cv2.putText(frame, text, (margin, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
        bar_left = margin * 2 + text_width
        top = baseline - round(line_height * 0.6)
        cv2.rectangle(frame, (bar_left, top), (bar_left + round(bar_width * probability), baseline), BAR_COLOUR, -1)
        cv2.putText(
            frame, f"{probability:4.0%}", (bar_left + bar_width + margin, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA
        )
    if footer:
        baseline = line_height * lines
        cv2.putText(frame, footer, (margin, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.7, (200, 200, 200), max(1, thickness - 1), cv2.LINE_AA)
    return frame


def annotate_video(source: str | os.PathLike, destination: str | os.PathLike, result: Result, labels: list[str]) -> int:
    """Writes ``source`` to ``destination`` at its own size and frame rate, each frame showing
    the top labels of the result step it falls in. Returns the number of frames written."""
    steps = result.steps

    def annotated(reader: VideoReader):
        index = 0
        for timestamp, frame in reader.raw_frames():
            while index + 1 < len(steps) and timestamp >= steps[index + 1].start_s:
                index += 1
            probabilities = steps[index].probabilities
            top = np.argsort(probabilities)[::-1][:OVERLAY_LABELS]
            yield draw_labels(frame, [(labels[i], float(probabilities[i])) for i in top], footer=f"{timestamp:6.1f} s")

    with VideoReader(source) as reader:
        return write_video(destination, annotated(reader), reader.info.nominal_fps)
