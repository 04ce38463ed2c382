"""Frames resampled to a fixed rate by their timestamps (``FrameSampler``), and grouped into the
model's windows (``windows``).

Containers lie about their nominal frame rate, and variable-frame-rate files have no single
rate: each output tick takes the decoded frame shown at its time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

# Container timestamps come rounded to about a millisecond.
TIMESTAMP_TOLERANCE_S = 0.5e-3
# Frames a window's buffer holds before it grows: one training clip of any variant (A5: 120),
# so that a huge --chunk or window on a short video takes only what the video has.
PREALLOCATED_FRAMES = 128


@dataclass
class Window:
    """Consecutive resampled frames of one video."""

    start_s: float  # timestamp of the first frame, seconds
    end_s: float  # start of the first frame after the window, seconds
    frames: np.ndarray  # [T, H, W, 3] float32 RGB in [0, 1]


class FrameSampler:
    """Chooses which decoded frames to keep so that the output runs at ``fps``.

    Output tick k lies at ``origin + k / fps`` seconds, where ``origin`` is the later of
    ``start_s`` and the first frame's timestamp. Each tick takes the first frame whose
    timestamp is at or after it, so a frame can serve several ticks (upsampling) or none
    (downsampling). Ticks stop before ``end_s``.
    """

    def __init__(self, fps: float, start_s: float = 0.0, end_s: float | None = None):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.start_s = start_s
        self.end_s = end_s
        self._origin: float | None = None
        self._tick = 0

    @property
    def next_tick_s(self) -> float | None:
        """Time of the next tick to fill, or None before the first frame."""
        if self._origin is None:
            return None
        return self._origin + self._tick / self.fps

    @property
    def finished(self) -> bool:
        """True once the next tick lies at or past ``end_s``."""
        tick = self.next_tick_s
        return tick is not None and self.end_s is not None and tick >= self.end_s - TIMESTAMP_TOLERANCE_S

    def take(self, timestamp_s: float) -> list[float]:
        """Returns the tick times (seconds) that the frame at ``timestamp_s`` fills."""
        if self._origin is None:
            if timestamp_s < self.start_s - TIMESTAMP_TOLERANCE_S:
                return []
            self._origin = max(self.start_s, timestamp_s)
        return self._ticks_until(timestamp_s + TIMESTAMP_TOLERANCE_S)

    def finish(self, video_end_s: float) -> list[float]:
        """Returns the ticks after the last frame's timestamp but before the end of its display
        (``video_end_s``, seconds): the last frame fills them."""
        if self._origin is None:
            return []
        return self._ticks_until(video_end_s - TIMESTAMP_TOLERANCE_S)

    def _ticks_until(self, limit_s: float) -> list[float]:
        ticks = []
        while not self.finished and (tick := self.next_tick_s) is not None and tick <= limit_s:
            ticks.append(tick)
            self._tick += 1
        return ticks


def windows(frames: Iterable[tuple[float, np.ndarray]], length: int, fps: float) -> Iterator[Window]:
    """Groups ``(time_s, frame)`` pairs at ``fps`` into Windows of ``length`` frames.

    The last window may be shorter. Each window's array is new (callers may keep it). Its
    buffer starts at ``PREALLOCATED_FRAMES`` and doubles as needed, so a window longer than
    the video takes only what the video has.
    """
    buffer: np.ndarray | None = None
    times: list[float] = []
    for time_s, frame in frames:
        if buffer is None:
            buffer = np.empty((min(length, PREALLOCATED_FRAMES), *frame.shape), np.float32)
        elif len(times) == len(buffer):
            grown = np.empty((min(length, 2 * len(buffer)), *frame.shape), np.float32)
            grown[: len(buffer)] = buffer
            buffer = grown
        buffer[len(times)] = frame
        times.append(time_s)
        if len(times) == length:
            yield Window(times[0], times[-1] + 1 / fps, buffer)
            buffer, times = None, []
    if buffer is not None and times:
        yield Window(times[0], times[-1] + 1 / fps, buffer[: len(times)])
