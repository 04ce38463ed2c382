"""OpenCV as this package calls it: imported with FFmpeg's and OpenCV's own logging off, and
given file names it opens as plain files (``opencv_path``).

Every module that uses OpenCV imports ``cv2`` from here, so that the logging is off whichever
of them is imported first.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

# FFmpeg's and OpenCV's own messages ("moov atom not found", camera probes) would interleave
# with ours; every problem they describe surfaces as a one-line error or warning instead.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
import cv2  # noqa: E402

__all__ = ["cv2", "opencv_path"]


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
