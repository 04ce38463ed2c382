"""Bytes from elsewhere into a private temporary file: an http(s) URL (``downloaded``) or
standard input (``spooled``), each bounded in size and removed when its block ends.

A download connects and waits for each piece of the body at most ``Fetching.timeout_s``
(an idle timeout: a slow body that keeps coming is not cut off), follows redirects to http
and https only, and fails in one line (a ``FetchError`` naming what was wrong: an HTTP status,
a TLS error, a timeout, a body past the size bound, a web page or playlist instead of a
video). The file is made with ``mkstemp`` (mode 0600, in ``$TMPDIR``), and is removed on
every way out, Ctrl-C included.

How large and how long, and how progress is shown, are the run's ``Fetching``: set for a
block with ``fetching`` (the command line does), else the defaults.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import os
import posixpath
import socket
import ssl
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO

from movinet_cli import environment
from movinet_cli.errors import MovinetError
from movinet_cli.options import MAX_DOWNLOAD_BYTES
from movinet_cli.text import format_size

CHUNK_BYTES = 1024**2
WEB_SCHEMES = ("http", "https")
# A playlist or a page is no video file: said so, before its body is read.
NOT_VIDEOS = {
    "text/html": "a web page (text/html), not a video file: give the video file's own URL",
    "application/vnd.apple.mpegurl": "an HLS playlist, not a video file",
    "application/x-mpegurl": "an HLS playlist, not a video file",
    "audio/mpegurl": "an HLS playlist, not a video file",
    "audio/x-mpegurl": "an HLS playlist, not a video file",
    "application/dash+xml": "a DASH manifest, not a video file",
}

# (what is fetched, its size in bytes if known) -> a context whose callable takes the bytes so far
Progress = Callable[[str, "int | None"], AbstractContextManager[Callable[[int], None]]]


class FetchError(MovinetError):
    """A video could not be had from a URL or standard input; ``reason`` says why, in one line."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Fetching:
    """How a run fetches videos: at most ``max_bytes`` each, ``timeout_s`` seconds to connect
    and per wait for the body (None: ``$MOVINET_DOWNLOAD_TIMEOUT_S``, else
    ``environment.DOWNLOAD_TIMEOUT_S``), and ``progress`` shown (see ``Progress``), if any."""

    max_bytes: int = MAX_DOWNLOAD_BYTES
    timeout_s: float | None = None
    progress: Progress | None = None

    def idle_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else environment.download_timeout_s()


_RUN: contextvars.ContextVar[Fetching | None] = contextvars.ContextVar("movinet_fetching", default=None)


@contextlib.contextmanager
def fetching(settings: Fetching) -> Iterator[None]:
    """Within the block, videos are fetched as ``settings`` say (``current()``)."""
    token = _RUN.set(settings)
    try:
        yield
    finally:
        _RUN.reset(token)


def current() -> Fetching:
    """The ``Fetching`` of the block running (see ``fetching``), else the defaults."""
    return _RUN.get() or Fetching()


class _WebRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to another http or https URL (urllib would follow one to ftp)."""

    def http_error_302(self, req, fp, code, msg, headers):
        target = headers.get("Location") or headers.get("URI") or ""
        scheme = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, target)).scheme.lower()
        if scheme not in WEB_SCHEMES:
            fp.close()
            raise FetchError(f"redirected to a {scheme}: URL ({target}); only http and https are followed")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener() -> urllib.request.OpenerDirector:
    """http and https only (with the environment's proxies): no file:, ftp: or data: handler
    to reach, whatever a redirect says."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        urllib.request.HTTPDefaultErrorHandler(),
        _WebRedirects(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _why(error: BaseException, timeout_s: float) -> str:
    """A network failure in words, one line."""
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered HTTP {error.code} {error.reason}"
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS error: the server's certificate is not trusted ({reason.verify_message})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out: nothing came from the server for {timeout_s:g} s"
    if isinstance(reason, socket.gaierror):
        return f"cannot find the host ({reason.strerror})"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: no server there"
    if isinstance(reason, (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionResetError)):
        return "the server closed the connection before the end of the video"
    if isinstance(reason, http.client.HTTPException):
        return f"not a valid HTTP answer ({type(reason).__name__})"
    return f"cannot be downloaded: {getattr(reason, 'strerror', None) or reason}"


def _too_large(size: int, max_bytes: int, what: str) -> FetchError:
    return FetchError(f"{what} is {format_size(size)}, more than --max-download ({format_size(max_bytes)})")


@contextlib.contextmanager
def _temporary(suffix: str = "") -> Iterator[tuple[str, BinaryIO]]:
    """A new private file (mode 0600) open for writing, removed on leaving the block."""
    descriptor, path = tempfile.mkstemp(prefix="movinet-", suffix=suffix)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield path, handle
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _copy(source: BinaryIO, sink: BinaryIO, name: str, total: int | None, settings: Fetching, what: str) -> int:
    """Copies ``source`` into ``sink`` (at most ``settings.max_bytes``), showing progress;
    returns the bytes copied."""
    done = 0
    with settings.progress(name, total) if settings.progress else contextlib.nullcontext(None) as told:
        while chunk := source.read(CHUNK_BYTES):
            done += len(chunk)
            if done > settings.max_bytes:
                raise _too_large(done, settings.max_bytes, f"{what} (so far)")
            sink.write(chunk)
            if told:
                told(done)
    return done


def _suffix(url: str) -> str:
    """The URL's file extension (".mp4"), if it has a plain one: a hint for FFmpeg's probe."""
    extension = posixpath.splitext(urllib.parse.urlsplit(url).path)[1]
    return extension if 1 < len(extension) <= 6 and extension[1:].isascii() and extension[1:].isalnum() else ""


@contextlib.contextmanager
def downloaded(url: str, settings: Fetching | None = None) -> Iterator[str]:
    """The video at the http(s) ``url``, as a private temporary file removed on leaving the
    block. Raises FetchError (one line) where it cannot be had (see the module docstring)."""
    settings = settings or current()
    timeout_s = settings.idle_timeout_s()
    request = urllib.request.Request(url, headers={"User-Agent": "movinet-cli", "Accept-Encoding": "identity"})
    with _temporary(_suffix(url)) as (path, sink):
        try:
            with _opener().open(request, timeout=timeout_s) as response:
                kind = response.headers.get_content_type()
                if kind in NOT_VIDEOS:
                    raise FetchError(f"the server sent {NOT_VIDEOS[kind]}")
                length = response.headers.get("Content-Length", "")
                total = int(length) if length.isdigit() else None
                if total is not None and total > settings.max_bytes:
                    raise _too_large(total, settings.max_bytes, "the video")
                done = _copy(response, sink, url, total, settings, "the video")
        except FetchError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as error:  # ValueError: a URL urllib cannot parse
            raise FetchError(_why(error, timeout_s)) from None
        if total is not None and done < total:
            raise FetchError(f"the server closed the connection after {format_size(done)} of {format_size(total)}")
        sink.close()
        _check_body(path, done)
        yield path


def _check_body(path: str, size: int) -> None:
    """Refuses, in words, bytes that are no video file: nothing, or a playlist (which the
    decoder would refuse too, for its demuxer: see ``opencv.CONTAINERS``)."""
    if size == 0:
        raise FetchError("nothing came: the body is empty")
    with open(path, "rb") as handle:
        start = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"#EXTM3U"):
        raise FetchError("an HLS playlist, not a video file")
    if start.startswith(b"<"):
        raise FetchError("a web page or XML (a DASH manifest?), not a video file")


@contextlib.contextmanager
def spooled(stream: BinaryIO | None = None, settings: Fetching | None = None) -> Iterator[str]:
    """The video on standard input (or ``stream``) as a file: the file itself when the input
    is a regular file (``< clip.mp4``), else a private temporary copy of at most
    ``settings.max_bytes``, removed on leaving the block. Raises FetchError (one line)."""
    settings = settings or current()
    stream = stream or sys.stdin.buffer
    if stream.isatty():
        raise FetchError("standard input is a terminal: pipe a video in (cat clip.mp4 | movinet classify -)")
    own_file = _regular_file(stream)
    if own_file:
        yield own_file
        return
    with _temporary() as (path, sink):
        try:
            done = _copy(stream, sink, "<stdin>", None, settings, "standard input")
        except OSError as error:
            raise FetchError(f"cannot read standard input: {error.strerror or error}") from None
        if done == 0:
            raise FetchError("standard input is empty")
        sink.close()
        yield path


def _regular_file(stream: BinaryIO) -> str | None:
    """The path of the regular file ``stream`` reads from the start, if it is one that can be
    named (so that it is decoded where it is, uncopied); else None."""
    try:
        descriptor = stream.fileno()
        status = os.fstat(descriptor)
        path = os.path.realpath(f"/proc/self/fd/{descriptor}")
        same = os.stat(path)
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's), no /proc, a deleted file
        return None
    if not (os.path.isfile(path) and (same.st_dev, same.st_ino) == (status.st_dev, status.st_ino)):
        return None
    with contextlib.suppress(OSError):
        if os.lseek(descriptor, 0, os.SEEK_CUR) == 0:
            return path
    return None
