"""movinet embed and Classifier.embed: the pooled features before the classifier."""

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import needs_pyarrow

from movinet_cli.cli import cli
from movinet_cli.model import engines
from movinet_cli.outcomes.loading import load_classifier
from movinet_cli.outputs.embeddings import read_rows

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
    same = ["--model", tiny_models.stream, "--size", 16, "--chunk", 5, "--fps", 5, "--per-window"]
    result = invoke("embed", video, "-o", output, *same, "--resume", "-q")
    assert result.exit_code == 0, result.output
    assert len(read_rows(str(output))) == 2
    before = output.read_bytes()
    refusals = {  # each a resume that would mix two kinds of rows in one file
        f"--model {tiny_models.base}": ["--model", tiny_models.base, "--size", 16, "--fps", 5, "--per-window"],
        "no --per-window": ["--model", tiny_models.stream, "--size", 16, "--fps", 5],
        "--fps 2 --size 32": ["--model", tiny_models.stream, "--size", 32, "--fps", 2, "--per-window"],
    }
    for named, options in refusals.items():
        other = invoke("embed", video, "-o", output, *options, "--resume", "-q")
        assert other.exit_code == 2 and f"this run asks for {named};" in other.output and output.read_bytes() == before, other.output


def test_a_second_writer_of_an_embeddings_file_is_refused_and_the_first_keeps_its_rows(tiny_models, colour_video, tmp_path):
    from movinet_cli.outputs.claim import Claim

    video = colour_video("red.mp4", [(RED, 1.0)], fps=10, size=(24, 16))
    output = tmp_path / "features.parquet"
    holder = Claim(str(output), "embed")  # another run, mid-way
    try:
        second = invoke("embed", video, "-o", output, "--model", tiny_models.base, "--size", 16, "-q")
        assert second.exit_code == 2 and f"{output} is being written by another movinet embed" in second.output, second.output
        assert output.read_bytes() == b""  # untouched: the holder's
    finally:
        holder.release()
    assert invoke("embed", video, "-o", output, "--model", tiny_models.base, "--size", 16, "-q", "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    "damage",
    ["no error column", "no model column", "integer paths", "vectors of two widths"],
)
def test_a_damaged_embeddings_file_is_refused_before_any_video_is_embedded(tiny_models, colour_video, tmp_path, monkeypatch, damage):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import movinet_cli.outcomes.pipeline as classify_module

    columns = {"path": ["a.mp4", "b.mp4"], "start_s": [0.0, 0.0], "end_s": [1.0, 1.0], "model": [tiny_models.base] * 2,
               "embedding": [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], "error": [None, None]}
    if damage == "no error column":
        del columns["error"]
    elif damage == "no model column":
        del columns["model"]
    elif damage == "integer paths":
        columns["path"] = [1, 2]
    else:
        columns["embedding"] = [[0.1, 0.2, 0.3], [0.1, 0.2]]
    output = tmp_path / "features.parquet"
    pq.write_table(pa.table(columns), output)
    before = output.read_bytes()
    monkeypatch.setattr(classify_module.Classifier, "open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
    video = colour_video("red.mp4", [(RED, 1.0)], fps=10, size=(24, 16))
    result = invoke("embed", video, "-o", output, "--model", tiny_models.base, "--size", 16, "--resume", "-q")
    assert result.exit_code == 2 and "not an embeddings file" in result.output and "unexpected" not in result.output, result.output
    assert output.read_bytes() == before


def test_a_backbone_of_another_class_count_embeds_without_labels(palette_models, colour_video, tmp_path):
    """embed writes features only: it asked for --labels it never prints (8 classes against Kinetics-600's 600)."""
    output = tmp_path / "features.npz"
    result = invoke("embed", colour_video("red.mp4", [(RED, 1.0)], fps=10, size=(24, 16)), "-o", output, "--model", palette_models.base, "--size", 16, "-q")
    assert result.exit_code == 0 and len(read_rows(str(output))) == 1, result.output


def test_a_file_made_by_another_run_since_the_first_check_is_not_replaced(tiny_models, colour_video, tmp_path):
    """Two runs without --resume or --overwrite: the second checked before the first made the file,
    then replaced it whole under its own claim (the first run's rows were lost, exit 0)."""
    from movinet_cli.commands.embed import embed_videos
    from movinet_cli.outputs.embeddings import EmbeddingsFileError

    video = colour_video("red.mp4", [(RED, 1.0)], fps=10, size=(24, 16))
    output = tmp_path / "features.npz"
    assert invoke("embed", video, "-o", output, "--model", tiny_models.base, "--size", 16, "-q").exit_code == 0
    before = output.read_bytes()
    classifier = load_classifier(tiny_models.base, engine="openvino", precision="f32")
    with pytest.raises(EmbeddingsFileError, match="already exists: pass --resume"):
        embed_videos(classifier, [video], str(output))  # as the second run, once it holds the file
    assert output.read_bytes() == before


def test_a_video_named_twice_is_embedded_once(tiny_models, colour_video, tmp_path):
    video = colour_video("red.mp4", [(RED, 1.0)], fps=10, size=(24, 16))
    output = tmp_path / "features.npz"
    assert invoke("embed", video, video, "-o", output, "--model", tiny_models.base, "--size", 16, "-q").exit_code == 0
    assert [row["path"] for row in read_rows(str(output))] == [video]


@pytest.mark.parametrize("damage", ["a column of its own", "integer paths", "columns of unequal lengths"])
def test_an_npz_that_movinet_did_not_write_is_refused_untouched(tiny_models, colour_video, tmp_path, damage):
    columns = {"path": np.array(["a.mp4"]), "start_s": np.zeros(1), "end_s": np.ones(1), "model": np.array([tiny_models.base]),
               "embedding": np.zeros((1, 3), np.float32), "error": np.array([""])}
    if damage == "a column of its own":
        columns["notes"] = np.array(["mine"])
    elif damage == "integer paths":
        columns["path"] = np.array([5])
    else:
        columns["error"] = np.array(["", ""])
    output = tmp_path / "features.npz"
    np.savez(output, **columns)
    before = output.read_bytes()
    result = invoke("embed", colour_video("red.mp4", [(RED, 1.0)], fps=10, size=(24, 16)), "-o", output, "--model", tiny_models.base, "--size", 16, "--resume", "-q")
    assert result.exit_code == 2 and "not an embeddings file" in result.output, result.output
    assert output.read_bytes() == before


def test_rows_name_the_model_as_given_while_the_recipe_holds_its_real_path(tiny_models, colour_video, tmp_path, monkeypatch):
    import os

    from movinet_cli.outputs.embeddings import read_file

    video = colour_video("red.mp4", [(RED, 1.0)], fps=10, size=(24, 16))
    monkeypatch.chdir(os.path.dirname(tiny_models.base))
    output = tmp_path / "features.npz"
    assert invoke("embed", video, "-o", output, "--model", "./base", "--size", 16, "-q").exit_code == 0
    recipe, rows = read_file(str(output))
    assert rows[0]["model"] == "./base" and recipe["--model"] == os.path.realpath(tiny_models.base)


def test_an_output_inside_the_model_directory_is_refused(tiny_models, colour_video, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_models.base, model)
    before = sorted(path.name for path in model.rglob("*"))
    video = colour_video("red.mp4", [(RED, 1.0)])
    for command in (["embed", video, "-o", model / "features.npz"], ["classify", video, "--timeline", model / "variables" / "t.csv"]):
        result = invoke(*command, "--model", model, "--size", 16, "-q")
        assert result.exit_code == 2 and "is inside the input" in result.output and "write outputs outside the model directory" in result.output
    assert sorted(path.name for path in model.rglob("*")) == before  # nothing written there
