"""Process-wide switches and patches the runner needs; only ever used in its own process.

* :func:`activate_tf1`: ``TF_USE_LEGACY_KERAS=1`` then
  ``tf.compat.v1.disable_v2_behavior()`` (graph mode, reference variables,
  v1 ``TensorShape``/``Dimension`` so ``shape[1].value`` works).
* :func:`enable_soft_placement`: ops pinned to a device the machine lacks
  (``with tf.device('/gpu:0')``) run on the CPU instead of failing with
  ``Cannot assign a device``: ``tf.config.set_soft_device_placement(True)``
  for sessions made without a config, and ``allow_soft_placement=True``
  forced into the ``ConfigProto`` a script passes to a session.
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

from formats import quiet
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
    # TF's C++ start-up chatter is hidden (unless --verbose); its Python
    # deprecation notices are not: they are about the user's script.
    quiet.tensorflow_startup()
    import tensorflow as tf

    with quiet.deprecations_hidden():  # the runner's call, not the script's
        tf.compat.v1.disable_v2_behavior()
    return tf


SOFT_PLACEMENT = "soft device placement"


def enable_soft_placement(recorder: Recorder) -> None:
    """Soft device placement for every session of this process (see the module docstring)."""
    import tensorflow as tf
    from tensorflow.python.client import session

    tf.config.set_soft_device_placement(True)
    init = session.BaseSession.__init__
    if not getattr(init, "_tf1compat_soft", False):

        def soft_init(self, target="", graph=None, config=None):
            if config is not None and not config.allow_soft_placement:
                copy = type(config)()
                copy.CopyFrom(config)
                copy.allow_soft_placement = True
                config = copy
            init(self, target, graph, config)

        soft_init._tf1compat_soft = True
        session.BaseSession.__init__ = soft_init
    recorder.bridge(
        SOFT_PLACEMENT,
        "on: ops pinned to a device this machine lacks (e.g. `/gpu:0`) run on the CPU "
        "instead of failing with `Cannot assign a device` (sessions' "
        "`ConfigProto.allow_soft_placement` is forced to True)",
    )


_DATASET_ITERATOR_METHODS = ("make_one_shot_iterator", "make_initializable_iterator")


def record_dataset_iterators(recorder: Recorder) -> None:
    """Record ``dataset.make_one_shot_iterator()`` and friends in the report.

    They are methods of TF1 datasets (``DatasetV1``), not module attributes, so
    the tensorflow proxy never sees them; TF2 datasets lack them.
    """
    from tensorflow.python.data.ops import dataset_ops

    for name in _DATASET_ITERATOR_METHODS:
        real = getattr(dataset_ops.DatasetV1, name)
        if getattr(real, "_tf1compat_recorded", False):
            continue

        def recorded(self, *args, _real=real, _name=name, **kwargs):
            recorder.use(f"tf.data.Dataset.{_name}", f"tf.compat.v1.data.Dataset.{_name}")
            return _real(self, *args, **kwargs)

        recorded._tf1compat_recorded = True
        setattr(dataset_ops.DatasetV1, name, recorded)


def bound_stop_at_step_hook(cap: int, recorder: Recorder) -> None:
    """``--cap-loops N``: every ``StopAtStepHook`` stops at most N steps after the session starts.

    ``StopAtStepHook(last_step=1000000)`` (the cifar10 tutorial's) then ends a
    ``MonitoredTrainingSession`` loop after N steps, wherever the loop is written.
    """
    from tensorflow.python.training import basic_session_run_hooks as hooks

    hook_type = hooks.StopAtStepHook
    real = hook_type.after_create_session
    if getattr(real, "_tf1compat_cap", None) is not None:
        return

    def after_create_session(self, session, coord):
        real(self, session, coord)
        start = session.run(self._global_step_tensor)
        asked = self._last_step
        self._last_step = min(asked, start + cap)
        recorder.cap_session(
            f"`StopAtStepHook`: last step {asked} bounded to {self._last_step} "
            f"(global step {start} + cap {cap})"
        )

    after_create_session._tf1compat_cap = cap
    hook_type.after_create_session = after_create_session


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
