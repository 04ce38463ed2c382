"""What a user's VIDEO is, and how the decoder gets it (``opened``).

A VIDEO is one of:

- a file's path: any name that exists is a file (``concat:a.mp4`` too, read as a plain file);
- ``-``: standard input, read once per run (``<stdin>`` in rows and messages);
- an ``http://`` or ``https://`` URL: downloaded into a private temporary file
  (``downloads.downloaded``), its URL kept as its name;
- an ``rtsp://`` or ``rtsps://`` URL: a live stream, read by FFmpeg as it comes; only
  ``classify --mode stream`` with ``--end`` reads one (a live source has no end).

Anything else that names a protocol (FFmpeg's ``concat:``, ``subfile:``, ``data:``, ``file:``,
``pipe:``, an ``ftp://`` URL...) and is no file is refused in one line (``SourceError``):
FFmpeg would read what it names, local files or other hosts. What FFmpeg may open for each
kind is ``Opening``'s (``opencv.video_capture``): the file alone for a path; for bytes from
elsewhere, a video container's demuxer only (no playlist naming other files); for a stream,
the RTSP protocols.

``read_list`` reads a list of videos (``batch --files-from``): one a line or NUL-separated.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from movinet_cli.errors import UsageError, VideoError
from movinet_cli.files import names_a_descriptor
from movinet_cli.inputs import downloads
from movinet_cli.inputs.opencv import CONTAINERS, FILE_PROTOCOLS, RTSP_PROTOCOLS, opencv_path
from movinet_cli.inputs.video import check_video_path

STDIN = "-"
STDIN_NAME = "<stdin>"  # standard input's name in rows and messages
KINDS = ("file", "stdin", "url", "stream")
URL_SCHEMES = {"http": "url", "https": "url", "rtsp": "stream", "rtsps": "stream"}
MAX_LIST_BYTES = 64 * 1024**2  # a list of videos: a million long paths
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_READS = "movinet reads a file's path, - (standard input) or an http(s):// URL"


class SourceError(UsageError):
    """A VIDEO that is no input movinet reads, or not in this command: one line, before any work."""

    def __init__(self, video: str, reason: str):
        self.video, self.reason = video, reason
        super().__init__(f"{video}: {reason}")


def url_kind(video: str | os.PathLike) -> str | None:
    """"url" (http, https) or "stream" (rtsp, rtsps) for a URL movinet reads, else None."""
    match = _SCHEME.match(video) if isinstance(video, str) else None
    if not match or not video[match.end() :].startswith("//"):  # type: ignore[index]  # a str, matched
        return None
    return URL_SCHEMES.get(match.group(1).lower())


def kind_of(video: str | os.PathLike, directory: str | os.PathLike | None = None) -> str:
    """Which of ``KINDS`` ``video`` is (a path object is always a file; ``directory``: where
    a relative path is looked for). Raises SourceError for another URL scheme, or a protocol
    prefix that names no file (see the module docstring)."""
    if not isinstance(video, str):
        return "file"
    if video == STDIN:
        return "stdin"
    match = _SCHEME.match(video)
    if not match:
        return "file"
    scheme = match.group(1).lower()
    if video[match.end() :].startswith("//"):
        kind = url_kind(video)
        if kind is None:
            raise SourceError(video, f"{scheme}:// URLs are not read: {_READS}, and classify --mode stream an rtsp(s):// stream")
        return kind
    if os.path.lexists(os.path.join(directory or "", video)):
        return "file"
    raise SourceError(video, f"no such file, and {scheme}: names an FFmpeg protocol, which is not read (such as concat:, subfile:, data:): {_READS}")


def name_of(video: str | os.PathLike) -> str:
    """How ``video`` is named in rows and messages: ``<stdin>`` for ``-``, else as given."""
    return STDIN_NAME if video == STDIN and isinstance(video, str) else os.fspath(video)


def resolve(video: str, directory: str | os.PathLike | None) -> str | os.PathLike:
    """``video`` of a list or a directory, as opened: a path relative to ``directory`` (if
    given, as a path object: always a file), a URL as it is."""
    return video if directory is None or url_kind(video) else Path(directory, video)


def local_files(videos: Iterable[str]) -> list[str]:
    """Those of ``videos`` that are file paths (what an output may not replace)."""
    return [video for video in videos if url_kind(video) is None and video != STDIN]


def check_videos(videos: Iterable[str], command: str, mode: str | None = None, end: float | None = None) -> None:
    """Refuses, before any work, VIDEO arguments ``command`` cannot read (SourceError): what
    ``kind_of`` refuses, ``-`` named twice or on a terminal, and a live stream anywhere but in ``classify``
    in stream mode (``mode``: the model's or --mode's, None if not known yet) with ``end``."""
    seen_stdin = False
    for video in videos:
        kind = kind_of(video)
        if kind == "stdin" and seen_stdin:
            raise SourceError(STDIN, "standard input is named twice: it can be read once")
        if kind == "stdin" and sys.stdin is not None and sys.stdin.isatty():
            raise SourceError(STDIN, "standard input is a terminal: pipe a video in (cat clip.mp4 | movinet classify -)")
        seen_stdin = seen_stdin or kind == "stdin"
        if kind != "stream":
            continue
        if command != "classify":
            raise SourceError(video, f"a live stream is read by classify --mode stream --end SECONDS (and by live), not by {command}")
        if mode not in (None, "stream"):
            raise SourceError(video, "a live stream is read in stream mode only: give --mode stream (and a stream model)")
        if end is None:
            raise SourceError(video, "a live stream has no end: give --end SECONDS")


def read_list(source: str, null: bool = False, directory: str | os.PathLike | None = None) -> list[str]:
    """The videos of a list file (``-``: standard input): one path or URL a line, blank lines
    and lines starting with ``#`` left out, blanks around a line taken off; with ``null``,
    NUL-separated entries taken as they are (``find -print0``), empty ones left out. Relative
    paths are relative to ``directory`` (if given). Each video once, in the list's order.
    Raises SourceError (naming the line) for an entry no list may hold: ``-``, a live stream,
    what ``kind_of`` refuses; UsageError if the list cannot be read."""
    data = _list_bytes(source)
    where = "standard input" if source == STDIN else source
    videos: list[str] = []
    for number, raw in enumerate(data.split(b"\0" if null else b"\n"), 1):
        entry = os.fsdecode(raw if null else raw.strip())
        if not entry or (not null and entry.startswith("#")):
            continue
        at = f"--files-from {where}, {'entry' if null else 'line'} {number}"
        try:
            kind = kind_of(entry, directory)
        except SourceError as error:
            raise SourceError(f"{at}: {entry}", error.reason) from None
        if kind in ("stdin", "stream"):
            what = "standard input (-)" if kind == "stdin" else "a live stream, which has no end,"
            raise SourceError(f"{at}: {entry}", f"{what} cannot be a video of a list (movinet classify reads it)")
        videos.append(entry)
    return list(dict.fromkeys(videos))


def _list_bytes(source: str) -> bytes:
    """The bytes of a list, at most MAX_LIST_BYTES: standard input for ``-``; a file, a FIFO
    or a process substitution (``<(find ...)``) otherwise. UsageError if it cannot be read."""
    try:
        if source == STDIN:
            data = sys.stdin.buffer.read(MAX_LIST_BYTES + 1)
        else:
            with open(source, "rb") as handle:
                data = handle.read(MAX_LIST_BYTES + 1)
    except OSError as error:
        raise UsageError(f"--files-from {source}: cannot be read ({error.strerror or error})") from None
    if len(data) > MAX_LIST_BYTES:
        raise UsageError(f"--files-from {source}: longer than {MAX_LIST_BYTES // 1024**2} MiB; split the list")
    return data


@dataclass(frozen=True)
class Opening:
    """What the decoder opens for a video: ``target``, a local file or a stream's URL, with
    the FFmpeg ``protocols`` and demuxers (``formats``, None for any) it may use: the keyword
    arguments of ``VideoReader`` beside the path (``reader_options``)."""

    target: str
    protocols: str = FILE_PROTOCOLS
    formats: str | None = None

    def reader_options(self) -> dict:
        return {"protocols": self.protocols, "formats": self.formats}


@contextlib.contextmanager
def opened(video: str | os.PathLike) -> Iterator[Opening]:
    """``video`` ready for the decoder: a file checked (``check_video_path``) and named so
    that OpenCV reads it as a plain file, standard input or a URL's body in a private
    temporary file (with ``downloads.current()``'s bounds), a stream's URL as it is. What was
    made is removed on leaving the block. Raises VideoError, under ``name_of(video)``."""
    name = name_of(video)
    try:
        kind = kind_of(video)
    except SourceError as error:
        raise VideoError(name, error.reason) from None
    if kind == "stream":
        yield Opening(name, RTSP_PROTOCOLS)
        return
    with contextlib.ExitStack() as made:
        if kind == "file":
            path = check_video_path(video)
            # A descriptor is this process's own; a decoding child would open one of its own instead.
            local, formats = os.path.realpath(path) if names_a_descriptor(path) else path, None
        else:
            fetch = downloads.spooled() if kind == "stdin" else downloads.downloaded(name)
            try:
                local = made.enter_context(fetch)
            except downloads.FetchError as error:
                raise VideoError(name, error.reason) from None
            formats = CONTAINERS  # bytes from elsewhere: no playlist that names other files
        yield Opening(made.enter_context(opencv_path(local)), FILE_PROTOCOLS, formats)
