"""TF1 Saver checkpoint -> ``tf2_port`` checkpoint (weights, BN statistics, Adam state).

Library: :func:`convert`. CLI::

    python -m converters.ckpt_v1_to_v2 CKPT [--model NAME|auto] [--output DIR]
        [--no-optimizer] [--weights-h5 FILE] [--dry-run] [--force] [--rules FILE]

Exit codes: 0 success, 2 usage error or existing output, 3 unreadable or corrupt
input, 4 mapping error, 5 failed verification.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import tempfile
from typing import Any, TextIO

import numpy as np
import tensorflow as tf

from converters import maps
from converters.bundle import (
    ConverterError,
    InputError,
    MappingError,
    Progress,
    Reader,
    UsageError,
    VerificationError,
    atomic_directory,
    resolve,
    write_name_based,
)

MANIFEST_FILE = "manifest.json"
AUTO = "auto"
# Keys of the TF2 checkpoint's root object, as tf2_port.train saves them, plus ours.
IGNORED_ROOT = "legacy_ignored"
# Name-based bundle beside the TF2 checkpoint holding the tensors the table ignores.
IGNORED_PREFIX = "legacy_ignored"
VERIFY_BATCH = 4


# ---- the port side ------------------------------------------------------------------------


@dataclasses.dataclass
class PortState:
    """A freshly built port model, its Adam and step: the objects a TF2 checkpoint holds."""

    name: str
    overrides: dict[str, Any]
    model: Any
    optimizer: Any
    step: tf.Variable

    @property
    def variables(self) -> dict[str, tf.Variable]:
        """The model's variables by Keras path (``layer/kernel``)."""
        return {v.path: v for v in self.model.weights}

    @property
    def trainable_paths(self) -> set[str]:
        return {v.path for v in self.model.trainable_variables}

    def target(self, name: str):
        """The variable a map target names (model path, Adam slot or power, step)."""
        if name == maps.STEP:
            return self.step
        for prefix, slots in ((maps.M_SLOT, "_momentums"), (maps.V_SLOT, "_velocities")):
            if name.startswith(prefix):
                variable = self.variables[name[len(prefix) :]]
                # Keras 3 Adam keeps slots in lists indexed like its trainable variables.
                return getattr(self.optimizer, slots)[self.optimizer._get_variable_index(variable)]
        return self.variables[name]

    def checkpoint(self, **extra: Any) -> tf.train.Checkpoint:
        """The root object, keyed as tf2_port.train saves it."""
        return tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step, **extra
        )


def build_port(name: str, overrides: dict[str, Any]) -> PortState:
    """The port model ``name`` with ``overrides``, plus a built Keras 3 Adam (zero slots)."""
    import tf2_port
    from tf2_port import registry
    from tf2_port.train import make_optimizer

    spec = registry.get(name)
    model = tf2_port.build(name, **overrides)
    optimizer = make_optimizer(spec.config(**overrides).learning_rate)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    return PortState(name, dict(overrides), model, optimizer, step)


def registry_learning_rate(name: str, overrides: dict[str, Any]) -> float:
    """The port's Adam learning rate for ``overrides`` (the TF1 original's)."""
    from tf2_port import registry

    return float(registry.get(name).config(**overrides).learning_rate)


def port_overrides(name: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """Config overrides for the port: its parity overrides, then what the shapes imply."""
    from tf2_port import registry

    model_map = maps.get(name)
    _, variant = maps.fit(model_map, shapes)
    return {
        **registry.get(name).parity_overrides,
        **model_map.infer_overrides(shapes),
        **variant,
    }


def port_logits(model, images: np.ndarray) -> np.ndarray:
    """Pre-softmax outputs: ports that end in a Softmax layer are read before it."""
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        model = keras.Model(model.inputs[0], last.input)
    return np.asarray(model(images, training=False))


def legacy_options(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides that are also legacy Options fields (vgg16 shares its names)."""
    from legacy_tf1 import registry

    fields = {f.name for f in dataclasses.fields(registry.get(name).Options)}
    return {key: value for key, value in overrides.items() if key in fields}


def verification_batch(model_map: maps.ModelMap, overrides: dict[str, Any]) -> np.ndarray:
    """A fixed pseudo-random batch in the original's input layout."""
    shape = (VERIFY_BATCH, *model_map.legacy_input_shape(overrides))
    return np.random.default_rng(0).random(shape, dtype=np.float32)


# ---- planning -----------------------------------------------------------------------------


def _dtype_problems(plan: maps.Plan, state: PortState, dtypes: dict[str, str]) -> list[str]:
    """Assignments whose stored dtype is not the target variable's (float16, int64, string...)."""
    problems = []
    for assignment in plan.assignments:
        try:
            expected = (
                "float32"
                if assignment.transform == "beta_power"
                else tf.as_dtype(state.target(assignment.target).dtype).name
            )
        except (KeyError, ValueError):
            continue  # an unknown target is already reported as unexpected
        actual = dtypes.get(assignment.source, expected)
        if actual != expected:
            problems.append(
                f"{assignment.source} is {actual} -> {assignment.target} is {expected}: "
                "dtypes differ"
            )
    return problems


def plan_for(
    name: str,
    shapes: dict[str, tuple[int, ...]],
    *,
    optimizer: bool = True,
    dtypes: dict[str, str] | None = None,
):
    """(plan, port state) of converting a checkpoint with ``shapes`` into model ``name``.

    With ``dtypes`` (stored dtype names) a dtype that differs from the target's
    is a plan problem: assigning it would fail deep inside TF, or silently cast.
    """
    overrides = port_overrides(name, shapes)
    try:
        state = build_port(name, overrides)
    except (ValueError, TypeError) as error:
        raise MappingError(f"{name}: cannot build the port with {overrides} ({error})") from None
    port_shapes = {path: tuple(v.shape) for path, v in state.variables.items()}
    plan = maps.plan(
        maps.for_overrides(maps.get(name), overrides),
        shapes,
        port_shapes,
        state.trainable_paths,
        optimizer=optimizer,
    )
    plan.problems.extend(_dtype_problems(plan, state, dtypes or {}))
    return plan, state


def _name_errors(name: str, shapes: dict[str, tuple[int, ...]]) -> int:
    """Keys the table (or its best variant) neither maps nor ignores: a cheap first filter."""
    return maps.unmatched(maps.fit(maps.get(name), shapes)[0], shapes)


def detect_model(shapes: dict[str, tuple[int, ...]], source: str) -> str:
    """The registry model whose table and port shapes fit the checkpoint exactly.

    Candidates are ranked by unmatched names; the best ones are then planned
    against their port. No exact fit raises MappingError naming the closest.
    """
    ranked = sorted(maps.MAPS, key=lambda name: _name_errors(name, shapes))
    best_errors = _name_errors(ranked[0], shapes)
    closest = None
    for name in ranked:
        if _name_errors(name, shapes) > best_errors:
            break
        candidate, _ = plan_for(name, shapes)
        if candidate.ok:
            return name
        if closest is None or candidate.error_count() < closest.error_count():
            closest = candidate
    closest = closest or plan_for(ranked[0], shapes)[0]
    raise MappingError(
        f"{source}: matches no registry model; the closest is {closest.model!r}:\n{closest.report()}"
    )


# ---- converting ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert` did."""

    source: str
    model: str
    output: str | None
    overrides: dict[str, Any]
    iterations: int | None
    max_abs_diff: float | None
    notes: tuple[str, ...]


def default_output(prefix: str) -> str:
    """``CKPT_DIR_tf2`` beside the checkpoint's directory."""
    directory = os.path.dirname(os.path.abspath(prefix))
    return directory.rstrip(os.sep) + "_tf2"


def _assign(
    state: PortState, reader: Reader, plan: maps.Plan, log: TextIO
) -> tuple[int | None, dict]:
    """Copy every assignment into the port objects; return (Adam iterations, powers)."""
    total = sum(reader.infos[a.source].nbytes for a in plan.assignments)
    progress = Progress(total, "converting", log)
    powers: dict[str, float] = {}
    for assignment in plan.assignments:
        value = reader.get(assignment.source)
        progress.add(reader.infos[assignment.source].nbytes)
        if assignment.transform == "beta_power":
            powers[assignment.target] = float(value)
            continue
        forward, _ = maps.TRANSFORMS[assignment.transform]
        state.target(assignment.target).assign(forward(value))
    iterations = None
    if powers:
        iterations = maps.iterations_from_beta_powers(
            powers[maps.BETA1_POWER], powers[maps.BETA2_POWER]
        )
        state.optimizer.iterations.assign(iterations)
    if not any(a.target == maps.STEP for a in plan.assignments):
        # Without Adam powers, the Saver's "-STEP" suffix is the only step count.
        suffix = re.search(r"-(\d+)$", reader.prefix)
        state.step.assign(
            iterations if iterations is not None else int(suffix.group(1)) if suffix else 0
        )
    return iterations, powers


def ignored_tensors(reader: Reader, plan: maps.Plan, model_map: maps.ModelMap) -> dict:
    """Tensors the table ignores, by TF1 name: kept so that v2 -> v1 gives them back bit for bit."""
    return {
        key: reader.get(key)
        for key in plan.ignored
        if any(_fullmatch(rule.tf1, key) for rule in model_map.ignore)
    }


def _fullmatch(pattern: str, key: str) -> bool:
    return re.fullmatch(pattern, key) is not None


def _manifest(resolved, model_map, plan, overrides, iterations, optimizer) -> dict[str, Any]:
    return {
        "source": os.path.abspath(resolved.prefix),
        "source_format": resolved.format,
        "model": model_map.name,
        "port_overrides": overrides,
        "optimizer": "converted"
        if iterations is not None
        else ("absent" if optimizer else "skipped"),
        "adam_iterations": iterations,
        "mapping": [dataclasses.asdict(a) for a in plan.assignments],
        "ignored": plan.ignored,
        "ignored_tensors_kept_in": IGNORED_PREFIX if _kept_any(plan, model_map) else None,
    }


def _kept_any(plan: maps.Plan, model_map: maps.ModelMap) -> bool:
    return any(any(_fullmatch(r.tf1, key) for r in model_map.ignore) for key in plan.ignored)


def _write_json(path: str, payload: dict[str, Any]) -> None:
    with open(path, "w") as stream:
        json.dump(payload, stream, indent=1, sort_keys=True)


def _write_h5(model, path: str, force: bool) -> None:
    if not path.endswith(".weights.h5"):
        raise UsageError(f"{path}: --weights-h5 must end in .weights.h5 (Keras 3 requires it)")
    if os.path.exists(path) and not force:
        raise UsageError(f"{path}: already exists (use --force to replace it)")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".weights.h5", dir=directory)
    os.close(handle)
    try:
        model.save_weights(temp, overwrite=True)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def _write_files(temp, state, reader, plan, resolved, optimizer, iterations) -> None:
    """Checkpoint, ignored-tensor bundle, port_config.json and manifest.json into ``temp``."""
    from tf2_port.train import CONFIG_FILE

    model_map = maps.for_overrides(maps.get(state.name), state.overrides)
    # Only the port's own objects go into the object graph, so that a restore
    # can assert_consumed(); ignored tensors live in a separate small bundle.
    manager = tf.train.CheckpointManager(state.checkpoint(), temp, max_to_keep=1)
    manager.save(checkpoint_number=int(state.step.numpy()))
    kept = ignored_tensors(reader, plan, model_map)
    if kept:
        write_name_based(os.path.join(temp, IGNORED_PREFIX), kept)
    # tf2_port.load and a resumed `python -m tf2_port train` rebuild the model from this.
    _write_json(
        os.path.join(temp, CONFIG_FILE),
        {"model": state.name, "overrides": state.overrides, "seed": 0},
    )
    manifest = _manifest(resolved, model_map, plan, state.overrides, iterations, optimizer)
    _write_json(os.path.join(temp, MANIFEST_FILE), manifest)


def _write_output(
    output, state, reader, plan, resolved, optimizer, force, log, verification=False
) -> tuple[int | None, float | None]:
    """Assign, write, verify in the temporary directory, then publish ``output`` atomically.

    Verifying *before* the rename means a failed verification (or a kill) never
    leaves an output behind: ``output`` exists only once it is complete and verified.
    Returns (Adam iterations, max abs logits difference or None).
    """
    iterations, _ = _assign(state, reader, plan, log)
    difference = None
    with atomic_directory(output, force=force) as temp:
        _write_files(temp, state, reader, plan, resolved, optimizer, iterations)
        if verification:
            check_restorable(state.name, temp, state.overrides, shown_as=output)
            difference = verify(state.name, resolved.prefix, temp, state.overrides, shown_as=output)
    return iterations, difference


def verify(
    name: str,
    source_prefix: str,
    output: str,
    overrides: dict[str, Any],
    *,
    shown_as: str | None = None,
) -> float:
    """Max abs logits difference between the port restored from ``output`` and the legacy graph.

    Raises VerificationError beyond the model's tolerance (naming ``shown_as``,
    default ``output``).
    """
    import legacy_tf1
    import tf2_port

    model_map = maps.get(name)
    images = verification_batch(model_map, overrides)
    legacy = legacy_tf1.predict(name, source_prefix, images, **legacy_options(name, overrides))
    port = port_logits(tf2_port.load(name, output), model_map.to_port_inputs(images))
    difference = float(np.max(np.abs(port - legacy)))
    if model_map.tolerance.exceeded(port, legacy):
        raise VerificationError(
            f"{shown_as or output}: port logits differ from the legacy graph restored from {source_prefix}: "
            f"max abs difference {difference:.3g} exceeds atol {model_map.tolerance.atol} + "
            f"rtol {model_map.tolerance.rtol} * |logits|"
        )
    return difference


def check_restorable(
    name: str, output: str, overrides: dict[str, Any], *, shown_as: str | None = None
) -> None:
    """Every variable of a fresh port model, its Adam and step is found in ``output``.

    And nothing else: the ignored tensors are kept outside the object graph,
    so the restore passes ``assert_consumed()``.
    """
    state = build_port(name, overrides)
    prefix = tf.train.latest_checkpoint(output)
    try:
        state.checkpoint().restore(prefix).assert_consumed()
    except AssertionError as error:
        raise VerificationError(
            f"{shown_as or output}: does not restore into {name!r} ({error})"
        ) from None


def convert(
    ckpt: str,
    *,
    model: str = AUTO,
    output: str | None = None,
    optimizer: bool = True,
    weights_h5: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    verification: bool = True,
    log: TextIO | None = None,
) -> ConversionResult:
    """Convert the TF1 checkpoint ``ckpt`` (directory, prefix or one of its files).

    ``model`` is a registry name or "auto". Writes ``output`` (default
    ``CKPT_DIR_tf2``) atomically, then verifies it against the legacy graph.
    """
    log = log or sys.stderr
    resolved = resolve(ckpt)
    for note in resolved.notes:
        print(note, file=log)
    reader = Reader(resolved.prefix)
    if reader.object_based:
        raise InputError(
            f"{resolved.prefix}: is an object-based (TF2) checkpoint, not a TF1 Saver one"
        )
    shapes = reader.shapes()
    name = detect_model(shapes, resolved.prefix) if model == AUTO else model
    maps.get(name)
    dtypes = {key: reader.infos[key].dtype for key in shapes}
    plan, state = plan_for(name, shapes, optimizer=optimizer, dtypes=dtypes)
    if not plan.ok:
        raise MappingError(f"{resolved.prefix}: does not fit model {name!r}:\n{plan.report()}")
    print(
        f"{resolved.prefix}: {resolved.format} checkpoint of {name!r}, "
        f"{len(plan.assignments)} tensors mapped, {len(plan.ignored)} ignored",
        file=log,
    )
    if dry_run:
        for assignment in plan.assignments:
            print(
                f"  {assignment.source} -> {assignment.target} ({assignment.transform})", file=log
            )
        for key, reason in plan.ignored.items():
            print(f"  {key}: ignored ({reason})", file=log)
        return ConversionResult(
            resolved.prefix, name, None, state.overrides, None, None, resolved.notes
        )
    output = os.path.abspath(output or default_output(resolved.prefix))
    iterations, difference = _write_output(
        output, state, reader, plan, resolved, optimizer, force, log, verification
    )
    if difference is not None:
        print(f"verified: max abs logits difference {difference:.3g}", file=log)
    if weights_h5:
        _write_h5(state.model, weights_h5, force)
    print(f"wrote {output}", file=log)
    return ConversionResult(
        resolved.prefix, name, output, state.overrides, iterations, difference, resolved.notes
    )


# ---- command line -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m converters.ckpt_v1_to_v2",
        description="Convert a TF1 Saver checkpoint of a registry model into a tf2_port "
        "checkpoint (CheckpointManager layout, port_config.json, manifest.json), with "
        "the Adam state, then verify the logits against the legacy graph. Exit codes: "
        "2 usage / existing output, 3 unreadable input, 4 mapping error, 5 failed verification.",
    )
    parser.add_argument(
        "ckpt", metavar="CKPT", help="checkpoint directory, prefix, or .index/.meta/.data-* file"
    )
    parser.add_argument(
        "--model",
        default=AUTO,
        choices=(AUTO, *maps.MAPS),
        help="model name (default: auto-detect)",
    )
    parser.add_argument("--output", help="output directory (default: CKPT_DIR_tf2)")
    parser.add_argument("--no-optimizer", action="store_true", help="drop the Adam state")
    parser.add_argument(
        "--weights-h5", metavar="FILE", help="also write Keras weights (.weights.h5)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the mapping, write nothing")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--rules",
        metavar="FILE",
        help="generic mode: map by this JSON rules file (see converters/rules.py) into "
        "--model, or into a plain tf.Module when --model is auto; needs --output",
    )
    return parser


def run_cli(function, argv) -> int:
    """Run ``function(argv)``, turning converter errors into messages and exit codes."""
    try:
        function(argv)
    except ConverterError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    args = _parser().parse_args(argv)

    def run(_):
        if args.rules:
            from converters import rules

            if not args.output:
                raise UsageError("--rules needs --output DIR")
            model = None if args.model == AUTO else args.model
            rules.convert(args.ckpt, args.rules, model=model, output=args.output, force=args.force)
            return
        convert(
            args.ckpt,
            model=args.model,
            output=args.output,
            optimizer=not args.no_optimizer,
            weights_h5=args.weights_h5,
            dry_run=args.dry_run,
            force=args.force,
        )

    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
