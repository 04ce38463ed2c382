import numpy as np
import pytest

from movinet_cli.inputs.sampling import FrameSampler, windows


def sample(timestamps, fps, **options):
    """(tick time, index of the frame chosen) for a sequence of frame timestamps."""
    sampler = FrameSampler(fps, **options)
    chosen = []
    for index, timestamp in enumerate(timestamps):
        chosen += [(tick, index) for tick in sampler.take(timestamp)]
        if sampler.finished:
            return chosen
    last_period = timestamps[-1] - timestamps[-2]
    return chosen + [(tick, index) for tick in sampler.finish(timestamps[-1] + last_period)]


def test_downsampling_30_to_12_fps_keeps_one_frame_per_tick():
    chosen = sample([i / 30 for i in range(300)], 12)
    assert len(chosen) == 120  # 10 s at 12 fps
    assert [index for _, index in chosen[:6]] == [0, 3, 5, 8, 10, 13]  # first frame at or after k/12
    assert np.allclose(np.diff([tick for tick, _ in chosen]), 1 / 12)


def test_upsampling_repeats_frames():
    chosen = sample([i / 5 for i in range(10)], 12)  # 2 s at 5 fps
    assert len(chosen) == 24
    assert [index for _, index in chosen[:5]] == [0, 1, 1, 2, 2]
    assert [index for _, index in chosen[-3:]] == [9, 9, 9]  # 1.8 s (its own tick) to 2.0 s


def test_irregular_timestamps_are_sampled_by_time_not_by_count():
    rng = np.random.default_rng(0)
    timestamps = np.cumsum(np.concatenate([np.full(30, 0.1), np.full(90, 1 / 30), rng.uniform(0.01, 0.2, 50)]))
    timestamps = np.round(timestamps - timestamps[0], 3)  # containers round to the millisecond
    chosen = sample(timestamps, 12)
    ticks = np.array([tick for tick, _ in chosen])
    assert np.allclose(np.diff(ticks), 1 / 12)
    assert ticks[-1] < timestamps[-1] + (timestamps[-1] - timestamps[-2])
    for tick, index in chosen:  # the first frame at or after each tick, within rounding
        if tick > timestamps[-1]:
            continue  # after the last frame's timestamp: the last frame, shown until the end
        assert timestamps[index] >= tick - 1e-3
        assert index == 0 or timestamps[index - 1] < tick - 1e-6
    # The 3 s at 10 fps get 36 ticks, exactly like the 3 s at 30 fps after them.
    assert sum(tick < 3.0 - 1e-9 for tick in ticks) == 36
    assert sum(3.0 - 1e-9 <= tick < 6.0 - 1e-9 for tick in ticks) == 36


def test_start_and_end_trim_the_ticks():
    chosen = sample([i / 30 for i in range(300)], 12, start_s=2.0, end_s=4.0)
    assert len(chosen) == 24
    assert chosen[0] == (pytest.approx(2.0), 60)
    assert chosen[-1][0] < 4.0


def test_ticks_start_at_the_first_frame_when_the_video_does_not_start_at_zero():
    chosen = sample([0.5 + i / 30 for i in range(60)], 12)
    assert chosen[0] == (0.5, 0)
    assert [index for _, index in chosen].count(0) == 1


def test_sampler_rejects_a_non_positive_rate():
    with pytest.raises(ValueError):
        FrameSampler(0)


def test_windows_split_frames_and_keep_times():
    frames = [(i / 10, np.full((2, 2, 3), i, np.float32)) for i in range(25)]
    parts = list(windows(frames, 10, 10))
    assert [len(w.frames) for w in parts] == [10, 10, 5]
    assert [(w.start_s, w.end_s) for w in parts] == [(0.0, 1.0), (1.0, 2.0), (2.0, pytest.approx(2.5))]
    assert parts[2].frames[0, 0, 0, 0] == 20
