"""One video opened for a model (``OpenedVideo``): its frames at the model's rate, decoded in a
child process (``decoding.IsolatedReader``) or passed as an array, and the seconds of it
that were decoded."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from movinet_cli.inputs.decoding import IsolatedReader
from movinet_cli.inputs.sampling import TIMESTAMP_TOLERANCE_S


@dataclass
class OpenedVideo:
    """One video's frames at the model's rate, opened by ``Classifier.open``."""

    path: str | None  # None for frames passed as an array
    fps: float  # frames/s of ``frames``
    frames: Iterable[tuple[float, np.ndarray]]  # (time_s, [H, W, 3] float32 RGB in [0, 1])
    expected_end_s: float | None  # where the frames are expected to end, seconds
    reader: IsolatedReader | None = None
    start_s: float = 0.0  # the range asked for (--start, --end), seconds
    end_s: float | None = None
    size: int = 0  # frames are size x size pixels
    resize: str = ""  # how they were fitted to it (``options.RESIZE_MODES``)

    @property
    def expected_frames(self) -> int | None:
        """Frames the reader is expected to give (ticks at ``fps`` from the start to the
        expected end, as ``FrameSampler`` takes them), None where the end is unknown. What the
        container claims: a guess, right for files of a constant frame rate."""
        if self.expected_end_s is None:
            return None
        return max(0, math.floor((self.expected_end_s - self.start_s - TIMESTAMP_TOLERANCE_S) * self.fps) + 1)

    def duration_s(self, frames: int) -> float:
        """Seconds of video decoded within the range asked for (a reader starts at the
        keyframe before the start and stops at the first frame past the end); for frames
        passed as an array, ``frames`` of them at ``fps``. Complete once the frames have been consumed."""
        if self.reader is None:
            return frames / self.fps
        stats = self.reader.stats
        if stats.first_timestamp_s is None:
            return 0.0
        end = (stats.last_timestamp_s or 0.0) + (stats.frame_period_s or 0.0)  # set with first_timestamp_s
        if self.end_s is not None:
            end = min(end, self.end_s)
        return max(0.0, end - max(stats.first_timestamp_s, self.start_s))

    def close(self) -> None:
        """Stops a background reader of ``frames`` (if any), then releases the file."""
        stop = getattr(self.frames, "close", None)
        if stop:
            stop()
        if self.reader:
            self.reader.close()
