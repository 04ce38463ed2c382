"""Decode videos with OpenCV into RGB float frames resampled to a fixed rate by timestamp.

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
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# FFmpeg's and OpenCV's own messages ("moov atom not found", camera probes) would interleave
# with ours; every problem they describe surfaces as a one-line error or warning instead.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
import cv2  # noqa: E402
import numpy as np

from movinet_cli.errors import VideoError
from movinet_cli.options import MODEL_RESIZE, RESIZE_MODES

# Container timestamps come rounded to about a millisecond.
TIMESTAMP_TOLERANCE_S = 0.5e-3
# One frame is a still picture, not an action.
MIN_FRAMES = 2
# Less decoded time than this share of the duration the container claims: the file ended early.
TRUNCATION_RATIO = 0.9
# Frames a window's buffer holds before it grows: one training clip of any variant (A5: 120),
# so that a huge --chunk or window on a short video takes only what the video has.
PREALLOCATED_FRAMES = 128


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
class Window:
    """Consecutive resampled frames of one video."""

    start_s: float  # timestamp of the first frame, seconds
    end_s: float  # start of the first frame after the window, seconds
    frames: np.ndarray  # [T, H, W, 3] float32 RGB in [0, 1]


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


def fit_frame(frame: np.ndarray, size: int, resize: str = MODEL_RESIZE, crop_scale: float = 1.0) -> np.ndarray:
    """Resizes one uint8 frame [h, w, 3] to a square [size, size, 3] uint8 frame.

    ``crop``: shorter side to ``crop_scale * size`` pixels with bilinear interpolation, then
    a central square crop: the Kinetics eval recipe, whose scale each model variant has
    (``registry.Variant.crop_scale``; ``tf.image.resize`` is bilinear without antialiasing,
    which OpenCV's INTER_LINEAR matches to within rounding).
    ``squash``: straight resize to the square, ignoring the aspect ratio.
    ``pad``: longer side to ``size``, letterboxed with black.
    """
    height, width = frame.shape[:2]
    if resize == "squash":
        return _resize(frame, size, size)
    if resize == "crop":
        scale = round(size * crop_scale) / min(height, width)
        new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
        top, left = (new_h - size) // 2, (new_w - size) // 2
        if new_w * new_h > CROP_RESIZE_LIMIT * size * size:
            return _crop_resized(frame, size, new_w, new_h, top, left)
        resized = frame if (new_w, new_h) == (width, height) else cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        return resized[top : top + size, left : left + size]
    if resize == "pad":
        scale = size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        canvas = np.zeros((size, size, 3), np.uint8)
        top, left = (size - new_h) // 2, (size - new_w) // 2
        canvas[top : top + new_h, left : left + new_w] = _resize(frame, new_w, new_h)
        return canvas
    raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")


# A crop resizes the whole frame, then keeps the central square, while the resized frame is at
# most this many output squares (an aspect ratio up to 4:1 after the variant's crop scale);
# beyond it (a 4000x2 frame would become 344000x172 pixels, 177 MB, for a 172x172 crop) only
# the square is computed from the source (``_crop_resized``).
CROP_RESIZE_LIMIT = 4


def _crop_resized(frame: np.ndarray, size: int, new_w: int, new_h: int, top: int, left: int) -> np.ndarray:
    """The [size, size] square at (top, left) of ``frame`` resized bilinearly to (new_w,
    new_h), computed without the resized frame: each output pixel is sampled where
    ``cv2.resize`` (INTER_LINEAR) samples it, edges replicated as it does. Memory and time
    are those of the output; values agree with resizing then cropping to within 1 level
    (OpenCV's warp interpolates at 1/32 pixel, its resize at finer steps)."""
    height, width = frame.shape[:2]
    step_x, step_y = width / new_w, height / new_h  # source pixels per resized pixel
    # Output pixel x samples the source at (x + left + 0.5) * step_x - 0.5 (pixel centres aligned).
    inverse = np.array([[step_x, 0, (left + 0.5) * step_x - 0.5], [0, step_y, (top + 0.5) * step_y - 0.5]])
    return cv2.warpAffine(frame, inverse, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == (width, height):
        return frame
    shrinking = width * height < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def to_model_input(frame_bgr: np.ndarray) -> np.ndarray:
    """Converts an OpenCV uint8 BGR frame [H, W, 3] to float32 RGB in [0, 1]."""
    return to_unit_range(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))


def to_unit_range(frame: np.ndarray) -> np.ndarray:
    """A uint8 frame [H, W, 3] as float32 in [0, 1]."""
    return np.multiply(frame, np.float32(1 / 255), dtype=np.float32)


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


@contextlib.contextmanager
def opencv_path(path: str) -> Iterator[str]:
    """A name under which OpenCV opens ``path`` as a plain file: absolute, so that FFmpeg
    never takes a ``pipe:`` or ``http:`` at its start for a protocol, and, for a name that is
    not valid UTF-8 (OpenCV crashes on one), a symbolic link with a plain name in a
    temporary directory, removed on exit."""
    absolute = os.path.abspath(path)
    try:
        absolute.encode("utf-8")
    except UnicodeEncodeError:
        extension = os.path.splitext(absolute)[1]
        extension = extension if extension.isascii() else ""
        with tempfile.TemporaryDirectory(prefix="movinet-") as directory:
            link = os.path.join(directory, "video" + extension)
            os.symlink(os.fsencode(absolute), link)
            yield link
        return
    yield absolute


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
    ):
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        self.path = check_video_path(path)
        self.fps, self.size, self.resize, self.crop_scale = fps, size, resize, crop_scale
        self.start_s, self.end_s = start_s, end_s
        self.stats = DecodeStats()
        self._start_offset_s = 0.0  # the first frame's time in the container, seconds
        self._files = contextlib.ExitStack()
        self._opencv_path = self._files.enter_context(opencv_path(self.path))
        self._capture = cv2.VideoCapture(self._opencv_path)
        if not self._capture.isOpened():
            self.close()
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


def jpeg_thumbnail(frame_bgr: np.ndarray, width: int, quality: int = 80) -> bytes:
    """A JPEG (``quality`` 0-100) of a BGR uint8 frame scaled to ``width`` pixels wide."""
    height = max(1, round(frame_bgr.shape[0] * width / frame_bgr.shape[1]))
    ok, data = cv2.imencode(".jpg", _resize(frame_bgr, width, height), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {width}x{height} JPEG")
    return data.tobytes()
