#!/usr/bin/env python3
"""Writes the small sample clips in sample_videos/ (and the video helpers the tests use).

Solid-colour clips: the tiny test models (scripts/make_test_model.py) classify by colour,
so each clip's right answer is known. Usage: python scripts/make_sample_videos.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

import cv2
import numpy as np

from movinet_cli.outputs import encoding

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)

# name: (colour segments as (RGB, seconds), fps, (width, height))
SAMPLES = {
    "red.mp4": ([(RED, 2.0)], 25, (160, 120)),
    "red-then-blue.mp4": ([(RED, 3.0), (BLUE, 3.0)], 30, (160, 120)),
    "green-portrait.avi": ([(GREEN, 2.0)], 15, (120, 160)),
}


def colour_frames(segments: Iterable[tuple[tuple[int, int, int], float]], fps: float, size: tuple[int, int]):
    """Yields RGB uint8 frames [height, width, 3]: each (colour, seconds) segment in turn."""
    width, height = size
    for colour, seconds in segments:
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = colour
        for _ in range(round(seconds * fps)):
            yield frame


def write_video(path: str, frames: Iterable[np.ndarray], fps: float) -> str:
    """Writes RGB uint8 frames (codec chosen by extension, see ``movinet_cli.encoding``; .avi
    test media get MJPEG); returns ``path``."""
    encoding.write_video(path, (cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) for frame in frames), fps, playable=False)
    return path


def write_colour_video(path: str, segments, fps: float = 25, size: tuple[int, int] = (160, 120)) -> str:
    """A clip of solid colours: ``segments`` is a list of (RGB, seconds)."""
    return write_video(path, colour_frames(segments, fps, size), fps)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out_dir = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample_videos")
    os.makedirs(out_dir, exist_ok=True)
    for name, (segments, fps, size) in SAMPLES.items():
        print(write_colour_video(os.path.join(out_dir, name), segments, fps, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
