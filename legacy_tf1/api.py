"""``build`` and ``predict`` over the registry, and checkpoint restoring helpers."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from legacy_tf1 import registry
from legacy_tf1.core import LegacyModel, graph_scope, replace_options, tf1

# Variables that TF1's AdamOptimizer adds next to the model's own.
_OPTIMIZER_SUFFIXES = ("/Adam", "/Adam_1")
_OPTIMIZER_BASENAMES = ("beta1_power", "beta2_power")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or lacks variables the graph needs."""


def options_for(model: str, **overrides: Any):
    """The model's default ``Options`` with ``overrides`` applied (unknown names are an error)."""
    return replace_options(registry.get(model).Options(), overrides)


def build(model: str, *, seed: int | None = None, **overrides: Any) -> LegacyModel:
    """Build ``model``'s faithful graph in a fresh graph; see ``legacy_tf1.build``."""
    module = registry.get(model)
    options = options_for(model, **overrides)
    with graph_scope(seed):
        built = module.build(options)
    built.options = options
    return built


def is_optimizer_variable(name: str) -> bool:
    """True for Adam slots and beta powers, which inference never reads."""
    base = name.rsplit("/", 1)[-1]
    return name.endswith(_OPTIMIZER_SUFFIXES) or base in _OPTIMIZER_BASENAMES


def variables_read_by(tensor) -> list:
    """The global variables that evaluating ``tensor`` reads.

    Walks data and control inputs back from ``tensor`` and stops at
    ``PlaceholderWithDefault`` ops, whose default is replaced by a feed (vgg16's
    random image batch is such a default).
    """
    graph = tensor.graph
    by_op = {v.op.name: v for v in graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)}
    seen, stack, found = set(), [tensor.op], []
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.name in by_op:
            found.append(by_op[op.name])
        if op.type == "PlaceholderWithDefault":
            continue
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return found


def resolve_checkpoint(path: str) -> str:
    """A checkpoint prefix from a prefix or a directory holding a ``checkpoint`` state file."""
    if os.path.isdir(path):
        prefix = tf1.train.latest_checkpoint(path)
        if prefix is None:
            raise CheckpointError(
                f"{path}: no checkpoint found (expected a 'checkpoint' state file)"
            )
        return prefix
    if not (os.path.exists(path + ".index") or os.path.exists(path)):
        raise CheckpointError(
            f"{path}: no such checkpoint (expected PREFIX.index beside PREFIX.data-*)"
        )
    return path


def restore(sess, checkpoint_prefix: str, required: list) -> list:
    """Restore every global variable present in the checkpoint; return their names.

    Variables in ``required`` must be present. Others absent from the checkpoint
    (for example Adam slots of a faithful 10-variable seed001 checkpoint) keep
    their initial values.
    """
    try:
        reader = tf1.train.NewCheckpointReader(checkpoint_prefix)
    except Exception as error:  # TF raises several types for unreadable files
        raise CheckpointError(f"{checkpoint_prefix}: cannot read checkpoint ({error})") from error
    shapes = reader.get_variable_to_shape_map()
    variables = sess.graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
    missing = [v.op.name for v in required if v.op.name not in shapes]
    if missing:
        raise CheckpointError(
            f"{checkpoint_prefix}: missing variables the graph needs: {', '.join(sorted(missing))}"
        )
    present = [v for v in variables if v.op.name in shapes]
    mismatched = [
        f"{v.op.name}: checkpoint {shapes[v.op.name]} vs graph {v.shape.as_list()}"
        for v in present
        if list(shapes[v.op.name]) != v.shape.as_list()
    ]
    if mismatched:
        raise CheckpointError(f"{checkpoint_prefix}: shape mismatch: {'; '.join(mismatched)}")
    sess.run(tf1.variables_initializer([v for v in variables if v not in present]))
    tf1.train.Saver(var_list=present).restore(sess, checkpoint_prefix)
    return [v.op.name for v in present]


def _fits_batch(model: str, options, inputs: np.ndarray):
    """Rebuild options for graphs whose placeholders fix the batch size (seed001)."""
    fields = {f.name for f in dataclasses.fields(options)}
    if "batch_size" in fields and getattr(registry.get(model), "FIXED_BATCH", False):
        return dataclasses.replace(options, batch_size=len(inputs))
    return options


def predict(model: str, checkpoint_prefix: str, inputs, **overrides: Any) -> np.ndarray:
    """Logits of ``model`` restored from ``checkpoint_prefix`` for ``inputs`` (original layout)."""
    inputs = np.asarray(inputs)
    options = _fits_batch(model, options_for(model, **overrides), inputs)
    module = registry.get(model)
    with graph_scope() as graph:
        built = module.build(options)
    prefix = resolve_checkpoint(checkpoint_prefix)
    with tf1.Session(graph=graph) as sess:
        restore(sess, prefix, variables_read_by(built.logits))
        return sess.run(built.logits, built.feed(inputs, training=False))
