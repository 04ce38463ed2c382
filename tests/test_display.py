"""The live window under a virtual X display (Xvfb): its size for small and large videos,
and what it shows, kept as screenshots (docs/ has one for the README)."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import find_window, screenshot, xdotool, xvfb

from movinet_cli.outputs.display import window_size

BLUE = (0, 0, 255)
SCREEN = (1920, 1080)


def test_a_window_fits_the_screen_and_a_tiny_video_is_scaled_up():
    assert window_size((1280, 720), SCREEN) == (1280, 720)
    assert window_size((160, 120), SCREEN) == (480, 360)
    assert window_size((120, 160), SCREEN) == (480, 640)
    assert window_size((3840, 2160), SCREEN) == (1728, 972)
    assert window_size((1280, 720), (800, 600)) == (720, 405)


@pytest.fixture
def x_display():
    """An Xvfb display of ``SCREEN`` size on a free display number (installed by .ci/run)."""
    with xvfb(*SCREEN) as display:
        yield display


def fits(size: tuple[int, int], expected: tuple[int, int]) -> bool:
    """Whether a window's (width, height) is ``expected``, a title bar at most taller."""
    return abs(size[0] - expected[0]) <= 2 and abs(size[1] - expected[1]) <= 40


def geometry(display, window) -> tuple[int, int]:
    fields = dict(line.split("=") for line in xdotool(display, "getwindowgeometry", "--shell", window).split())
    return int(fields["WIDTH"]), int(fields["HEIGHT"])


@pytest.mark.window
@pytest.mark.parametrize(("size", "expected"), [((160, 120), (480, 360)), ((1280, 720), (1280, 720))])
def test_the_window_opens_at_the_video_size_fitted_and_its_overlay_is_readable(x_display, palette_models, colour_video, tmp_path, size, expected):
    video = colour_video("blue.mp4", [(BLUE, 60.0)], fps=10, size=size)
    env = {**os.environ, "DISPLAY": x_display}
    command = [sys.executable, "-m", "movinet_cli", "live", video, "-m", palette_models.stream, "--labels", palette_models.labels, "--size", "16", "-k", "3"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        window = find_window(x_display, "movinet live")
        # The window is sized once the video's first frame is known: on a busy machine it can
        # be found before that, at Qt's default size. Polled (pytest-timeout bounds the wait).
        while not fits(width_height := geometry(x_display, window), expected):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.05)
        width, height = width_height

        def overlay_lines():
            """The overlay's text lines (white labels, grey footer) on the screen: (starts, ends) rows."""
            screen = np.asarray(screenshot(x_display)).astype(int)
            rows = (screen[:height, :width].min(axis=2) > 170).any(axis=1)
            return np.flatnonzero(rows[1:] & ~rows[:-1]), np.flatnonzero(rows[:-1] & ~rows[1:])

        def readable(lines) -> int:
            """How many of the lines are at least 7 px high."""
            starts, ends = lines
            return int((ends[-len(starts):] - starts >= 7).sum()) if len(starts) else 0

        # Four lines of overlay (3 labels, the footer) at least 7 px high: readable. Polled, not
        # slept for: the first labelled frame comes when the model has run, however busy the
        # machine (and a screenshot of a frame being redrawn may hold slivers of two).
        seen = None
        while readable(lines := overlay_lines()) < 4:
            seen = lines if len(lines[0]) >= 4 else seen
            assert process.poll() is None, (process.stderr.read(), f"overlay lines (starts, ends) last seen: {seen}")
            time.sleep(0.1)
        shot = screenshot(x_display)
        shot.save(tmp_path / f"window-{size[0]}x{size[1]}.png")
        # The picture fills the window, as wide and as high (not letterboxed into the window's
        # size before it was resized).
        blue = (np.abs(np.asarray(shot).astype(int)[:height, :width] - BLUE).max(axis=2) < 30).any(axis=1)
        assert blue.mean() > 0.9, f"blue in {blue.mean():.0%} of the window's rows"
        xdotool(x_display, "key", "--window", window, "r")
        noted = 0
        for _ in range(40):  # the note shows for a second: looked for until it does
            middle = np.asarray(screenshot(x_display)).astype(int)[height // 3 : 2 * height // 3, : width]
            noted = max(noted, int((middle.min(axis=2) > 220).sum()))
            if noted > 40:
                break
            time.sleep(0.05)
        assert noted > 40  # "reset", mid-window
        xdotool(x_display, "key", "--window", window, "q")
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in process.stderr.read()
