"""movinet embed and Classifier.embed: the pooled features before the classifier."""

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import needs_pyarrow

from movinet_cli.cli import cli
from movinet_cli.commands.embed import read_rows
from movinet_cli.model import engines
from movinet_cli.outcomes.loading import load_classifier

RED, TEAL = (200, 30, 40), (20, 160, 150)


def unit(rgb):
    return np.array(rgb, np.float32) / 255


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def test_classifier_embed_gives_the_mean_colour(tiny_models):
    frames = np.zeros((12, 16, 16, 3), np.float32)
    frames[:6] = unit(RED)
    frames[6:] = unit(TEAL)
    embedding = load_classifier(tiny_models.base, engine="openvino", precision="f32").embed(frames, fps=6)
    np.testing.assert_allclose(embedding.vector, (unit(RED) + unit(TEAL)) / 2, atol=1e-4)  # float32 sums
    assert len(embedding.spans) == 1 and embedding.spans[0].frames == 12


@pytest.mark.parametrize("kind", ["base", "stream"])
def test_openvino_features_equal_tensorflows(tiny_models, kind):
    rng = np.random.default_rng(3)
    clip = rng.uniform(0, 1, (6, 16, 16, 3)).astype(np.float32)
    outputs = []
    for engine in ("openvino", "tensorflow"):
        model, _ = engines.open_model(getattr(tiny_models, kind), engine=engine, precision="f32")
        if kind == "base":
            outputs.append(model.features(clip))
        else:
            states = model.init_states((3, 16, 16))
            outputs.append(np.stack([model.step_features(clip[i : i + 3], states)[0] for i in (0, 3)]))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    if kind == "base":
        np.testing.assert_allclose(outputs[0], clip.mean(axis=(0, 1, 2)), atol=1e-5)


@pytest.mark.parametrize("suffix", [pytest.param("parquet", marks=needs_pyarrow), "npz"])
def test_embed_writes_a_row_per_video_and_an_error_row(tiny_models, colour_video, tmp_path, suffix):
    red = colour_video("red.mp4", [(RED, 1.0)], fps=10, size=(24, 16))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    output = tmp_path / f"features.{suffix}"
    result = invoke("embed", red, broken, "-o", output, "--model", tiny_models.base, "--size", 16, "-q")
    assert result.exit_code == 1, result.output
    rows = {row["path"]: row for row in read_rows(str(output))}
    np.testing.assert_allclose(rows[red]["embedding"], unit(RED), atol=0.02)  # the codec's colour error
    assert rows[red]["start_s"] == 0 and rows[red]["end_s"] == pytest.approx(1.0, abs=0.1)
    assert rows[red]["model"] == tiny_models.base and rows[red]["error"] is None
    assert rows[str(broken)]["embedding"] is None and rows[str(broken)]["error"]


@needs_pyarrow
def test_per_window_rows_and_resume(tiny_models, colour_video, tmp_path, monkeypatch):
    video = colour_video("two.mp4", [(RED, 1.0), (TEAL, 1.0)], fps=10, size=(24, 16))
    output = tmp_path / "windows.parquet"
    result = invoke("embed", video, "-o", output, "--model", tiny_models.stream, "--size", 16, "--chunk", 5, "--fps", 5, "--per-window", "-q")
    assert result.exit_code == 0, result.output
    rows = read_rows(str(output))
    assert len(rows) == 2  # 10 frames at 5 fps, chunks of 5
    np.testing.assert_allclose(rows[0]["embedding"], unit(RED), atol=0.02)  # the stream model remembers 4 frames
    np.testing.assert_allclose(rows[1]["embedding"], unit(TEAL), atol=0.02)
    assert invoke("embed", video, "-o", output, "--model", tiny_models.stream, "-q").exit_code == 2  # exists: --resume or --overwrite
    import movinet_cli.outcomes.pipeline as classify_module

    monkeypatch.setattr(classify_module.Classifier, "open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded again")))
    result = invoke("embed", video, "-o", output, "--model", tiny_models.stream, "--size", 16, "--resume", "-q")
    assert result.exit_code == 0, result.output
    assert len(read_rows(str(output))) == 2
    before = output.read_bytes()
    other = invoke("embed", video, "-o", output, "--model", tiny_models.base, "--size", 16, "--resume", "-q")  # another model's features
    assert other.exit_code == 2 and "another model" in other.output and output.read_bytes() == before, other.output
