"""A test-only RTSP server on 127.0.0.1: one solid colour as uncompressed video (RFC 4175,
YCbCr 4:2:2, RTP interleaved in the RTSP connection), a frame per RTP packet, as a live
camera would send it (no end, until the server stops or the client tears down).

Enough of RTSP for FFmpeg's client: OPTIONS, DESCRIBE, SETUP (TCP), PLAY, then any request
answered 200 while the frames go out.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator

WIDTH, HEIGHT, FPS = 32, 24, 10
CLOCK = 90000  # RTP video clock, Hz


def _ycbcr(rgb) -> tuple[int, int, int]:
    """BT.601 limited range: what FFmpeg takes YCbCr without colour metadata to be."""
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return round(y), round(cb), round(cr)


def _frame_packet(rgb, number: int) -> bytes:
    """One frame as one RTP packet (RFC 4175: a line header per line, then the lines)."""
    y, cb, cr = _ycbcr(rgb)
    line = bytes([cb, y, cr, y]) * (WIDTH // 2)  # UYVY: 2 pixels in 4 bytes
    headers = b"".join(struct.pack(">HHH", len(line), row, (0x8000 if row < HEIGHT - 1 else 0)) for row in range(HEIGHT))
    payload = struct.pack(">H", 0) + headers + line * HEIGHT
    header = struct.pack(">BBHII", 0x80, 0x80 | 96, number & 0xFFFF, number * CLOCK // FPS, 0x1234)
    packet = header + payload
    return b"$" + bytes([0]) + struct.pack(">H", len(packet)) + packet


def _sdp() -> bytes:
    return (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=movinet test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 raw/90000\r\n"
        f"a=fmtp:96 sampling=YCbCr-4:2:2; width={WIDTH}; height={HEIGHT}; depth=8\r\n"
        f"a=framerate:{FPS}\r\na=control:track0\r\n"
    ).encode()


def _requests(connection: socket.socket, buffer: bytearray, timeout_s: float) -> Iterator[tuple[str, dict[str, str]]]:
    """The RTSP requests that arrive within ``timeout_s`` (interleaved RTCP from the client skipped)."""
    while select.select([connection], [], [], timeout_s)[0]:
        data = connection.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buffer += data
        while buffer:
            if buffer[:1] == b"$":  # the client's interleaved RTCP
                if len(buffer) < 4 or len(buffer) < 4 + struct.unpack(">H", buffer[2:4])[0]:
                    break
                del buffer[: 4 + struct.unpack(">H", buffer[2:4])[0]]
                continue
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            del buffer[: end + 4]
            fields = dict(line.split(":", 1) for line in head[1:] if ":" in line)
            yield head[0].split(" ")[0], {key.strip().lower(): value.strip() for key, value in fields.items()}
        timeout_s = 0


def _reply(connection: socket.socket, fields: dict[str, str], extra: str = "", body: bytes = b"") -> None:
    head = f"RTSP/1.0 200 OK\r\nCSeq: {fields.get('cseq', '0')}\r\n{extra}"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    connection.sendall((head + "\r\n").encode() + body)


def _serve(connection: socket.socket, url: str, rgb, stopping: threading.Event) -> None:
    buffer = bytearray()
    playing, number = False, 0
    while not stopping.is_set():
        for method, fields in _requests(connection, buffer, 0.01 if playing else 1.0):
            if method == "OPTIONS":
                _reply(connection, fields, "Public: OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN\r\n")
            elif method == "DESCRIBE":
                _reply(connection, fields, f"Content-Base: {url}/\r\nContent-Type: application/sdp\r\n", _sdp())
            elif method == "SETUP":
                _reply(connection, fields, f"Transport: {fields.get('transport', '')}\r\nSession: 12345678\r\n")
            elif method == "PLAY":
                _reply(connection, fields, "Session: 12345678\r\n")
                playing = True
            elif method == "TEARDOWN":
                _reply(connection, fields, "Session: 12345678\r\n")
                return
            else:
                _reply(connection, fields, "Session: 12345678\r\n")
        if playing:  # faster than real time: the client goes by the timestamps
            connection.sendall(_frame_packet(rgb, number))
            number += 1


@contextlib.contextmanager
def serving(rgb) -> Iterator[str]:
    """An RTSP stream of ``rgb`` (0-255) frames on 127.0.0.1; yields its URL."""
    server = socket.create_server(("127.0.0.1", 0))
    url = f"rtsp://127.0.0.1:{server.getsockname()[1]}/colour"
    stopping = threading.Event()

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection, contextlib.suppress(OSError, ConnectionError):
                _serve(connection, url, rgb, stopping)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        stopping.set()
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(10)
