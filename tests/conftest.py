"""Shared fixtures: tiny deterministic models, generated videos, an isolated cache."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import make_sample_videos  # noqa: E402
import make_test_model  # noqa: E402

from movinet_cli.environment import NATIVE_BF16 as NATIVE_BF16_VARIABLE  # noqa: E402
from movinet_cli.model.labels import load_labels  # noqa: E402

KINETICS = load_labels()


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (Ray takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: hidden as ``sys.modules[module] = None``
        return False


def needs(module: str, extra: str, package: str = "") -> pytest.MarkDecorator:
    """Skips a test, saying what to install, where ``module`` of the optional ``extra`` is
    missing (.ci/run installs every extra: there they run)."""
    return pytest.mark.skipif(
        not installed(module), reason=f"{package or module} is missing: it comes with the {extra} extra, pip install 'movinet-cli[{extra}]'"
    )


needs_ray = needs("ray", "ray")
needs_sklearn = needs("sklearn", "train", "scikit-learn")
needs_pyarrow = needs("pyarrow", "train")


def expected_label(rgb, labels=KINETICS) -> str:
    """The label the tiny models give a clip of mean colour ``rgb`` (0-255 RGB)."""
    return labels[make_test_model.expected_class([c / 255 for c in rgb], len(labels))]


@pytest.hookimpl(tryfirst=True)  # before -m selects by markers
def pytest_collection_modifyitems(items):
    """A test that opens a window or a browser is slow too: the quick subset leaves it out."""
    for item in items:
        if item.get_closest_marker("window") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


class Clock:
    """A clock for a test: reads ``now`` (seconds), which moves only when the test or its
    fakes say (``advance``; ``sleep`` too, so that code waiting on it never waits)."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))


@pytest.fixture
def rng():
    """A random generator of the test's own, seeded: what it draws does not depend on which
    tests ran before it."""
    import numpy as np

    return np.random.default_rng(7)


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_environment(cache_root, monkeypatch):
    """Every test caches under a temporary directory, sees unexpected errors raised, and runs
    on a CPU taken to have no native bf16: ``--precision auto`` is f32 and the values asserted
    are the same on every CPU (``native_bf16`` gives a test the other answer)."""
    monkeypatch.setenv("MOVINET_CACHE_DIR", str(cache_root))
    monkeypatch.delenv("TFHUB_CACHE_DIR", raising=False)
    monkeypatch.setenv("MOVINET_DEBUG", "1")
    monkeypatch.setenv(NATIVE_BF16_VARIABLE, "0")


@pytest.fixture
def native_bf16(monkeypatch):
    """The CPU taken to have native bf16: every precision decision takes its bf16 branch. On a
    CPU without it OpenVINO still computes f32, so a test asserts the decisions and what is
    said of them here, and values only within bf16's error."""
    monkeypatch.setenv(NATIVE_BF16_VARIABLE, "1")


@contextlib.contextmanager
def library_messages():
    """The messages the library logs while the block runs (``logging`` under "movinet_cli",
    INFO and up: downloads, conversions, an engine's fallback), in order."""
    messages: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger, before = logging.getLogger("movinet_cli"), logging.getLogger("movinet_cli").level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


@pytest.fixture
def library_log():
    """``library_messages`` for the whole test."""
    with library_messages() as messages:
        yield messages


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


@pytest.fixture(scope="session")
def palette_library(palette_models, tmp_path_factory):
    """Palette clips of known colours (red; green; 3 s red then 1 s blue; one not a video),
    classified in 1-second windows in one run into a results database with timelines, a CSV
    and a timeline file at once: (directory, database, csv, timeline). Read only."""
    from movinet_cli import classify_many, load_classifier
    from movinet_cli.options import ReadOptions, RunOptions
    from movinet_cli.outputs.database_sink import DatabaseSink
    from movinet_cli.outputs.sinks import RunContext, drain
    from movinet_cli.outputs.writers import StdoutSink, TimelineSink

    red, green, blue = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    directory = tmp_path_factory.mktemp("palette-library")
    for name, segments in {"red.mp4": [(red, 2.0)], "green.mp4": [(green, 2.0)], "redblue.mp4": [(red, 3.0), (blue, 1.0)]}.items():
        make_sample_videos.write_colour_video(str(directory / name), segments, 10, (32, 24))
    (directory / "broken.mp4").write_text("not a video\n")
    videos = ["red.mp4", "broken.mp4", "green.mp4", "redblue.mp4"]
    classifier = load_classifier(palette_models.base, engine="openvino", labels=palette_models.labels)
    read, run = ReadOptions(), classifier.bounded(RunOptions(top_k=3, window=1.0))
    database, csv = directory / "library.db", directory / "rows.csv"
    text: list[str] = []
    sinks = [
        DatabaseSink(str(database), timelines=True, directory=str(directory)).open(run.top_k, classifier.recipe(read), videos),
        StdoutSink("csv", text.append),
        TimelineSink(str(directory / "timeline.csv"), videos=len(videos)),
    ]
    outcomes = classify_many(classifier, videos, read, run, directory=directory)
    assert str(drain(outcomes, sinks, RunContext.of(classifier, run))) == "3 ok, 1 failed"
    csv.write_text("".join(text))
    return directory, database, csv, directory / "timeline.csv"


@pytest.fixture
def colour_video(tmp_path):
    """``colour_video(name, [(rgb, seconds), ...], fps=25, size=(64, 48))`` -> path."""

    def write(name, segments, fps=25, size=(64, 48)):
        return make_sample_videos.write_colour_video(str(tmp_path / name), segments, fps, size)

    return write


@pytest.fixture
def labelled_folders(tmp_path, colour_video):
    """``labelled_folders({folder: [rgb, ...]}, root="clips")`` -> tmp_path/root/<folder>/<n>.mp4,
    one 0.6 s video of 24x16 px at 10 frames/s per colour: what train and eval read."""

    def make(layout, root="clips"):
        for folder, colours in layout.items():
            (tmp_path / root / folder).mkdir(parents=True)
            for number, rgb in enumerate(colours):
                colour_video(f"{root}/{folder}/{number}.mp4", [(rgb, 0.6)], fps=10, size=(24, 16))
        return tmp_path / root

    return make


@contextlib.contextmanager
def xvfb(width: int, height: int):
    """An Xvfb display of ``width`` x ``height`` on a display number the server picks (so
    that runs side by side never share one): yields its name, ":N". Skips the test where
    Xvfb or xdotool is missing (.ci/run installs them)."""
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("Xvfb and xdotool are needed for the window test (.ci/run installs them)")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"], pass_fds=[write], stderr=subprocess.DEVNULL
    )
    os.close(write)
    number = b""
    while not number.endswith(b"\n"):  # the server writes its number once it is ready
        chunk = os.read(read, 16)
        if not chunk:
            break
        number += chunk
    os.close(read)
    try:
        yield ":" + number.decode().strip()
    finally:
        server.terminate()
        server.wait()


def xdotool(display: str, *args: str) -> str:
    """xdotool's output for ``args`` on ``display``."""
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True, check=True).stdout


def find_window(display: str, name: str, timeout_s: float = 60) -> str:
    """The id of the newest visible (mapped) window whose title contains ``name``, waited
    for, then mapped again, as a window manager would map it. Xvfb has none, and OpenCV's Qt
    sometimes misses the Expose of a window mapped while the machine is busy and then never
    draws it: with two busy loops beside them, about one live window in six stayed black
    (the show loop running, each frame passed to imshow, a resize drawing nothing either);
    unmapped and mapped again, each such window was drawn at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True)
        if found.stdout.strip():
            window = found.stdout.split()[-1]
            xdotool(display, "windowunmap", "--sync", window)
            xdotool(display, "windowmap", "--sync", window)
            return window
        time.sleep(0.3)
    raise AssertionError(f"no window named {name!r} appeared")


def screenshot(display: str):
    """The whole screen of ``display`` (a PIL RGB image)."""
    from PIL import ImageGrab

    return ImageGrab.grab(xdisplay=display).convert("RGB")


def windows_shown(display: str, name: str) -> str:
    """For a failure's message: each window titled ``name`` on ``display``, visible or not,
    with its geometry."""
    found = subprocess.run(["xdotool", "search", "--name", name], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True).stdout.split()
    visible = set(subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True).stdout.split())
    return "; ".join(f"{window} {'visible' if window in visible else 'unmapped'} {' '.join(xdotool(display, 'getwindowgeometry', window).split()[2:])}" for window in found) or "none"


@pytest.fixture
def spool(tmp_path, monkeypatch):
    """Temporary files (``tempfile``'s) go here, and none of ours may be left after the test
    (multiprocessing's own ``pymp-*`` folders aside)."""
    import tempfile

    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    assert not [path for path in directory.iterdir() if not path.name.startswith("pymp-")], "a temporary file was left behind"
