"""Building a model whose weights come from a checkpoint, without drawing initial values first.

``tf2_port.build`` runs every layer's initializer (random numbers for ~138M
vgg16 weights: seconds of work and as much memory as the weights), which a
restore then overwrites. :func:`build_unfilled` builds the same model with
its variables' memory allocated but never written (so never resident either),
and :func:`restore_every_variable` restores them, after checking against the
checkpoint's object graph that every variable has a stored value: a variable
left unfilled would hold arbitrary bytes, so a missing one is an error naming
it, never a silent zero or garbage.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class MissingVariablesError(ValueError):
    """A checkpoint lacks values for some of the model's variables."""


def build_unfilled(build_model, config: Any) -> keras.Model:
    """``build_model(config)`` with every checkpointed variable allocated but left unfilled.

    Keras defers initialisation of variables created inside a StatelessScope;
    those a checkpoint holds are then given uninitialised buffers
    (``tf.raw_ops.Empty``) instead of their initializers' values. Variables no
    checkpoint holds (dropout seed states) get their own initializers, as in
    ``tf2_port.build``. The caller must overwrite every checkpointed variable
    (:func:`restore_every_variable` does, or refuses).
    """
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = build_model(config)
    except BaseException:
        _drop_deferred_variables()  # a failed build leaves nothing pending behind
        raise
    checkpointed = {id(v) for v in checkpointed_variables(tf.train.Checkpoint(model=model))}
    fill_deferred_variables(lambda variable: _unfilled if id(variable) in checkpointed else None)
    return model


def build_described(build_model, config: Any) -> keras.Model:
    """``build_model(config)`` whose variables are never created: only their paths, shapes,
    dtypes and trainability may be read (what planning a conversion needs).

    Cheaper than :func:`build_unfilled`: no TensorFlow variable exists at all.
    """
    try:
        with keras.StatelessScope(initialize_variables=False):
            return build_model(config)
    finally:
        _drop_deferred_variables()


def _unfilled(shape, dtype=None):
    return tf.raw_ops.Empty(shape=tf.constant(shape, tf.int32), dtype=dtype, init=False)


def fill_deferred_variables(initializer_for) -> None:
    """Initialise every variable whose initialisation Keras deferred.

    ``initializer_for(variable)`` gives the initializer to use, or None for the
    variable's own. Keras has no public way to initialise deferred variables
    with anything but their own initializers: this replaces the initializer on
    the pending variables, then lets Keras initialise them (which also empties
    its list).
    """
    from keras.src.backend.common import global_state, variables

    pending = global_state.get_global_attribute("uninitialized_variables") or []
    for variable in pending:
        replacement = initializer_for(variable)
        if replacement is not None:
            variable._initializer = replacement
    variables.initialize_all_variables()


def _drop_deferred_variables() -> None:
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("uninitialized_variables", [])


def _descendants(root: Any):
    """Every trackable reachable from ``root`` (as a checkpoint save walks them), once each."""
    seen, pending = set(), [root]
    while pending:
        trackable = pending.pop()
        if id(trackable) in seen:
            continue
        seen.add(id(trackable))
        yield trackable
        pending.extend(tf.train.TrackableView.children(trackable).values())


def checkpointed_variables(root: Any) -> list:
    """The variables a checkpoint of ``root`` holds: those reachable through tracked children."""
    return [t for t in _descendants(root) if _is_variable(t)]


def _is_variable(value: Any) -> bool:
    return isinstance(value, (keras.Variable, tf.Variable))


def _stored_graph(prefix: str) -> trackable_object_graph_pb2.TrackableObjectGraph:
    reader = tf.train.load_checkpoint(prefix)
    if not reader.has_tensor(OBJECT_GRAPH_KEY):
        raise MissingVariablesError(
            f"{prefix}: not an object-based (TF2) checkpoint: it has no object graph"
        )
    return trackable_object_graph_pb2.TrackableObjectGraph.FromString(
        reader.get_tensor(OBJECT_GRAPH_KEY)
    )


def _label(variable: Any, trail: str) -> str:
    path = getattr(variable, "path", None) or getattr(variable, "name", None)
    return f"{path} ({trail})" if path else trail


def missing_variables(root: tf.train.Checkpoint, prefix: str) -> list[str]:
    """The variables reachable from ``root`` that the checkpoint at ``prefix`` holds no value for.

    Walks the Python object tree and the stored object graph together, child
    name by child name (as a restore matches them), without reading tensors.
    A variable reachable by several paths needs a value on one of them.
    """
    graph = _stored_graph(prefix)
    reached: dict[int, str] = {}
    matched: set[int] = set()
    seen: set[tuple[int, int | None]] = set()
    pending: list[tuple[Any, int | None, str]] = [(root, 0, "")]
    while pending:
        trackable, node_id, trail = pending.pop()
        if (id(trackable), node_id) in seen:
            continue
        seen.add((id(trackable), node_id))
        node = graph.nodes[node_id] if node_id is not None else None
        if _is_variable(trackable):
            reached.setdefault(id(trackable), _label(trackable, trail))
            if node is not None and node.attributes:
                matched.add(id(trackable))
        stored = {child.local_name: child.node_id for child in node.children} if node else {}
        children = tf.train.TrackableView.children(trackable)
        for name, child in sorted(children.items()):
            pending.append((child, stored.get(name), f"{trail}/{name}" if trail else name))
    return sorted(label for key, label in reached.items() if key not in matched)


def restore_every_variable(model: keras.Model, prefix: str) -> None:
    """Restore ``model`` (saved as ``tf.train.Checkpoint(model=...)``) from ``prefix``.

    Every variable of the model must have a value in the checkpoint
    (MissingVariablesError names those that do not); other stored objects
    (optimizer state, step) are ignored.
    """
    root = tf.train.Checkpoint(model=model)
    missing = missing_variables(root, prefix)
    if missing:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise MissingVariablesError(
            f"{prefix}: holds no value for {len(missing)} variable(s) of the model: {shown}"
        )
    root.restore(prefix).expect_partial().assert_existing_objects_matched()
