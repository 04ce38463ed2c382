import json
import math
import os

import pytest

from movinet_cli import load_classifier, machine
from movinet_cli.commands import pace
from movinet_cli.model import registry

A5, A4, A3, A0 = (registry.VARIANTS[f"{model_id}-stream"] for model_id in ("a5", "a4", "a3", "a0"))


def test_a_fast_machine_keeps_the_largest():
    choice = pace.choose({"a5-stream": (0.030, 12), "a3-stream": (0.010, 12)})
    assert (choice.name, choice.keeps_up) == ("a5-stream", True)
    assert "largest downloaded stream model that keeps up" in choice.reason and "30 ms per frame" in choice.reason


def test_a_slow_machine_gets_the_largest_that_keeps_up_with_headroom():
    # 12 frames/s with 1.5x headroom allow 55.6 ms per frame: A5 at 70 ms would keep up without headroom, not with it.
    measured = {"a5-stream": (0.070, 12), "a4-stream": (0.090, 8), "a3-stream": (0.050, 12), "a0-stream": (0.005, 5)}
    choice = pace.choose(measured)
    assert (choice.name, choice.keeps_up) == ("a3-stream", True)
    assert "a5-stream 70 ms, a4-stream 90 ms too slow" in choice.reason
    assert pace.choose(measured, headroom=1.0).name == "a5-stream"


def test_when_none_keeps_up_the_closest_is_chosen_and_said():
    choice = pace.choose({"a5-stream": (0.5, 12), "a4-stream": (0.3, 8), "a0-stream": (0.25, 5)})
    assert (choice.name, choice.keeps_up) == ("a0-stream", False)  # 1.25 of its frame time, against 6 and 2.4
    assert "none keeps up" in choice.reason and "frames will be dropped" in choice.reason
    with pytest.raises(ValueError):
        pace.choose({})


def test_pick_measures_largest_first_and_stops_at_the_first_that_keeps_up():
    asked = []

    def timing(variant):
        asked.append(variant.name)
        return {"a5-stream": 0.2, "a4-stream": 0.1, "a3-stream": 0.02}.get(variant.name, 0.001), variant.fps

    assert pace.pick([A5, A4, A3, A0], timing).name == "a3-stream"
    assert asked == ["a5-stream", "a4-stream", "a3-stream"]  # a0 never loaded nor measured
    assert [v.name for v in pace.stream_variants()] == [f"a{i}-stream" for i in range(5, -1, -1)]


def test_measuring_chunks_are_up_to_half_a_second_of_frames():
    assert [pace.measuring_chunk(fps) for fps in (12, 8, 5, 1, 0.5, 60)] == [4, 4, 2, 1, 1, 16]


def test_measure_times_a_real_stream_model(tiny_models):
    seconds = pace.measure(load_classifier(tiny_models.stream, mode="stream"), size=16, fps=12, steps=2)
    assert math.isfinite(seconds) and seconds > 0


def test_measurements_are_remembered_per_model_size_and_options(tmp_path):
    path = tmp_path / "cache" / "pace.json"
    book = pace.Measurements(path)
    assert book.get("a5-stream", 320, "auto", "auto") is None
    book.remember("a5-stream", 320, "auto", "auto", 0.06)
    again = pace.Measurements(path)
    assert again.get("a5-stream", 320, "auto", "auto").seconds_per_frame == 0.06
    assert again.get("a5-stream", 320, "auto", "auto").seconds_per_minute(12) == pytest.approx(43.2)
    assert again.get("a5-stream", 16, "auto", "auto") is None and again.get("a5-stream", 320, "auto", "f32") is None
    assert list(json.loads(path.read_text())["machines"]) == [machine.machine()]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"version": 1, "machines": {"m": {"a5-stream 320px auto auto": {"seconds_per_frame": -1, "measured_at": "x"}}}}',
        '{"version": 1, "machines": {"m": {"k": {"seconds_per_frame": NaN, "measured_at": "x"}}}}',
        '{"version": 1, "machines": {"m": {"k": {"seconds_per_frame": true, "measured_at": "x"}}}}',
        '{"version": 99, "machines": {}}',
        b"\xff\xfe",
    ],
)
def test_a_damaged_file_is_ignored_and_rewritten(tmp_path, content):
    path = tmp_path / "pace.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    book = pace.Measurements(path)
    assert book.damaged and book.get("a5-stream", 320, "auto", "auto") is None
    book.remember("a0-stream", 172, "auto", "auto", 0.004)
    assert pace.Measurements(path).get("a0-stream", 172, "auto", "auto").seconds_per_frame == 0.004


def test_a_fifo_in_place_of_the_file_is_neither_read_nor_written(tmp_path):
    path = tmp_path / "pace.json"
    os.mkfifo(path)
    book = pace.Measurements(path)  # returns at once: a FIFO is refused without waiting for a writer
    assert book.damaged
    book.remember("a0-stream", 172, "auto", "auto", 0.004)  # kept in memory only
    assert book.get("a0-stream", 172, "auto", "auto").seconds_per_frame == 0.004


def test_the_time_left_comes_from_the_pace_so_far():
    assert pace.remaining_s(10.0, 60.0, elapsed_s=2.0) == pytest.approx(10.0)  # 0.2 s per second of video, 50 s to go
    assert pace.remaining_s(0.0, 60.0, elapsed_s=2.0) is None  # before the first window
    assert pace.remaining_s(10.0, None, elapsed_s=2.0) is None  # length unknown
    assert pace.remaining_s(61.0, 60.0, elapsed_s=2.0) == 0.0
