"""What a VIDEO is (a path, -, a URL, a stream), lists of videos, and what FFmpeg may open for
each: a playlist naming a local file is never followed where the user did not name it."""

import os
import socket
import tempfile
import threading

import pytest
import web
from make_sample_videos import write_colour_video
from media import write_vfr_video

from movinet_cli.errors import UsageError, VideoError
from movinet_cli.inputs import sources
from movinet_cli.inputs.capture import open_capture
from movinet_cli.inputs.decoding import IsolatedReader
from movinet_cli.inputs.opencv import CONTAINERS, FILE_PROTOCOLS, HTTP_PROTOCOLS, RTSP_PROTOCOLS, capture_options, video_capture
from movinet_cli.inputs.sources import SourceError, check_videos, kind_of, name_of, opened, read_list
from movinet_cli.inputs.video import VideoReader
from movinet_cli.outcomes.timeline import timeline_names

RED = (255, 0, 0)


@pytest.fixture
def spool(tmp_path, monkeypatch):
    """Temporary files go here; the test checks that none of ours is left (``left``)."""
    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def left(spool) -> list:
    """Our temporary files still there (multiprocessing's own "pymp-" directory is not ours)."""
    return [path for path in spool.iterdir() if not path.name.startswith("pymp-")]


@pytest.fixture
def segment(tmp_path):
    """A local MPEG-TS video that an HLS playlist can name (it decodes: 1 s of red at 10 fps)."""
    return write_vfr_video(tmp_path / "private.ts", [(RED, 1.0, 10)])


def playlist(segment_url: str) -> str:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{segment_url}\n#EXT-X-ENDLIST\n"


def test_kinds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "concat:x.mp4").write_bytes(b"x")
    assert [kind_of(video) for video in ("-", "a.mp4", "HTTPS://h/v.mp4", "http://h/v", "rtsp://cam/s", "rtsps://cam/s", "concat:x.mp4")] == [
        "stdin", "file", "url", "url", "stream", "stream", "file",  # a name that exists is a file, whatever it looks like
    ]
    assert kind_of(tmp_path / "-") == "file" and name_of("-") == "<stdin>" and name_of("a.mp4") == "a.mp4"


@pytest.mark.parametrize("video", ["concat:a.mp4|b.mp4", "subfile:,start,0,end,9,:/etc/passwd", "data:video/mp4;base64,AAAA", "file:/etc/passwd", "pipe:0"])
def test_ffmpeg_protocols_are_refused_in_one_line(video, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError, match=r"no such file, and \w+: names an FFmpeg protocol, which is not read") as error:
        kind_of(video)
    assert "\n" not in str(error.value)
    with pytest.raises(VideoError, match="names an FFmpeg protocol"):  # and where a library caller opens it
        IsolatedReader(video, ahead=1)


@pytest.mark.parametrize("video", ["ftp://h/v.mp4", "file:///etc/passwd", "smb://h/v.mp4"])
def test_other_urls_are_refused(video):
    with pytest.raises(SourceError, match=r"\w+:// URLs are not read"):
        kind_of(video)


def test_arguments_a_command_cannot_read_are_refused():
    check_videos(["-", "a.mp4", "https://h/v.mp4"], "classify")
    with pytest.raises(SourceError, match="standard input is named twice: it can be read once"):
        check_videos(["-", "a.mp4", "-"], "classify")
    check_videos(["rtsp://cam/s"], "classify", "stream", 10.0)
    check_videos(["rtsp://cam/s"], "classify", None, 10.0)  # the model's mode is not known yet
    for args, said in (
        (("embed", None, 10.0), "read by classify --mode stream --end SECONDS"),
        (("classify", "clip", 10.0), "read in stream mode only"),
        (("classify", "stream", None), "a live stream has no end: give --end SECONDS"),
    ):
        with pytest.raises(SourceError, match=said):
            check_videos(["rtsp://cam/s"], *args)


def test_standard_input_on_a_terminal_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr("sys.stdin", type("Terminal", (), {"isatty": lambda self: True})())
    with pytest.raises(SourceError, match="standard input is a terminal: pipe a video in"):
        check_videos(["-"], "classify")
    check_videos(["a.mp4"], "classify")


def test_a_list_takes_paths_and_urls_a_line(tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_bytes(b"# new today\n a.mp4 \r\n\nsub/b c.mp4\n  # indented comment\nhttps://h/v.mp4\na.mp4\n/abs/\xff.mp4\n")
    assert read_list(str(listed)) == ["a.mp4", "sub/b c.mp4", "https://h/v.mp4", os.fsdecode(b"/abs/\xff.mp4")]  # each once, in order


def test_a_nul_separated_list_is_taken_as_it_is(tmp_path):
    listed = tmp_path / "list0"
    listed.write_bytes(b"./#not a comment.mp4\0 spaced .mp4\0\0line\nbreak.mp4\0")
    assert read_list(str(listed), null=True) == ["./#not a comment.mp4", " spaced .mp4", "line\nbreak.mp4"]


@pytest.mark.parametrize(
    "line, said",
    [("-", r"line 2: -: standard input \(-\) cannot be a video of a list"), ("rtsp://cam/s", "line 2: rtsp://cam/s: a live stream"),
     ("concat:a|b", "line 2: concat:a|b: no such file, and concat: names an FFmpeg protocol")],
)
def test_an_entry_no_list_may_hold_is_refused_naming_its_line(tmp_path, line, said):
    listed = tmp_path / "list.txt"
    listed.write_text(f"a.mp4\n{line}\n")
    with pytest.raises(SourceError, match=f"--files-from {listed}, {said}"):
        read_list(str(listed))


def test_a_list_relative_to_a_directory_and_one_that_cannot_be_read(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "concat:x.mp4").write_bytes(b"x")
    listed = tmp_path / "list.txt"
    listed.write_text("concat:x.mp4\n")
    assert read_list(str(listed), directory=tmp_path / "videos") == ["concat:x.mp4"]  # a file there
    with pytest.raises(UsageError, match="--files-from .*missing.txt: cannot be read"):
        read_list(str(tmp_path / "missing.txt"))
    with pytest.raises(UsageError, match="cannot be read .*directory"):
        read_list(str(tmp_path))


def test_a_process_substitution_list_is_read(tmp_path):
    read, write = os.pipe()
    os.write(write, b"a.mp4\nb.mp4\n")
    os.close(write)
    try:
        assert read_list(f"/proc/self/fd/{read}") == ["a.mp4", "b.mp4"]
    finally:
        os.close(read)


def test_ffmpeg_options_name_the_protocols_after_the_users_own():
    assert capture_options(FILE_PROTOCOLS) == "protocol_whitelist;file"
    assert capture_options(FILE_PROTOCOLS, CONTAINERS, "probesize;32") == f"probesize;32|protocol_whitelist;file|format_whitelist;{CONTAINERS}"
    assert capture_options(RTSP_PROTOCOLS).startswith("rtsp_transport;tcp|")  # OpenCV's default, dropped once the variable is set
    assert capture_options(RTSP_PROTOCOLS, theirs="rtsp_transport;udp") == f"rtsp_transport;udp|protocol_whitelist;{RTSP_PROTOCOLS}"


def test_the_users_capture_options_are_put_back_after_an_open(tmp_path, monkeypatch):
    video = write_colour_video(str(tmp_path / "red.mp4"), [(RED, 0.5)], 10, (32, 24))
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "probesize;5000000")
    assert video_capture(video, FILE_PROTOCOLS).isOpened()
    assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == "probesize;5000000"
    monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS")
    assert video_capture(video, FILE_PROTOCOLS).isOpened() and "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ


def test_a_local_playlist_is_followed_for_a_path_but_not_for_bytes_from_elsewhere(tmp_path, segment):
    listed = tmp_path / "list.m3u8"
    listed.write_text(playlist(f"file://{segment}"))
    with VideoReader(str(listed), fps=10, size=16) as reader:  # the user's own path: their playlist, their files
        assert len(list(reader.frames())) == 10
    with pytest.raises(VideoError, match="not a video file OpenCV can read"):  # as a download or stdin is opened
        VideoReader(str(listed), fps=10, size=16, formats=CONTAINERS)


def test_ffmpeg_reads_no_local_file_that_a_remote_playlist_names(tmp_path, segment):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "list.m3u8").write_text(playlist(f"file://{segment}"))
    with web.serving(tmp_path / "site") as url:
        assert not video_capture(f"{url}/list.m3u8", HTTP_PROTOCOLS).isOpened()
        assert video_capture(f"{url}/list.m3u8", HTTP_PROTOCOLS + ",file").isOpened()  # the whitelist is what stops it


def test_a_downloaded_playlist_naming_a_local_file_fails_in_one_line(tmp_path, segment, spool):
    routes = {
        "/clip.mp4": web.body(playlist(f"file://{segment}").encode()),  # sniffed
        "/concat.mp4": web.body(f"ffconcat version 1.0\nfile {segment}\n".encode()),  # no demuxer of a container
        "/passwd.mp4": web.body(playlist("file:///etc/passwd").encode()),
    }
    with web.serving(tmp_path, routes) as url:
        for route in routes:
            with pytest.raises(VideoError, match=r"(an HLS playlist|not a video file OpenCV can read)") as error:
                IsolatedReader(url + route, ahead=1, fps=10, size=16)
            assert error.value.path == url + route and "\n" not in str(error.value)
    assert not left(spool)


def test_a_url_and_standard_input_are_decoded_as_the_file_is(tmp_path, spool, monkeypatch):
    video = write_colour_video(str(tmp_path / "red.mp4"), [(RED, 1.0)], 10, (32, 24))
    with IsolatedReader(video, ahead=4, fps=5, size=16) as reader:
        expected = [time_s for time_s, _ in reader.frames()]
    with web.serving(tmp_path) as url, IsolatedReader(f"{url}/red.mp4", ahead=4, fps=5, size=16) as reader:
        assert reader.path == f"{url}/red.mp4" and [time_s for time_s, _ in reader.frames()] == expected
    read, write = os.pipe()
    os.write(write, open(video, "rb").read())
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        monkeypatch.setattr("sys.stdin", type("Stdin", (), {"buffer": pipe})())
        with IsolatedReader("-", ahead=4, fps=5, size=16) as reader:
            assert reader.path == "<stdin>" and [time_s for time_s, _ in reader.frames()] == expected
    assert not left(spool)


@pytest.fixture
def rtsp_listener():
    """A TCP port that records what connects to it (the first bytes), then hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    heard: list[bytes] = []

    def accept():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                try:
                    heard.append(connection.recv(200))
                except OSError:
                    heard.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"rtsp://127.0.0.1:{server.getsockname()[1]}/stream", heard
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone does not)
    server.close()
    thread.join(5)


def test_an_rtsp_stream_is_opened_with_the_rtsp_protocols_only(rtsp_listener):
    url, heard = rtsp_listener
    assert not video_capture(url, FILE_PROTOCOLS).isOpened()  # tcp is not allowed: FFmpeg does not even connect
    assert heard == []
    with pytest.raises(VideoError, match=r"rtsp://127.0.0.1:\d+/stream: cannot open the stream: check the URL"):
        VideoReader(url, protocols=RTSP_PROTOCOLS)
    assert heard and heard[0].startswith((b"OPTIONS rtsp://", b"DESCRIBE rtsp://"))


def test_opening_names_what_ffmpeg_may_do(tmp_path):
    video = write_colour_video(str(tmp_path / "red.mp4"), [(RED, 0.5)], 10, (32, 24))
    with opened(video) as opening:
        assert opening == sources.Opening(video, FILE_PROTOCOLS, None)
    with opened("rtsp://cam/s") as opening:
        assert opening == sources.Opening("rtsp://cam/s", RTSP_PROTOCOLS, None)


def test_live_refuses_a_stream_scheme_it_has_no_protocols_for():
    with pytest.raises(Exception, match=r"cannot open stream gopher://h/s: gopher:// is not read \(streams: rtsp://"):
        open_capture("gopher://h/s")


def test_timelines_of_listed_videos_stay_inside_their_directory():
    names = timeline_names(["a.mp4", "sub/b.mp4", "/abs/c.mp4", "../../up.mp4", "https://h/x/d.mp4?token=1", "./e.mp4"], "csv")
    assert names == {
        "a.mp4": "a.csv", "sub/b.mp4": "sub/b.csv", "/abs/c.mp4": "abs/c.csv", "../../up.mp4": "__/__/up.csv",
        "https://h/x/d.mp4?token=1": "h/x/d.csv", "./e.mp4": "e.csv",
    }
