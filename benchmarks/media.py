"""Synthetic benchmark videos: moving shapes over a textured background, so that decoding
costs what real footage costs (solid colours decode unrealistically fast)."""

from __future__ import annotations

import os

import cv2
import numpy as np

from movinet_cli.outputs.encoding import VideoFileWriter


def synthetic_video(path: str, seconds: float, fps: float = 30, size: tuple[int, int] = (640, 360), seed: int = 0) -> str:
    """Writes (once; an existing file is reused) a clip (H.264 for .mp4) of ``seconds`` at ``fps``."""
    if os.path.exists(path):
        return path
    width, height = size
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), np.uint8), (0, 0), 3)
    with VideoFileWriter(path, fps) as writer:
        for index in range(round(seconds * fps)):
            frame = np.roll(background, index * 2, axis=1)
            for ball in range(3):
                angle = index / fps * (1 + ball) + seed
                centre = (int(width / 2 + width / 3 * np.cos(angle)), int(height / 2 + height / 3 * np.sin(angle * 1.3)))
                cv2.circle(frame, centre, 30 + 10 * ball, (60 * ball, 255 - 80 * ball, 40 + 100 * ball), -1)
            writer.write(frame)
    return path


def synthetic_clips(workdir: str, videos: int, seconds: float) -> str:
    """A directory (made once, then reused) of ``videos`` different clips of ``seconds``,
    640x360 at 30 fps, named clip000.mp4 ...; returns its path."""
    directory = os.path.join(workdir, f"clips-{videos}x{seconds:g}s")
    os.makedirs(directory, exist_ok=True)
    for index in range(videos):
        synthetic_video(os.path.join(directory, f"clip{index:03d}.mp4"), seconds, seed=index)
    return directory
