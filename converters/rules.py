"""Generic mode: any TF1 Saver checkpoint mapped by a JSON rules file (``--rules FILE``).

Schema (every key but ``rules`` optional)::

    {
      "rules":  [{"match": "REGEX", "target": "TEMPLATE", "transform": "identity"}, ...],
      "ignore": [{"match": "REGEX", "reason": "why it is not converted"}, ...],
      "overrides": {"image_size": 224}
    }

``match`` is a ``re.fullmatch`` regex over checkpoint keys; the first matching
rule wins and ``target`` may use its groups (``\\1``). ``transform`` is a name
in :data:`converters.maps.TRANSFORMS` (``identity``, ``conv_as_dense``).
With a registry ``model`` the targets are the port's Keras paths
(``block1_conv1/kernel``; ``adam/m/PATH`` ... as in the built-in tables) and
``overrides`` configures the port; without one they name the variables of a
plain ``tf.Module`` saved as ``tf.train.Checkpoint(module=...)``.

Strictness is the built-in tables': every key mapped or ignored with a reason,
every target assigned once, shapes (after the transform) and dtypes agree.
Verification reads the written checkpoint back and requires every variable
to equal its transformed source tensor bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from typing import Any, TextIO

import numpy as np
import tensorflow as tf

from converters import maps
from converters.bundle import (
    InputError,
    MappingError,
    Reader,
    UsageError,
    VerificationError,
    atomic_directory,
    resolve,
)

MODULE_ROOT = "module"
MANIFEST_FILE = "manifest.json"


def _fail(path: str, what: str) -> UsageError:
    return UsageError(f"{path}: {what} (see converters/rules.py for the rules schema)")


def _checked_regex(path: str, where: str, pattern: Any) -> str:
    if not isinstance(pattern, str):
        raise _fail(path, f"{where}: 'match' must be a string")
    try:
        re.compile(pattern)
    except re.error as error:
        raise _fail(path, f"{where}: bad regex {pattern!r} ({error})") from None
    return pattern


def _row(path: str, index: int, entry: Any) -> maps.Row:
    where = f"rules[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("target"), str):
        raise _fail(path, f"{where}: expected an object with 'match' and 'target' strings")
    transform = entry.get("transform", "identity")
    if transform not in maps.TRANSFORMS:
        raise _fail(
            path, f"{where}: unknown transform {transform!r}; known: {list(maps.TRANSFORMS)}"
        )
    return maps.Row(_checked_regex(path, where, entry.get("match")), entry["target"], transform)


def _ignore(path: str, index: int, entry: Any) -> maps.Ignore:
    where = f"ignore[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("reason"), str):
        raise _fail(path, f"{where}: expected an object with 'match' and 'reason' strings")
    return maps.Ignore(_checked_regex(path, where, entry.get("match")), entry["reason"])


@dataclasses.dataclass(frozen=True)
class Rules:
    """A parsed rules file: its table and the port overrides."""

    path: str
    table: maps.ModelMap
    overrides: dict[str, Any]


def load_rules(path: str) -> Rules:
    """Parse and validate the JSON rules file ``path`` (UsageError naming the file)."""
    try:
        with open(path, encoding="utf-8") as stream:
            payload = json.load(stream)
    except OSError as error:
        raise UsageError(f"{path}: cannot read the rules file ({error.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _fail(path, f"not JSON ({error})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("rules"), list):
        raise _fail(path, "expected an object with a 'rules' list")
    unknown = set(payload) - {"rules", "ignore", "overrides"}
    if unknown:
        raise _fail(path, f"unknown keys {sorted(unknown)}")
    rows = tuple(_row(path, i, entry) for i, entry in enumerate(payload["rules"]))
    ignore = tuple(_ignore(path, i, entry) for i, entry in enumerate(payload.get("ignore", [])))
    overrides = payload.get("overrides", {})
    if not isinstance(overrides, dict):
        raise _fail(path, "'overrides' must be an object")
    table = maps.ModelMap(f"rules:{os.path.basename(path)}", rows, ignore)
    return Rules(os.path.abspath(path), table, dict(overrides))


def _forward(transform: str, value: np.ndarray) -> np.ndarray:
    return np.asarray(maps.TRANSFORMS[transform][0](value))


def _plan_module(rules: Rules, reader: Reader) -> maps.Plan:
    """Plan into a tf.Module: its variables are exactly the targets, shaped as transformed."""
    shapes = maps.transformed_shapes(rules.table, reader.shapes())
    targets = {}
    for key in shapes:
        found = maps.match(rules.table, key)
        if isinstance(found, tuple):
            targets.setdefault(found[0], shapes[key])
    return maps.plan(rules.table, shapes, targets, set(), optimizer=False)


def _module_variables(plan: maps.Plan, reader: Reader) -> dict[str, tf.Variable]:
    return {
        a.target: tf.Variable(_forward(a.transform, reader.get(a.source)), name=a.target)
        for a in plan.assignments
    }


def load_module(output: str) -> tf.Module:
    """The tf.Module a rules conversion without a model wrote to ``output``, restored."""
    with open(os.path.join(output, MANIFEST_FILE)) as stream:
        manifest = json.load(stream)
    module = tf.Module()
    module.tensors = {
        name: tf.Variable(tf.zeros(spec["shape"], spec["dtype"]), name=name)
        for name, spec in manifest["variables"].items()
    }
    prefix = tf.train.latest_checkpoint(output)
    tf.train.Checkpoint(**{MODULE_ROOT: module}).restore(prefix).assert_consumed()
    return module


def _verify(actual: dict[str, np.ndarray], plan: maps.Plan, reader: Reader, output: str) -> None:
    """Every written variable equals its transformed source tensor, bit for bit."""
    for assignment in plan.assignments:
        expected = _forward(assignment.transform, reader.get(assignment.source))
        got = actual[assignment.target]
        if got.dtype != expected.dtype or got.tobytes() != expected.tobytes():
            raise VerificationError(
                f"{output}: {assignment.target} differs from {assignment.source} after writing"
            )


def _write_manifest(temp, resolved, rules, plan, model, variables) -> None:
    manifest = {
        "source": os.path.abspath(resolved.prefix),
        "rules": rules.path,
        "model": model,
        "mapping": [dataclasses.asdict(a) for a in plan.assignments],
        "ignored": plan.ignored,
        "variables": variables,
    }
    with open(os.path.join(temp, MANIFEST_FILE), "w") as stream:
        json.dump(manifest, stream, indent=1, sort_keys=True)


def _convert_module(reader, resolved, rules, output, force) -> maps.Plan:
    plan = _plan_module(rules, reader)
    if not plan.ok:
        raise MappingError(f"{resolved.prefix}: rules {rules.path} do not fit:\n{plan.report()}")
    module = tf.Module()
    module.tensors = _module_variables(plan, reader)
    specs = {
        name: {"shape": list(v.shape), "dtype": v.dtype.name} for name, v in module.tensors.items()
    }
    with atomic_directory(output, force=force) as temp:
        tf.train.CheckpointManager(tf.train.Checkpoint(**{MODULE_ROOT: module}), temp, 1).save()
        _write_manifest(temp, resolved, rules, plan, None, specs)
        restored = load_module(temp)
        _verify({k: v.numpy() for k, v in restored.tensors.items()}, plan, reader, output)
    return plan


def _convert_model(reader, resolved, rules, model, output, force) -> maps.Plan:
    from converters.ckpt_v1_to_v2 import _dtype_problems, build_port
    from tf2_port.train import CONFIG_FILE

    try:
        state = build_port(model, rules.overrides)
    except (ValueError, TypeError) as error:
        raise MappingError(
            f"{model}: cannot build the port with {rules.overrides} ({error})"
        ) from None
    port_shapes = {path: tuple(v.shape) for path, v in state.variables.items()}
    shapes = maps.transformed_shapes(rules.table, reader.shapes())
    plan = maps.plan(rules.table, shapes, port_shapes, state.trainable_paths)
    dtypes = {key: reader.infos[key].dtype for key in shapes}
    plan.problems.extend(_dtype_problems(plan, state, dtypes))
    if not plan.ok:
        raise MappingError(
            f"{resolved.prefix}: rules {rules.path} do not fit model {model!r}:\n{plan.report()}"
        )
    for assignment in plan.assignments:
        state.target(assignment.target).assign(
            _forward(assignment.transform, reader.get(assignment.source))
        )
    with atomic_directory(output, force=force) as temp:
        tf.train.CheckpointManager(state.checkpoint(), temp, max_to_keep=1).save(
            checkpoint_number=0
        )
        with open(os.path.join(temp, CONFIG_FILE), "w") as stream:
            json.dump({"model": model, "overrides": rules.overrides, "seed": 0}, stream)
        _write_manifest(temp, resolved, rules, plan, model, None)
        fresh = build_port(model, rules.overrides)
        fresh.checkpoint().restore(tf.train.latest_checkpoint(temp)).expect_partial()
        actual = {a.target: fresh.target(a.target).numpy() for a in plan.assignments}
        _verify(actual, plan, reader, output)
    return plan


def convert(
    ckpt: str,
    rules_file: str,
    *,
    model: str | None = None,
    output: str,
    force: bool = False,
    log: TextIO | None = None,
) -> maps.Plan:
    """Convert ``ckpt`` by the rules in ``rules_file`` into ``model`` (registry) or a tf.Module.

    Writes ``output`` atomically and verifies it (bit-exact tensors) before publishing.
    """
    log = log or sys.stderr
    rules = load_rules(rules_file)
    resolved = resolve(ckpt)
    for note in resolved.notes:
        print(note, file=log)
    reader = Reader(resolved.prefix)
    if reader.object_based:
        raise InputError(f"{resolved.prefix}: is an object-based (TF2) checkpoint, not a TF1 one")
    output = os.path.abspath(output)
    if model is None:
        plan = _convert_module(reader, resolved, rules, output, force)
    else:
        maps.get(model)
        plan = _convert_model(reader, resolved, rules, model, output, force)
    print(
        f"wrote {output}: {len(plan.assignments)} tensors mapped by {rules.path}, "
        f"{len(plan.ignored)} ignored; verified bit-exact",
        file=log,
    )
    return plan
