"""Process-wide switches and patches the runner needs; only ever used in its own process.

* :func:`activate_tf1`: ``TF_USE_LEGACY_KERAS=1`` then
  ``tf.compat.v1.disable_v2_behavior()`` (graph mode, reference variables,
  v1 ``TensorShape``/``Dimension`` so ``shape[1].value`` works).
* :func:`install_tf_slim_bridges`: tf_slim 1.1.0 was written against TF 2.x
  internals that moved. On TF 2.21 it fails in three places, each bridged
  only if the name is really missing:

  - ``tf_keras.legacy_tf_layers`` (imported lazily by TF's own
    ``tensorflow/python/layers/normalization.py`` for non-fused
    ``batch_norm``) is now ``tf_keras.src.legacy_tf_layers``: aliased in
    ``sys.modules``;
  - ``tensorflow.python.framework.ops.Tensor`` (tf_slim ``layers/utils.py``
    ``constant_value``, reached by every ``batch_norm``) is now
    ``tensorflow.python.framework.tensor.Tensor``;
  - ``control_flow_ops.cond``/``while_loop``/``case``/``Assert`` moved to
    their own modules (``batch_norm`` with a tensor ``is_training``).
"""

from __future__ import annotations

import importlib
import os
import sys
import types

from legacy_tf1.shims.report import Recorder

LEGACY_LAYERS_ALIAS = "tf_keras.legacy_tf_layers"
LEGACY_LAYERS_REAL = "tf_keras.src.legacy_tf_layers"
LEGACY_LAYERS_SUBMODULES = (
    "base",
    "convolutional",
    "core",
    "normalization",
    "pooling",
    "variable_scope_shim",
    "migration_utils",
)
_CONTROL_FLOW_MOVED = ("cond", "while_loop", "case", "Assert")


def activate_tf1() -> types.ModuleType:
    """Import TensorFlow in TF1 mode for this process and return the real module."""
    # Read by TF on first access of tf.compat.v1.layers: must be set before it.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf

    tf.compat.v1.disable_v2_behavior()
    return tf


def install_tf_slim_bridges(recorder: Recorder) -> types.ModuleType:
    """Patch what tf_slim 1.1.0 needs on TF 2.21 (see the module docstring); return tf_slim."""
    _alias_legacy_tf_layers(recorder)
    _restore_ops_tensor(recorder)
    _restore_control_flow(recorder)
    import tf_slim

    return tf_slim


def _alias_legacy_tf_layers(recorder: Recorder) -> None:
    if LEGACY_LAYERS_ALIAS in sys.modules:
        return
    try:
        importlib.import_module(LEGACY_LAYERS_ALIAS)
        return  # a tf_keras that still ships the old path needs no alias
    except ImportError:
        pass
    sys.modules[LEGACY_LAYERS_ALIAS] = importlib.import_module(LEGACY_LAYERS_REAL)
    for name in LEGACY_LAYERS_SUBMODULES:
        real = importlib.import_module(f"{LEGACY_LAYERS_REAL}.{name}")
        sys.modules[f"{LEGACY_LAYERS_ALIAS}.{name}"] = real
    recorder.bridge(
        LEGACY_LAYERS_ALIAS,
        f"aliased to `{LEGACY_LAYERS_REAL}` (tf_slim `batch_norm` imports the old path)",
    )


def _restore_ops_tensor(recorder: Recorder) -> None:
    from tensorflow.python.framework import ops, tensor

    if not hasattr(ops, "Tensor"):
        ops.Tensor = tensor.Tensor
        recorder.bridge(
            "tensorflow.python.framework.ops.Tensor",
            "restored as `tensor.Tensor` (tf_slim `layers.utils.constant_value` uses it)",
        )


def _restore_control_flow(recorder: Recorder) -> None:
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_ops

    restored = []
    for name in _CONTROL_FLOW_MOVED:
        if not hasattr(control_flow_ops, name):
            setattr(control_flow_ops, name, getattr(tf.compat.v1, name))
            restored.append(name)
    if restored:
        recorder.bridge(
            "tensorflow.python.ops.control_flow_ops",
            f"restored {', '.join(restored)} from tf.compat.v1 (tf_slim calls them there)",
        )
