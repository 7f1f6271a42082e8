"""The one comparison helper of the parity suite.

:func:`compare` walks two nested structures (dicts, lists, tuples, arrays) in
the expected side's order, compares every leaf under a :class:`Tolerance` and
returns a :class:`Comparison` that names the *first* leaf that diverges (for
forward checks, the first diverging end point) and its max difference. Every
parity failure message is built by :meth:`Comparison.message`.

:func:`compare_models` applies it to a TF1 graph (a checkpoint's ``.meta``)
and a Keras model written for it, layer by layer: the report a migration of a
model outside the registry is checked with (docs/migrate.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """``|actual - expected| <= atol + rtol * |expected|`` element-wise (numpy.isclose).

    ``argument`` says why these numbers are right for the check; a tolerance
    looser than the TF guide's float32 default must carry one.
    """

    rtol: float = 1e-6
    atol: float = 1e-5
    argument: str = "TF guide's float32 default (rtol 1e-6, atol 1e-5)"

    def describe(self) -> str:
        """``rtol=.. atol=..`` for reports."""
        return f"rtol={self.rtol:g} atol={self.atol:g}"


@dataclasses.dataclass(frozen=True)
class LeafDifference:
    """The comparison of one named tensor."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    # Worst ratio of |difference| to the allowed |difference|; <= 1 passes.
    worst_ratio: float
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return self.problem is None and self.worst_ratio <= 1.0


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Every leaf of one check, in order, under one tolerance."""

    label: str
    tolerance: Tolerance
    leaves: tuple[LeafDifference, ...]

    @property
    def passed(self) -> bool:
        return bool(self.leaves) and all(leaf.passed for leaf in self.leaves)

    @property
    def max_abs(self) -> float:
        """The largest absolute difference over all leaves (nan when a leaf is missing)."""
        if any(leaf.problem for leaf in self.leaves):
            return float("nan")
        return max((leaf.max_abs for leaf in self.leaves), default=0.0)

    @property
    def first_divergence(self) -> LeafDifference | None:
        """The first leaf (in the expected side's order) outside the tolerance."""
        return next((leaf for leaf in self.leaves if not leaf.passed), None)

    @property
    def worst(self) -> LeafDifference | None:
        """The leaf with the largest absolute difference."""
        finite = [leaf for leaf in self.leaves if leaf.problem is None]
        return max(finite, key=lambda leaf: leaf.max_abs, default=None)

    def message(self) -> str:
        """One paragraph for a failure (or a pass) naming the first diverging tensor."""
        if not self.leaves:
            return f"{self.label}: nothing was compared"
        first = self.first_divergence
        worst = self.worst
        head = (
            f"{self.label}: max abs difference {self.max_abs:.3g} over {len(self.leaves)} tensors"
        )
        if worst is not None:
            head += f" (largest at {worst.name!r})"
        head += f"; tolerance {self.tolerance.describe()}"
        if first is None:
            return head + ": pass"
        detail = first.problem or (
            f"max abs difference {first.max_abs:.3g}, {first.worst_ratio:.3g}x the allowed"
        )
        return f"{head}: FAIL, first diverging: {first.name!r} {list(first.shape)}: {detail}"


def flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) pairs of a nested dict/list/tuple, dict keys in insertion order."""
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from flatten(value, f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(tree, Sequence) and not isinstance(tree, (str, bytes)):
        for index, value in enumerate(tree):
            yield from flatten(value, f"{prefix}[{index}]" if prefix else f"[{index}]")
    else:
        yield prefix, tree


def compare_leaf(name: str, expected: Any, actual: Any, tolerance: Tolerance) -> LeafDifference:
    """Compare one tensor; shape mismatches and non-finite values are failures."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        problem = f"shape {list(actual.shape)} differs from the expected {list(expected.shape)}"
        return LeafDifference(name, expected.shape, float("nan"), float("inf"), problem)
    if expected.size == 0:
        return LeafDifference(name, expected.shape, 0.0, 0.0)
    difference = np.abs(actual - expected)
    allowed = tolerance.atol + tolerance.rtol * np.abs(expected)
    if not np.all(np.isfinite(actual)) or not np.all(np.isfinite(expected)):
        mismatch = np.isfinite(actual) != np.isfinite(expected)
        if np.any(mismatch) or np.any(
            actual[~np.isfinite(actual)] != expected[~np.isfinite(actual)]
        ):
            return LeafDifference(
                name, expected.shape, float("nan"), float("inf"), "non-finite values differ"
            )
        difference = np.where(np.isfinite(expected), difference, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.max(difference / allowed))
    return LeafDifference(name, expected.shape, float(np.max(difference)), ratio)


def compare(expected: Any, actual: Any, tolerance: Tolerance, *, label: str = "") -> Comparison:
    """Compare ``actual`` against ``expected`` leaf by leaf, in ``expected``'s order.

    Leaves missing on either side are failures named in the result.
    """
    actual_leaves = dict(flatten(actual))
    leaves = []
    for name, value in flatten(expected):
        if name not in actual_leaves:
            leaves.append(
                LeafDifference(name, np.shape(value), float("nan"), float("inf"), "missing")
            )
            continue
        leaves.append(compare_leaf(name, value, actual_leaves.pop(name), tolerance))
    for name, value in actual_leaves.items():
        leaves.append(
            LeafDifference(name, np.shape(value), float("nan"), float("inf"), "unexpected")
        )
    return Comparison(label, tolerance, tuple(leaves))


class ParityError(AssertionError):
    """A parity check outside its tolerance; the message names the first diverging tensor."""


def assert_close(
    expected: Any, actual: Any, tolerance: Tolerance, *, label: str = ""
) -> Comparison:
    """:func:`compare`, raising :class:`ParityError` with :meth:`Comparison.message` on failure."""
    result = compare(expected, actual, tolerance, label=label)
    if not result.passed:
        raise ParityError(result.message())
    return result


# Forward outputs of the same float32 ops in a TF1 Session and in Keras differ by a few
# ULPs of reordered sums; 1e-5 both ways leaves room for that and nothing more.
MODEL_TOLERANCE = Tolerance(
    rtol=1e-5, atol=1e-5, argument="float32 forward pass, same ops in both frameworks"
)


def compare_models(
    tf1_meta_or_ckpt: str,
    keras_model: Any,
    *,
    inputs: str | None = None,
    outputs: str | None = None,
    batch: np.ndarray | None = None,
    mapping: dict[str, str] | None = None,
    tolerance: Tolerance = MODEL_TOLERANCE,
    log: Any = None,
) -> Comparison:
    """A TF1 graph (``.meta`` + its checkpoint) against a Keras model, layer by layer.

    ``tf1_meta_or_ckpt`` is a ``.meta`` file or a checkpoint (directory, prefix)
    with its ``PREFIX.meta``. The graph is restored in a ``tf.compat.v1`` Session
    (converters/meta_graph.py); ``inputs``/``outputs`` name its tensors, found
    automatically when left out (the single non-scalar float placeholder; the
    single tensor feeding a softmax, argmax or cross-entropy), and keep_prob /
    is_training placeholders are fed 1.0 / False. ``batch`` defaults to a
    seeded uniform batch of 4. ``mapping`` (Keras variable path -> checkpoint
    key) lines up layers with the TF1 ops that read their variables; without it
    the order-and-shape proposal of ``--target`` is tried. The result lists the
    mapped layers in the model's order, then the output, so
    :meth:`Comparison.message` names the first diverging layer, as the suite does.
    """
    from converters import meta_graph

    expected, actual, label = meta_graph.compared_end_points(
        tf1_meta_or_ckpt,
        keras_model,
        inputs=inputs,
        outputs=outputs,
        batch=batch,
        mapping=mapping,
        log=log,
    )
    return compare(expected, actual, tolerance, label=label)
