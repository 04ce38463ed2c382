"""Test-only web servers on 127.0.0.1: files, redirects, errors, a stalled or oversized body.

``serving(directory, routes)`` serves ``directory`` plus ``routes`` ({path: handler(request)},
see the route makers below) over http, or over https with ``tls=(certificate, key)``, and
yields the base URL. A stalled response waits until the server stops.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            return super().do_GET()
        with contextlib.suppress(ConnectionError):  # the client gave up: what it should do
            route(self)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(directory, routes: dict[str, Route] | None = None, tls: tuple[str, str] | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(directory)))
    server.daemon_threads = True
    server.routes = routes or {}  # type: ignore[attr-defined]
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stopping.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()
        thread.join()


def redirect(location: str) -> Route:
    def route(request):
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return route


def body(data: bytes, content_type: str = "video/mp4", length: int | None = None) -> Route:
    """``data`` as the body, under a Content-Length of ``length`` (default: its own)."""

    def route(request):
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data) if length is None else length))
        request.end_headers()
        request.wfile.write(data)

    return route


def stalled(request) -> None:
    """A few bytes of a long body, then nothing until the server stops."""
    request.send_response(200)
    request.send_header("Content-Type", "video/mp4")
    request.send_header("Content-Length", "1000000")
    request.end_headers()
    request.wfile.write(b"\0" * 100)
    request.wfile.flush()
    request.server.stopping.wait(60)


def endless(request) -> None:
    """A body without a length that goes on (up to 64 MiB) while the client reads it."""
    request.send_response(200)
    request.send_header("Content-Type", "video/mp4")
    request.end_headers()
    for _ in range(1024):
        request.wfile.write(b"\0" * 65536)


def self_signed(directory) -> tuple[str, str] | None:
    """A certificate for 127.0.0.1 that nothing trusts, and its key (None without openssl)."""
    certificate, key = f"{directory}/certificate.pem", f"{directory}/key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1"]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        return None
    return certificate, key
