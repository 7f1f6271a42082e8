"""Generic mode: any TF1 Saver checkpoint mapped by a JSON rules file (``--rules FILE``).

CLI: ``python -m converters.ckpt_v1_to_v2 CKPT --rules FILE [--model NAME] --output DIR``
(every flag of that command applies); ``python -m converters.rules init CKPT
[--output FILE] [--force]`` writes a starter rules file for a checkpoint.

Schema (every key but ``rules`` optional; lines starting with ``//`` are comments)::

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
Errors in the file itself (bad JSON or regex, a group reference the regex does
not have, a target in the ``adam/`` optimizer namespace where it has no meaning,
a transform that does not fit the tensor it matches) exit 2 naming the file and
the rule.
Verification reads the written checkpoint back and requires every variable
to equal its transformed source tensor bit for bit.
"""

# ruff: noqa: E402 -- `python -m` runs the guard below before the TensorFlow imports

from __future__ import annotations

import sys

if __name__ == "__main__":  # parse first: --help and usage errors answer before TF loads
    from converters.cli import run

    sys.exit(run("rules"))

import collections
import dataclasses
import json
import os
import re
import tempfile
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
    open_tf1,
    resolve,
)

MODULE_ROOT = "module"
MANIFEST_FILE = "manifest.json"
COMMENT = "//"
NO_OPTIMIZER = "optimizer state not converted (--no-optimizer)"


def _fail(path: str, what: str) -> UsageError:
    return UsageError(f"{path}: {what} (see converters/rules.py for the rules schema)")


# ---- reading and checking a rules file ------------------------------------------------------


def _checked_regex(path: str, where: str, pattern: Any) -> str:
    if not isinstance(pattern, str):
        raise _fail(path, f"{where}: 'match' must be a string")
    try:
        re.compile(pattern)
    except re.error as error:
        raise _fail(path, f"{where}: bad regex {pattern!r} ({error})") from None
    return pattern


def _checked_template(path: str, where: str, pattern: str, template: str) -> str:
    """``template`` refers only to groups ``pattern`` has (else re.error at the first match).

    ``(?:pattern)?`` matches the empty string with the same groups, all unset,
    so expanding the template on it checks every reference without a key.
    """
    try:
        empty = re.fullmatch(f"(?:{pattern})?", "")
    except re.error:
        return template  # global inline flags cannot be wrapped; checked when matching
    try:
        if empty is not None:
            empty.expand(template)
    except (re.error, IndexError) as error:
        raise _fail(
            path, f"{where}: target {template!r}: bad group reference for {pattern!r} ({error})"
        ) from None
    return template


def _row(path: str, index: int, entry: Any) -> maps.Row:
    where = f"rules[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("target"), str):
        raise _fail(path, f"{where}: expected an object with 'match' and 'target' strings")
    unknown = set(entry) - {"match", "target", "transform"}
    if unknown:
        raise _fail(path, f"{where}: unknown keys {sorted(unknown)}")
    transform = entry.get("transform", "identity")
    if transform not in maps.TRANSFORMS:
        raise _fail(
            path, f"{where}: unknown transform {transform!r}; known: {list(maps.TRANSFORMS)}"
        )
    pattern = _checked_regex(path, where, entry.get("match"))
    return maps.Row(pattern, _checked_template(path, where, pattern, entry["target"]), transform)


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

    def where(self, index: int) -> str:
        """``rules[i] (match 'REGEX')``: how errors name a rule."""
        return f"rules[{index}] (match {self.table.rows[index].tf1!r})"


def without_comments(text: str) -> str:
    """Full-line ``//`` comments blanked (not removed: JSON errors keep their line numbers)."""
    return "\n".join(
        "" if line.lstrip().startswith(COMMENT) else line for line in text.splitlines()
    )


def load_rules(path: str) -> Rules:
    """Parse and validate the JSON rules file ``path`` (UsageError naming the file)."""
    try:
        with open(path, encoding="utf-8") as stream:
            payload = json.loads(without_comments(stream.read()))
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
    ignore = payload.get("ignore", [])
    if not isinstance(ignore, list):
        raise _fail(path, "'ignore' must be a list")
    ignores = tuple(_ignore(path, i, entry) for i, entry in enumerate(ignore))
    overrides = payload.get("overrides", {})
    if not isinstance(overrides, dict):
        raise _fail(path, "'overrides' must be an object")
    table = maps.ModelMap(f"rules:{os.path.basename(path)}", rows, ignores)
    return Rules(os.path.abspath(path), table, dict(overrides))


def _namespace_problem(target: str, model: str | None) -> str | None:
    """Why ``target`` may not be used in the ``adam/`` optimizer namespace, or None."""
    if not target.startswith("adam/"):
        return None
    if model is None:
        return (
            f"target {target!r} is under 'adam/', the optimizer namespace of registry models; "
            "without --model it would not be a variable: pick another name"
        )
    slot = target.startswith((maps.M_SLOT, maps.V_SLOT)) and target.split("/", 2)[2]
    if slot or target in (maps.BETA1_POWER, maps.BETA2_POWER):
        return None
    return (
        f"target {target!r} is under 'adam/' but is not adam/m/PATH, adam/v/PATH, "
        f"{maps.BETA1_POWER} or {maps.BETA2_POWER}"
    )


def _rule_of(rules: Rules, key: str) -> int | None:
    for index, row in enumerate(rules.table.rows):
        if re.fullmatch(row.tf1, key):
            return index
    return None


def check_against(rules: Rules, shapes: dict[str, tuple[int, ...]], model: str | None) -> None:
    """Errors of the file that only the checkpoint reveals: UsageError naming file and rule.

    A target template in the optimizer namespace, a group reference that fails
    on a real key, a transform that does not fit the tensor it is given.
    """
    for index, row in enumerate(rules.table.rows):
        if "\\" not in row.target and _namespace_problem(row.target, model):
            raise _fail(
                rules.path, f"{rules.where(index)}: {_namespace_problem(row.target, model)}"
            )
    for key in sorted(shapes):
        index = _rule_of(rules, key)
        if index is None:
            continue
        row = rules.table.rows[index]
        try:
            target = re.fullmatch(row.tf1, key).expand(row.target)
        except (re.error, IndexError) as error:
            raise _fail(
                rules.path, f"{rules.where(index)}: bad target for {key!r} ({error})"
            ) from None
        problem = _namespace_problem(target, model) or maps.transform_misfit(
            row.transform, shapes[key]
        )
        if problem:
            raise _fail(rules.path, f"{rules.where(index)} on {key!r}: {problem}")


# ---- planning and writing ------------------------------------------------------------------


def _forward(transform: str, value: np.ndarray) -> np.ndarray:
    return np.asarray(maps.TRANSFORMS[transform][0](value))


def _optimizer_keys(shapes: dict[str, tuple[int, ...]], optimizer: bool) -> set[str]:
    """Keys dropped by --no-optimizer in module mode: TF1 optimizer slots and powers."""
    return set() if optimizer else set(maps.optimizer_slots(shapes))


def _plan_module(rules: Rules, reader: Reader, optimizer: bool = True) -> maps.Plan:
    """Plan into a tf.Module: its variables are exactly the targets, shaped as transformed."""
    dropped = _optimizer_keys(reader.shapes(), optimizer)
    kept = {k: v for k, v in reader.shapes().items() if k not in dropped}
    shapes = maps.transformed_shapes(rules.table, kept)
    targets = {}
    for key in shapes:
        found = maps.match(rules.table, key)
        if isinstance(found, tuple):
            targets.setdefault(found[0], shapes[key])
    plan = maps.plan(rules.table, shapes, targets, set(), optimizer=False)
    plan.ignored.update({key: NO_OPTIMIZER for key in sorted(dropped)})
    return plan


def _module_variables(plan: maps.Plan, reader: Reader) -> dict[str, tf.Variable]:
    return {
        a.target: tf.Variable(_forward(a.transform, reader.get(a.source))) for a in plan.assignments
    }


def load_module(output: str) -> tf.Module:
    """The tf.Module a rules conversion without a model wrote to ``output``, restored."""
    with open(os.path.join(output, MANIFEST_FILE)) as stream:
        manifest = json.load(stream)
    module = tf.Module()
    module.tensors = {
        name: tf.Variable(tf.zeros(spec["shape"], spec["dtype"]))
        for name, spec in manifest["variables"].items()
    }
    prefix = tf.train.latest_checkpoint(output)
    tf.train.Checkpoint(**{MODULE_ROOT: module}).restore(prefix).assert_consumed()
    return module


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (strings compared by value: object arrays hold pointers)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "OSU" or b.dtype.kind in "OSU":
        # TF strings come back as bytes objects or fixed-width bytes arrays.
        return a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _verify(actual: dict[str, np.ndarray], plan: maps.Plan, reader: Reader, output: str) -> None:
    """Every written variable equals its transformed source tensor, bit for bit."""
    for assignment in plan.assignments:
        expected = _forward(assignment.transform, reader.get(assignment.source))
        if not same_bits(actual[assignment.target], expected):
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


@dataclasses.dataclass(frozen=True)
class Options:
    """The ckpt_v1_to_v2 flags that generic mode honours."""

    output: str | None = None
    force: bool = False
    dry_run: bool = False
    optimizer: bool = True
    verification: bool = True
    weights_h5: str | None = None


def _convert_module(reader, resolved, rules, options: Options) -> maps.Plan:
    plan = _plan_module(rules, reader, options.optimizer)
    if not plan.ok:
        raise MappingError(f"{resolved.prefix}: rules {rules.path} do not fit:\n{plan.report()}")
    if options.dry_run:
        return plan
    module = tf.Module()
    module.tensors = _module_variables(plan, reader)
    specs = {
        name: {"shape": list(v.shape), "dtype": v.dtype.name} for name, v in module.tensors.items()
    }
    with atomic_directory(options.output, force=options.force) as temp:
        tf.train.CheckpointManager(tf.train.Checkpoint(**{MODULE_ROOT: module}), temp, 1).save()
        _write_manifest(temp, resolved, rules, plan, None, specs)
        restored = load_module(temp)
        if options.verification:
            actual = {k: v.numpy() for k, v in restored.tensors.items()}
            _verify(actual, plan, reader, options.output)
    return plan


def _port_plan(reader, resolved, rules, model, optimizer):
    from converters.plan import dtype_problems
    from converters.port import build_port

    try:
        state = build_port(model, rules.overrides)
    except (ValueError, TypeError) as error:
        raise MappingError(
            f"{model}: cannot build the port with {rules.overrides} ({error})"
        ) from None
    port_shapes = {path: tuple(v.shape) for path, v in state.variables.items()}
    shapes = maps.transformed_shapes(rules.table, reader.shapes())
    plan = maps.plan(rules.table, shapes, port_shapes, state.trainable_paths, optimizer=optimizer)
    dtypes = {key: reader.infos[key].dtype for key in shapes}
    plan.problems.extend(dtype_problems(plan, state, dtypes))
    if not plan.ok:
        raise MappingError(
            f"{resolved.prefix}: rules {rules.path} do not fit model {model!r}:\n{plan.report()}"
        )
    return state, plan


def _convert_model(reader, resolved, rules, model, options: Options) -> maps.Plan:
    from converters.port import build_port
    from converters.write import write_h5
    from tf2_port.train import CONFIG_FILE

    state, plan = _port_plan(reader, resolved, rules, model, options.optimizer)
    if options.dry_run:
        return plan
    for assignment in plan.assignments:
        state.target(assignment.target).assign(
            _forward(assignment.transform, reader.get(assignment.source))
        )
    with atomic_directory(options.output, force=options.force) as temp:
        tf.train.CheckpointManager(state.checkpoint(), temp, max_to_keep=1).save(
            checkpoint_number=0
        )
        with open(os.path.join(temp, CONFIG_FILE), "w") as stream:
            json.dump({"model": model, "overrides": rules.overrides, "seed": 0}, stream)
        _write_manifest(temp, resolved, rules, plan, model, None)
        if options.verification:
            fresh = build_port(model, rules.overrides)
            fresh.checkpoint().restore(tf.train.latest_checkpoint(temp)).expect_partial()
            actual = {a.target: fresh.target(a.target).numpy() for a in plan.assignments}
            _verify(actual, plan, reader, options.output)
    if options.weights_h5:
        write_h5(state.model, options.weights_h5, options.force)
    return plan


def _print_plan(plan: maps.Plan, log: TextIO) -> None:
    for assignment in plan.assignments:
        print(f"  {assignment.source} -> {assignment.target} ({assignment.transform})", file=log)
    for key, reason in plan.ignored.items():
        print(f"  {key}: ignored ({reason})", file=log)


def convert(
    ckpt: str,
    rules_file: str,
    *,
    model: str | None = None,
    output: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    optimizer: bool = True,
    verification: bool = True,
    weights_h5: str | None = None,
    log: TextIO | None = None,
) -> maps.Plan:
    """Convert ``ckpt`` by the rules in ``rules_file`` into ``model`` (registry) or a tf.Module.

    Writes ``output`` atomically and verifies it (bit-exact tensors) before
    publishing; ``dry_run`` plans and prints the mapping, writing nothing;
    ``optimizer`` False drops the optimizer state (slots and Adam powers).
    """
    log = log or sys.stderr
    rules = load_rules(rules_file)
    if not dry_run and not output:
        raise UsageError("--rules needs --output DIR (or --dry-run)")
    if weights_h5 and model is None:
        raise UsageError("--weights-h5 needs --model NAME: a plain tf.Module has no Keras weights")
    resolved, reader = open_tf1(ckpt, log)
    check_against(rules, reader.shapes(), model)
    options = Options(
        os.path.abspath(output) if output else None,
        force,
        dry_run,
        optimizer,
        verification,
        weights_h5,
    )
    if model is None:
        plan = _convert_module(reader, resolved, rules, options)
    else:
        maps.get(model)
        plan = _convert_model(reader, resolved, rules, model, options)
    if dry_run:
        print(
            f"{resolved.prefix}: {len(plan.assignments)} tensors mapped by {rules.path}, "
            f"{len(plan.ignored)} ignored (dry run: nothing written)",
            file=log,
        )
        _print_plan(plan, log)
        return plan
    checked = "verified bit-exact" if verification else "not verified (--no-verify)"
    print(
        f"wrote {options.output}: {len(plan.assignments)} tensors mapped by {rules.path}, "
        f"{len(plan.ignored)} ignored; {checked}",
        file=log,
    )
    return plan


# ---- what a checkpoint holds, and a starter rules file ----------------------------------------


def _top_scope(key: str) -> str:
    return key.split("/", 1)[0] + "/" if "/" in key else key


def holdings(shapes: dict[str, tuple[int, ...]], limit: int = 10) -> list[str]:
    """Lines saying what a checkpoint holds: tensors, top scopes with counts, optimizer state."""
    slots = maps.optimizer_slots(shapes)
    weights = [key for key in shapes if key not in slots]
    scopes = collections.Counter(_top_scope(key) for key in weights)
    shown = ", ".join(f"{scope} {count}" for scope, count in scopes.most_common(limit))
    if len(scopes) > limit:
        shown += f", and {len(scopes) - limit} more scopes"
    lines = [
        f"It holds {len(shapes)} tensors: {len(weights)} variables in {len(scopes)} top-level "
        f"scopes ({shown or 'none'})"
    ]
    kinds = collections.Counter(
        maps.OPTIMIZER_SLOT.fullmatch(key).group("slot") if var else key.rsplit("/", 1)[-1]
        for key, var in slots.items()
    )
    if slots:
        owners = len({var for var in slots.values() if var})
        listed = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        lines.append(
            f"and {len(slots)} optimizer state tensors (slots of {owners} variables: {listed})"
        )
    else:
        lines.append("and no optimizer slots")
    return lines


# TF1 leaf names -> Keras variable names.
KERAS_LEAF = {
    **dict.fromkeys(("weights", "weight", "w", "W", "kernel", "Matrix", "filter"), "kernel"),
    **dict.fromkeys(("biases", "bias", "b", "Bias"), "bias"),
    "gamma": "gamma",
    "beta": "beta",
    "moving_mean": "moving_mean",
    **dict.fromkeys(("moving_variance", "moving_var"), "moving_variance"),
}
# TF1 slot names -> Keras optimizer variable names (RMSProp's second slot is its momentum).
KERAS_SLOT = {"Adam": "m", "Adam_1": "v", "Momentum": "momentum", "RMSProp": "rms"}
KERAS_SLOT["RMSProp_1"] = "momentum"
OPTIMIZER_TARGETS = "optimizer/"


def _keras_name(key: str) -> str:
    scope, _, leaf = key.rpartition("/")
    renamed = KERAS_LEAF.get(leaf, leaf)
    return f"{scope}/{renamed}" if scope else renamed


def _unique(proposed: dict[str, str], fallback: dict[str, str]) -> dict[str, str]:
    """Targets made unique: keys whose proposals collide fall back to ``fallback`` (unique)."""
    targets = dict(proposed)
    while True:
        users = collections.defaultdict(list)
        for key, target in targets.items():
            users[target].append(key)
        clashing = [key for keys in users.values() if len(keys) > 1 for key in keys]
        if not clashing:
            return targets
        # Each round moves at least one key to its fallback, and fallbacks never clash.
        for key in clashing:
            targets[key] = fallback[key]


def starter_targets(shapes: dict[str, tuple[int, ...]]) -> dict[str, str]:
    """Key -> target in Keras naming; optimizer state under ``optimizer/SLOT/VARIABLE_TARGET``."""
    slots = maps.optimizer_slots(shapes)
    weights = {key: _keras_name(key) for key in shapes if key not in slots}
    weights = _unique(weights, {key: key for key in weights})
    state = {}
    for key, var in slots.items():
        if var:
            slot = maps.OPTIMIZER_SLOT.fullmatch(key).group("slot")
            state[key] = f"{OPTIMIZER_TARGETS}{KERAS_SLOT.get(slot, slot.lower())}/{weights[var]}"
        else:
            state[key] = OPTIMIZER_TARGETS + key
    state = _unique(state, {key: OPTIMIZER_TARGETS + key for key in state})
    clash = set(weights.values()) & set(state.values())
    state.update({key: f"{OPTIMIZER_TARGETS}{key}" for key in state if state[key] in clash})
    return {**weights, **state}


STARTER_HEADER = """\
// Starter rules for {source}
// written by `python -m converters.rules init`. Lines starting with // are comments.
// One rule per variable: "match" is the checkpoint key (a re.fullmatch regex; one
// regex with groups can replace a family of rules, "\\\\1" in the target), "target" its
// name after conversion. As written, the file converts the checkpoint unchanged
// into a plain tf.Module:
//   python -m converters.ckpt_v1_to_v2 CKPT --rules THIS_FILE --output DIR
// To convert into a registry model (--model NAME), edit each target to the model's
// Keras variable path (layer/kernel, layer/bias, bn/gamma, bn/beta, bn/moving_mean,
// bn/moving_variance; Adam slots adam/m/PATH and adam/v/PATH) and set "overrides".
// Add "transform": "conv_as_dense" to turn a conv kernel [h, w, in, out] into a
// Dense kernel [h*w*in, out]. Keys to leave out go to "ignore" with a reason."""


def _rule_line(key: str, target: str) -> str:
    return "  " + json.dumps({"match": re.escape(key), "target": target})


def _groups(shapes, targets) -> list[tuple[str, list[str]]]:
    """(comment, rule lines) per scope, then one group for the optimizer state."""
    slots = maps.optimizer_slots(shapes)
    by_scope = collections.defaultdict(list)
    for key in sorted(k for k in shapes if k not in slots):
        by_scope[key.rpartition("/")[0]].append(key)
    groups = []
    for scope, keys in by_scope.items():
        described = ", ".join(f"{k.rpartition('/')[2]} {list(shapes[k])}" for k in keys[:6]) + (
            ", ..." if len(keys) > 6 else ""
        )
        comment = f"  // {scope or '(top level)'}: {len(keys)} variables: {described}"
        groups.append((comment, [_rule_line(k, targets[k]) for k in keys]))
    if slots:
        comment = (
            f"  // optimizer state: {len(slots)} tensors. --no-optimizer drops them; into a "
            "registry model they become adam/m/PATH, adam/v/PATH, adam/beta1_power..."
        )
        groups.append((comment, [_rule_line(k, targets[k]) for k in sorted(slots)]))
    return groups


def starter_rules(shapes: dict[str, tuple[int, ...]], source: str) -> str:
    """A rules file (JSON with // comments) that converts a checkpoint of ``shapes`` as it is."""
    targets = starter_targets(shapes)
    lines = [STARTER_HEADER.format(source=source), "{", ' "rules": [']
    groups = _groups(shapes, targets)
    last = sum(len(rules) for _, rules in groups)
    count = 0
    for comment, rules in groups:
        lines.append(comment)
        for rule in rules:
            count += 1
            lines.append(rule + ("," if count < last else ""))
    lines += [" ],", ' "ignore": []', "}", ""]
    return "\n".join(lines)


def _write_text(path: str, text: str, force: bool) -> None:
    """``text`` into ``path`` atomically; an existing file is refused without ``force``."""
    if os.path.exists(path) and not force:
        raise UsageError(f"{path}: already exists (use --force to replace it)")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    except OSError as error:
        raise UsageError(f"{path}: cannot write here ({error.strerror})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def init(ckpt: str, output: str | None = None, *, force: bool = False, out: TextIO | None = None):
    """The starter rules file of ``ckpt``, printed to ``out`` or written to ``output``."""
    resolved = resolve(ckpt)
    reader = Reader(resolved.prefix)
    if reader.object_based:
        raise InputError(f"{resolved.prefix}: is an object-based (TF2) checkpoint, not a TF1 one")
    text = starter_rules(reader.shapes(), resolved.prefix)
    if output is None:
        (out or sys.stdout).write(text)
    else:
        _write_text(output, text, force)
        print(f"wrote {output}: {len(reader.shapes())} rules", file=sys.stderr)
    return text


def main(argv: list[str] | None = None) -> int:
    """``python -m converters.rules init CKPT [--output FILE] [--force]``; returns the exit code."""
    from converters import cli
    from converters.errors import run_cli

    parser = cli.parser("rules")
    args = parser.parse_args(argv)
    return run_cli(lambda _: init(args.ckpt, args.output, force=args.force), argv)
