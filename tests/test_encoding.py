"""Writing videos: codecs browsers play, checked with the writer's own probe and played in
headless Chromium; extensions with no playable writer refused before any work."""

import json
import re

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from movinet_cli.cli import cli
from movinet_cli.errors import OutputError
from movinet_cli.outputs.encoding import check_video_output, write_video

RED = (255, 0, 0)


def frames(count=20, size=(161, 121)):
    """BGR frames of odd size, a moving white bar on red."""
    for index in range(count):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:] = RED[::-1]
        frame[:, index * 4 : index * 4 + 8] = 255
        yield frame


def probe(path):
    """(codec, width, height, frames decoded) as FFmpeg (PyAV) reads the file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name, stream.width, stream.height, decoded


def play_in_chromium(tmp_path, videos):
    """{name: (readyState, MediaError code or None)} of each file as a <video> in headless Chromium."""
    from test_report import chromium

    elements = "".join(f'<video id="v{i}" src="{path.name}" muted preload="auto"></video>' for i, path in enumerate(videos))
    script = """<script>
      for (const video of document.querySelectorAll('video')) {
        const note = () => document.body.setAttribute('data-' + video.id, JSON.stringify([video.readyState, video.error && video.error.code]));
        video.addEventListener('loadeddata', note); video.addEventListener('error', note);
      }</script>"""
    page = tmp_path / "play.html"
    page.write_text(f"<!doctype html><html><body>{elements}{script}</body></html>")
    shown = chromium(tmp_path, "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    body = re.search(r"<body[^>]*>", shown.stdout).group()
    states = dict(re.findall(r'data-(v\d+)="([^"]*)"', body))
    return {path.name: tuple(json.loads(states[f"v{i}"].replace("&quot;", '"'))) if f"v{i}" in states else None for i, path in enumerate(videos)}


def test_mp4_is_h264_and_webm_is_vp9_whole_frames_odd_sides_padded(tmp_path):
    assert write_video(tmp_path / "a.mp4", frames(), 10) == 20
    assert write_video(tmp_path / "a.webm", frames(), 10) == 20
    assert probe(tmp_path / "a.mp4") == ("h264", 162, 122, 20)
    assert probe(tmp_path / "a.webm") == ("vp9", 162, 122, 20)
    ok, first = cv2.VideoCapture(str(tmp_path / "a.webm")).read()
    assert ok and np.abs(first[60, 100].astype(int) - RED[::-1]).max() < 30  # still red, not cut


def test_webm_without_pyav_is_vp9_through_opencv(tmp_path, monkeypatch):
    from movinet_cli.outputs import encoding

    available = encoding._available
    monkeypatch.setattr(encoding, "_available", lambda codec, extension: codec.library != "pyav" and available(codec, extension))
    assert write_video(tmp_path / "a.webm", frames(), 10) == 20
    capture = cv2.VideoCapture(str(tmp_path / "a.webm"))  # OpenCV wrote it: its own probe
    assert int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower() in ("vp90", "vp09")
    assert probe(tmp_path / "a.webm") == ("vp9", 162, 122, 20)
    with pytest.raises(OutputError, match="use .mp4"):  # .mp4 has no playable writer without PyAV
        check_video_output(tmp_path / "a.mp4")


@pytest.mark.browser
def test_written_videos_play_in_chromium(tmp_path):
    for name in ("a.mp4", "a.webm"):
        write_video(tmp_path / name, frames(), 10)
    played = play_in_chromium(tmp_path, [tmp_path / "a.mp4", tmp_path / "a.webm"])
    assert all(state is not None and state[0] >= 2 and state[1] is None for state in played.values()), played


@pytest.mark.parametrize("name", ["out.avi", "out.mkv", "out.gif", "out"])
def test_an_extension_with_no_playable_writer_is_refused(name):
    with pytest.raises(OutputError, match=r"use \.mp4 \(H\.264\) or \.webm \(VP9\)"):
        check_video_output(name)


def test_test_media_may_be_unplayable(tmp_path):
    assert write_video(tmp_path / "m.avi", frames(5), 10, playable=False) == 5
    assert probe(tmp_path / "m.avi")[0] == "mjpeg"


def test_a_written_video_appears_only_when_complete(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="no frames"):
        write_video(path, [], 10)
    assert list(tmp_path.iterdir()) == []

    def frames_then_failure():
        yield np.zeros((16, 16, 3), np.uint8)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_video(path, frames_then_failure(), 10)
    assert list(tmp_path.iterdir()) == []
    assert write_video(path, [np.zeros((16, 16, 3), np.uint8)] * 5, 10) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"] and probe(path)[3] == 5


def test_cli_refuses_an_unplayable_output_video_before_any_work(tmp_path):
    result = CliRunner().invoke(cli, ["classify", "--output-video", str(tmp_path / "o.avi"), str(tmp_path / "missing.mp4")])
    assert result.exit_code == 2 and "use .mp4 (H.264) or .webm (VP9)" in result.stderr


def test_timed_frames_through_a_constant_rate_writer_are_held_until_the_next_ones_time(tmp_path):
    """OpenCV's writers have one rate: red at 10 frames/s for 1 s, then blue at 2 frames/s
    (1.0 ... 2.5 s), written at 10 frames/s, is 26 frames with blue from the 11th on."""
    red, blue = np.full((48, 64, 3), (0, 0, 255), np.uint8), np.full((48, 64, 3), (255, 0, 0), np.uint8)
    timed = [(index / 10, red) for index in range(10)] + [(1 + index / 2, blue) for index in range(4)]
    assert write_video(tmp_path / "m.avi", timed, 10, playable=False) == 14
    capture, written = cv2.VideoCapture(str(tmp_path / "m.avi")), []
    while (read := capture.read())[0]:
        written.append("blue" if read[1][..., 0].mean() > 128 else "red")
    assert written == ["red"] * 10 + ["blue"] * 16
