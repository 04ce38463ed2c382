"""Shared fixtures: tiny deterministic models, generated videos, an isolated cache."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import make_sample_videos  # noqa: E402
import make_test_model  # noqa: E402

from movinet_cli.labels import load_labels  # noqa: E402

KINETICS = load_labels()


def expected_label(rgb, labels=KINETICS) -> str:
    """The label the tiny models give a clip of mean colour ``rgb`` (0-255 RGB)."""
    return labels[make_test_model.expected_class([c / 255 for c in rgb], len(labels))]


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_environment(cache_root, monkeypatch):
    """Every test caches under a temporary directory and sees unexpected errors raised."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(cache_root))
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    monkeypatch.setenv("MOVINET_DEBUG", "1")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> SimpleNamespace:
    """600-class colour models (Kinetics labels): ``.base`` and ``.stream`` directories."""
    base, stream = make_test_model.build_models(str(tmp_path_factory.mktemp("tiny")))
    return SimpleNamespace(base=base, stream=stream)


@pytest.fixture(scope="session")
def palette_models(tmp_path_factory) -> SimpleNamespace:
    """8-class colour models with their own ``labels`` file."""
    out = tmp_path_factory.mktemp("palette")
    base, stream = make_test_model.build_models(str(out), num_classes=len(make_test_model.PALETTE))
    return SimpleNamespace(base=base, stream=stream, labels=str(out / "labels.txt"))


@pytest.fixture
def colour_video(tmp_path):
    """``colour_video(name, [(rgb, seconds), ...], fps=25, size=(64, 48))`` -> path."""

    def write(name, segments, fps=25, size=(64, 48)):
        return make_sample_videos.write_colour_video(str(tmp_path / name), segments, fps, size)

    return write
