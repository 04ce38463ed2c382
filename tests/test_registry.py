import http.server
import io
import os
import tarfile
import threading
import urllib.error
from pathlib import Path

import pytest

from movinet_cli.errors import ModelError
from movinet_cli.model import registry
from movinet_cli.model.registry import ModelSource, resolve_model

DEFAULT_URL = "https://tfhub.dev/tensorflow/movinet/a5/base/kinetics-600/classification/2"


def test_registry_has_every_variant_with_published_inputs():
    assert len(registry.VARIANTS) == 12
    a5, a0 = registry.VARIANTS["a5-base"], registry.VARIANTS["a0-stream"]
    assert (a5.size, a5.fps, a5.clip_frames, a5.url) == (320, 12, 120, DEFAULT_URL)
    assert (a0.size, a0.fps, a0.clip_frames) == (172, 5, 50)
    assert a0.url == "https://tfhub.dev/tensorflow/movinet/a0/stream/kinetics-600/classification/3"


@pytest.mark.parametrize(
    "name, mode, expected",
    [(None, None, "a5-base"), (None, "stream", "a5-stream"), ("a0", None, "a0-base"), ("A3", "stream", "a3-stream"), ("a2-stream", None, "a2-stream")],
)
def test_registry_names_resolve_by_mode(name, mode, expected):
    source = resolve_model(name, mode)
    assert source.variant.name == expected and source.is_remote


def test_a_model_of_the_wrong_kind_for_the_mode_names_the_right_one():
    with pytest.raises(ModelError, match="--model a0-stream"):
        resolve_model("a0-base", "stream")
    with pytest.raises(ModelError, match="--model a4-base"):
        resolve_model("a4-stream", "clip")


def test_urls_and_directories_are_recognised(tmp_path):
    url = "https://tfhub.dev/tensorflow/movinet/a2/stream/kinetics-600/classification/3"
    assert resolve_model(url).variant.name == "a2-stream"
    directory = tmp_path / "movinet_a1_base"
    directory.mkdir()
    source = resolve_model(str(directory))
    assert not source.is_remote and source.handle == str(directory) and source.variant.name == "a1-base"
    assert resolve_model(str(tmp_path)).variant is None


def test_unknown_names_and_files_are_rejected(tmp_path):
    with pytest.raises(ModelError, match="unknown model 'a9'.*a0-base"):
        resolve_model("a9")
    (tmp_path / "model.pb").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file"):
        resolve_model(str(tmp_path / "model.pb"))


def test_a_directory_without_saved_model_is_rejected(tmp_path):
    with pytest.raises(ModelError, match="not a SavedModel directory"):
        registry.model_directory(resolve_model(str(tmp_path)))


def test_cache_locations_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "mine"))
    assert registry.hub_cache_dir() == tmp_path / "mine" / "tfhub"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))
    assert registry.hub_cache_dir() == tmp_path / "hub"
    monkeypatch.delenv("MOVINET_CACHE_DIR")
    monkeypatch.delenv("TFHUB_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for home in (tmp_path / "home", Path("/tmp") / tmp_path.name / "home"):  # wherever HOME is, /tmp too
        monkeypatch.setenv("HOME", str(home))
        assert registry.cache_dir() == home / ".cache" / "movinet-cli"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert registry.cache_dir() == tmp_path / "xdg" / "movinet-cli"


# --- downloads through tensorflow_hub, served from 127.0.0.1 ------------------------------


def tarball(model_dir: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in os.listdir(model_dir):
            archive.add(os.path.join(model_dir, name), arcname=name)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model_server(tiny_models):
    """An HTTP server on 127.0.0.1 serving the tiny base model as /tiny-base.tar.gz."""
    payload = tarball(tiny_models.base)
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if not self.path.startswith("/tiny-base.tar.gz"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def test_remote_model_downloads_once_into_the_cache(model_server, tmp_path, monkeypatch, library_log):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    base_url, requests = model_server
    requests.clear()  # the server serves the whole module: count this test's requests only
    source = resolve_model(f"{base_url}/tiny-base.tar.gz")
    assert not registry.is_cached(source.handle)
    messages = library_log
    messages.clear()  # what the calls below log
    directory = registry.model_directory(source)
    assert Path(directory, "saved_model.pb").is_file()
    assert Path(directory).parent == tmp_path / "tfhub"
    assert registry.is_cached(source.handle)
    assert len(requests) == 1 and "Downloading" in messages[0]
    assert registry.model_directory(source) == directory  # from the cache, no request
    assert len(requests) == 1


def test_a_partial_cached_copy_is_fetched_again(model_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    source = resolve_model(f"{model_server[0]}/tiny-base.tar.gz")
    partial = registry.cached_model_dir(source.handle)
    (partial / "variables").mkdir(parents=True)  # as left by an interrupted download
    directory = registry.model_directory(source)
    assert Path(directory, "saved_model.pb").is_file()


def test_a_failed_download_names_the_url_the_cache_and_the_alternative(model_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    url = f"{model_server[0]}/missing.tar.gz"
    with pytest.raises(ModelError) as caught:
        registry.model_directory(resolve_model(url))
    message = str(caught.value)
    assert url in message and str(tmp_path / "tfhub") in message and "--model PATH" in message
    assert "\n" not in message


def test_registry_models_go_through_tensorflow_hub_to_the_hub_url(tiny_models, tmp_path, monkeypatch):
    """Only the network edge (urlopen inside tensorflow_hub) is replaced."""
    from tensorflow_hub import resolver

    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))
    payload, requested = tarball(tiny_models.base), []

    def urlopen(self, request):
        requested.append(request.full_url if hasattr(request, "full_url") else request)
        return io.BytesIO(payload)

    monkeypatch.setattr(resolver.HttpResolverBase, "_call_urlopen", urlopen)
    directory = registry.model_directory(resolve_model(None))
    assert requested == [DEFAULT_URL + "?tf-hub-format=compressed"]
    assert directory == str(registry.cached_model_dir(DEFAULT_URL))
    assert registry.is_cached(DEFAULT_URL)


def test_no_network_gives_one_clear_error(tmp_path, monkeypatch):
    from tensorflow_hub import resolver

    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path))

    def offline(self, request):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(resolver.HttpResolverBase, "_call_urlopen", offline)
    with pytest.raises(ModelError, match=r"cannot download https://tfhub.dev/.*a0/base.*name resolution.*movinet models --import a0-base FILE"):
        registry.model_directory(resolve_model("a0-base"))
    assert not registry.is_cached(registry.VARIANTS["a0-base"].url)


def test_model_source_is_remote_only_for_http():
    assert ModelSource("x", "https://example.com/m", None).is_remote
    assert not ModelSource("x", "/models/m", None).is_remote


def test_a_base_model_for_live_is_refused_in_lives_words():
    from movinet_cli.errors import ModelKindError
    from movinet_cli.outcomes.loading import load_classifier

    with pytest.raises(ModelKindError, match=r"^live needs a stream model; a0-base is a base model \(use a0-stream\)$"):
        load_classifier("a0-base", mode="stream", command="live")  # refused by name, before any download


def test_a_cache_or_model_path_that_is_not_utf8_is_one_line_before_any_video(tiny_models, colour_video, tmp_path, monkeypatch):
    """Every video failed with OpenVINO's "Unable to cast Python instance of type str"."""
    import os
    import shutil

    from click.testing import CliRunner

    from movinet_cli.cli import cli

    video = colour_video("red.mp4", [((220, 30, 30), 1.0)])
    strange = os.fsdecode(os.fsencode(str(tmp_path)) + b"/cache-\xff")
    monkeypatch.setenv("MOVINET_CACHE_DIR", strange)
    result = CliRunner().invoke(cli, ["classify", "-m", tiny_models.base, "--size", "16", video, video])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "the cache directory" in result.stderr and "is not UTF-8 text" in result.stderr and "MOVINET_CACHE_DIR" in result.stderr
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    model = os.fsdecode(os.fsencode(str(tmp_path)) + b"/model-\xff")
    shutil.copytree(tiny_models.base, model)
    result = CliRunner().invoke(cli, ["classify", "-m", model, "--size", "16", video])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "is not UTF-8 text" in result.stderr, result.stderr


def test_a_cache_path_too_long_to_use_is_one_line(tiny_models, colour_video, tmp_path, monkeypatch):
    """It was "unexpected OSError: [Errno 36] File name too long" with the 5,000-character path."""
    from click.testing import CliRunner

    from movinet_cli.cli import cli

    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / ("a" * 5000)))
    result = CliRunner().invoke(cli, ["classify", "-m", tiny_models.base, "--size", "16", colour_video("red.mp4", [((220, 30, 30), 1.0)])])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "unexpected" not in result.stderr, result.stderr
    assert "cannot be used (File name too long): set MOVINET_CACHE_DIR" in result.stderr and len(result.stderr) < 500


def test_a_blank_cache_variable_is_as_unset(monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", "   ")
    assert registry.cache_dir().name == "movinet-cli"  # the per-user cache, not a directory named "   "
