"""Test-only media: files OpenCV's writer cannot make (variable frame rate, rotation
metadata, audio only) and broken ones (truncated, text, empty, still image)."""

from __future__ import annotations

import fractions
import struct

import cv2
import numpy as np


def write_vfr_video(path, segments, size=(64, 48), offset_s: float = 0.0) -> str:
    """MPEG-4 video (in the container of ``path``'s extension) with one frame rate per
    segment: ``segments`` = [(rgb, seconds, fps), ...]; timestamps start at ``offset_s``
    (as ffmpeg's ``-output_ts_offset`` does)."""
    import av

    time_base = fractions.Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = time_base
        now = offset_s
        for rgb, seconds, fps in segments:
            image = np.empty((size[1], size[0], 3), np.uint8)
            image[:] = rgb
            for _ in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = round(now * 1000), time_base
                container.mux(stream.encode(frame))
                now += 1 / fps
        container.mux(stream.encode())
    return str(path)


def set_rotation(path, degrees: int) -> str:
    """Writes a display matrix for ``degrees`` (90 or 270) into an MP4's track header."""
    data = bytearray(open(path, "rb").read())
    box = data.find(b"tkhd")
    version = data[box + 4]
    # tkhd: version/flags, times, track id, reserved, duration, reserved, layer..volume, matrix
    matrix_at = box + 8 + (8 if version == 0 else 16) + 8 + (4 if version == 0 else 8) + 8 + 8
    one, minus_one = 0x10000, (-0x10000) & 0xFFFFFFFF
    a, b, c, d = (0, one, minus_one, 0) if degrees == 90 else (0, minus_one, one, 0)
    data[matrix_at : matrix_at + 36] = struct.pack(">9I", a, b, 0, c, d, 0, 0, 0, 0x40000000)
    open(path, "wb").write(data)
    return str(path)


def write_audio_only(path) -> str:
    """An AAC file with no video stream."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for index in range(20):
            frame.pts = index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return str(path)


def truncate(path, keep: float) -> str:
    """Cuts a file to the first ``keep`` share of its bytes."""
    data = open(path, "rb").read()
    open(path, "wb").write(data[: int(len(data) * keep)])
    return str(path)


def write_still_image(path) -> str:
    cv2.imwrite(str(path), np.full((48, 64, 3), 128, np.uint8))
    return str(path)


def crash_on_open(path, **options):
    """A stand-in for VideoReader whose native code crashes (a NULL read: SIGSEGV), as a
    decoder may on a crafted file."""
    import ctypes

    ctypes.string_at(0)


_opened_here = 0  # videos that ``crash_when_reused`` opened in this process


def crash_when_reused(path, **options):
    """A stand-in for VideoReader that crashes (SIGSEGV) in a process that opened a video with
    it before: as a decoder whose heap an earlier file damaged may."""
    global _opened_here
    _opened_here += 1
    if _opened_here > 1:
        import faulthandler

        faulthandler.disable()  # pytest's would print the crash's stack
        crash_on_open(path)
    from movinet_cli.inputs.video import VideoReader

    return VideoReader(path, **options)
