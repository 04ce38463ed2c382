import os
import time

import numpy as np
import pytest
from make_sample_videos import write_colour_video
from media import crash_on_open

from movinet_cli.errors import VideoError
from movinet_cli.inputs import decoders
from movinet_cli.inputs.decoding import IsolatedReader
from movinet_cli.inputs.video import VideoReader

RED = (255, 0, 0)


@pytest.fixture
def red(tmp_path):
    return write_colour_video(str(tmp_path / "red.mp4"), [(RED, 1.0)], 20, (48, 32))


def test_frames_and_stats_are_those_of_the_reader_in_process(red):
    options = dict(fps=5, size=16)
    with VideoReader(red, **options) as reader:
        expected = list(reader.frames())
        expected_stats = reader.stats
    with IsolatedReader(red, ahead=2, **options) as isolated:
        got = list(isolated.frames())
    assert [t for t, _ in got] == [t for t, _ in expected] and len(got) == 5
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, expected))
    assert isolated.stats.duration_s == expected_stats.duration_s and isolated.info.width == 48


def test_a_decoder_crash_is_an_error_naming_the_signal_and_the_file(red):
    with pytest.raises(VideoError, match=r"red\.mp4: the decoder crashed on this file \(killed by SIGSEGV\)"):
        IsolatedReader(red, ahead=2, opener=crash_on_open)


@pytest.mark.parametrize("name", [b"bad\xffutf8.mp4", b"pipe:0.mp4", b"http:x.mp4", b"100%d.mp4", b"-v.mp4", "ñandú ✓.mp4".encode()])
def test_names_that_opencv_or_ffmpeg_misread_are_decoded(tmp_path, name, monkeypatch):
    video = os.path.join(os.fsencode(tmp_path), name)
    write_colour_video(str(tmp_path / "plain.mp4"), [(RED, 1.0)], 20, (48, 32))
    os.rename(tmp_path / "plain.mp4", video)
    monkeypatch.chdir(tmp_path)  # relative: "pipe:0.mp4" must not read stdin
    with IsolatedReader(os.fsdecode(name), ahead=4, fps=5, size=16) as reader:
        frames = list(reader.frames())
    assert len(frames) == 5 and abs(frames[0][1][0, 0, 0] - 1.0) < 0.05


def test_special_files_are_refused_before_opening(tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(VideoError, match="is a named pipe"):
        IsolatedReader(fifo, ahead=1)
    with pytest.raises(VideoError, match="/dev/zero: is a device, not a video file"):
        IsolatedReader("/dev/zero", ahead=1)


def test_closing_early_stops_the_child(tmp_path):
    long = write_colour_video(str(tmp_path / "long.mp4"), [(RED, 20.0)], 20, (48, 32))
    reader = IsolatedReader(long, ahead=2, fps=5, size=16)
    frames = reader.frames()
    next(frames)
    child = reader._decoder.process
    pid = child.pid
    reader.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def pipe_full(connection) -> bool:
    """Whether the pipe behind ``connection`` (the reading end) holds all it can: its writer
    is then blocked in the middle of a message larger than the pipe. A pipe is a ring of
    pages, so that "full" leaves part of the first and last page unused: within two pages."""
    import array
    import fcntl
    import resource
    import termios

    waiting = array.array("i", [0])
    fcntl.ioctl(connection.fileno(), termios.FIONREAD, waiting)
    return waiting[0] > fcntl.fcntl(connection.fileno(), fcntl.F_GETPIPE_SZ) - 2 * resource.getpagesize()


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_decoder_killed_half_way_through_a_message_is_an_error_not_a_hang(tmp_path, monkeypatch):
    import signal

    monkeypatch.setattr(decoders, "_idle", [])  # a new process: one that decoded others would be replaced, and the video tried again

    long = write_colour_video(str(tmp_path / "long.mp4"), [(RED, 20.0)], 20, (320, 240))
    with IsolatedReader(long, ahead=64, fps=12, size=320) as reader:
        frames = reader.frames()
        next(frames)
        while not pipe_full(reader._decoder.messages):  # the child fills the pipe: its next message is cut off mid-write
            time.sleep(0.01)  # polled for the pipe, not waited for a time (the test's timeout bounds it)
        os.kill(reader._decoder.process.pid, signal.SIGKILL)
        with pytest.raises(VideoError, match=r"the decoder crashed on this file \(killed by SIGKILL, perhaps out of memory\)"):
            for _ in frames:
                pass


def test_a_descriptor_names_the_parents_file(red):
    descriptor = os.open(red, os.O_RDONLY)
    try:
        with IsolatedReader(f"/dev/fd/{descriptor}", ahead=4, fps=5, size=16) as reader:
            assert len(list(reader.frames())) == 5
    finally:
        os.close(descriptor)


def test_no_temporary_name_is_left_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    video = os.path.join(os.fsencode(tmp_path), b"bad\xffname.mp4")
    os.rename(write_colour_video(str(tmp_path / "plain.mp4"), [(RED, 5.0)], 20, (48, 32)), video)
    reader = IsolatedReader(os.fsdecode(video), ahead=2, fps=5, size=16)
    next(reader.frames())
    reader.close()  # early, with the child still decoding
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_stopped_decoder_is_killed_by_the_watchdog_half_way_through_a_message_too(tmp_path):
    """Issue 22: a decoder that stopped making progress stalled a batch for ever."""
    import signal

    long = write_colour_video(str(tmp_path / "long.mp4"), [(RED, 20.0)], 20, (320, 240))
    with IsolatedReader(long, ahead=64, fps=12, size=320, stall_s=2) as reader:
        frames = reader.frames()
        next(frames)
        os.kill(reader._decoder.process.pid, signal.SIGSTOP)  # mid-message, likely: the pipe is full
        with pytest.raises(VideoError, match=r"long\.mp4: the decoder stopped making progress for 2\.0 s .* and was killed"):
            for _ in frames:
                pass


@pytest.mark.slow
def test_a_batch_goes_on_after_a_stopped_decoder(palette_models, colour_video, monkeypatch):
    import multiprocessing
    import signal

    from movinet_cli import classify_many, load_classifier

    classifier = load_classifier(palette_models.base, engine="openvino", labels=palette_models.labels)
    videos = [colour_video(f"{name}.mp4", [(RED, 1.0)]) for name in ("stopped", "next")]
    monkeypatch.setenv("MOVINET_DECODER_STALL_S", "3")

    def stop_the_first(video):
        if video == videos[0]:
            for child in multiprocessing.active_children():
                if child.name == "movinet-decode":
                    os.kill(child.pid, signal.SIGSTOP)

    stopped, following = classify_many(classifier, videos, on_start=stop_the_first)
    assert not stopped.ok and stopped.error.startswith("the decoder stopped making progress for 3.0 s")
    assert following.ok and following.result.predictions[0].label == "red"


def test_the_watchdog_limit_scales_with_the_video_and_its_variable_is_checked(monkeypatch):
    from movinet_cli.environment import decoder_stall_s
    from movinet_cli.errors import UsageError
    from movinet_cli.inputs.decoding import WATCHDOG_MIN_S, stall_limit_s
    from movinet_cli.inputs.video import VideoInfo

    small, large = (VideoInfo("v", w, h, 30.0, 300, 0) for w, h in ((320, 240), (3840, 2160)))
    assert stall_limit_s(None, 12) == WATCHDOG_MIN_S
    assert WATCHDOG_MIN_S < stall_limit_s(small, 12) < stall_limit_s(large, 12) < stall_limit_s(large, 12, start_s=600, first=True)
    for bad in ("abc", "0", "-1", "0.001", "nan", "inf", "1e9"):
        monkeypatch.setenv("MOVINET_DECODER_STALL_S", bad)
        with pytest.raises(UsageError, match="MOVINET_DECODER_STALL_S must be a number of seconds from 1 to 604800"):
            decoder_stall_s()


def test_a_prefetched_reader_is_handed_out_for_the_same_file_and_options_only(red, tmp_path):
    """``prefetch`` starts decoding before the model loads; ``reader`` hands that reader out
    when asked for the same file read the same way (the same frames as a fresh one), and
    otherwise reads anew, the prefetched one kept until dropped; a file that cannot be read
    is left for the real reader to report."""
    from movinet_cli.inputs import decoding

    with VideoReader(red, fps=5, size=16) as fresh:
        expected = list(fresh.frames())
    decoding.prefetch(red, ahead=8, fps=5, size=16)
    started = decoding._prefetched[1]
    other = decoding.reader(red, ahead=8, fps=10, size=16)  # another frame rate: not the prefetched one
    assert other is not started and len(list(other.frames())) == 10
    other.close()
    taken = decoding.reader(red, ahead=2, fps=5, size=16)
    assert taken is started and decoding._prefetched is None
    got = list(taken.frames())
    taken.close()
    assert [t for t, _ in got] == [t for t, _ in expected] and all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, expected))
    decoding.prefetch(red, ahead=8, fps=5, size=16)
    left = decoding._prefetched[1]
    decoding.drop_prefetched()
    assert decoding._prefetched is None
    with pytest.raises(VideoError, match="closed"):
        list(left.frames())
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("not a video\n")
    decoding.prefetch(str(not_a_video), ahead=8, fps=5, size=16)
    assert decoding._prefetched is None
    with pytest.raises(VideoError):
        decoding.reader(str(not_a_video), ahead=8, fps=5, size=16)
