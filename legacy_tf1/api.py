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


def chunk_bounds(count: int, size: int | None) -> list[tuple[int, int]]:
    """(start, end) of runs of ``size`` covering ``count`` items; None is one run.

    A short remainder joins the run before it, so no run is smaller than
    ``size`` unless all of them are: small matmuls round differently on CPU
    (seed000's fc1 below ~200 rows), larger ones match a single run bit for bit.
    """
    if count == 0:
        return []
    if size is None or size >= count:
        return [(0, count)]
    if size < 1:
        raise ValueError(f"batch_size must be a positive integer; received {size}")
    starts = list(range(0, count, size))
    if count - starts[-1] < size:
        starts.pop()
    return list(zip(starts, [*starts[1:], count], strict=True))


class Predictor:
    """A restored legacy graph that computes logits for many batches.

    Builds ``model``'s graph and restores ``checkpoint`` (a prefix or a
    directory) once, then :meth:`predict` feeds inputs (the original's layout)
    ``batch_size`` at a time, so memory does not grow with the number of
    inputs. ``batch_size`` defaults to the module's ``PREDICT_BATCH_SIZE``
    (None: the whole input in one run, for alexnet_cifar10 whose faithful
    batch norm uses the batch's own statistics). Graphs whose placeholders fix
    the batch (seed001's ``[128, 24, 24, 3]``) are built for ``batch_size``
    (default: the ``batch_size`` option) and a short last batch is padded with
    zeros, which changes no other image's logits. Use it as a context manager
    or call :meth:`close`.
    """

    def __init__(
        self, model: str, checkpoint: str, *, batch_size: int | None = None, **overrides: Any
    ) -> None:
        module = registry.get(model)
        options = options_for(model, **overrides)
        if getattr(module, "FIXED_BATCH", False):
            options = dataclasses.replace(options, batch_size=batch_size or options.batch_size)
        self.checkpoint = resolve_checkpoint(checkpoint)
        with graph_scope() as graph:
            self._built = module.build(options)
        self.fixed_batch = self._built.inputs.shape[0] is not None
        if self.fixed_batch:
            batch_size = self._built.inputs.shape[0]
        elif batch_size is None:
            batch_size = getattr(module, "PREDICT_BATCH_SIZE", None)
        self.model, self.options, self.batch_size = model, options, batch_size
        self._session = tf1.Session(graph=graph)
        try:
            # restore() builds ops (initializers, a Saver), which need the graph as default.
            with graph.as_default():
                restore(self._session, self.checkpoint, variables_read_by(self._built.logits))
        except BaseException:
            self._session.close()
            raise

    def predict(self, inputs, batch_size: int | None = None) -> np.ndarray:
        """Logits for ``inputs`` (first axis: examples), ``batch_size`` per run."""
        inputs = np.asarray(inputs)
        size = batch_size or self.batch_size
        if self.fixed_batch and size > self.batch_size:
            raise ValueError(
                f"{self.model}: the graph was built for batches of {self.batch_size}; "
                f"received batch_size={size} (pass batch_size= to Predictor instead)"
            )
        if self.fixed_batch:
            bounds = [(s, min(s + size, len(inputs))) for s in range(0, len(inputs), size)]
        else:
            bounds = chunk_bounds(len(inputs), size)
        parts = [self._run(inputs[start:end]) for start, end in bounds]
        if not parts:
            return self._run(inputs)
        return np.concatenate(parts)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        count = len(batch)
        if self.fixed_batch and count != self.batch_size:
            padding = np.zeros((self.batch_size - count, *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, padding])
        logits = self._session.run(self._built.logits, self._built.feed(batch, training=False))
        return logits[:count]

    def close(self) -> None:
        """Release the session (and the graph's memory)."""
        self._session.close()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def predict(
    model: str,
    checkpoint_prefix: str,
    inputs,
    *,
    batch_size: int | None = None,
    **overrides: Any,
) -> np.ndarray:
    """Logits of ``model`` restored from ``checkpoint_prefix`` for ``inputs`` (original layout).

    Runs ``batch_size`` inputs at a time (see :class:`Predictor` for the
    default); build a :class:`Predictor` to restore once for many calls.
    """
    with Predictor(model, checkpoint_prefix, batch_size=batch_size, **overrides) as predictor:
        return predictor.predict(inputs)
