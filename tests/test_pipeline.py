import numpy as np
import pytest
from conftest import KINETICS, expected_label
from media import write_vfr_video

from movinet_cli import load_classifier
from movinet_cli.errors import LabelsError, ModelError, VideoError
from movinet_cli.options import ReadOptions

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
MIXED = (200, 55, 90)  # distinct channels: a BGR/RGB swap changes the answer
GREY = (110, 110, 110)  # a [0, 255] range instead of [0, 1] changes the answer


@pytest.fixture(scope="module", params=["tensorflow", "openvino"])
def engine(request):
    return request.param


@pytest.fixture(scope="module")
def base(tiny_models, engine):
    return load_classifier(tiny_models.base, engine=engine)


@pytest.fixture(scope="module")
def stream(tiny_models, engine):
    return load_classifier(tiny_models.stream, engine=engine)


def label_of(probabilities):
    return KINETICS[int(np.argmax(probabilities))]


@pytest.mark.parametrize("colour", [RED, GREEN, BLUE, MIXED, GREY], ids=["red", "green", "blue", "mixed", "grey"])
def test_clip_mode_finds_the_known_answer(base, colour_video, colour):
    result = base.classify(colour_video("clip.mp4", [(colour, 2.0)]), size=32)
    assert result.predictions[0].label == expected_label(colour)
    assert result.predictions[0].probability > 0.5
    assert result.mode == "clip" and result.frames == 24


@pytest.mark.parametrize("colour", [MIXED, GREY], ids=["mixed", "grey"])
def test_stream_mode_finds_the_known_answer(stream, colour_video, colour):
    result = stream.classify(colour_video("clip.mp4", [(colour, 2.0)]), size=32)
    assert result.predictions[0].label == expected_label(colour)
    assert result.mode == "stream" and result.engine == stream.model.engine


def test_swapped_channels_would_give_another_answer():
    swapped = tuple(reversed(MIXED))
    assert expected_label(swapped) != expected_label(MIXED)
    assert expected_label(GREY) != expected_label((255, 255, 255))


def test_variable_frame_rate_is_weighted_by_time(base, tmp_path):
    # 3 s red at 30 fps then 6 s blue at 10 fps: a third red by time, 60% red by frame count.
    path = write_vfr_video(tmp_path / "vfr.mp4", [(RED, 3.0, 30), (BLUE, 6.0, 10)])
    result = base.classify(path, size=32)
    assert result.predictions[0].label == expected_label((255 / 3, 0, 255 * 2 / 3))
    assert expected_label((255 * 0.6, 0, 255 * 0.4)) != result.predictions[0].label


def test_long_videos_run_in_windows_weighted_by_frames(base, colour_video):
    path = colour_video("long.mp4", [(RED, 20.0), (BLUE, 5.0)], fps=10, size=(32, 24))
    result = base.classify(path, fps=5, size=16)
    assert [(s.start_s, round(s.end_s, 3), s.frames) for s in result.steps] == [(0.0, 10.0, 50), (10.0, 20.0, 50), (20.0, 25.0, 25)]
    red, blue = KINETICS.index(expected_label(RED)), KINETICS.index(expected_label(BLUE))
    assert result.probabilities[red] == pytest.approx(0.8 * result.steps[0].probabilities[red], abs=0.02)
    assert result.probabilities[blue] == pytest.approx(0.2 * result.steps[2].probabilities[blue], abs=0.02)
    assert result.duration_s == pytest.approx(25.0, abs=0.01)


@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_stream_result_does_not_depend_on_the_chunk_size(stream, colour_video, chunk):
    path = colour_video("change.mp4", [(RED, 1.0), (MIXED, 1.0), (GREEN, 0.5)], fps=20)
    one_by_one = stream.classify(path, size=16, chunk=1)
    chunked = stream.classify(path, size=16, chunk=chunk)
    np.testing.assert_allclose(chunked.probabilities, one_by_one.probabilities, atol=1e-5)
    assert chunked.frames == one_by_one.frames == 30


def test_stream_aggregates_last_or_mean(stream, colour_video):
    path = colour_video("red-blue.mp4", [(RED, 2.0), (BLUE, 2.0)])
    last = stream.classify(path, size=16, chunk=1)
    mean = stream.classify(path, size=16, chunk=1, aggregate="mean")
    assert last.predictions[0].label == expected_label(BLUE)
    red, blue = KINETICS.index(expected_label(RED)), KINETICS.index(expected_label(BLUE))
    assert mean.probabilities[red] == pytest.approx(mean.probabilities[blue], abs=0.1)
    assert mean.probabilities[red] > 0.35


def test_frames_can_be_passed_as_an_array(base):
    frames = np.zeros((8, 16, 16, 3), np.float32)
    frames[..., 1] = 1.0
    result = base.classify(frames)
    assert result.path is None and result.frames == 8
    assert result.predictions[0].label == expected_label(GREEN)


def test_top_k_and_probabilities(base, colour_video):
    result = base.classify(colour_video("red.mp4", [(RED, 1.0)]), size=16, top_k=3)
    assert len(result.predictions) == 3
    assert [p.probability for p in result.predictions] == sorted((p.probability for p in result.predictions), reverse=True)
    assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_a_bad_video_raises_video_error(base, tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        base.classify(tmp_path / "nothing.mp4")


@pytest.mark.slow
def test_own_labels_for_a_fine_tuned_model(palette_models, colour_video):
    classifier = load_classifier(palette_models.base, labels=palette_models.labels)
    assert classifier.classify(colour_video("c.mp4", [((250, 20, 240), 1.0)]), size=16).predictions[0].label == "magenta"


def test_labels_must_match_the_model_width(palette_models, tiny_models):
    with pytest.raises(LabelsError, match="outputs 8 classes but the built-in Kinetics-600 labels has 600"):
        load_classifier(palette_models.base)
    with pytest.raises(LabelsError, match="outputs 600 classes but labels file .* has 8"):
        load_classifier(tiny_models.base, labels=palette_models.labels)


def test_mode_must_match_the_model_kind(tiny_models):
    with pytest.raises(ModelError, match="is a stream model, which runs with --mode stream"):
        load_classifier(tiny_models.stream, mode="clip")
    assert load_classifier(tiny_models.stream, mode="stream").mode == "stream"


# --- many videos, one loop ------------------------------------------------------------------


@pytest.mark.parametrize("ahead", [0, 2])
def test_classify_many_yields_every_video_in_order_and_goes_on_after_failures(base, colour_video, tmp_path, monkeypatch, ahead):
    from movinet_cli.options import RunOptions
    from movinet_cli.outcomes import pipeline as classify_module

    red, blue = colour_video("red.mp4", [(RED, 1.0)]), colour_video("blue.mp4", [(BLUE, 1.0)])
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    real_run = classify_module.Classifier.run

    def broken_on_blue(self, opened, *args):
        if opened.path == blue:
            opened.close()
            raise RuntimeError("a bug")
        return real_run(self, opened, *args)

    monkeypatch.setattr(classify_module.Classifier, "run", broken_on_blue)
    started = []
    videos = [red, str(junk), blue, red]
    outcomes = list(classify_module.classify_many(base, videos, ReadOptions(size=16), RunOptions(top_k=2), ahead=ahead, on_start=started.append))
    assert [o.video for o in outcomes] == started == videos
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert outcomes[0].result.predictions[0].label == expected_label(RED) and len(outcomes[0].result.predictions) == 2
    assert "cannot be decoded" in outcomes[1].error and str(junk) not in outcomes[1].error and outcomes[1].exception is None
    assert outcomes[2].error == "unexpected RuntimeError: a bug" and isinstance(outcomes[2].exception, RuntimeError)


def test_classify_many_takes_paths_relative_to_a_directory(base, colour_video, tmp_path):
    from movinet_cli.outcomes.pipeline import classify_many

    colour_video("green.mp4", [(GREEN, 1.0)])
    [outcome] = classify_many(base, ["green.mp4"], ReadOptions(size=16), directory=tmp_path)
    assert outcome.video == "green.mp4" and outcome.result.predictions[0].label == expected_label(GREEN)


def test_stream_state_steps_carry_memory_and_reset_forgets_it(stream, colour_video):
    """The state object that stream classification and live share: chunks of any length give
    the stream's answer, and a reset starts afresh."""
    path = colour_video("change.mp4", [(RED, 1.0), (MIXED, 1.0)], fps=12)
    whole = stream.classify(path, size=16, fps=12, chunk=1)
    opened = stream.open(path, ReadOptions(size=16, fps=12))
    frames = np.stack([frame for _, frame in opened.frames])
    opened.close()
    state = stream.stream_state()
    for at in range(0, len(frames), 5):
        probabilities = state.step(frames[at : at + 5])
    np.testing.assert_allclose(probabilities, whole.probabilities, atol=1e-5)
    state.reset()
    fresh = stream.stream_state()
    np.testing.assert_allclose(state.step(frames[-3:]), fresh.step(frames[-3:]), atol=1e-6)
    assert stream.predictions(probabilities, 1)[0].label == whole.predictions[0].label


def test_classify_many_makes_an_error_of_any_failure_to_open_and_refuses_one_path(base, colour_video):
    from movinet_cli.outcomes.pipeline import classify_many

    red = colour_video("red.mp4", [(RED, 1.0)])
    outcomes = list(classify_many(base, [red, "nul\0.mp4", red], ReadOptions(size=16), ahead=2))
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error.startswith("unexpected ValueError") and outcomes[1].exception is not None
    with pytest.raises(TypeError, match="iterable of paths"):
        list(classify_many(base, red))


def test_classify_video_loads_and_classifies_in_one_call(tiny_models, colour_video):
    from movinet_cli import classify_video

    result = classify_video(colour_video("red.mp4", [(RED, 1.0)]), tiny_models.base, engine="openvino", size=16, top_k=2)
    assert result.predictions[0].label == expected_label(RED) and len(result.predictions) == 2


def test_the_duration_of_a_range_is_the_range(tiny_models, colour_video):
    from movinet_cli.outcomes.loading import load_classifier

    video = colour_video("ten.mp4", [((255, 0, 0), 10.0)], fps=25)
    classifier = load_classifier(tiny_models.base)
    ranged = classifier.classify(video, start=2.0, end=6.0, size=16)
    assert ranged.duration_s == pytest.approx(4.0, abs=0.05)
    assert classifier.classify(video, start=8.0, size=16).duration_s == pytest.approx(2.0, abs=0.05)
    assert classifier.classify(video, size=16).duration_s == pytest.approx(10.0, abs=0.05)


def test_a_videos_seconds_leave_out_the_models_one_time_work(tiny_models, colour_video):
    from conftest import Clock

    from movinet_cli.outcomes.loading import load_classifier

    classifier = load_classifier(tiny_models.base)
    classifier.clock = clock = Clock()

    class CompilesOnFirstCall:
        """The tiny model, with a new input shape costing 0.5 s of one-time work, as OpenVINO's
        compiling does, and each call 0.01 s of the video's own (on the test's clock)."""

        def __init__(self, model):
            self.model, self.setup_seconds, self.shapes, self.calls = model, 0.0, set(), 0
            self.engine, self.num_classes, self.precision = model.engine, model.num_classes, model.precision

        def logits(self, clip):
            if clip.shape not in self.shapes:
                self.shapes.add(clip.shape)
                clock.advance(0.5)
                self.setup_seconds += 0.5
            clock.advance(0.01)
            self.calls += 1
            return self.model.logits(clip)

    classifier.model = CompilesOnFirstCall(classifier.model)
    video = colour_video("red.mp4", [((255, 0, 0), 1.0)])
    first = classifier.classify(video, size=16)
    assert classifier.model.setup_seconds == 0.5 and classifier.model.calls >= 1
    assert first.seconds == pytest.approx(0.01 * classifier.model.calls)  # the calls' time, not the compiling's
    again = classifier.classify(video, size=16)  # a known shape: nothing to leave out
    assert classifier.model.setup_seconds == 0.5 and again.seconds == pytest.approx(first.seconds)


class FaultyClip:
    """A clip model whose logits are replaced by ``logits`` (a NaN, an overflow): a fault of
    the engine's output, at the array level."""

    def __init__(self, model, logits):
        self.model, self.fault = model, np.asarray(logits, np.float32)
        self.engine, self.num_classes, self.precision = model.engine, model.num_classes, model.precision
        self.setup_seconds = 0.0

    def logits(self, clip):
        self.model.logits(clip)
        return self.fault


class FaultyStream(FaultyClip):
    """The same for a stream model."""

    def init_states(self, chunk_shape):
        return self.model.init_states(chunk_shape)

    def step(self, frames, states):
        return self.fault, self.model.step(frames, states)[1]


def faulty(model, logits):
    return (FaultyStream if hasattr(model, "step") else FaultyClip)(model, logits)


@pytest.fixture(scope="module")
def palette(palette_models):
    return {kind: load_classifier(getattr(palette_models, kind), engine="openvino", labels=palette_models.labels) for kind in ("base", "stream")}


@pytest.mark.parametrize("kind", ["base", "stream"])
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_a_non_finite_output_is_that_videos_error_not_an_answer(palette, colour_video, kind, bad, word):
    """Issue 22: a NaN output was printed as "hammer throw nan%"."""
    from movinet_cli import classify_many

    classifier = palette[kind]
    model = classifier.model
    classifier.model = faulty(model, [0, 0, 0, bad, 0, 0, 0, 0])
    try:
        video = colour_video("red.mp4", [(RED, 1.0)])
        (outcome,) = classify_many(classifier, [video])
        with pytest.raises(ModelError, match=f"not finite \\({word}"):
            classifier.classify(video)
    finally:
        classifier.model = model
    assert not outcome.ok and outcome.error.startswith(f"the model's output is not finite ({word} in 1 of 8 logits)")


def test_overflowing_logits_give_probabilities_without_a_warning(palette, colour_video):
    import warnings

    classifier = palette["base"]
    model = classifier.model
    classifier.model = faulty(model, [3e38, -3e38, 0, 0, 0, 0, 0, 0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = classifier.classify(colour_video("red.mp4", [(RED, 1.0)]))
    finally:
        classifier.model = model
    assert result.predictions[0].probability == 1.0 and np.isfinite(result.probabilities).all()


def test_a_bad_decoder_stall_variable_is_one_usage_error_not_one_per_video(palette, colour_video, monkeypatch):
    from movinet_cli import classify_many
    from movinet_cli.errors import UsageError

    monkeypatch.setenv("MOVINET_DECODER_STALL_S", "abc")
    video = colour_video("red.mp4", [(RED, 1.0)])
    with pytest.raises(UsageError, match=r"^MOVINET_DECODER_STALL_S must be a number of seconds from 1 to 604800 \(a week\), got 'abc'$"):
        next(classify_many(palette["base"], [video, video]))


@pytest.mark.parametrize("mode", ["clip", "stream"])
def test_the_first_window_or_chunk_is_compiled_while_the_video_is_decoded(tiny_models, colour_video, mode, monkeypatch):
    """OpenVINO compiles the first input shape in the background as the decoder starts: a
    whole window or chunk, or all the frames the container claims where it holds fewer (a
    one-shot run of a clip shorter than a window then waits for the larger of decoding and
    compiling, not both); nothing for a video too short to classify."""
    classifier = load_classifier(getattr(tiny_models, "base" if mode == "clip" else "stream"), engine="openvino")
    asked = []
    monkeypatch.setattr(classifier.model, "compile_ahead", asked.append, raising=True)
    long_enough, short = colour_video("long.mp4", [(RED, 3.0)], fps=10), colour_video("short.mp4", [(RED, 0.6)], fps=10)
    classifier.classify(long_enough, fps=10, size=16, window=2.0, chunk=4)
    result = classifier.classify(short, fps=10, size=16, window=2.0, chunk=8)  # 6 frames: fewer than a window or chunk
    with pytest.raises(VideoError, match="too short"):
        classifier.classify(colour_video("blink.mp4", [(RED, 0.1)], fps=10), fps=10, size=16, window=2.0, chunk=8)
    assert asked == [(20 if mode == "clip" else 4, 16, 16, 3), (result.frames, 16, 16, 3)]
    assert result.frames == 6
