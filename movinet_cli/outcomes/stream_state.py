"""A stream model's memory carried from chunk to chunk of frames (``StreamState``): what
``classify`` steps through a whole video, and ``live`` through a camera's frames."""

from __future__ import annotations

import numpy as np

from movinet_cli.model import engines
from movinet_cli.outcomes.result import softmax


class StreamState:
    """A stream model's memory of the frames it has seen: ``step`` feeds it frames and returns
    the probabilities after them; ``reset`` forgets them (the next step starts afresh)."""

    def __init__(self, model: engines.StreamModel):
        self._model = model
        self._states: object = None  # the engine's, None before the first step

    def step(self, frames: np.ndarray) -> np.ndarray:
        """Frames [n, H, W, 3] float32 RGB in [0, 1] -> probabilities [C] float32 after them."""
        if self._states is None:
            self._states = self._model.init_states(frames.shape[:3])
        logits, self._states = self._model.step(frames, self._states)
        return softmax(logits)

    def features(self, frames: np.ndarray) -> np.ndarray:
        """Like ``step``, returning the pooled features [F] float32 after the frames."""
        if self._states is None:
            self._states = self._model.init_states(frames.shape[:3])
        features, self._states = self._model.step_features(frames, self._states)
        return features

    def reset(self) -> None:
        self._states = None
