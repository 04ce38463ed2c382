"""Fetching a video from a URL or standard input into a private temporary file, against
servers on 127.0.0.1: each case the bytes or one line, and no temporary file left behind."""

import io
import os
import stat

import pytest
import web

from movinet_cli.inputs.downloads import FetchError, Fetching, current, downloaded, fetching, spooled

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40  # what the server sends: its bytes are all that matter here


pytestmark = pytest.mark.usefixtures("spool")  # every test here leaves no temporary file behind


@pytest.fixture
def site(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "clip.mp4").write_bytes(VIDEO)
    (tmp_path / "site" / "page.html").write_text("<html>not a video</html>")
    routes = {
        "/moved": web.redirect("/clip.mp4"),
        "/to-file": web.redirect("file:///etc/passwd"),
        "/to-ftp": web.redirect("ftp://127.0.0.1/clip.mp4"),
        "/stalled": web.stalled,
        "/endless": web.endless,
        "/huge": web.body(b"", length=10 * 1024**3),
        "/cut": web.body(VIDEO[:100], length=len(VIDEO)),
        "/empty": web.body(b""),
        "/playlist.mp4": web.body(b"#EXTM3U\n#EXTINF:1.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"),
        "/hls": web.body(b"#EXTM3U\n", "application/vnd.apple.mpegurl"),
    }
    with web.serving(tmp_path / "site", routes) as url:
        yield url


def fetch(url, **settings) -> bytes:
    with downloaded(url, Fetching(**{"timeout_s": 5.0, **settings})) as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # private
        return open(path, "rb").read()


def test_a_video_is_downloaded_into_a_private_file_removed_after(site, spool):
    seen = []
    with downloaded(f"{site}/clip.mp4", Fetching(timeout_s=5.0)) as path:
        assert os.path.dirname(path) == str(spool) and path.endswith(".mp4") and open(path, "rb").read() == VIDEO
        seen.append(path)
    assert not os.path.exists(seen[0])


def test_redirects_are_followed_to_http_only(site):
    assert fetch(f"{site}/moved") == VIDEO
    for route, scheme in (("/to-file", "file"), ("/to-ftp", "ftp")):
        with pytest.raises(FetchError, match=f"redirected to a {scheme}: URL .*; only http and https are followed"):
            fetch(site + route)


@pytest.mark.parametrize(
    "route, said",
    [
        ("/missing.mp4", "the server answered HTTP 404 File not found"),
        ("/page.html", r"a web page \(text/html\), not a video file"),
        ("/hls", "an HLS playlist, not a video file"),
        ("/playlist.mp4", "an HLS playlist, not a video file"),  # whatever its type says
        ("/empty", "the body is empty"),
        ("/cut", f"closed the connection after 100 B of {len(VIDEO) / 1024:.1f} KiB"),
    ],
)
def test_what_is_no_video_is_one_line(site, route, said):
    with pytest.raises(FetchError, match=said) as error:
        fetch(site + route)
    assert "\n" not in str(error.value)


def test_a_stalled_body_times_out(site):
    with pytest.raises(FetchError, match="timed out: nothing came from the server for 0.3 s"):
        fetch(f"{site}/stalled", timeout_s=0.3)


def test_the_timeout_is_taken_from_the_environment(monkeypatch):
    monkeypatch.setenv("MOVINET_DOWNLOAD_TIMEOUT_S", "7.5")
    assert Fetching().idle_timeout_s() == 7.5
    monkeypatch.setenv("MOVINET_DOWNLOAD_TIMEOUT_S", "soon")
    with pytest.raises(Exception, match="MOVINET_DOWNLOAD_TIMEOUT_S must be a number of seconds"):
        Fetching().idle_timeout_s()


def test_a_body_past_the_bound_is_refused_by_its_length_or_as_it_comes(site):
    with pytest.raises(FetchError, match=r"the video is 10.0 GiB, more than --max-download \(1.0 MiB\)"):
        fetch(f"{site}/huge", max_bytes=1024**2)
    with pytest.raises(FetchError, match=r"the video \(so far\) is .* more than --max-download \(1.0 MiB\)"):
        fetch(f"{site}/endless", max_bytes=1024**2)


def test_network_failures_are_one_line(site, tmp_path):
    port = site.rsplit(":", 1)[1]
    with pytest.raises(FetchError, match="TLS error"):  # a TLS handshake with a plain http server
        fetch(f"https://127.0.0.1:{port}/clip.mp4")
    with pytest.raises(FetchError, match="connection refused"):
        fetch("http://127.0.0.1:9/clip.mp4")  # the discard port: nothing listens there


def test_an_untrusted_certificate_is_a_tls_error(tmp_path):
    certificate = web.self_signed(tmp_path)
    if certificate is None:
        pytest.skip("openssl is not installed: no certificate to serve")
    (tmp_path / "clip.mp4").write_bytes(VIDEO)
    with web.serving(tmp_path, tls=certificate) as url:
        with pytest.raises(FetchError, match="TLS error: the server's certificate is not trusted"):
            fetch(f"{url}/clip.mp4")


def test_progress_is_told_the_bytes_so_far(site):
    told = []

    def progress(name, total):
        told.append((name, total))
        return _Recorder(told)

    assert fetch(f"{site}/clip.mp4", progress=progress) == VIDEO
    assert told[0] == (f"{site}/clip.mp4", len(VIDEO)) and told[-1] == len(VIDEO)


class _Recorder:
    def __init__(self, told):
        self.told = told

    def __enter__(self):
        return self.told.append

    def __exit__(self, *exc):
        return None


def test_the_run_settings_hold_within_their_block():
    assert current() == Fetching()
    with fetching(Fetching(max_bytes=5)):
        assert current().max_bytes == 5
    assert current() == Fetching()


def test_standard_input_is_spooled_bounded_and_removed(spool):
    data = b"video bytes" * 100
    with spooled(io.BytesIO(data), Fetching()) as path:
        assert os.path.dirname(path) == str(spool) and open(path, "rb").read() == data
    with pytest.raises(FetchError, match=r"standard input \(so far\) is .* more than --max-download \(1.0 KiB\)"):
        with spooled(io.BytesIO(data), Fetching(max_bytes=1024)):
            pass
    with pytest.raises(FetchError, match="standard input is empty"):
        with spooled(io.BytesIO(b""), Fetching()):
            pass


def test_a_redirected_file_on_standard_input_is_read_where_it_is(tmp_path, spool):
    video = tmp_path / "clip.mp4"
    video.write_bytes(VIDEO)
    with open(video, "rb") as stream, spooled(stream, Fetching(max_bytes=10)) as path:  # no copy: no bound
        assert path == str(video)
    read, write = os.pipe()
    os.write(write, VIDEO)
    os.close(write)
    with os.fdopen(read, "rb") as stream, spooled(stream, Fetching()) as path:  # a pipe: copied
        assert os.path.dirname(path) == str(spool) and open(path, "rb").read() == VIDEO


def test_a_terminal_on_standard_input_is_refused():
    main, other = os.openpty()
    try:
        with os.fdopen(other, "rb", closefd=False) as terminal, pytest.raises(FetchError, match="standard input is a terminal: pipe a video in"):
            with spooled(terminal, Fetching()):
                pass
    finally:
        os.close(main)
        os.close(other)
