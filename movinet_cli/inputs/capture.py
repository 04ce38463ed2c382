"""Live sources for ``movinet live``: a camera, a stream URL or a video file, every frame as decoded.

A file's frames carry their timestamps; a camera's or a stream's are timed by the wall
clock from the first frame (camera timestamps vary by driver). Sampling them for the model is
``sampling``'s job, resizing them ``frames``'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from movinet_cli.errors import MovinetError
from movinet_cli.inputs.opencv import STREAM_PROTOCOLS, cv2, video_capture
from movinet_cli.inputs.video import VideoReader


@dataclass
class Capture:
    """A video to watch live: ``frames`` yields (time_s, BGR uint8 frame [h, w, 3]) until it ends."""

    name: str
    is_file: bool
    fps: float  # nominal frames/s, 0.0 if unknown
    frames: Iterator[tuple[float, np.ndarray]]
    close: Callable[[], None]


MAX_CAMERA_INDEX = 2**31 - 1  # OpenCV's camera index is a C int


def open_capture(source: str) -> Capture:
    """Opens a camera index ("0"), a stream URL or a video file, every frame as decoded;
    raises MovinetError (VideoError for a file) with the reason and what to try instead."""
    camera = source.isascii() and source.isdigit()  # not "²", which isdigit() too
    if not camera and "://" not in source:
        reader = VideoReader(source)
        return Capture(reader.path, True, reader.info.nominal_fps, reader.raw_frames(), reader.close)
    if camera and int(source) > MAX_CAMERA_INDEX:  # OpenCV takes a C int: it would overflow
        raise MovinetError(f"no camera {source}: cameras are numbered 0, 1, 2, ... (give 'movinet live 0'), or give a video file or a stream URL")
    if camera:
        capture = cv2.VideoCapture(int(source))
    else:
        scheme = source.split("://", 1)[0].lower()
        if scheme not in STREAM_PROTOCOLS:
            raise MovinetError(f"cannot open stream {source}: {scheme}:// is not read (streams: {', '.join(s + '://' for s in STREAM_PROTOCOLS)})")
        capture = video_capture(source, STREAM_PROTOCOLS[scheme])  # FFmpeg may use that stream's protocols only
    if not capture.isOpened():
        if camera:
            raise MovinetError(
                f"cannot open camera {source} (none there, or in use): choose another with "
                "'movinet live 1' (2, ...), or give a video file or a stream URL (rtsp://..., http://...)"
            )
        raise MovinetError(f"cannot open stream {source}: check the URL and that the stream is live")
    fps = capture.get(cv2.CAP_PROP_FPS)
    name = f"camera {source}" if camera else source
    return Capture(name, False, fps if 0 < fps < 1000 else 0.0, _wall_clock_frames(capture), capture.release)


def _wall_clock_frames(capture: cv2.VideoCapture) -> Iterator[tuple[float, np.ndarray]]:
    """A live source's frames, timed by the clock from the first one (camera timestamps vary
    by driver)."""
    started = None
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        now = time.monotonic()
        started = now if started is None else started
        yield now - started, frame
