#!/usr/bin/env python3
"""Writes tiny deterministic MoViNet look-alikes in TF Hub format, for tests and offline demos.

They have the exact interface of the TF Hub models (see shared/docs/movinet-facts.md):

* base: signature ``serving_default``, keyword ``image`` float32 [b, t, h, w, 3] (RGB in
  [0, 1]), one output ``classifier_head`` [b, classes] of logits.
* stream: signatures ``init_states`` (int32 [5] input shape -> zero states) and ``call``
  (``image`` plus the states -> ``logits`` plus new states), states named like the real ones.

Their logits are a known function of colour, so the right answer for a generated clip is
known: each class has a prototype RGB colour, and the logit of class c is
``-SHARPNESS * |mean colour - prototype_c|^2``. As in the Hub models, the logits come from
the pooled features through the classifier's two 1x1 layers (``head`` then ``classifier``,
see ``classifier_weights``); here the pooled features are the mean colour (3 values), so
``movinet embed`` has a known answer. With 600 classes the prototypes are a
10 x 6 x 10 grid over the RGB cube (class = 60 r + 10 g + b, r and b in 0..9, g in 0..5),
so a BGR/RGB swap, a [0, 255] range or a wrong frame mix changes the answer. With
``--palette`` there are 8 classes, the corners of the cube, named in ``labels.txt``.

The base model averages colour over the whole clip; the stream model over the last
``STREAM_MEMORY`` frames it has seen, like a receptive field, carried in its states.

Usage: python scripts/make_test_model.py OUT_DIR [--palette]
  writes OUT_DIR/base and OUT_DIR/stream (and OUT_DIR/labels.txt with --palette).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

import numpy as np

SHARPNESS = 400.0
STREAM_MEMORY = 4  # frames the stream model remembers
GRID_LEVELS = (10, 6, 10)  # R, G, B levels of the 600-class grid
PALETTE = ["black", "blue", "green", "cyan", "red", "magenta", "yellow", "white"]  # index = 4r + 2g + b
BUFFER_STATE = "state_block0_layer0_stream_buffer"
COUNT_STATE = "state_block0_layer0_pool_frame_count"


def prototypes(num_classes: int = 600) -> np.ndarray:
    """The prototype RGB colour of each class, [classes, 3] float32 in [0, 1]."""
    if num_classes == len(PALETTE):
        levels = (2, 2, 2)
    elif num_classes == int(np.prod(GRID_LEVELS)):
        levels = GRID_LEVELS
    else:
        raise ValueError(f"num_classes must be {len(PALETTE)} or {int(np.prod(GRID_LEVELS))}")
    grid = itertools.product(*(np.linspace(0, 1, n) for n in levels))
    return np.array(list(grid), np.float32)


def expected_logits(mean_rgb, num_classes: int = 600) -> np.ndarray:
    """What the test models output for a clip (or stream memory) of mean colour ``mean_rgb``."""
    distance = ((np.asarray(mean_rgb, np.float32) - prototypes(num_classes)) ** 2).sum(-1)
    return -SHARPNESS * distance


def expected_class(mean_rgb, num_classes: int = 600) -> int:
    """The class the test models choose for mean colour ``mean_rgb`` (RGB in [0, 1])."""
    return int(np.argmax(expected_logits(mean_rgb, num_classes)))


def classifier_weights(num_classes: int = 600) -> tuple[np.ndarray, ...]:
    """The classifier's two 1x1 layers, as the Hub models have them after the pooled
    features m (the mean colour, [3]): ``head`` h = (m W1 + b1)^2 = [m^2, (m + 1)^2] ([6]),
    then ``classifier`` logits = h W2 + b2 = -SHARPNESS * |m - prototype|^2, since
    m = ((m + 1)^2 - m^2 - 1) / 2. Returns W1 [3, 6], b1 [6], W2 [6, classes], b2 [classes],
    float32."""
    protos = prototypes(num_classes)  # [classes, 3]
    w1 = np.concatenate([np.eye(3), np.eye(3)], axis=1).astype(np.float32)
    b1 = np.array([0, 0, 0, 1, 1, 1], np.float32)
    w2 = np.concatenate([-SHARPNESS * (1 + protos.T), SHARPNESS * protos.T]).astype(np.float32)
    b2 = (-SHARPNESS * (protos**2 + protos).sum(-1)).astype(np.float32)
    return w1, b1, w2, b2


def build_models(out_dir: str, num_classes: int = 600, output_key: str = "classifier_head") -> tuple[str, str]:
    """Saves the base and stream models under ``out_dir``; returns their directories."""
    from movinet_cli._lazy import tensorflow

    tf = tensorflow()

    class Classifier(tf.Module):
        """The Hub models' classifier: 1x1 convolutions on pooled features [b, 1, 1, 1, 3]."""

        def __init__(self):
            super().__init__()
            shapes = ([1, 1, 1, 3, 6], [6], [1, 1, 1, 6, num_classes], [num_classes])
            self.kernels = [tf.Variable(w.reshape(shape), trainable=False) for w, shape in zip(classifier_weights(num_classes), shapes)]

        def logits_of(self, pooled):
            w1, b1, w2, b2 = self.kernels
            head = tf.square(tf.nn.conv3d(pooled, w1, [1] * 5, "VALID") + b1)
            return tf.reshape(tf.nn.conv3d(head, w2, [1] * 5, "VALID") + b2, [-1, num_classes])

    class Base(Classifier):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32)])
        def serve(self, image):
            return {output_key: self.logits_of(tf.reduce_mean(image, axis=[1, 2, 3], keepdims=True))}

    class Stream(Classifier):

        @tf.function(input_signature=[tf.TensorSpec([5], tf.int32)])
        def init_states(self, input_shape):
            return {
                BUFFER_STATE: tf.zeros([input_shape[0], STREAM_MEMORY, 3], tf.float32),
                COUNT_STATE: tf.zeros([1], tf.int32),
            }

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, None, None, None, 3], tf.float32, name="image"),
                tf.TensorSpec([None, STREAM_MEMORY, 3], tf.float32, name=BUFFER_STATE),
                tf.TensorSpec([1], tf.int32, name=COUNT_STATE),
            ]
        )
        def call(self, image, state_block0_layer0_stream_buffer, state_block0_layer0_pool_frame_count):
            frame_means = tf.reduce_mean(image, axis=[2, 3])  # [b, n, 3]
            buffer = tf.concat([state_block0_layer0_stream_buffer, frame_means], axis=1)[:, -STREAM_MEMORY:]
            count = state_block0_layer0_pool_frame_count + tf.shape(image, out_type=tf.int32)[1]
            valid = tf.minimum(count[0], STREAM_MEMORY)
            mask = tf.cast(tf.range(STREAM_MEMORY) >= STREAM_MEMORY - valid, tf.float32)[None, :, None]
            mean_rgb = tf.reduce_sum(buffer * mask, axis=1) / tf.cast(valid, tf.float32)
            pooled = tf.reshape(mean_rgb, [-1, 1, 1, 1, 3])
            return {"logits": self.logits_of(pooled), BUFFER_STATE: buffer, COUNT_STATE: count}

    base_dir, stream_dir = os.path.join(out_dir, "base"), os.path.join(out_dir, "stream")
    base, stream = Base(), Stream()
    tf.saved_model.save(base, base_dir, signatures={"serving_default": base.serve.get_concrete_function()})
    tf.saved_model.save(
        stream,
        stream_dir,
        signatures={
            "init_states": stream.init_states.get_concrete_function(),
            "call": stream.call.get_concrete_function(),
        },
    )
    if num_classes == len(PALETTE):
        with open(os.path.join(out_dir, "labels.txt"), "w") as handle:
            handle.write("\n".join(PALETTE) + "\n")
    return base_dir, stream_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="directory to write base/ and stream/ into")
    parser.add_argument("--palette", action="store_true", help="8 colour classes instead of 600 (writes labels.txt)")
    args = parser.parse_args(argv)
    base_dir, stream_dir = build_models(args.out_dir, len(PALETTE) if args.palette else 600)
    print(f"wrote {base_dir} and {stream_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
