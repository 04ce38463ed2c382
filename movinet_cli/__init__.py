"""movinet-cli: classify what happens in a video with Google's MoViNet (Kinetics-600).

Library use::

    from movinet_cli import ReadOptions, RunOptions, classify_many, load_classifier
    classifier = load_classifier("a0-base")          # once: fetch, convert, compile
    result = classifier.classify("video.mp4", top_k=3)
    print(result.predictions[0].label)
    for outcome in classify_many(classifier, ["a.mp4", "b.mp4"], ReadOptions(fps=5), RunOptions(top_k=3)):
        print(outcome.video, outcome.result.predictions[0].label if outcome.ok else outcome.error)
"""

__version__ = "0.1.0"

from movinet_cli.errors import EngineError, LabelsError, ModelError, MovinetError, VideoError
from movinet_cli.model.registry import VARIANTS
from movinet_cli.options import ModelOptions, ReadOptions, RunOptions

# The pipeline imports NumPy and OpenCV: it is imported when first used, so that the command
# line's --help (which imports this package) stays instant. Name -> the module that has it.
_PIPELINE = {
    **dict.fromkeys(("Classifier", "classify_many"), "outcomes.pipeline"),
    "StreamState": "outcomes.stream_state",
    **dict.fromkeys(("Outcome", "Prediction", "Result"), "outcomes.result"),
    **dict.fromkeys(("classify_video", "load_classifier", "prepare_model"), "outcomes.loading"),
}


def __getattr__(name: str) -> object:
    if name in _PIPELINE:
        import importlib

        return getattr(importlib.import_module(f".{_PIPELINE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PIPELINE))


__all__ = [
    "Classifier",
    "EngineError",
    "LabelsError",
    "ModelError",
    "ModelOptions",
    "MovinetError",
    "Outcome",
    "Prediction",
    "ReadOptions",
    "Result",
    "RunOptions",
    "StreamState",
    "VARIANTS",
    "VideoError",
    "classify_many",
    "classify_video",
    "load_classifier",
    "prepare_model",
]
