"""``tf.contrib`` for the runner: the commonly used parts, mapped onto tf_slim and TF.

Served:

* ``tf.contrib.layers`` and ``tf.contrib.slim``: tf_slim (the maintained
  extraction of contrib.layers / slim), e.g. ``xavier_initializer``,
  ``l2_regularizer``, ``conv2d``, ``fully_connected``, ``batch_norm``.
* ``tf.contrib.framework``: the global-step, arg_scope and variable helpers.
* ``tf.contrib.deprecated``: the pre-1.0 summary functions, rebuilt on the
  summary ops TF still has.
* ``tf.contrib.rnn``: the cells that moved to ``tf.compat.v1.nn.rnn_cell``.

Everything else raises :class:`UnsupportedAPIError` naming the path and its
usual replacement (``CONTRIB_SUGGESTIONS``), instead of returning None or an
AttributeError from inside TensorFlow.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

from legacy_tf1.shims.errors import UnsupportedAPIError
from legacy_tf1.shims.tf_module import ModuleNamespace, Resolved, TableNamespace

# Replacement suggestions for the contrib modules we do not serve.
CONTRIB_SUGGESTIONS: dict[str, str] = {
    "learn": "use Keras (`model.compile` + `model.fit`); contrib.learn was removed in TF 2.0 "
    "and its successor tf.estimator in TF 2.16",
    "data": "use tf.data (contrib.data moved there in TF 1.4)",
    "eager": "eager execution is the TF2 default; use tf.GradientTape / tf.function",
    "distributions": "use tensorflow_probability (`tfp.distributions`)",
    "bayesflow": "use tensorflow_probability",
    "lite": "use tf.lite",
    "tpu": "use tf.distribute.TPUStrategy",
    "seq2seq": "use Keras layers (keras.layers.Attention, RNN) or KerasHub",
    "legacy_seq2seq": "use Keras layers (keras.layers.Attention, RNN) or KerasHub",
    "crf": "use a Keras CRF layer (e.g. from tensorflow_addons' successors) or write one",
    "opt": "use keras.optimizers (e.g. AdamW) or tf.compat.v1.train optimizers",
    "training": "use tf.data for input, Keras callbacks or tf.distribute for training",
    "keras": "use keras (Keras 3) or tf_keras",
    "summary": "use tf.summary (the TF2 summary API)",
    "image": "use tf.image (and keras.layers preprocessing layers)",
    "losses": "use tf.compat.v1.losses or keras.losses",
    "metrics": "use keras.metrics or tf.compat.v1.metrics",
    "estimator": "use Keras (`model.fit`): tf.estimator was removed in TF 2.16",
    "predictor": "load a SavedModel with tf.saved_model.load",
    "quantize": "use the TensorFlow Model Optimization Toolkit",
    "cudnn_rnn": "use keras.layers.LSTM / GRU (they pick cuDNN kernels automatically)",
    "nn": "use tf.nn",
    "util": "use tf.make_ndarray / tf.make_tensor_proto",
    "signal": "use tf.signal",
    "tensorboard": "use TensorBoard with tf.summary",
    "graph_editor": "no TF2 replacement; rebuild the graph in code",
    "gan": "use Keras (see the Keras DCGAN examples)",
    "factorization": "no TF2 replacement; rebuild with Keras",
    "timeseries": "no TF2 replacement; use Keras or tensorflow_probability.sts",
    "tensor_forest": "use tensorflow_decision_forests",
    "boosted_trees": "use tensorflow_decision_forests",
    "cluster_resolver": "use tf.distribute.cluster_resolver",
    "distribute": "use tf.distribute",
    "checkpoint": "use tf.train.Checkpoint",
    "feature_column": "use Keras preprocessing layers",
    "mixed_precision": "use keras.mixed_precision",
    "recurrent": "use keras.layers.RNN",
    "stateless": "use tf.random.stateless_*",
    "text": "use tensorflow_text",
    "framework.nest": "use tf.nest",
}

_GENERIC_SUGGESTION = (
    "tf.contrib was removed in TF 2.0; its maintained parts live in tf_slim, "
    "tf.compat.v1, Keras or separate packages"
)


def _missing_contrib(path: str) -> UnsupportedAPIError:
    key = path.removeprefix("tf.contrib.")
    suggestion = CONTRIB_SUGGESTIONS.get(key) or CONTRIB_SUGGESTIONS.get(key.split(".")[0])
    return UnsupportedAPIError(path, suggestion or _GENERIC_SUGGESTION)


def _missing_in(family: str, hint: str) -> Callable[[str], UnsupportedAPIError]:
    def missing(path: str) -> UnsupportedAPIError:
        return UnsupportedAPIError(path, f"{family} has no such name here; {hint}")

    return missing


def _fixed(value: Any, served_by: str) -> Callable[[], Resolved]:
    return lambda: Resolved(value, served_by)


# ----------------------------------------------------- contrib.deprecated ---


def _summary_collections(collections: list[str] | None, tf1: Any) -> list[str]:
    return list(collections) if collections else [tf1.GraphKeys.SUMMARIES]


def _add_to_collections(op: Any, collections: list[str] | None, tf1: Any) -> Any:
    for key in _summary_collections(collections, tf1):
        tf1.add_to_collection(key, op)
    return op


def build_deprecated_module(tf: types.ModuleType) -> types.ModuleType:
    """``tf.contrib.deprecated``: the TF 0.x-style summary functions on today's ops.

    ``scalar_summary`` takes a *tensor* of tags like the old API (the TF 1.x
    ``tf.summary.scalar`` takes one name); all of them add their op to
    ``collections`` (default ``GraphKeys.SUMMARIES``) so ``merge_all`` sees them.
    """
    tf1 = tf.compat.v1
    raw = tf.raw_ops

    def scalar_summary(tags, values, collections=None, name=None):
        with tf1.name_scope(name, "ScalarSummary", [tags, values]):
            op = raw.ScalarSummary(tags=tags, values=values)
        return _add_to_collections(op, collections, tf1)

    def histogram_summary(tag, values, collections=None, name=None):
        with tf1.name_scope(name, "HistogramSummary", [tag, values]):
            op = raw.HistogramSummary(tag=tag, values=values)
        return _add_to_collections(op, collections, tf1)

    def image_summary(tag, tensor, max_images=3, collections=None, name=None):
        with tf1.name_scope(name, "ImageSummary", [tag, tensor]):
            op = raw.ImageSummary(tag=tag, tensor=tensor, max_images=max_images)
        return _add_to_collections(op, collections, tf1)

    def audio_summary(tag, tensor, sample_rate, max_outputs=3, collections=None, name=None):
        with tf1.name_scope(name, "AudioSummary", [tag, tensor]):
            rate = tf.cast(sample_rate, tf.float32)
            op = raw.AudioSummaryV2(
                tag=tag, tensor=tensor, sample_rate=rate, max_outputs=max_outputs
            )
        return _add_to_collections(op, collections, tf1)

    def merge_summary(inputs, collections=None, name=None):
        with tf1.name_scope(name, "MergeSummary", inputs):
            op = raw.MergeSummary(inputs=inputs)
        return _add_to_collections(op, collections, tf1) if collections else op

    def merge_all_summaries(key=tf1.GraphKeys.SUMMARIES):
        summaries = tf1.get_collection(key)
        return merge_summary(summaries) if summaries else None

    module = types.ModuleType("tensorflow.contrib.deprecated", build_deprecated_module.__doc__)
    for function in (
        scalar_summary,
        histogram_summary,
        image_summary,
        audio_summary,
        merge_summary,
        merge_all_summaries,
    ):
        function.__module__ = module.__name__
        setattr(module, function.__name__, function)
    return module


# ------------------------------------------------------- the namespaces ---

_FRAMEWORK_FROM_TF: dict[str, str] = {
    "get_or_create_global_step": "train.get_or_create_global_step",
    "get_global_step": "train.get_global_step",
    "create_global_step": "train.create_global_step",
    "assert_global_step": "train.assert_global_step",
}
_FRAMEWORK_FROM_SLIM = (
    "arg_scope",
    "add_arg_scope",
    "has_arg_scope",
    "arg_scoped_arguments",
    "current_arg_scope",
    "get_variables",
    "get_variables_by_name",
    "get_variables_by_suffix",
    "get_variables_to_restore",
    "get_model_variables",
    "get_local_variables",
    "get_trainable_variables",
    "get_unique_variable",
    "add_model_variable",
    "model_variable",
    "variable",
    "local_variable",
    "global_variable",
    "assign_from_checkpoint",
    "assign_from_checkpoint_fn",
    "assign_from_values",
    "assign_from_values_fn",
    "filter_variables",
)
_RNN_FROM_TF = {
    **{
        name: f"nn.rnn_cell.{name}"
        for name in (
            "BasicLSTMCell",
            "BasicRNNCell",
            "DeviceWrapper",
            "DropoutWrapper",
            "GRUCell",
            "LSTMCell",
            "LSTMStateTuple",
            "MultiRNNCell",
            "RNNCell",
            "ResidualWrapper",
        )
    },
    "static_rnn": "nn.static_rnn",
    "static_bidirectional_rnn": "nn.static_bidirectional_rnn",
    "static_state_saving_rnn": "nn.static_state_saving_rnn",
}


def _attribute_path(root: Any, dotted: str) -> Any:
    return functools.reduce(getattr, dotted.split("."), root)


def _framework_namespace(tf1: Any, tf_slim: Any) -> TableNamespace:
    table: dict[str, Callable[[], Resolved]] = {}
    for name in _FRAMEWORK_FROM_SLIM:
        if hasattr(tf_slim, name):
            table[name] = _fixed(getattr(tf_slim, name), f"tf_slim.{name}")
    for name, dotted in _FRAMEWORK_FROM_TF.items():
        table[name] = _fixed(_attribute_path(tf1, dotted), f"tf.compat.v1.{dotted}")
    hint = "tf.contrib.framework served: " + ", ".join(sorted(table))
    return TableNamespace("tf.contrib.framework", table, _missing_in("tf.contrib.framework", hint))


def _rnn_namespace(tf1: Any) -> TableNamespace:
    table = {
        name: _fixed(_attribute_path(tf1, dotted), f"tf.compat.v1.{dotted}")
        for name, dotted in _RNN_FROM_TF.items()
    }
    hint = "use keras.layers.RNN with LSTMCell/GRUCell, or tf.compat.v1.nn.rnn_cell"
    return TableNamespace("tf.contrib.rnn", table, _missing_in("tf.contrib.rnn", hint))


class _SlimLayersNamespace(ModuleNamespace):
    """``tf.contrib.layers``: tf_slim's top level (which re-exports its layers package)."""

    def resolve(self, name: str) -> Resolved:
        resolved = super().resolve(name)
        if isinstance(resolved.value, types.ModuleType):
            # Sub-modules (tf.contrib.layers.summaries ...) keep the same naming.
            return Resolved(
                _SlimLayersNamespace(
                    resolved.value,
                    f"{self.path}.{name}",
                    resolved.served_by,
                    missing=self.missing,
                ),
                resolved.served_by,
            )
        return resolved


def build_contrib_namespace(tf: types.ModuleType, tf_slim: types.ModuleType) -> TableNamespace:
    """The namespace behind ``tf.contrib``; call after the tf_slim bridges are installed."""
    tf1 = tf.compat.v1
    deprecated = build_deprecated_module(tf)
    hint_layers = "see tf_slim's API or the keras.layers equivalent"
    layers = _SlimLayersNamespace(
        tf_slim,
        "tf.contrib.layers",
        "tf_slim",
        missing=_missing_in("tf.contrib.layers (served by tf_slim)", hint_layers),
    )
    slim = _SlimLayersNamespace(
        tf_slim,
        "tf.contrib.slim",
        "tf_slim",
        missing=_missing_in(
            "tf.contrib.slim (served by tf_slim)",
            "slim's model zoo (nets) lives in tensorflow/models research/slim, not in tf_slim",
        ),
    )
    table: dict[str, Callable[[], Resolved]] = {
        "layers": _fixed(layers, "tf_slim"),
        "slim": _fixed(slim, "tf_slim"),
        "framework": _fixed(_framework_namespace(tf1, tf_slim), "tf_slim / tf.compat.v1.train"),
        "deprecated": _fixed(
            ModuleNamespace(
                deprecated,
                "tf.contrib.deprecated",
                "legacy_tf1.shims.contrib.deprecated",
                missing=_missing_in("tf.contrib.deprecated", "use tf.summary"),
            ),
            "legacy_tf1.shims.contrib",
        ),
        "rnn": _fixed(_rnn_namespace(tf1), "tf.compat.v1.nn.rnn_cell"),
    }
    return TableNamespace("tf.contrib", table, _missing_contrib)


def served_contrib_modules() -> tuple[str, ...]:
    """The ``tf.contrib`` sub-modules the runner serves (for docs and tests)."""
    return ("layers", "slim", "framework", "deprecated", "rnn")
