"""The live window: the video with its labels, sized for the screen and drawn at its scale.

The window opens at the video's size, scaled down to fit the screen (``SCREEN_SHARE`` of it)
and a tiny video scaled up by a whole factor to ``MIN_WIDTH`` pixels wide, so that the
overlay has room; it stays resizable. Each frame is scaled to the window's current size
before the overlay is drawn on it, so the text is as sharp and as large as the window allows
at any size. Keys: q or Esc quits, r resets the model's memory (and says "reset" briefly).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import sys
import time
from typing import Protocol

import numpy as np

from movinet_cli.outcomes.result import LiveUpdate
from movinet_cli.outputs.overlay import annotate, draw_note

SCREEN_SHARE = 0.9  # of the screen's width and height, at most, leaving room for panels and borders
MIN_WIDTH = 480  # pixels: a smaller video opens scaled up by a whole factor
FALLBACK_SCREEN = (1280, 720)  # when the screen's size cannot be read
NOTE_SECONDS = 1.0  # how long "reset" shows
_KEY_WAIT_MS = 15




class Shown(Protocol):
    """What the window shows: a live session (``commands.live.LiveSession``), read each frame."""

    @property
    def name(self) -> str: ...

    @property
    def finished(self) -> bool: ...

    @property
    def latest_update(self) -> LiveUpdate | None: ...

    def newest_frame(self) -> tuple[float, np.ndarray] | None: ...

    def reset(self) -> None: ...


DISPLAY_TIMEOUT_S = 2.0  # seconds for an X server to accept a connection


def display_problem() -> str | None:
    """Why a window cannot open here, in a few words, or None when it can. On Linux and the
    BSDs, OpenCV's windows are Qt on X11 (Wayland through XWayland), and Qt aborts the whole
    process when it finds no X server: so the server named by DISPLAY must accept a
    connection (its socket, ``/tmp/.X11-unix/X<n>`` or TCP port 6000 + n) first. A server
    that then refuses our credentials is not detected."""
    if sys.platform.startswith(("win", "darwin")):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        return "DISPLAY is not set" + (" (OpenCV's windows need X11 or XWayland)" if os.environ.get("WAYLAND_DISPLAY") else "")
    host, _, number = display.rpartition(":")
    number = number.split(".", 1)[0]
    if not number.isascii() or not number.isdigit():
        return f"DISPLAY={display} is not an X display (:0, host:0)"
    addresses: list[tuple[socket.AddressFamily, str | tuple[str, int]]]
    if host.startswith("/"):  # a launchd-style socket path
        addresses = [(socket.AF_UNIX, display.split(":", 1)[0])]
    elif host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        addresses = [(socket.AF_UNIX, path), *([(socket.AF_UNIX, "\0" + path)] if sys.platform.startswith("linux") else [])]
    else:
        addresses = [(socket.AF_INET6 if ":" in host else socket.AF_INET, (host.strip("[]"), 6000 + int(number)))]
    for family, address in addresses:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as connection:
                connection.settimeout(DISPLAY_TIMEOUT_S)
                connection.connect(address)
            return None
        except (OSError, OverflowError):  # refused, no such socket, an unknown host
            continue
    return f"no X server answers at DISPLAY={display}"


def screen_size() -> tuple[int, int]:
    """The screen's (width, height) in pixels: X11's default screen (through libX11, which
    OpenCV's window needs anyway) or Windows' primary monitor; ``FALLBACK_SCREEN`` if unknown."""
    try:
        if sys.platform.startswith("win"):
            user32 = ctypes.windll.user32  # type: ignore[attr-defined]
            return user32.GetSystemMetrics(0), user32.GetSystemMetrics(1)
        library = ctypes.util.find_library("X11")
        if library and os.environ.get("DISPLAY"):
            x11 = ctypes.CDLL(library)
            x11.XOpenDisplay.restype = ctypes.c_void_p
            x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
            display = x11.XOpenDisplay(None)
            if display:
                try:
                    for name in ("XDefaultScreen", "XDisplayWidth", "XDisplayHeight"):
                        getattr(x11, name).argtypes = [ctypes.c_void_p] + ([ctypes.c_int] if name != "XDefaultScreen" else [])
                    screen = x11.XDefaultScreen(display)
                    return x11.XDisplayWidth(display, screen), x11.XDisplayHeight(display, screen)
                finally:
                    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
                    x11.XCloseDisplay(display)
    except (OSError, AttributeError):
        pass
    return FALLBACK_SCREEN


def window_size(video: tuple[int, int], screen: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) a window for a ``video`` of (width, height) pixels opens at on a
    ``screen`` of (width, height): the video's aspect ratio, never larger than
    ``SCREEN_SHARE`` of the screen, a video narrower than ``MIN_WIDTH`` scaled up by a whole
    factor towards it."""
    width, height = video
    fit = min(1.0, SCREEN_SHARE * screen[0] / width, SCREEN_SHARE * screen[1] / height)
    if fit == 1.0:
        fit = min(max(1, MIN_WIDTH // width), int(SCREEN_SHARE * screen[0] / width), int(SCREEN_SHARE * screen[1] / height)) or 1
    return max(1, round(width * fit)), max(1, round(height * fit))


def fitted(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` scaled, aspect kept, to fit within ``size`` (width, height) pixels."""
    import cv2

    height, width = frame.shape[:2]
    scale = min(size[0] / width, size[1] / height)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if target == (width, height):
        return frame.copy()
    return cv2.resize(frame, target, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def show(session: Shown, screen: tuple[int, int] | None = None) -> None:
    """Shows ``session`` in a window until it ends, q or Esc is pressed, or the window is
    closed; r resets the model's memory. ``screen``: (width, height), default ``screen_size()``."""
    import cv2

    if os.path.isdir("/usr/share/fonts"):
        os.environ.setdefault("QT_QPA_FONTDIR", "/usr/share/fonts")  # OpenCV's Qt ships none
    title = f"movinet live - {session.name}"
    cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
    shown, sized, note_until = None, False, 0.0
    try:
        while not session.finished:
            newest = session.newest_frame()
            noting = time.monotonic() < note_until
            if newest is not None and (newest[1] is not shown or noting):
                shown = newest[1]
                if not sized:  # the video's size is known from its first frame
                    opened = window_size((shown.shape[1], shown.shape[0]), screen or screen_size())
                    cv2.resizeWindow(title, *opened)
                    sized, area = True, opened  # the window's own rect is the old one until events run
                else:  # the size a person may have dragged it to
                    _, _, width, height = cv2.getWindowImageRect(title)
                    area = (width, height) if width > 1 and height > 1 else opened
                picture = fitted(shown, area)
                annotate(picture, session.latest_update)
                cv2.imshow(title, draw_note(picture, "reset") if noting else picture)
            key = cv2.waitKey(_KEY_WAIT_MS) & 0xFF
            if key in (ord("q"), 27):
                break
            if key == ord("r"):
                session.reset()
                note_until = time.monotonic() + NOTE_SECONDS
            if shown is not None and cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                break  # closed with the window manager
    finally:
        cv2.destroyAllWindows()
