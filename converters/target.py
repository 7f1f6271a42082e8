"""``ckpt_v1_to_v2 CKPT --target MODULE:FUNCTION``: a TF1 checkpoint into the user's own Keras 3 model.

The target is ``MODULE:FUNCTION`` (importable from the current directory),
``path/to/file.py:FUNCTION`` (a function returning the model) or a ``.keras``
file. The mapping (checkpoint key -> Keras variable path) is either decided by
a rules file (``--rules FILE``, targets are Keras paths, as with ``--model``)
or *proposed* here from order and shape:

- the checkpoint's variables in creation order (the ``.meta`` graph's variable
  nodes; without a ``.meta``: by scope in natural order, ``conv2`` before
  ``conv10``, and within a scope kernel, bias, gamma, beta, moving_mean,
  moving_variance, then the rest by name), optimizer state and ``global_step``
  left out;
- the model's ``model.weights`` in their order;
- within each class of equal shape (and equal kind, kernel/bias/gamma/...,
  when every name on both sides has a known kind) the n-th checkpoint
  variable goes to the n-th model weight. The proposal is refused (exit 2)
  when the counts differ, when a shape has no partner, or when a pair of a
  class with several members is out of order relative to another pair (the
  two orders disagree, so order cannot decide which same-shaped weight is
  meant); ``--rules`` decides then.

Either way the result is a :class:`converters.maps.Plan`, the object the
registry tables produce, so Adam slots (``VAR/Adam`` -> ``adam/m/PATH``,
``VAR/Adam_1`` -> ``adam/v/PATH``) and the beta powers (-> ``iterations``) go
through the same code as the five models' conversions.

Output (``--output DIR``, published atomically; an existing one needs
``--force``): ``model.weights.h5`` (Keras ``save_weights``), a TF2 checkpoint
``tf.train.Checkpoint(model=, optimizer=, step=)`` in the CheckpointManager
layout, and ``manifest.json``. Before publishing, the written weights are
loaded into a freshly built model and, when the checkpoint has its ``.meta``,
its output is compared with the TF1 graph's on a seeded random batch (rtol
1e-5, atol 1e-5); beyond that, exit 5 naming the first layer that diverges
(converters/meta_graph.py).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import re
import sys
from typing import Any, TextIO

import numpy as np
import tensorflow as tf

from converters import maps, meta_graph
from converters.bundle import (
    MappingError,
    UsageError,
    VerificationError,
    atomic_directory,
    open_tf1,
)
from converters.plan import dtype_problems
from converters.port import PortState
from converters.write import assign, save_port

WEIGHTS_FILE = "model.weights.h5"
MANIFEST_FILE = "manifest.json"
# TF1 AdamOptimizer's default, used when the graph does not say.
DEFAULT_LEARNING_RATE = 1e-3
KIND_ORDER = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")
OTHER_OPTIMIZER = "state of an optimizer other than Adam: not converted"


# ---- the target model ---------------------------------------------------------------------


def _module_of(spec: str, module_name: str):
    if module_name.endswith(".py"):
        if not os.path.isfile(module_name):
            raise UsageError(f"--target {spec}: no such file {module_name}")
        name = "_target_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(module_name))[0])
        loader = importlib.util.spec_from_file_location(name, module_name)
        module = importlib.util.module_from_spec(loader)
        try:
            loader.loader.exec_module(module)
        except Exception as error:  # the user's module: any error is theirs to see, named
            raise UsageError(
                f"--target {spec}: {module_name} failed to load ({type(error).__name__}: {error})"
            ) from None
        return module
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # "importable from the current directory"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise UsageError(f"--target {spec}: cannot import {module_name!r} ({error})") from None


def load_target(spec: str):
    """The Keras model ``spec`` names: ``MODULE:FUNCTION``, ``FILE.py:FUNCTION`` or ``FILE.keras``."""
    import keras

    if spec.endswith(".keras"):
        if not os.path.isfile(spec):
            raise UsageError(f"--target {spec}: no such file")
        try:
            return keras.models.load_model(spec, compile=False)
        except Exception as error:  # Keras raises several types for bad archives
            raise UsageError(f"--target {spec}: not a Keras model file ({error})") from None
    module_name, _, function = spec.rpartition(":")
    if not module_name or not function:
        raise UsageError(
            f"--target {spec}: expected MODULE:FUNCTION, path/to/file.py:FUNCTION or FILE.keras"
        )
    build = getattr(_module_of(spec, module_name), function, None)
    if not callable(build):
        raise UsageError(f"--target {spec}: {module_name} has no function {function!r}")
    try:
        model = build()
    except Exception as error:  # the user's function: any error is theirs to see, named
        raise UsageError(
            f"--target {spec}: {function}() failed ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(model, keras.Model):
        raise UsageError(f"--target {spec}: returned {type(model).__name__}, not a keras.Model")
    if not model.built or not model.weights:
        raise UsageError(f"--target {spec}: the model has no weights (build it before returning)")
    return model


# ---- proposing a mapping ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Weight:
    """One variable on either side: name, shape, kind (kernel, bias, ...) and its position."""

    name: str
    shape: tuple[int, ...]
    kind: str | None
    position: int


def _kind(leaf: str) -> str | None:
    from converters.rules import KERAS_LEAF

    return KERAS_LEAF.get(leaf)


def _natural(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _name_order_key(key: str):
    scope, _, leaf = key.rpartition("/")
    kind = _kind(leaf)
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return [_natural(part) for part in scope.split("/")], rank, _natural(leaf)


def weight_keys(shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """Checkpoint keys that are model weights: not optimizer state, not ``global_step``."""
    slots = maps.optimizer_slots(shapes)
    return [key for key in shapes if key not in slots and key != "global_step"]


def checkpoint_order(prefix: str, shapes: dict[str, tuple[int, ...]]) -> tuple[list[str], str]:
    """(weight keys in creation order, where that order came from)."""
    keys = weight_keys(shapes)
    meta = meta_graph.meta_file(prefix)
    if meta is not None:
        created = [name for name in meta_graph.creation_order(meta) if name in keys]
        if set(created) == set(keys):
            return created, f"creation order from {os.path.basename(meta)}"
    ordered = sorted(keys, key=_name_order_key)
    return ordered, "no .meta graph: ordered by scope and name (natural sort)"


def _classes(ckpt: list[Weight], model: list[Weight]) -> dict:
    use_kind = all(w.kind for w in ckpt + model)
    classes: dict[Any, tuple[list[Weight], list[Weight]]] = {}
    for side, weights in ((0, ckpt), (1, model)):
        for weight in weights:
            key = (weight.shape, weight.kind if use_kind else None)
            classes.setdefault(key, ([], []))[side].append(weight)
    return classes


def _refusal(source: str, what: str, lines: list[str]) -> UsageError:
    hint = [
        "--rules decides: write a starter rules file, set each target to a Keras path "
        "(layer/kernel; Adam slots adam/m/PATH, adam/v/PATH) and convert with it:",
        f"  python -m converters.rules init {source} --output rules.json",
        f"  python -m converters.ckpt_v1_to_v2 {source} --target SPEC --rules rules.json "
        "--output DIR",
    ]
    return UsageError("\n".join([f"{source}: {what}", *lines[:20], *hint]))


def _unpaired(classes) -> list[str]:
    lines = []
    for (shape, kind), (ckpt, model) in classes.items():
        if len(ckpt) != len(model):
            left = ", ".join(w.name for w in ckpt) or "none"
            right = ", ".join(w.name for w in model) or "none"
            what = f"{list(shape)}" + (f" {kind}" if kind else "")
            lines.append(f"  shape {what}: checkpoint {left} | model {right}")
    return lines


def _out_of_order(pairs: list[tuple[Weight, Weight]], classes) -> list[str]:
    """Pairs of multi-member classes that are inverted relative to another pair."""
    crowded = {id(c) for members, others in classes.values() if len(members) > 1 for c in members}
    lines = []
    for ckpt, model in pairs:
        if id(ckpt) not in crowded:
            continue
        inverted = any(
            (ckpt.position - c.position) * (model.position - m.position) < 0 for c, m in pairs
        )
        if inverted:
            same = [
                m.name for members, others in classes.values() if ckpt in members for m in others
            ]
            lines.append(f"  {ckpt.name} {list(ckpt.shape)}: candidates {', '.join(same)}")
    return lines


def propose(
    order: list[str], shapes: dict[str, tuple[int, ...]], model, source: str
) -> dict[str, str]:
    """Checkpoint key -> Keras variable path, paired by order within equal shapes (see module doc).

    UsageError (exit 2) when the mapping is ambiguous; the message says why and
    that ``--rules`` decides.
    """
    ckpt = [
        Weight(key, tuple(shapes[key]), _kind(key.rpartition("/")[2]), i)
        for i, key in enumerate(order)
    ]
    mine = [Weight(v.path, tuple(v.shape), _kind(v.name), i) for i, v in enumerate(model.weights)]
    classes = _classes(ckpt, mine)
    if len(ckpt) != len(mine) or _unpaired(classes):
        what = (
            f"{len(ckpt)} checkpoint variables for {len(mine)} model weights"
            if len(ckpt) != len(mine)
            else "some shapes have no partner on the other side"
        )
        raise _refusal(source, f"cannot propose a mapping: {what}", _unpaired(classes))
    pairs = [
        pair for members, others in classes.values() for pair in zip(members, others, strict=True)
    ]
    ambiguous = _out_of_order(pairs, classes)
    if ambiguous:
        raise _refusal(
            source,
            "ambiguous mapping: the checkpoint's order and the model's disagree where several "
            "variables share a shape, so order cannot decide:",
            ambiguous,
        )
    pairs.sort(key=lambda pair: pair[0].position)
    return {c.name: m.name for c, m in pairs}


def proposal_table(proposal: dict[str, str], trainable: set[str], shapes) -> maps.ModelMap:
    """The proposal as a :class:`maps.ModelMap`: each key, its Adam slots, the powers, the step."""
    rows = []
    for key, path in proposal.items():
        rows += maps.port_variable(re.escape(key), path, trainable=path in trainable)
    rows += maps.ADAM_POWERS + maps.GLOBAL_STEP
    slots = maps.optimizer_slots(shapes)
    others = [
        maps.Ignore(re.escape(key), OTHER_OPTIMIZER)
        for key, var in slots.items()
        if var and not key.endswith(("/Adam", "/Adam_1"))
    ]
    return maps.ModelMap("target", tuple(rows), tuple(others))


# ---- planning -----------------------------------------------------------------------------


def has_adam(shapes) -> bool:
    """True when the checkpoint holds TF1 Adam slots."""
    return any(
        var and key.endswith(("/Adam", "/Adam_1"))
        for key, var in maps.optimizer_slots(shapes).items()
    )


def learning_rate(prefix: str) -> float:
    """The TF1 graph's Adam learning rate (a constant input of ApplyAdam), else TF1's default."""
    meta = meta_graph.meta_file(prefix)
    if meta is None:
        return DEFAULT_LEARNING_RATE
    nodes = {node.name: node for node in meta_graph.read_meta(meta).graph_def.node}
    for node in nodes.values():
        if node.op in ("ApplyAdam", "ResourceApplyAdam") and len(node.input) > 5:
            source = nodes.get(node.input[5].split(":")[0].lstrip("^"))
            if source is not None and source.op == "Const":
                return float(tf.make_ndarray(source.attr["value"].tensor))
    return DEFAULT_LEARNING_RATE


def build_state(model, rate: float, optimizer: bool) -> PortState:
    """The model, a built ``keras.optimizers.Adam`` (TF1's epsilon) and a step counter."""
    import keras

    adam = keras.optimizers.Adam(rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    if optimizer:
        adam.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    return PortState("target", {}, model, adam, step)


def _rules_table(rules_file: str, shapes, source: str) -> maps.ModelMap:
    from converters import rules

    loaded = rules.load_rules(rules_file)
    rules.check_against(loaded, shapes, "target")
    return loaded.table


def make_plan(table, shapes, dtypes, state: PortState, optimizer: bool, source: str) -> maps.Plan:
    """The strict plan of ``table`` against the model's weights; MappingError when it does not fit."""
    weights = {v.path: tuple(v.shape) for v in state.model.weights}
    trainable = {v.path for v in state.model.trainable_variables}
    transformed = maps.transformed_shapes(table, shapes)
    plan = maps.plan(table, transformed, weights, trainable, optimizer=optimizer)
    # A rules file maps the powers with the identity; they become Adam's iterations.
    powers = (maps.BETA1_POWER, maps.BETA2_POWER)
    plan.assignments = [
        dataclasses.replace(a, transform="beta_power") if a.target in powers else a
        for a in plan.assignments
    ]
    plan.problems.extend(dtype_problems(plan, state, dtypes))
    if not plan.ok:
        raise MappingError(f"{source}: does not fit the target model:\n{plan.report()}")
    return plan


# ---- converting ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TargetResult:
    """What :func:`convert` did."""

    source: str
    output: str | None
    plan: maps.Plan
    order: str
    iterations: int | None
    comparison: str | None  # the verification's summary, None when not verified


def _in_order(plan: maps.Plan, keys: list[str], shapes) -> list[maps.Assignment]:
    """Assignments in the checkpoint's order (each variable, then its slots), the rest after."""
    owner = maps.optimizer_slots(shapes)
    rank = {key: index for index, key in enumerate(keys)}

    def position(assignment):
        source = assignment.source
        return rank.get(owner.get(source) or source, len(keys)), source

    return sorted(plan.assignments, key=position)


def _print_plan(plan: maps.Plan, shapes, keys: list[str], order: str, log: TextIO) -> None:
    print(f"mapping ({order}); checkpoint key -> model weight [shape]:", file=log)
    for assignment in _in_order(plan, keys, shapes):
        shape = list(shapes[assignment.source])
        print(f"  {assignment.source} -> {assignment.target} {shape}", file=log)
    for key, reason in plan.ignored.items():
        print(f"  {key}: ignored ({reason})", file=log)


def _manifest(resolved, spec, plan, order, rate, iterations, optimizer, comparison) -> dict:
    return {
        "source": os.path.abspath(resolved.prefix),
        "target": spec,
        "order": order,
        "mapping": [dataclasses.asdict(a) for a in plan.assignments],
        "ignored": plan.ignored,
        "optimizer": (
            {"learning_rate": rate, "iterations": iterations} if optimizer else "not converted"
        ),
        "verification": comparison or "not verified",
    }


def _weight_mapping(plan: maps.Plan) -> dict[str, str]:
    """Keras path -> checkpoint key, for the model weights only."""
    return {
        a.target: a.source
        for a in plan.assignments
        if not a.target.startswith("adam/") and a.target != maps.STEP
    }


def verify_model(model, resolved, plan, inputs, outputs, shown_as: str, log: TextIO):
    """The Keras ``model`` against the TF1 graph of the checkpoint: the report, or None without a
    ``.meta``; VerificationError naming the first diverging layer beyond tolerance."""
    if meta_graph.meta_file(resolved.prefix) is None:
        print(f"{resolved.prefix}: no .meta graph beside it: not verified against it", file=log)
        return None
    expected, actual, label = meta_graph.compared_end_points(
        resolved.prefix,
        model,
        inputs=inputs,
        outputs=outputs,
        mapping=_weight_mapping(plan),
        log=log,
    )
    problem = meta_graph.divergence(expected, actual)
    if problem is not None:
        raise VerificationError(
            f"{shown_as}: the Keras model does not reproduce the TF1 graph restored from "
            f"{resolved.prefix}; not published. {label}: {problem}"
        )
    worst = max(float(np.max(np.abs(actual[n] - expected[n]))) for n in expected)
    return f"{label}: {len(expected)} end points within rtol {meta_graph.RTOL:g}, atol {meta_graph.ATOL:g} (max abs difference {worst:.3g})"


def _reloaded(spec: str, path: str):
    """A freshly built target model holding the weights in ``path``: what a user will load."""
    model = load_target(spec)
    model.load_weights(path)
    return model


def _check_checkpoint(spec, temp, state: PortState, optimizer: bool, shown_as: str) -> None:
    """The TF2 checkpoint restores into a fresh model (+ Adam, step), every object matched."""
    fresh = build_state(load_target(spec), float(state.optimizer.learning_rate), optimizer)
    root = (
        fresh.checkpoint() if optimizer else tf.train.Checkpoint(model=fresh.model, step=fresh.step)
    )
    try:
        root.restore(tf.train.latest_checkpoint(temp)).assert_consumed()
    except AssertionError as error:
        raise VerificationError(
            f"{shown_as}: the TF2 checkpoint does not restore ({error})"
        ) from None
    for mine, theirs in zip(state.model.weights, fresh.model.weights, strict=True):
        if not np.array_equal(np.asarray(mine), np.asarray(theirs)):
            raise VerificationError(
                f"{shown_as}: {mine.path} does not read back from the checkpoint"
            )


def _write(temp, spec, state, reader, plan, optimizer, log) -> int | None:
    """Weights .h5 and the TF2 checkpoint into ``temp``; returns the Adam iterations."""
    iterations = assign(state, reader, plan, log)
    state.model.save_weights(os.path.join(temp, WEIGHTS_FILE))
    if optimizer:
        save_port(state, temp, int(state.step.numpy()))
    else:
        root = tf.train.Checkpoint(model=state.model, step=state.step)
        tf.train.CheckpointManager(root, temp, max_to_keep=1).save(int(state.step.numpy()))
    return iterations


def convert(
    ckpt: str,
    spec: str,
    *,
    output: str | None = None,
    rules_file: str | None = None,
    optimizer: bool | None = None,
    dry_run: bool = False,
    force: bool = False,
    verification: bool = True,
    inputs: str | None = None,
    outputs: str | None = None,
    log: TextIO | None = None,
) -> TargetResult:
    """Convert ``ckpt`` into the Keras model ``spec`` (see the module docstring).

    ``optimizer``: True converts into a built Adam (zero slots when the
    checkpoint has none), False drops Adam state, None (default) converts it
    when the checkpoint has Adam slots.
    """
    log = log or sys.stderr
    if not dry_run and not output:
        raise UsageError("--target needs --output DIR (or --dry-run)")
    resolved, reader = open_tf1(ckpt, log)
    shapes = reader.shapes()
    dtypes = {key: reader.infos[key].dtype for key in shapes}
    use_optimizer = has_adam(shapes) if optimizer is None else optimizer
    state = build_state(load_target(spec), learning_rate(resolved.prefix), use_optimizer)
    keys, order = checkpoint_order(resolved.prefix, shapes)
    if rules_file:
        table, order = _rules_table(rules_file, shapes, resolved.prefix), f"rules {rules_file}"
    else:
        table = proposal_table(
            propose(keys, shapes, state.model, resolved.prefix),
            {v.path for v in state.model.trainable_variables},
            shapes,
        )
    plan = make_plan(table, shapes, dtypes, state, use_optimizer, resolved.prefix)
    if dry_run:
        _print_plan(plan, shapes, keys, order, log)
        print("dry run: nothing written", file=log)
        return TargetResult(resolved.prefix, None, plan, order, None, None)
    output = os.path.abspath(output)
    comparison = None
    with atomic_directory(output, force=force) as temp:
        iterations = _write(temp, spec, state, reader, plan, use_optimizer, log)
        if verification:
            _check_checkpoint(spec, temp, state, use_optimizer, output)
            model = _reloaded(spec, os.path.join(temp, WEIGHTS_FILE))
            comparison = verify_model(model, resolved, plan, inputs, outputs, output, log)
        manifest = _manifest(
            resolved,
            spec,
            plan,
            order,
            float(state.optimizer.learning_rate),
            iterations,
            use_optimizer,
            comparison,
        )
        with open(os.path.join(temp, MANIFEST_FILE), "w") as stream:
            json.dump(manifest, stream, indent=1, sort_keys=True)
    if comparison is not None:
        print(f"verified: {comparison}", file=log)
    print(f"wrote {output}: {len(plan.assignments)} tensors mapped ({order})", file=log)
    return TargetResult(resolved.prefix, output, plan, order, iterations, comparison)
