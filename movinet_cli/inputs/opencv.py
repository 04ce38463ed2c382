"""OpenCV as this package calls it: imported with FFmpeg's and OpenCV's own logging off,
given file names it opens as plain files (``opencv_path``), and opening only what the user
named (``video_capture``).

Every module that uses OpenCV imports ``cv2`` from here, so that the logging is off whichever
of them is imported first.

FFmpeg, beneath OpenCV, opens whatever a name or a playlist inside a file names: ``concat:``,
``subfile:``, ``data:``, ``file:`` or ``http:`` segments of an HLS or DASH playlist. Every open
therefore names the protocols FFmpeg may use (``protocol_whitelist``: ``FILE_PROTOCOLS`` for
a path) and, for bytes that came from elsewhere (a download, standard input), the demuxers it
may use (``format_whitelist``: ``CONTAINERS``, video containers, no playlists). OpenCV passes
``$OPENCV_FFMPEG_CAPTURE_OPTIONS`` ("key;value|key;value") to FFmpeg at each open: it is set
for the open, after any options of the user's own, and put back.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator

# FFmpeg's and OpenCV's own messages ("moov atom not found", camera probes) would interleave
# with ours; every problem they describe surfaces as a one-line error or warning instead.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
import cv2  # noqa: E402

__all__ = ["cv2", "opencv_path", "video_capture", "capture_options", "FILE_PROTOCOLS", "HTTP_PROTOCOLS", "RTSP_PROTOCOLS", "STREAM_PROTOCOLS", "CONTAINERS"]

CAPTURE_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
FILE_PROTOCOLS = "file"  # a path: the file itself, nothing a playlist in it names elsewhere
HTTP_PROTOCOLS = "http,https,tcp,tls"  # a stream over HTTP (movinet live)
# RTSP is a demuxer, not a protocol: it talks over tcp (tls for rtsps) and receives RTP over
# udp or interleaved in the tcp connection.
RTSP_PROTOCOLS = "rtsp,rtsps,rtp,srtp,udp,tcp,tls"
# A live stream's URL, by scheme (``movinet live``): its protocol and what that one talks over.
STREAM_PROTOCOLS = {
    "rtsp": RTSP_PROTOCOLS,
    "rtsps": RTSP_PROTOCOLS,
    "http": HTTP_PROTOCOLS,
    "https": HTTP_PROTOCOLS,
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,tcp,tls",
    "rtp": "rtp,udp",
    "udp": "udp",
    "srt": "srt",
    "tcp": "tcp",
}
# The demuxers that bytes from elsewhere may be read with: video containers, which open no
# other file or URL (FFmpeg matches any of a demuxer's names, "mov,mp4,m4a,3gp,3g2,mj2" by "mov").
CONTAINERS = "mov,matroska,avi,mpegts,mpeg,flv,ogg,asf,nut,ivf,mxf,m4v,h264,hevc,mjpeg,gif,rm,dv,mpegvideo,yuv4mpegpipe"
_OPENING = threading.Lock()  # the variable is the process's: one open sets it at a time


def capture_options(protocols: str, formats: str | None = None, theirs: str = "") -> str:
    """The value of ``$OPENCV_FFMPEG_CAPTURE_OPTIONS`` for an open: the user's own options
    (``theirs``), then the protocols FFmpeg may use and (``formats``) the demuxers it may
    use, which FFmpeg takes over any the user set. A stream over RTSP goes over TCP, as
    OpenCV's own default (dropped once the variable is set), unless the user says otherwise."""
    options = [theirs] if theirs else []
    if "rtsp" in protocols.split(",") and "rtsp_transport" not in theirs:
        options.append("rtsp_transport;tcp")
    options.append(f"protocol_whitelist;{protocols}")
    if formats:
        options.append(f"format_whitelist;{formats}")
    return "|".join(options)


def video_capture(name: str, protocols: str, formats: str | None = None) -> cv2.VideoCapture:
    """``cv2.VideoCapture(name)`` through FFmpeg, which may use only ``protocols`` (and, if
    given, the demuxers ``formats``): see the module docstring. Opened or not: the caller
    checks ``isOpened()``."""
    with _OPENING:
        theirs = os.environ.get(CAPTURE_OPTIONS)
        os.environ[CAPTURE_OPTIONS] = capture_options(protocols, formats, theirs or "")
        try:
            return cv2.VideoCapture(name, cv2.CAP_FFMPEG)
        finally:
            if theirs is None:
                del os.environ[CAPTURE_OPTIONS]
            else:
                os.environ[CAPTURE_OPTIONS] = theirs


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
