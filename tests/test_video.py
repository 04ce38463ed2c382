import cv2
import numpy as np
import pytest
from media import set_rotation, truncate, write_audio_only, write_still_image, write_vfr_video

from movinet_cli.errors import VideoError
from movinet_cli.inputs.video import FrameSampler, VideoReader, fit_frame, to_model_input, windows

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


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


# --- resampling by timestamp -------------------------------------------------------------


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


# --- spatial preprocessing ----------------------------------------------------------------


def striped_frame():
    """64x48 BGR: red centre, blue 8-pixel bands at the left and right edges."""
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :, 2] = 255
    frame[:, :8] = frame[:, -8:] = (255, 0, 0)
    return frame


def test_crop_follows_the_kinetics_recipe_and_cuts_the_edges():
    from movinet_cli.model.registry import VARIANTS

    cropped = fit_frame(striped_frame(), 32, "crop", VARIANTS["a5-base"].crop_scale)
    assert cropped.shape == (32, 32, 3)
    assert (cropped[..., 2] > 200).all() and (cropped[..., 0] < 50).all()  # only red is left


def test_squash_keeps_the_whole_picture():
    squashed = fit_frame(striped_frame(), 32, "squash")
    assert squashed.shape == (32, 32, 3)
    assert squashed[16, 0, 0] > 200 and squashed[16, 16, 2] > 200  # blue edge, red centre


def test_pad_letterboxes_with_black():
    padded = fit_frame(striped_frame(), 32, "pad")
    assert padded.shape == (32, 32, 3)
    assert (padded[:4] == 0).all() and (padded[-4:] == 0).all()  # 64x48 -> 32x24 + 4-pixel bars
    assert padded[16, 16, 2] > 200


def test_model_input_is_rgb_float_in_unit_range():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's channel order
    frame = to_model_input(bgr)
    assert frame.dtype == np.float32
    assert np.allclose(frame[0, 0], [0, 0, 1])


# --- decoding files -----------------------------------------------------------------------


def read_all(path, **options):
    options = {"fps": 12, "size": 32, **options}
    with VideoReader(path, **options) as reader:
        frames = list(reader.frames())
    return reader, frames


def test_reads_a_video_at_the_model_rate_as_rgb(colour_video):
    reader, frames = read_all(colour_video("red.mp4", [(RED, 2.0)], fps=30))
    assert len(frames) == 24
    assert reader.stats.duration_s == pytest.approx(2.0, abs=0.01)
    times, images = zip(*frames)
    assert np.allclose(np.diff(times), 1 / 12)
    image = images[0]
    assert image.shape == (32, 32, 3) and image.dtype == np.float32
    assert image[..., 0].mean() > 0.9 and image[..., 2].mean() < 0.1  # R first, in [0, 1]


def test_start_and_end_select_the_right_seconds(colour_video):
    path = colour_video("rgb.mp4", [(RED, 1.0), (BLUE, 1.0), (GREEN, 1.0)], fps=25)
    _, frames = read_all(path, start_s=1.0, end_s=2.0)
    assert len(frames) == 12
    assert all(image[..., 2].mean() > 0.9 for _, image in frames)


def test_variable_frame_rate_is_sampled_by_timestamp(tmp_path):
    # 3 s red at 30 fps (90 frames) then 6 s blue at 10 fps (60 frames); nominal rate fits neither.
    path = write_vfr_video(tmp_path / "vfr.mp4", [(RED, 3.0, 30), (BLUE, 6.0, 10)])
    _, frames = read_all(path)
    red = sum(image[..., 0].mean() > 0.5 for _, image in frames)
    blue = sum(image[..., 2].mean() > 0.5 for _, image in frames)
    assert (red, blue) == (36, 72)  # by time: 3 s and 6 s at 12 fps (by count it would be 60:40)


def test_rotation_metadata_is_honoured(colour_video):
    path = colour_video("landscape.mp4", [(RED, 1.0)], size=(64, 48))
    from make_sample_videos import write_video

    left_red = np.zeros((48, 64, 3), np.uint8)
    left_red[:, :32] = RED
    left_red[:, 32:] = BLUE
    write_video(path, [left_red] * 10, 10)
    set_rotation(path, 90)
    reader, frames = read_all(path, size=16, resize="squash")
    assert (reader.info.width, reader.info.height, reader.info.rotation) == (48, 64, 90)
    image = frames[0][1]
    top, bottom = image[:6].mean(axis=(0, 1)), image[-6:].mean(axis=(0, 1))
    assert top[0] > 0.8 and bottom[2] > 0.8  # the left half is now on top


def test_truncated_file_gives_what_decodes_and_a_warning(colour_video):
    path = truncate(colour_video("cut.avi", [(RED, 2.0)], fps=25), 0.5)
    reader, frames = read_all(path)
    assert 4 <= len(frames) < 24
    assert any("truncated" in warning for warning in reader.stats.warnings)


def test_complete_file_has_no_warning(colour_video):
    reader, _ = read_all(colour_video("whole.avi", [(RED, 2.0)], fps=25))
    assert reader.stats.warnings == []


def test_windows_split_frames_and_keep_times():
    frames = [(i / 10, np.full((2, 2, 3), i, np.float32)) for i in range(25)]
    parts = list(windows(frames, 10, 10))
    assert [len(w.frames) for w in parts] == [10, 10, 5]
    assert [(w.start_s, w.end_s) for w in parts] == [(0.0, 1.0), (1.0, 2.0), (2.0, pytest.approx(2.5))]
    assert parts[2].frames[0, 0, 0, 0] == 20


def write_bytes(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing.mp4", "no such file"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: write_bytes(tmp / "empty.mp4", b""), "file is empty"),
        (lambda tmp: write_bytes(tmp / "notes.mp4", b"not a video\n"), "cannot be decoded"),
        (lambda tmp: write_audio_only(tmp / "sound.m4a"), "cannot be decoded"),
        (lambda tmp: write_still_image(tmp / "photo.png"), "still image"),
    ],
    ids=["missing", "directory", "empty", "text", "audio-only", "still-image"],
)
def test_bad_files_raise_a_clear_video_error(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(VideoError, match=message) as caught:
        read_all(path)
    assert str(path) in str(caught.value)


def test_a_single_frame_video_is_too_short(colour_video):
    path = colour_video("blink.mp4", [(RED, 0.04)], fps=25)
    with pytest.raises(VideoError, match="too short: 1 frame"):
        read_all(path)


def test_a_video_range_with_no_frames_is_too_short(colour_video):
    path = colour_video("red.mp4", [(RED, 1.0)], fps=25)
    with pytest.raises(VideoError, match="requested --start/--end range"):
        read_all(path, start_s=5.0)


@pytest.mark.parametrize("variant", ["a0-base", "a2-base", "a5-base"])
def test_the_crop_is_the_eval_recipe_written_with_tensorflow_ops(variant):
    """Shorter side to the variant's eval size (bilinear, as tf.image.resize), central crop."""
    from movinet_cli._lazy import tensorflow
    from movinet_cli.model.registry import VARIANTS

    tf = tensorflow()
    spec = VARIANTS[variant]
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (360, 640, 3), np.uint8)  # noise: any other interpolation shows
    height, width = frame.shape[:2]
    short = spec.eval_short_side
    new_h, new_w = short, round(width * short / height)
    resized = tf.image.resize(frame[np.newaxis].astype(np.float32), [new_h, new_w], method="bilinear")
    reference = tf.image.crop_to_bounding_box(resized, (new_h - spec.size) // 2, (new_w - spec.size) // 2, spec.size, spec.size).numpy()[0]
    ours = fit_frame(frame, spec.size, "crop", spec.crop_scale).astype(np.float32)
    assert ours.shape == reference.shape == (spec.size, spec.size, 3)
    assert np.abs(ours - reference).max() <= 1.0  # rounding to uint8 only


VFR = [((255, 0, 0), 2.0, 30), ((0, 0, 255), 3.0, 5), ((0, 255, 0), 1.0, 25)]


@pytest.mark.parametrize("name, segments, offset_s", [("vfr.mkv", VFR, 0.0), ("offset.mkv", [((255, 0, 0), 3.0, 10)], 100000.0), ("offset.mp4", VFR, 100000.0)])
def test_a_complete_variable_rate_or_offset_file_has_no_truncation_warning(tmp_path, name, segments, offset_s):
    """Issue 22: a complete VFR MKV was warned "decoded 100 of the 180 frames the file claims",
    one made with -output_ts_offset 100000 "decoded 30 of the 3000088 frames"."""
    path = write_vfr_video(tmp_path / name, segments, offset_s=offset_s)
    reader, frames = read_all(path, fps=5)
    assert reader.stats.warnings == []
    assert abs(reader.stats.duration_s - sum(seconds for _, seconds, _ in segments)) < 0.1


@pytest.mark.parametrize("name, offset_s", [("vfr.mkv", 0.0), ("offset.mkv", 100000.0)])
def test_a_truncated_variable_rate_or_offset_file_is_still_warned(tmp_path, name, offset_s):
    path = write_vfr_video(tmp_path / name, VFR, offset_s=offset_s)
    truncate(path, 0.4)
    reader, _ = read_all(path, fps=5)
    assert reader.stats.duration_s < 4
    (warning,) = reader.stats.warnings
    assert "s of the 6.0 s the file claims" in warning and "may be truncated" in warning


@pytest.mark.parametrize("shape", [(2, 1000), (1000, 2), (1, 9), (30, 200)])
def test_a_crop_of_an_extreme_aspect_ratio_costs_the_output_not_the_input(shape, monkeypatch):
    """The central square of a resized 4000x2 frame, without the 344000x172 resized frame:
    within one level of resizing then cropping, and no array larger than the output made."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (*shape, 3), np.uint8)
    height, width = shape
    scale = 172 / min(height, width)
    new_w, new_h = max(172, round(width * scale)), max(172, round(height * scale))
    top, left = (new_h - 172) // 2, (new_w - 172) // 2
    reference = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)[top : top + 172, left : left + 172].astype(int)
    sizes = []
    resize = cv2.resize
    monkeypatch.setattr(cv2, "resize", lambda image, dsize, *args, **kwargs: sizes.append(dsize) or resize(image, dsize, *args, **kwargs))
    ours = fit_frame(frame, 172, "crop")
    assert ours.shape == (172, 172, 3) and np.abs(ours.astype(int) - reference).max() <= 1
    assert all(w * h <= 4 * 172 * 172 for w, h in sizes), sizes
