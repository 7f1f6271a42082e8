"""Shared pieces of the faithful legacy graphs.

Every legacy model is built inside :func:`graph_scope`: a fresh ``tf.Graph``
whose root variable scope creates TF1 reference variables. That reproduces the
originals' variables (``RefVariable``, ``Variable_N`` naming, ``/read`` ops)
without calling ``tf.compat.v1.disable_v2_behavior()``, which is process-wide
and would break Keras 3 ports living in the same process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any, Protocol

# tf.compat.v1.layers is served by tf_keras only with this set; TF reads it
# lazily on first access of tf.compat.v1.layers, so setting it here is enough.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1


@dataclasses.dataclass
class LegacyModel:
    """Handles to one legacy graph, named the same way for every model.

    ``inputs`` and ``labels`` are placeholders in the original's own layout
    (for example flat ``[None, 784]`` floats and one-hot labels for seed000).
    ``logits`` are the pre-softmax scores. ``train_feed`` and ``eval_feed``
    hold the extra feeds the original passes (``keep_prob``, ``is_training``).
    ``saver_var_list`` is the variable list of the original's Saver, or None
    when the original saves nothing (we then save all global variables).
    """

    name: str
    graph: tf.Graph
    inputs: tf.Tensor
    labels: tf.Tensor
    logits: tf.Tensor
    loss: tf.Tensor
    train_op: tf.Operation | None
    accuracy: tf.Tensor
    end_points: dict[str, tf.Tensor]
    train_feed: dict[Any, Any] = dataclasses.field(default_factory=dict)
    eval_feed: dict[Any, Any] = dataclasses.field(default_factory=dict)
    saver_var_list: list[tf.Variable] | None = None
    options: Any = None

    def feed(self, images: np.ndarray, labels: np.ndarray | None = None, *, training: bool) -> dict:
        """The feed dict for one batch, with the original's extra feeds."""
        feed = dict(self.train_feed if training else self.eval_feed)
        feed[self.inputs] = images
        if labels is not None:
            feed[self.labels] = labels
        return feed


class BatchSource(Protocol):
    """Where a training loop takes its batches from, in the original layout."""

    num_examples: int

    def next_batch(self, sess: tf1.Session) -> tuple[np.ndarray, np.ndarray]:
        """The next (images, labels) batch; ``sess`` serves queue-based sources."""


@contextlib.contextmanager
def graph_scope(seed: int | None = None) -> Iterator[tf.Graph]:
    """A new graph in TF1 mode: reference variables and an optional graph seed."""
    graph = tf.Graph()
    with graph.as_default():
        if seed is not None:
            tf1.set_random_seed(seed)
        root = tf1.get_variable_scope()
        with tf1.variable_scope(root, use_resource=False):
            yield graph


class OptionError(TypeError):
    """An option name that the model's ``Options`` does not have."""


def replace_options(options: Any, overrides: dict[str, Any]) -> Any:
    """``dataclasses.replace`` with an error that lists the valid option names."""
    fields = {f.name for f in dataclasses.fields(options)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise OptionError(
            f"unknown option(s) {unknown} for {type(options).__module__}; "
            f"expected some of {sorted(fields)}"
        )
    return dataclasses.replace(options, **overrides)
