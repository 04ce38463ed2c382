"""Loading a model: where its functions are found."""

import subprocess
import sys

import pytest

import movinet_cli
from movinet_cli.outcomes import loading, pipeline


def test_the_package_exports_the_loaders_and_the_pipeline():
    assert movinet_cli.load_classifier is loading.load_classifier and movinet_cli.prepare_model is loading.prepare_model
    assert movinet_cli.classify_video is loading.classify_video and movinet_cli.classify_many is pipeline.classify_many
    assert set(movinet_cli.__all__) <= set(dir(movinet_cli))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        movinet_cli.no_such_name  # noqa: B018


def test_the_package_loads_no_pipeline_until_asked():
    code = "import sys, movinet_cli; print('numpy' in sys.modules); movinet_cli.load_classifier; print('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("name", ["tiny", "a0-base", "a2-stream"])
def test_the_video_prefetched_before_the_model_loads_is_the_one_the_model_reads(tiny_models, colour_video, tmp_path, name):
    """``loading.prefetch`` guesses from the model's name how its classifier reads a video (a
    named variant's frame rate, size and crop; A5's otherwise): the guess is what the loaded
    classifier asks for, so the video opened for the run is the one decoding since before the
    load; where --fps is given, with it."""
    import shutil

    from movinet_cli.inputs import decoding
    from movinet_cli.options import ModelOptions, ReadOptions

    model = str(tmp_path / name)
    shutil.copytree(tiny_models.stream if "stream" in name else tiny_models.base, model)
    video = colour_video("red.mp4", [((255, 0, 0), 1.0)], fps=10)
    for read in (ReadOptions(), ReadOptions(fps=8, start=0.1)):
        loading.prefetch(video, ModelOptions(model=model), read)
        started = decoding._prefetched[1]
        classifier = loading.load_classifier(model, engine="openvino")
        opened = classifier.open(video, read)
        assert opened.reader is started and opened.fps == (read.fps or classifier.fps)
        opened.close()


def test_nothing_is_prefetched_for_a_model_that_cannot_be_named_or_reads_as_it_was_trained(tmp_path, colour_video):
    from movinet_cli.inputs import decoding
    from movinet_cli.options import ModelOptions, ReadOptions

    video = colour_video("red.mp4", [((255, 0, 0), 1.0)], fps=10)
    loading.prefetch(video, ModelOptions(model=str(tmp_path / "no-such-model")), ReadOptions())
    assert decoding._prefetched is None
    head = tmp_path / "trained"
    head.mkdir()
    (head / "head.json").write_text("{}")
    loading.prefetch(video, ModelOptions(model=str(head)), ReadOptions())
    assert decoding._prefetched is None
