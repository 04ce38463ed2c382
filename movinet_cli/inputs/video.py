"""Decode a video file with OpenCV (``VideoReader``) into RGB frames resampled to a fixed rate
by timestamp (``sampling``) and fitted to the model's square (``frames``).

This module knows nothing of TensorFlow or models: it turns a file into NumPy arrays.
Frames are float32 RGB in [0, 1], shape [H, W, 3], one per tick of the requested frame
rate, chosen by the frames' presentation timestamps (containers lie about their nominal
frame rate and frame count, and variable-frame-rate files have no single rate).
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from movinet_cli.errors import VideoError
from movinet_cli.inputs.frames import fit_frame, to_unit_range
from movinet_cli.inputs.opencv import FILE_PROTOCOLS, cv2, opencv_path, video_capture
from movinet_cli.inputs.sampling import FrameSampler
from movinet_cli.options import MODEL_RESIZE, RESIZE_MODES

# One frame is a still picture, not an action.
MIN_FRAMES = 2
# Less decoded time than this share of the duration the container claims: the file ended early.
TRUNCATION_RATIO = 0.9


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (after rotation metadata is applied)."""

    path: str
    width: int  # pixels, as displayed
    height: int  # pixels, as displayed
    nominal_fps: float  # frames/s claimed by the container; 0.0 if unknown
    claimed_frames: int  # frame count claimed by the container; 0 if unknown
    rotation: int  # degrees of rotation metadata honoured while decoding

    @property
    def claimed_duration_s(self) -> float | None:
        """Seconds the container claims (frame count / nominal fps), None if unknown."""
        return self.claimed_frames / self.nominal_fps if self.claimed_frames and self.nominal_fps else None


@dataclass
class DecodeStats:
    """What decoding found; complete once the frames have been consumed."""

    decoded_frames: int = 0  # frames read from the file (before resampling)
    sampled_frames: int = 0  # frames produced at the requested rate
    first_timestamp_s: float | None = None
    last_timestamp_s: float | None = None
    frame_period_s: float | None = None  # duration of the last decoded frame
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Seconds of video decoded, from the first frame to the end of the last one."""
        if self.first_timestamp_s is None or self.last_timestamp_s is None:
            return 0.0
        return self.last_timestamp_s + (self.frame_period_s or 0.0) - self.first_timestamp_s


def _start_offset_s(capture, nominal_fps: float) -> float:
    """The first frame's presentation time in the container, seconds (OpenCV's timestamps
    start at 0 whatever it is): CAP_PROP_PTS is in frame periods. 0 where OpenCV lacks it."""
    pts = capture.get(cv2.CAP_PROP_PTS) if hasattr(cv2, "CAP_PROP_PTS") else 0.0
    return pts / nominal_fps if nominal_fps and math.isfinite(pts) and pts > 0 else 0.0


def check_video_path(path: str | os.PathLike) -> str:
    """Raises VideoError unless ``path`` is a readable, non-empty regular file; returns it as str."""
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VideoError(path, "no such file") from None
    except OSError as error:  # a symbolic link loop, a name too long, ...
        raise VideoError(path, f"cannot be opened: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise VideoError(path, "is a directory, not a video file (use 'movinet batch DIR' for a directory)")
    if not stat.S_ISREG(mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise VideoError(path, f"is {kind}, not a video file")
    if not os.access(path, os.R_OK):
        raise VideoError(path, "permission denied")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "file is empty")
    return path


class VideoReader:
    """Reads a video file as resampled, resized RGB float frames, one at a time.

    Memory stays bounded whatever the video's length: frames are decoded sequentially and
    only the frames and windows being handed out exist at any time.

    Args:
        path: video file.
        fps: output frame rate of ``frames()``, frames/s.
        size: ``frames()`` gives ``size`` x ``size`` pixels.
        resize: one of ``RESIZE_MODES`` (see ``fit_frame``).
        crop_scale: for ``crop``, the shorter side before cropping, as a multiple of ``size``.
        start_s, end_s: keep only [start_s, end_s) of the video, seconds.
        protocols: the FFmpeg protocols the open may use (``opencv.video_capture``): a file's
            own, or for a live stream its URL's (``path`` is then that URL).
        formats: the demuxers it may use (``opencv.CONTAINERS`` for bytes from elsewhere), None for any.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float = 0.0,
        size: int = 0,
        resize: str = MODEL_RESIZE,
        crop_scale: float = 1.0,
        start_s: float = 0.0,
        end_s: float | None = None,
        protocols: str = FILE_PROTOCOLS,
        formats: str | None = None,
    ):
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        is_file = protocols == FILE_PROTOCOLS
        self.path = check_video_path(path) if is_file else os.fspath(path)
        self.fps, self.size, self.resize, self.crop_scale = fps, size, resize, crop_scale
        self.start_s, self.end_s = start_s, end_s
        self.stats = DecodeStats()
        self._start_offset_s = 0.0  # the first frame's time in the container, seconds
        self._files = contextlib.ExitStack()
        self._opencv_path = self._files.enter_context(opencv_path(self.path)) if is_file else self.path
        self._capture = video_capture(self._opencv_path, protocols, formats)
        if not self._capture.isOpened():
            self.close()
            if not is_file:
                raise VideoError(self.path, "cannot open the stream: check the URL, and that the stream is live and reachable")
            if cv2.haveImageReader(self._opencv_path):
                raise VideoError(self.path, "is a still image, not a video")
            raise VideoError(
                self.path,
                "cannot be decoded: not a video file OpenCV can read "
                "(no video stream, e.g. audio only, or a corrupt or unsupported container)",
            )
        self._capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        self.info = self._read_info()

    def _read_info(self) -> VideoInfo:
        capture = self._capture
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        return VideoInfo(
            path=self.path,
            # With auto-orientation on, OpenCV reports the displayed (rotated) size.
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            nominal_fps=fps if math.isfinite(fps) and 0 < fps < 1000 else 0.0,
            claimed_frames=int(count) if math.isfinite(count) and 0 < count < 2**31 else 0,
            rotation=int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360,
        )

    def close(self) -> None:
        self._capture.release()
        self._files.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _timestamps(self) -> Iterator[float]:
        """Grabs frames one by one and yields each one's timestamp in seconds."""
        capture, stats = self._capture, self.stats
        fallback_period = 1 / self.info.nominal_fps if self.info.nominal_fps else 1 / 30
        previous = None
        while capture.grab():
            timestamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
            # Some streams repeat or lose timestamps: fall back to the nominal frame period.
            if previous is not None and not timestamp > previous:
                timestamp = previous + fallback_period
            elif previous is None and not (math.isfinite(timestamp) and timestamp >= 0):
                timestamp = 0.0
            stats.decoded_frames += 1
            if stats.first_timestamp_s is None:
                stats.first_timestamp_s = timestamp
                self._start_offset_s = _start_offset_s(capture, self.info.nominal_fps)
            stats.frame_period_s = timestamp - previous if previous is not None else fallback_period
            stats.last_timestamp_s = timestamp
            previous = timestamp
            yield timestamp

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """Yields ``(time_s, frame)``: frame float32 RGB [size, size, 3] in [0, 1], one per
        1/fps seconds.

        Raises VideoError at the end if the video gave fewer than ``MIN_FRAMES`` frames.
        Warnings (e.g. a file that ends early) are appended to ``self.stats.warnings``.
        """
        for time_s, frame in self.rgb_frames():
            yield time_s, to_unit_range(frame)

    def rgb_frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """Like ``frames``, with each frame uint8 RGB [size, size, 3] (a quarter of the bytes;
        a frame that fills several ticks is the same array each time)."""
        sampler = FrameSampler(self.fps, self.start_s, self.end_s)
        frame = None
        for timestamp in self._timestamps():
            ticks = sampler.take(timestamp)
            if ticks:
                ok, bgr = self._capture.retrieve()
                if not ok:
                    self.stats.warnings.append(f"frame at {timestamp:.2f} s could not be decoded; stopped there")
                    break
                frame = cv2.cvtColor(fit_frame(bgr, self.size, self.resize, self.crop_scale), cv2.COLOR_BGR2RGB)
                yield from self._emit(ticks, frame)
            if sampler.finished:
                break
        else:
            if frame is not None:
                # The last frame is shown until the video ends; the latest kept frame stands in
                # for it (it is at most one tick older).
                yield from self._emit(sampler.finish(self.stats.first_timestamp_s + self.stats.duration_s), frame)  # type: ignore[operator]  # set with the first frame
            self._check_complete()
        self._check_enough_frames()

    def _emit(self, ticks: list[float], frame: np.ndarray) -> Iterator[tuple[float, np.ndarray]]:
        for tick in ticks:
            self.stats.sampled_frames += 1
            yield tick, frame

    def raw_frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """Yields ``(timestamp_s, frame)`` for every frame as decoded: BGR uint8 [h, w, 3]."""
        for timestamp in self._timestamps():
            ok, frame = self._capture.retrieve()
            if not ok:
                break
            yield timestamp, frame

    def frame_at(self, time_s: float) -> np.ndarray | None:
        """The frame shown at ``time_s`` seconds, BGR uint8 [h, w, 3], or None if there is none.

        Seeks (OpenCV decodes from the key frame before, so the frame is exact on constant
        frame rate files and close on variable ones): for a picture, not for the model.
        """
        self._capture.set(cv2.CAP_PROP_POS_MSEC, max(0.0, time_s) * 1000)
        ok, frame = self._capture.read()
        return frame if ok else None

    def _check_complete(self) -> None:
        """Warns if the decoded time falls short of the duration the container claims.

        Time, not frames: a variable-frame-rate file claims its duration times its highest
        frame rate as a frame count (a complete one was warned "decoded 80 of the 175
        frames"). The claim (OpenCV: frame count / nominal rate) counts from 0 in some
        containers (Matroska) and from the first timestamp in others (MP4), while decoded
        timestamps count from the first frame: a claim longer than the first frame's offset
        (a file made with ``-output_ts_offset 100000``) is taken as counted from 0."""
        claimed = self.info.claimed_duration_s
        if not claimed:
            return
        offset = self._start_offset_s
        expected = claimed - offset if claimed > offset > 0 else claimed
        decoded = self.stats.duration_s
        if decoded < TRUNCATION_RATIO * expected:
            self.stats.warnings.append(
                f"decoded {decoded:.1f} s of the {expected:.1f} s the file claims "
                f"({self.stats.decoded_frames} frames): it may be truncated; classified the first {decoded:.1f} s"
            )

    def _check_enough_frames(self) -> None:
        sampled = self.stats.sampled_frames
        if sampled >= MIN_FRAMES:
            return
        if self.stats.decoded_frames <= 1 and cv2.haveImageReader(self._opencv_path):
            raise VideoError(self.path, "is a still image, not a video")
        if self.stats.decoded_frames == 0:
            raise VideoError(self.path, "contains no decodable video frames")
        span = "" if self.start_s == 0 and self.end_s is None else " in the requested --start/--end range"
        raise VideoError(
            self.path,
            f"too short: {sampled} frame(s) at {self.fps:g} fps{span}; "
            f"at least {MIN_FRAMES} are needed ({MIN_FRAMES / self.fps:.2f} s of video)",
        )
