"""Decoding processes kept from video to video: reused after a video decoded to its end, ended
otherwise, replaced for a second try when one that decoded others dies."""

import os
import signal

import numpy as np
import pytest
from make_sample_videos import write_colour_video
from media import crash_on_open, crash_when_reused

from movinet_cli.errors import VideoError
from movinet_cli.inputs import decoders
from movinet_cli.inputs.decoding import IsolatedReader
from movinet_cli.inputs.video import VideoReader

RED = (255, 0, 0)


@pytest.fixture
def red(tmp_path):
    return write_colour_video(str(tmp_path / "red.mp4"), [(RED, 1.0)], 20, (48, 32))


@pytest.fixture(autouse=True)
def no_idle_decoders(monkeypatch):
    """Each test's first reader starts a new decoding process (those of other tests are left
    alone, to end when idle for long enough)."""
    monkeypatch.setattr(decoders, "_idle", [])


def test_a_decoder_that_finished_a_video_decodes_the_next_and_one_that_did_not_ends(red, tmp_path):
    options = dict(fps=5, size=16)
    with IsolatedReader(red, ahead=2, **options) as first:
        list(first.frames())
        pid = first._decoder.process.pid
    with IsolatedReader(red, ahead=2, **options) as second:
        assert second._decoder.process.pid == pid and len(list(second.frames())) == 5
    long = write_colour_video(str(tmp_path / "long.mp4"), [(RED, 20.0)], 20, (48, 32))
    with IsolatedReader(long, ahead=2, fps=5, size=64) as cut_short:  # 100 frames of 12 kB: more than the pipe holds
        assert cut_short._decoder.process.pid == pid
        next(cut_short.frames())
    with pytest.raises(ProcessLookupError):  # closed before the end: ended, not kept
        os.kill(pid, 0)
    with IsolatedReader(red, ahead=2, **options) as after:
        assert after._decoder.process.pid != pid


def test_a_crash_in_a_decoder_that_decoded_other_videos_is_tried_again_in_a_new_one(red):
    with IsolatedReader(red, ahead=2, opener=crash_when_reused, fps=5, size=16) as first:
        list(first.frames())
        pid = first._decoder.process.pid
    with IsolatedReader(red, ahead=2, opener=crash_when_reused, fps=5, size=16) as second:  # its process crashes, then a new one decodes it
        assert second._decoder.process.pid != pid and len(list(second.frames())) == 5
    with pytest.raises(VideoError, match="the decoder crashed on this file"):  # a new process crashes too: the video's own
        IsolatedReader(red, ahead=2, opener=crash_on_open)


@pytest.mark.slow
def test_a_reused_decoder_killed_half_way_through_a_video_is_replaced_and_no_frame_comes_twice(tmp_path):
    import signal

    video = write_colour_video(str(tmp_path / "video.mp4"), [(RED, 1.0), ((0, 0, 255), 1.0)], 20, (48, 32))
    options = dict(fps=10, size=320)  # a message larger than the pipe: the process cannot have sent them all
    with VideoReader(video, **options) as reader:
        expected = list(reader.frames())
    with IsolatedReader(video, ahead=2, **options) as first:
        list(first.frames())
    with IsolatedReader(video, ahead=2, **options) as second:
        frames = second.frames()
        got = [next(frames)]  # a message of several frames came: the rest of it is handed out first
        killed = second._decoder.process.pid
        os.kill(killed, signal.SIGKILL)
        got += list(frames)
        assert second._retried and second._decoder.process.pid != killed
    assert [t for t, _ in got] == [t for t, _ in expected] and len(got) == 20
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, expected))


def test_a_decoder_is_replaced_after_max_videos(red, monkeypatch):
    monkeypatch.setattr(decoders, "MAX_VIDEOS", 2)
    pids = []
    for _ in range(3):
        with IsolatedReader(red, ahead=2, fps=5, size=16) as reader:
            list(reader.frames())
            pids.append(reader._decoder.process.pid)
    assert pids[0] == pids[1] != pids[2]


@pytest.mark.timeout(60)
def test_an_idle_decoder_ends_when_no_video_comes_or_its_parent_is_gone(monkeypatch):
    import multiprocessing

    jobs, parent_end = multiprocessing.Pipe(duplex=False)
    _, messages = multiprocessing.Pipe(duplex=False)
    interrupt = signal.getsignal(signal.SIGINT)
    try:
        monkeypatch.setattr(decoders, "IDLE_S", 0.01)
        decoders.serve(jobs, messages)  # returns: no video came
        monkeypatch.setattr(decoders, "IDLE_S", 600)
        parent_end.close()
        decoders.serve(jobs, messages)  # returns at once: the parent's end is closed
    finally:
        signal.signal(signal.SIGINT, interrupt)  # serve leaves Ctrl-C to its parent
