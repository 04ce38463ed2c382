import numpy as np
import pytest
from media import write_vfr_video

from movinet_cli.outputs.overlay import draw_labels
from movinet_cli.text import percent


def white(frame):
    return frame.min(axis=2) > 200


@pytest.mark.parametrize(("probability", "text"), [(0.0028, "0.3%"), (0.0001, "<0.1%"), (0, "0%"), (0.42, "42%"), (0.999, "100%")])
def test_a_small_probability_keeps_a_decimal(probability, text):
    assert percent(probability) == text


@pytest.mark.parametrize("size", [(120, 160), (160, 120), (1280, 720), (3840, 2160)])
def test_nothing_is_cut_at_the_frame_edge_and_text_grows_with_the_frame(size):
    width, height = size
    frame = np.zeros((height, width, 3), np.uint8)
    lines = [("passing American football (in game)", 0.0028), ("blue", 0.99)]
    draw_labels(frame, lines, footer="8 frames/step, 49 ms/step, latency 0.05 s, dropped 0")
    text = white(frame)
    assert text.any() and not text[:, -2:].any() and not text[-2:].any()  # nothing runs off an edge
    rows = np.flatnonzero(text.any(axis=1))
    assert rows.max() - rows.min() >= min(height, 40 * height / 720)  # the text grows with the frame


def test_one_line_per_label_asked_for():
    def lines_drawn(labels):
        frame = np.zeros((720, 1280, 3), np.uint8)
        draw_labels(frame, labels)
        rows = white(frame).any(axis=1)
        return int(np.count_nonzero(rows[1:] & ~rows[:-1]))  # separate runs of text rows

    assert lines_drawn([("red", 0.9)]) == 1
    assert lines_drawn([("red", 0.9), ("blue", 0.05), ("green", 0.03), ("cyan", 0.01), ("black", 0.004)]) == 5


def test_the_annotated_video_draws_top_k_labels(palette_models, colour_video, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from movinet_cli.cli import cli
    from movinet_cli.outputs import overlay

    counts = set()

    def spy(frame, labels, footer=None):
        counts.add(len(labels))
        return draw_labels(frame, labels, footer)

    monkeypatch.setattr(overlay, "draw_labels", spy)
    video = colour_video("red.mp4", [((255, 0, 0), 1.0)])
    for k in (1, 5):
        counts.clear()
        args = ["classify", "-m", palette_models.base, "--labels", palette_models.labels, "--size", "16", "-k", str(k), "--output-video", str(tmp_path / "o.mp4"), video]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        assert counts == {k}


def shown_at(path, seconds):
    """The annotated video's duration (s: its last frame's time plus one of its periods) and
    the picture (RGB) it shows at ``seconds``, read with PyAV by each frame's own time."""
    import av

    with av.open(str(path)) as container:
        frames = [(float(frame.time), frame.to_ndarray(format="rgb24")) for frame in container.decode(video=0)]
    last = frames[-1][0]
    return last + (last - frames[-2][0]), [picture for time, picture in frames if time <= seconds + 1e-6][-1]


@pytest.mark.parametrize("extension", [".mkv", ".mp4"])
def test_an_annotated_variable_frame_rate_video_keeps_each_frames_time(palette_models, tmp_path, extension):
    """3 s of red at 30 frames/s, then 3 s of blue at 2 frames/s: the annotated video lasts as
    long and shows blue at 4.5 s (evenly spaced frames made it 3.2 s long, red at 4.5 s)."""
    from click.testing import CliRunner

    from movinet_cli.cli import cli

    source = write_vfr_video(tmp_path / f"vfr{extension}", [((255, 0, 0), 3, 30), ((0, 0, 255), 3, 2)], size=(160, 120))
    output = tmp_path / "annotated.mp4"
    args = ["classify", "-m", palette_models.base, "--labels", palette_models.labels, "--size", "16", "-k", "1", "--output-video", str(output), source, "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    duration, picture = shown_at(output, 4.5)
    assert 5.4 <= duration <= 6.1, duration
    corner = picture[-10:, -10:].reshape(-1, 3).mean(0)  # away from the labels' panel at the top left
    assert corner[2] > 200 and corner[0] < 60, corner
