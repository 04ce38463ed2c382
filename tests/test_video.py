import numpy as np
import pytest
from media import set_rotation, truncate, write_audio_only, write_still_image, write_vfr_video

from movinet_cli.errors import VideoError
from movinet_cli.inputs.video import VideoReader

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


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
