"""movinet-cli: classify what happens in a video with Google's MoViNet (Kinetics-600).

Library use::

    from movinet_cli import load_classifier
    classifier = load_classifier("a0-base")          # once: fetch, convert, compile
    result = classifier.classify("video.mp4", top_k=3)
    print(result.predictions[0].label)
"""

__version__ = "0.1.0"

from .classify import Classifier, Prediction, Result, classify_video, load_classifier, prepare_model
from .errors import EngineError, LabelsError, ModelError, MovinetError, VideoError
from .models import VARIANTS

__all__ = [
    "Classifier",
    "EngineError",
    "LabelsError",
    "ModelError",
    "MovinetError",
    "Prediction",
    "Result",
    "VARIANTS",
    "VideoError",
    "classify_video",
    "load_classifier",
    "prepare_model",
]
