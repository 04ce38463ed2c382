"""Writing videos: annotated outputs (``--output-video``, ``live --record``) and test media.

The codec follows the file's extension (``CODECS``), the first one this installation can
write: H.264 (else AV1) in ``.mp4``/``.m4v``/``.mov`` and VP9 in ``.webm`` through PyAV,
whose wheels ship FFmpeg with libx264, SVT-AV1 and libvpx (a ``.webm`` falls back to
OpenCV's own VP9 writer, fourcc VP90, where PyAV is missing). Browsers and players play all of these. ``.avi`` and ``.mkv`` get
MJPEG, and an ``.mp4`` without PyAV MPEG-4 part 2, which browsers refuse: fine for test
media, refused for what people watch (``playable=True``).

A frame may come with its timestamp (``VideoFileWriter.write``), so that a variable-frame-rate
source is written as it plays: PyAV gives each frame its own presentation time; OpenCV's
writers have one constant rate, at which a frame is repeated until the next one's time (and
one of two frames within one period dropped).

Playable codecs are written as 4:2:0, which needs even sides: an odd width or height gets
one more column or row, a copy of the last (the picture itself is never cut).
"""

from __future__ import annotations

import contextlib
import fractions
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from movinet_cli.errors import OutputError
from movinet_cli.files import atomic_path
from movinet_cli.inputs.opencv import cv2, opencv_path


@dataclass(frozen=True)
class Codec:
    name: str  # as people know it: "H.264", "VP9", ...
    library: str  # "pyav" or "opencv"
    encoder: str  # PyAV's encoder name, or OpenCV's fourcc
    playable: bool  # browsers (a <video> element) play it


_H264 = Codec("H.264", "pyav", "libx264", True)
_AV1 = Codec("AV1", "pyav", "libsvtav1", True)
_MPEG4 = Codec("MPEG-4 part 2", "opencv", "mp4v", False)
_MJPEG = Codec("MJPEG", "opencv", "MJPG", False)
# Extension: codecs in order of preference.
CODECS = {
    ".mp4": (_H264, _AV1, _MPEG4),
    ".m4v": (_H264, _AV1, _MPEG4),
    ".mov": (_H264, _AV1, _MPEG4),
    # PyAV first: OpenCV's FFmpeg prints a line on stderr ("tag ... is not supported") at
    # every .webm it opens, which no setting silences.
    ".webm": (Codec("VP9", "pyav", "libvpx-vp9", True), Codec("VP9", "opencv", "VP90", True)),
    ".avi": (_MJPEG,),
    ".mkv": (_MJPEG,),
}
_TIME_BASE = fractions.Fraction(1, 90000)  # of the frames' times given to PyAV: MPEG's 90 kHz clock
PLAYABLE_EXTENSIONS = ".mp4 (H.264) or .webm (VP9)"  # what an error suggests
_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".webm": "webm"}  # PyAV's format names
# Encoder options: x264's "veryfast" preset is about 3x faster than its default at a little
# more size; SVT-AV1's preset 10 is its fast end (0 is slowest).
_ENCODER_OPTIONS = {"libx264": {"preset": "veryfast", "crf": "23"}, "libsvtav1": {"preset": "10"}, "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"}}


def _extension(path: str | os.PathLike) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def _available(codec: Codec, extension: str) -> bool:
    """Whether this installation writes ``codec`` into a file of ``extension`` (a tiny trial
    file for OpenCV, whose wheels differ; PyAV's encoders are listed)."""
    if codec.library == "pyav":
        try:
            import av
        except ImportError:
            return False
        try:
            av.codec.Codec(codec.encoder, "w")
        except ValueError:  # an FFmpeg built without it
            return False
        return True
    with tempfile.TemporaryDirectory(prefix="movinet-") as directory:
        writer = cv2.VideoWriter(os.path.join(directory, "trial" + extension), cv2.VideoWriter.fourcc(*codec.encoder), 30.0, (16, 16))
        opened = writer.isOpened()
        writer.release()
        return opened


def choose_codec(path: str | os.PathLike, playable: bool = True) -> Codec:
    """The codec a video file named ``path`` is written in (see the module docstring);
    OutputError naming ``path`` if there is none (for ``playable``: none a browser plays)."""
    name, extension = os.fspath(path), _extension(path)
    for codec in CODECS.get(extension, ()):
        if (codec.playable or not playable) and _available(codec, extension):
            return codec
    what = extension or "a name without an extension"
    if extension in CODECS and playable:
        raise OutputError(f"cannot write a video to {name}: no codec that browsers play is available for {what} here (use {PLAYABLE_EXTENSIONS})")
    raise OutputError(f"cannot write a video to {name}: no video writer for {what} (use {PLAYABLE_EXTENSIONS})")


def check_video_output(path: str | os.PathLike, playable: bool = True) -> Codec:
    """The codec ``choose_codec`` takes for ``path``, found before any work; OutputError if none."""
    return choose_codec(path, playable)


class VideoFileWriter:
    """Writes BGR uint8 frames [h, w, 3] to a video file (codec by ``choose_codec``, frame
    size from the first frame) that appears only when the context exits without an error
    (ValueError if no frame was written).

    Args:
        path: the video file to write.
        fps: its frame rate, frames/s; 0 (unknown) writes 30.
        playable: refuse (OutputError, before any frame) an extension browsers cannot play.
    """

    def __init__(self, path: str | os.PathLike, fps: float, playable: bool = True):
        self.path, self.fps, self.count = os.fspath(path), fps or 30.0, 0
        self.codec = choose_codec(self.path, playable)
        self._atomic = atomic_path(self.path)
        self._temporary = ""
        self._writer: _OpenCVWriter | _PyAVWriter | None = None

    def __enter__(self) -> VideoFileWriter:
        self._temporary = self._atomic.__enter__()
        return self

    def write(self, frame: np.ndarray, timestamp_s: float | None = None) -> None:
        """Appends one frame, shown at ``timestamp_s`` seconds if given (then give every
        frame's: increasing), else one period (1 / fps) after the previous; OutputError if
        it cannot be written."""
        if self.codec.playable and (frame.shape[0] % 2 or frame.shape[1] % 2):
            frame = cv2.copyMakeBorder(frame, 0, frame.shape[0] % 2, 0, frame.shape[1] % 2, cv2.BORDER_REPLICATE)
        if self._writer is None:
            size = (frame.shape[1], frame.shape[0])
            kind = _PyAVWriter if self.codec.library == "pyav" else _OpenCVWriter
            self._writer = kind(self._temporary, self.path, self.codec, self.fps, size)
        self._writer.write(frame, timestamp_s)
        self.count += 1

    def __exit__(self, exc_type, exc, traceback) -> bool | None:
        try:
            if self._writer is not None:
                self._writer.close()
            if exc_type is None and not self.count:
                raise ValueError(f"no frames to write to {self.path}")
        except (OutputError, ValueError) as error:
            if exc_type is None:  # else the first error is the one to report
                self._atomic.__exit__(type(error), error, None)  # removes the partial file
                raise
        return self._atomic.__exit__(exc_type, exc, traceback)


class _OpenCVWriter:
    """OpenCV's writer: one constant rate. A timed frame is held, and written once for each
    period until the next frame's time (the period that holds a time shows its latest frame)."""

    def __init__(self, temporary: str, name: str, codec: Codec, fps: float, size: tuple[int, int]):
        with opencv_path(temporary) as usable:
            self._writer = cv2.VideoWriter(usable, cv2.VideoWriter.fourcc(*codec.encoder), fps, size)
        if not self._writer.isOpened():
            raise OutputError(f"cannot write a video to {name}: OpenCV could not open a {codec.name} writer")
        self._fps, self._first_s, self._slot = fps, 0.0, 0  # the first frame's time, periods written
        self._held: np.ndarray | None = None  # the latest timed frame, written up to the next one's time

    def write(self, frame: np.ndarray, timestamp_s: float | None) -> None:
        if timestamp_s is None:
            self._writer.write(frame)
            return
        if self._held is None:
            self._first_s = timestamp_s
        while self._held is not None and (self._slot + 0.5) / self._fps < timestamp_s - self._first_s:
            self._writer.write(self._held)
            self._slot += 1
        self._held = frame

    def close(self) -> None:
        if self._held is not None:
            self._writer.write(self._held)
        self._writer.release()


class _PyAVWriter:
    """PyAV (FFmpeg) encoding into an open Python file, so that any file name works."""

    def __init__(self, temporary: str, name: str, codec: Codec, fps: float, size: tuple[int, int]):
        import av

        self._av, self.name = av, name
        self._file = open(temporary, "wb")
        try:
            extension = _extension(name)
            options = {"movflags": "+faststart"} if _CONTAINERS[extension] in ("mp4", "mov") else {}  # playable while it downloads
            self._container = av.open(self._file, "w", format=_CONTAINERS[extension], options=options)
            self._rate = fractions.Fraction(fps).limit_denominator(1001)
            stream = self._container.add_stream(codec.encoder, rate=self._rate)
            assert isinstance(stream, av.VideoStream), "a video codec makes a video stream"
            self._stream = stream
            self._stream.width, self._stream.height = size
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = dict(_ENCODER_OPTIONS.get(codec.encoder, {}))
            self._stream.codec_context.time_base = _TIME_BASE
        except av.error.FFmpegError as error:
            self._file.close()
            raise OutputError(f"cannot write a video to {name}: {error}") from None
        self._count, self._last_pts = 0, -1

    def write(self, frame: np.ndarray, timestamp_s: float | None) -> None:
        picture = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        when = timestamp_s if timestamp_s is not None else self._count / self._rate
        picture.pts = self._last_pts = max(round(max(0.0, when) / _TIME_BASE), self._last_pts + 1)  # increasing, as encoders need
        picture.time_base = _TIME_BASE
        self._count += 1
        self._mux(picture)

    def _mux(self, picture) -> None:
        try:
            self._container.mux(self._stream.encode(picture))
        except (self._av.error.FFmpegError, OSError) as error:
            raise OutputError(f"cannot write a video to {self.name}: {error}") from None

    def close(self) -> None:
        try:
            self._mux(None)  # flushes the encoder
            self._container.close()
        except (self._av.error.FFmpegError, OSError) as error:
            raise OutputError(f"cannot write a video to {self.name}: {error}") from None
        finally:
            with contextlib.suppress(OSError):
                self._file.close()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray | tuple[float, np.ndarray]], fps: float, playable: bool = True) -> int:
    """Writes BGR uint8 frames [h, w, 3] to ``path`` with ``VideoFileWriter``, each shown one
    period after the previous, or at its time where given as ``(timestamp_s, frame)``;
    returns the frame count."""
    with VideoFileWriter(path, fps, playable) as writer:
        for item in frames:
            if isinstance(item, tuple):
                writer.write(item[1], item[0])
            else:
                writer.write(item)
    return writer.count
