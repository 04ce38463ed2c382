"""Where a MoViNet's pooled features are in its graph: the vector before its classifier.

The Hub models return logits only. In the Model Garden's MoViNet (``movinet_layers.py``) the
backbone ends with ``Head``, a 1x1 projection and a global average pool ([b, 1, 1, 1, F]:
480 wide for A0 ... 992 for A5; a cumulative average over every frame seen in a stream
model), then ``ClassifierHead`` applies two 1x1 layers: ``head`` (2048 wide, with its
activation and dropout) and ``classifier`` (the logits). So, going back from the logits along
each operation's data input, the pooled features are what feeds the *second* linear layer
met. This one rule is applied to TensorFlow's graph and to OpenVINO's, so both engines give
the same vector (tests compare them on the test models; see README for a real export).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from movinet_cli.errors import ModelError

MAX_STEPS = 64  # operations between the logits and the pooled features: about 10 in the Hub models
LAYERS_BEFORE_LOGITS = 2  # ClassifierHead's ``head`` and ``classifier`` 1x1 layers

Node = TypeVar("Node")
Handle = TypeVar("Handle", bound=Hashable)


def pooled_input(
    logits: Node, data_inputs: Callable[[Node], Sequence[tuple[Handle, Node]]], is_linear: Callable[[Node], bool]
) -> Handle:
    """The tensor that feeds the second linear layer before ``logits`` (an operation).

    ``data_inputs(node)`` lists a node's non-constant inputs, each as (the tensor, the node
    that makes it), data first; ``is_linear(node)`` says whether it is a convolution or a
    matrix product. Raises ModelError if the graph does not end that way."""
    node, met = logits, 0
    for _ in range(MAX_STEPS):
        inputs = data_inputs(node)
        if not inputs:
            break
        if is_linear(node):
            met += 1
            if met == LAYERS_BEFORE_LOGITS:
                return inputs[0][0]
        node = inputs[0][1]
    raise ModelError(
        "cannot find the pooled features in this model's graph (expected two 1x1 layers between "
        "them and the logits, as MoViNet's classifier has); embeddings and trained heads need a MoViNet"
    )
