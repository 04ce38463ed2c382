"""movinet models --import: a model downloaded by hand, checked, then found as if downloaded."""

import io
import json
import os
import shutil
import tarfile
import zipfile

import pytest
from click.testing import CliRunner

from movinet_cli.cli import cli
from movinet_cli.model import registry

RED = (220, 30, 30)


def run(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def tar_of(directory, path, inner="a0"):
    """A .tar.gz of ``directory`` under the folder ``inner``, as Kaggle's archives hold a SavedModel."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(directory, arcname=inner)
    return path


def nothing_cached(name="a0-base"):
    hub = registry.hub_cache_dir()
    return not registry.is_cached(registry.VARIANTS[name].url) and not any(p.name.startswith(".import-") for p in (hub.iterdir() if hub.exists() else []))


def test_an_imported_archive_is_the_variant_the_commands_find(tiny_models, colour_video, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    archive = tar_of(tiny_models.base, tmp_path / "a0-base.tar.gz")
    result = run("models", "--import", "a0-base", archive)
    assert result.exit_code == 0 and result.stdout.startswith(f"a0-base: imported from {archive} into "), result.output
    assert registry.is_cached(registry.VARIANTS["a0-base"].url)
    assert not [p for p in registry.hub_cache_dir().iterdir() if p.name.startswith(".import-")]  # no staging left
    video = colour_video("red.mp4", [(RED, 1.0)])
    imported = run("classify", "-m", "a0-base", "--size", 16, "-f", "json", video)  # no network: from the cache
    direct = run("classify", "-m", tiny_models.base, "--size", 16, "-f", "json", video)
    assert imported.exit_code == 0, imported.output
    top = [json.loads(r.stdout)["results"][0]["predictions"] for r in (imported, direct)]
    assert [p["label"] for p in top[0]] == [p["label"] for p in top[1]]  # the registry's a0 crops as A0 does: close, not equal
    assert [p["probability"] for p in top[0]] == pytest.approx([p["probability"] for p in top[1]], abs=1e-3)
    again = run("models", "--import", "a0-base", tiny_models.base)  # a directory, over the earlier copy
    assert again.exit_code == 0 and registry.is_cached(registry.VARIANTS["a0-base"].url), again.output


@pytest.mark.parametrize("wrong", ["zip of text", "stream as base", "other classes", "outside", "link", "not an archive"])
def test_a_wrong_archive_is_one_line_and_nothing_is_cached(tiny_models, palette_models, tmp_path, monkeypatch, wrong):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "download.tar.gz"
    if wrong == "zip of text":
        path = tmp_path / "download.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
    elif wrong == "stream as base":
        tar_of(tiny_models.stream, path)
    elif wrong == "other classes":
        tar_of(palette_models.base, path)  # 8 colours, not Kinetics-600
    elif wrong in ("outside", "link"):
        with tarfile.open(path, "w:gz") as tar:
            info = tarfile.TarInfo("../escaped.txt" if wrong == "outside" else "a0/saved_model.pb")
            if wrong == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = 5
                tar.addfile(info, io.BytesIO(b"hello"))
    else:
        path.write_bytes(os.urandom(2048))
    result = run("models", "--import", "a0-base", path)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.startswith(f"Error: --import {path}: "), result.stderr
    assert nothing_cached() and not (tmp_path / "escaped.txt").exists() and not (tmp_path / "cache" / "escaped.txt").exists()


def test_an_unknown_name_is_a_usage_error(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    result = run("models", "--import", "a9-base", tiny_models.base)
    assert result.exit_code == 2 and "not a registry name" in result.stderr


def test_every_variant_names_its_page():
    pages = {variant.page for variant in registry.VARIANTS.values()}
    assert len(pages) == len(registry.VARIANTS) and all(page.startswith("https://www.kaggle.com/models/google/movinet/") for page in pages)


def test_a_fifo_is_refused_at_once(tmp_path, monkeypatch):
    """It waited for a writer forever."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "cache"))
    os.mkfifo(tmp_path / "fifo")
    result = run("models", "--import", "a0-base", tmp_path / "fifo")
    assert result.exit_code == 1 and "not a regular file or directory" in result.stderr and nothing_cached(), result.output


def test_a_directory_holding_the_cache_is_not_copied_into_it(tiny_models, tmp_path, monkeypatch):
    """--import NAME ~ copied the whole home directory, the cache within it, into the cache until
    the names grew too long."""
    home = tmp_path / "home"
    shutil.copytree(tiny_models.base, home / "a0")
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(home / ".cache"))
    result = run("models", "--import", "a0-base", home)  # its one folder holds the SavedModel: that is what is imported
    assert result.exit_code == 0 and registry.is_cached(registry.VARIANTS["a0-base"].url), result.output
    (home / "other").mkdir()  # now the SavedModel is no longer its one folder
    result = run("models", "--import", "a0-base", tmp_path)
    assert result.exit_code == 1 and "holds no SavedModel" in result.stderr, result.output
    shutil.copytree(tiny_models.base, tmp_path / "model")
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(tmp_path / "model" / "cache"))
    result = run("models", "--import", "a0-base", tmp_path / "model")
    assert result.exit_code == 1 and "holds the cache it would be copied into" in result.stderr, result.output
