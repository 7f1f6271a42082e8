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
import gc
import json
import os
import re
import sys
import tempfile
from typing import Any, TextIO

import numpy as np
import tensorflow as tf

from converters import fastpath, maps
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

    def target_dtype(self, name: str) -> str:
        """The dtype name of the variable a map target names."""
        return tf.as_dtype(self.target(name).dtype).name

    def checkpoint(self, **extra: Any) -> tf.train.Checkpoint:
        """The root object, keyed as tf2_port.train saves it."""
        return tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step, **extra
        )


@dataclasses.dataclass(frozen=True)
class PortShapes:
    """A port model's variables described, never allocated: what planning needs."""

    name: str
    overrides: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]
    trainable_paths: frozenset[str]

    def _variable(self, name: str) -> str:
        for prefix in (maps.M_SLOT, maps.V_SLOT):
            if name.startswith(prefix):
                return name[len(prefix) :]
        return name

    def target_dtype(self, name: str) -> str:
        """The dtype name of a map target (Adam slots have their variable's); KeyError if unknown."""
        return "int64" if name == maps.STEP else self.dtypes[self._variable(name)]

    def target_shape(self, name: str) -> tuple[int, ...]:
        """The full-size shape of a map target (slots: their variable's; step: scalar)."""
        return () if name == maps.STEP else self.shapes[self._variable(name)]


def port_shapes(name: str, overrides: dict[str, Any]) -> PortShapes:
    """The port model's variable shapes, dtypes and trainability, without allocating them.

    Built inside a throwaway tf.Graph: Keras creates graph variables whose
    initializers never run, so a 1.9 GB vgg16 costs no memory here.
    """
    import tf2_port

    with tf.Graph().as_default():
        model = tf2_port.build(name, **overrides)
        return PortShapes(
            name,
            dict(overrides),
            {v.path: tuple(v.shape) for v in model.weights},
            {v.path: tf.as_dtype(v.dtype).name for v in model.weights},
            frozenset(v.path for v in model.trainable_variables),
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


def _dtype_problems(plan: maps.Plan, state, dtypes: dict[str, str]) -> list[str]:
    """Assignments whose stored dtype is not the target variable's (float16, int64, string...).

    ``state`` is a PortState or a PortShapes (anything with ``target_dtype``).
    """
    problems = []
    for assignment in plan.assignments:
        try:
            expected = (
                "float32"
                if assignment.transform == "beta_power"
                else state.target_dtype(assignment.target)
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
    """(plan, port shapes) of converting a checkpoint with ``shapes`` into model ``name``.

    The port is described (:func:`port_shapes`), not built: planning, and so
    ``--model auto`` trying several models, allocates no full-size variables.
    With ``dtypes`` (stored dtype names) a dtype that differs from the target's
    is a plan problem: assigning it would fail deep inside TF, or silently cast.
    """
    overrides = port_overrides(name, shapes)
    try:
        port = port_shapes(name, overrides)
    except (ValueError, TypeError) as error:
        raise MappingError(f"{name}: cannot build the port with {overrides} ({error})") from None
    plan = maps.plan(
        maps.for_overrides(maps.get(name), overrides),
        shapes,
        port.shapes,
        set(port.trainable_paths),
        optimizer=optimizer,
    )
    plan.problems.extend(_dtype_problems(plan, port, dtypes or {}))
    return plan, port


def _name_errors(name: str, shapes: dict[str, tuple[int, ...]]) -> int:
    """Keys the table (or its best variant) neither maps nor ignores: a cheap first filter."""
    return maps.unmatched(maps.fit(maps.get(name), shapes)[0], shapes)


# Rows every table has (Adam powers, global_step): matching them says nothing about the model.
_SHARED_TARGETS = frozenset(row.target for row in maps.ADAM_POWERS + maps.GLOBAL_STEP)


def _own_keys(name: str, shapes: dict[str, tuple[int, ...]]) -> int:
    """Keys matched by a row of the model's own (not the rows every table shares)."""
    table = maps.fit(maps.get(name), shapes)[0]
    return sum(
        isinstance(found, tuple) and found[0] not in _SHARED_TARGETS
        for found in (maps.match(table, key) for key in shapes)
    )


def _shape_overlap(plan: maps.Plan) -> int:
    """Model-specific assignments whose shapes agree: how close a failed plan really is."""
    differing = {p.split(" ", 1)[0] for p in plan.problems}
    return sum(
        a.target not in _SHARED_TARGETS and a.source not in differing for a in plan.assignments
    )


def _try_plan(name: str, shapes: dict[str, tuple[int, ...]]) -> maps.Plan | None:
    """The plan into ``name``, or None when the shapes do not even configure its port."""
    try:
        return plan_for(name, shapes)[0]
    except MappingError:
        return None


def detect_model(shapes: dict[str, tuple[int, ...]], source: str) -> str:
    """The registry model whose table and port shapes fit the checkpoint exactly.

    Candidates are ranked by unmatched names; the best ones are then planned
    against their port. No exact fit raises MappingError that says what the
    checkpoint holds and how to convert it with a rules file; it names the
    closest model only when that model shares some correctly shaped keys.
    """
    ranked = sorted(maps.MAPS, key=lambda name: _name_errors(name, shapes))
    best_errors = _name_errors(ranked[0], shapes)
    closest = None
    for name in ranked:
        if _name_errors(name, shapes) > best_errors or not _own_keys(name, shapes):
            continue
        candidate = _try_plan(name, shapes)
        if candidate is None:
            continue
        if candidate.ok:
            return name
        if closest is None or candidate.error_count() < closest.error_count():
            closest = candidate
    raise MappingError(no_model_message(shapes, source, closest))


def no_model_message(shapes, source: str, closest: maps.Plan | None) -> str:
    """The refusal of ``--model auto``: what the checkpoint holds and the way forward."""
    from converters import rules

    lines = [f"{source}: matches no registry model ({', '.join(maps.MAPS)})."]
    lines += rules.holdings(shapes)
    if closest is not None and _shape_overlap(closest):
        lines.append(f"The closest is {closest.model!r}:")
        lines += closest.report().splitlines()[:20]
    lines += [
        "To convert it anyway, write a rules file (one rule per variable, Keras names) and edit it:",
        f"  python -m converters.rules init {source} --output rules.json",
        f"  python -m converters.ckpt_v1_to_v2 {source} --rules rules.json --output DIR",
    ]
    return "\n".join(lines)


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


def _assign(state: PortState, reader: Reader, plan: maps.Plan, log: TextIO) -> int | None:
    """Copy every assignment into the port objects; return the Adam iterations (or None)."""
    total = sum(reader.infos[a.source].nbytes for a in plan.assignments)
    progress = Progress(total, "converting", log)
    for assignment in plan.assignments:
        progress.add(reader.infos[assignment.source].nbytes)
        if assignment.transform == "beta_power":
            continue  # becomes optimizer.iterations, below
        forward, _ = maps.TRANSFORMS[assignment.transform]
        state.target(assignment.target).assign(forward(reader.get(assignment.source)))
    iterations, step = _counters(reader, plan)
    if iterations is not None:
        state.optimizer.iterations.assign(iterations)
    state.step.assign(step)
    return iterations


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


def _save_port(state, directory: str, step: int) -> str:
    """``state`` saved as tf2_port.train saves it (CheckpointManager layout); the prefix."""
    manager = tf.train.CheckpointManager(state.checkpoint(), directory, max_to_keep=1)
    return manager.save(checkpoint_number=step)


def _write_side_files(temp, name, overrides, plan, resolved, optimizer, iterations) -> None:
    """port_config.json and manifest.json into ``temp``."""
    from tf2_port.train import CONFIG_FILE

    model_map = maps.for_overrides(maps.get(name), overrides)
    # tf2_port.load and a resumed `python -m tf2_port train` rebuild the model from this.
    _write_json(os.path.join(temp, CONFIG_FILE), {"model": name, "overrides": overrides, "seed": 0})
    manifest = _manifest(resolved, model_map, plan, overrides, iterations, optimizer)
    _write_json(os.path.join(temp, MANIFEST_FILE), manifest)


def _write_files(temp, state, reader, plan, resolved, optimizer, iterations) -> None:
    """Checkpoint, ignored-tensor bundle, port_config.json and manifest.json into ``temp``."""
    model_map = maps.for_overrides(maps.get(state.name), state.overrides)
    # Only the port's own objects go into the object graph, so that a restore
    # can assert_consumed(); ignored tensors live in a separate small bundle.
    _save_port(state, temp, int(state.step.numpy()))
    kept = ignored_tensors(reader, plan, model_map)
    if kept:
        write_name_based(os.path.join(temp, IGNORED_PREFIX), kept)
    _write_side_files(temp, state.name, state.overrides, plan, resolved, optimizer, iterations)


def _write_slow(output, port, reader, plan, resolved, optimizer, force, log, verification):
    """The materialising path: a full-size port and Adam take every tensor, then are saved.

    Returns (Adam iterations, max abs logits difference or None, the port model).
    """
    state = build_port(port.name, port.overrides)
    iterations = _assign(state, reader, plan, log)
    difference = None
    with atomic_directory(output, force=force) as temp:
        _write_files(temp, state, reader, plan, resolved, optimizer, iterations)
        if verification:
            check_restorable(state.name, temp, state.overrides, shown_as=output)
            difference = verify(state.name, resolved.prefix, temp, state.overrides, shown_as=output)
    return iterations, difference, state.model


# ---- the streaming path -----------------------------------------------------------------------


def _fast_source(plan: maps.Plan, resolved) -> fastpath.Bundle:
    """The source bundle when the fast path can copy every mapped tensor's bytes."""
    if resolved.format != "V2":
        raise fastpath.Unsupported("V1 single-file checkpoint")
    changed = sorted({a.transform for a in plan.assignments} - fastpath.BYTE_PRESERVING)
    if changed:
        raise fastpath.Unsupported(f"transforms that change bytes: {changed}")
    return fastpath.read_source(resolved.prefix)


def _counters(reader: Reader, plan: maps.Plan) -> tuple[int | None, int]:
    """(Adam iterations from the beta powers or None, the output's step): both paths use it."""
    powers = {
        a.target: float(reader.get(a.source))
        for a in plan.assignments
        if a.transform == "beta_power"
    }
    iterations = None
    if powers:
        iterations = maps.iterations_from_beta_powers(
            powers[maps.BETA1_POWER], powers[maps.BETA2_POWER]
        )
    stepped = [a.source for a in plan.assignments if a.target == maps.STEP]
    if stepped:
        return iterations, int(reader.get(stepped[0]))
    # Without Adam powers, the Saver's "-STEP" suffix is the only step count.
    suffix = re.search(r"-(\d+)$", reader.prefix)
    return iterations, iterations if iterations is not None else int(
        suffix.group(1)
    ) if suffix else 0


def _skeleton(port: PortShapes, directory: str, step: int) -> fastpath.Layout:
    """The skeleton port saved into ``directory`` (its keys mapped); the full-size one never exists."""
    overrides = {**port.overrides, **maps.get(port.name).skeleton_overrides}
    state = build_port(port.name, overrides)
    layout = fastpath.skeleton_layout(state, directory, step, _save_port)
    del state
    gc.collect()  # Keras layers hold reference cycles: free the skeleton's tensors now
    return layout


def _full_shape(slot: fastpath.Slot, port: PortShapes) -> tuple[int, ...]:
    if slot.variable in ("", fastpath.ITERATIONS) or slot.variable.startswith("optimizer:"):
        if slot.skeleton_shape:
            raise fastpath.Unsupported(f"{slot.key}: optimizer variable of unknown full shape")
        return ()
    return tuple(port.target_shape(slot.variable))


def _output_parts(layout, port, plan, source, iterations, step):
    """(parts, generated small tensors, expected key -> (dtype, shape)) of the TF2 bundle.

    Mapped variables come from the source's bytes; Adam slots without a source
    are zeros and scalars keep a fresh port's values, as the materialising path
    leaves them.
    """
    by_target = {a.target: a for a in plan.assignments if a.transform == "identity"}
    parts, generated, expected = [], {}, {}
    for key, slot in sorted(layout.slots.items()):
        if slot.variable == "":  # the object graph and save_counter: the skeleton's own
            parts.append(fastpath.copied(key, layout.bundle, key))
            if key != fastpath.OBJECT_GRAPH_KEY:
                expected[key] = (slot.dtype, slot.skeleton_shape)
            continue
        shape = _full_shape(slot, port)
        expected[key] = (slot.dtype, shape)
        assignment = by_target.get(slot.variable)
        if assignment is not None:
            entry = source.entries[assignment.source]
            stored = (tf.as_dtype(entry.dtype).name, tuple(d.size for d in entry.shape.dim))
            if stored != (slot.dtype, shape):
                raise fastpath.Unsupported(f"{assignment.source} is {stored}, {key} wants {shape}")
            parts.append(fastpath.copied(key, source, assignment.source))
        elif slot.variable == fastpath.ITERATIONS and iterations is not None:
            generated[key] = np.asarray(iterations, dtype=slot.dtype)
        elif slot.variable == maps.STEP:
            generated[key] = np.asarray(step, dtype=slot.dtype)
        elif not shape:
            generated[key] = np.asarray(layout.initial[slot.variable], dtype=slot.dtype)
        elif slot.variable.startswith((maps.M_SLOT, maps.V_SLOT)):
            parts.append(fastpath.zeros(key, slot.dtype, shape))  # Keras 3 Adam starts at zero
        else:
            raise fastpath.Unsupported(f"{key} ({slot.variable}) has no value to write")
    return parts, generated, expected


def _blame(reader: Reader, source: str | None, output: str, key: str, detail: str):
    """The error for a written tensor that does not read back: the source's, else ours."""
    if source is not None:
        reader.get(source)  # raises InputError when the source itself is damaged
    return VerificationError(f"{output}: {key} does not read back after copying ({detail})")


def _copy_parts(prefix, parts, header, reader, sources, log, shown_as) -> None:
    """Write the bundle ``prefix`` from ``parts``; every copied tensor is then read back.

    TF's reader checks each tensor's stored crc32c, so a damaged source (the
    materialising path's InputError, exit 3) is caught here too, before publishing.
    """
    progress = Progress(sum(p.entry.size for p in parts if p.path), "converting", log)
    try:
        fastpath.write_bundle(prefix, parts, header, progress.add)
    except fastpath.ShortCopy as short:
        raise _blame(reader, sources.get(short.key), shown_as, short.key, "short source") from None
    except FileNotFoundError as error:
        raise InputError(f"{error.filename}: cannot read ({error.strerror})") from None
    bad = fastpath.unreadable_tensors(prefix, [p.key for p in parts if p.key in sources])
    if bad is not None:
        raise _blame(reader, sources[bad[0]], shown_as, *bad)


def _check_structure(prefix, expected, name, shown_as) -> None:
    """What ``assert_consumed()`` on a fresh port + Adam checked, from the index alone."""
    problems = fastpath.structural_problems(prefix, expected)
    if problems:
        raise VerificationError(
            f"{shown_as}: does not restore into {name!r} ({'; '.join(problems[:5])})"
        )


def _write_fast(output, port, reader, plan, resolved, optimizer, force, log, verification):
    """The streaming path (converters/fastpath.py); same files as :func:`_write_slow`."""
    source = _fast_source(plan, resolved)
    iterations, step = _counters(reader, plan)
    model_map = maps.for_overrides(maps.get(port.name), port.overrides)
    difference, model = None, None
    with atomic_directory(output, force=force) as temp:
        layout = _skeleton(port, temp, step)
        parts, generated, expected = _output_parts(layout, port, plan, source, iterations, step)
        scratch = os.path.join(temp, ".scratch")
        try:
            small = fastpath.scratch_bundle(scratch, generated)
            parts += [fastpath.copied(key, small, key) for key in sorted(generated)]
            sources = {
                p.key: a.source
                for p in parts
                for a in plan.assignments
                if a.transform == "identity" and p.path and p.entry is source.entries[a.source]
            }
            _copy_parts(
                layout.bundle.prefix, parts, layout.bundle.header, reader, sources, log, output
            )
            kept = [
                k
                for k in sorted(plan.ignored)
                if any(_fullmatch(r.tf1, k) for r in model_map.ignore)
            ]
            if kept:
                _copy_parts(
                    os.path.join(temp, IGNORED_PREFIX),
                    [fastpath.copied(k, source, k) for k in kept],
                    layout.bundle.header,
                    reader,
                    {k: k for k in kept},
                    None,
                    output,
                )
        finally:
            fastpath.discard(scratch)
        _write_side_files(temp, port.name, port.overrides, plan, resolved, optimizer, iterations)
        # Cheap (the index alone), so it runs even when the logits check is skipped.
        _check_structure(layout.bundle.prefix, expected, port.name, output)
        if verification:
            difference, model = _verified_model(
                port.name, resolved.prefix, temp, port.overrides, shown_as=output
            )
    return iterations, difference, model


def _write_output(output, port, reader, plan, resolved, optimizer, force, log, verification):
    """Write, verify in the temporary directory, then publish ``output`` atomically.

    The streaming path first; what it cannot express falls back to the
    materialising one (with a note). Verifying *before* the rename means a
    failed verification (or a kill) never leaves an output behind.
    Returns (Adam iterations, max abs logits difference or None, port model or None).
    """
    try:
        return _write_fast(
            output, port, reader, plan, resolved, optimizer, force, log, verification
        )
    except fastpath.Unsupported as reason:
        print(f"{resolved.prefix}: converting through the full port ({reason})", file=log)
    return _write_slow(output, port, reader, plan, resolved, optimizer, force, log, verification)


def legacy_logits(name: str, source_prefix: str, images: np.ndarray, **options: Any) -> np.ndarray:
    """``legacy_tf1.predict``'s logits, restoring only the variables the logits read.

    predict() restores every variable the checkpoint holds, Adam slots
    included (2/3 of a vgg16 checkpoint), though inference never reads them.
    """
    from legacy_tf1 import api
    from legacy_tf1 import registry as legacy_registry
    from legacy_tf1.core import tf1

    module = legacy_registry.get(name)
    fields = {f.name for f in dataclasses.fields(module.Options)}
    if "batch_size" in fields and getattr(module, "FIXED_BATCH", False):
        options = {**options, "batch_size": len(images)}  # placeholders fix the batch (seed001)
    built = api.build(name, **options)
    with built.graph.as_default():
        saver = tf1.train.Saver(var_list=api.variables_read_by(built.logits))
    with tf1.Session(graph=built.graph) as session:
        saver.restore(session, source_prefix)
        return session.run(built.logits, built.feed(images, training=False))


def _verified_model(name, source_prefix, output, overrides, *, shown_as=None):
    """(max abs logits difference, the port restored from ``output``); VerificationError beyond tolerance."""
    import tf2_port

    model_map = maps.get(name)
    images = verification_batch(model_map, overrides)
    legacy = legacy_logits(name, source_prefix, images, **legacy_options(name, overrides))
    model = tf2_port.load(name, output)
    port = port_logits(model, model_map.to_port_inputs(images))
    difference = float(np.max(np.abs(port - legacy)))
    if model_map.tolerance.exceeded(port, legacy):
        raise VerificationError(
            f"{shown_as or output}: port logits differ from the legacy graph restored from {source_prefix}: "
            f"max abs difference {difference:.3g} exceeds atol {model_map.tolerance.atol} + "
            f"rtol {model_map.tolerance.rtol} * |logits|"
        )
    return difference, model


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
    return _verified_model(name, source_prefix, output, overrides, shown_as=shown_as)[0]


def check_restorable(
    name: str, output: str, overrides: dict[str, Any], *, shown_as: str | None = None
) -> None:
    """Every variable of a fresh port model, its Adam and step is found in ``output``.

    And nothing else: the ignored tensors are kept outside the object graph,
    so the restore passes ``assert_consumed()``. (The materialising path's
    check; the streaming path checks the same from the index, _check_structure.)
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
    plan, port = plan_for(name, shapes, optimizer=optimizer, dtypes=dtypes)
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
            resolved.prefix, name, None, port.overrides, None, None, resolved.notes
        )
    output = os.path.abspath(output or default_output(resolved.prefix))
    iterations, difference, port_model = _write_output(
        output, port, reader, plan, resolved, optimizer, force, log, verification
    )
    if difference is not None:
        print(f"verified: max abs logits difference {difference:.3g}", file=log)
    if weights_h5:
        import tf2_port

        _write_h5(port_model or tf2_port.load(name, output), weights_h5, force)
    print(f"wrote {output}", file=log)
    return ConversionResult(
        resolved.prefix, name, output, port.overrides, iterations, difference, resolved.notes
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
        "ckpt",
        metavar="CKPT",
        help="checkpoint directory, prefix, V1 file, or .index/.meta/.data-* file (resolved to "
        "its prefix; a .index means the V2 bundle when a V1 file has the same prefix)",
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
        "--no-verify",
        action="store_true",
        help="skip the logits comparison with the legacy graph (it builds both models and runs "
        "both; for a large model most of the time). Every written tensor is still read back "
        "(crc32c) and the index still checked against the port's variables",
    )
    parser.add_argument(
        "--rules",
        metavar="FILE",
        help="generic mode: map by this JSON rules file (see converters/rules.py; "
        "`python -m converters.rules init CKPT` writes a starter one) into --model, or into "
        "a plain tf.Module when --model is auto; needs --output unless --dry-run. The other "
        "flags apply (--no-verify skips the bit-exact read-back)",
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

            model = None if args.model == AUTO else args.model
            rules.convert(
                args.ckpt,
                args.rules,
                model=model,
                output=args.output,
                force=args.force,
                dry_run=args.dry_run,
                optimizer=not args.no_optimizer,
                verification=not args.no_verify,
                weights_h5=args.weights_h5,
            )
            return
        convert(
            args.ckpt,
            model=args.model,
            output=args.output,
            optimizer=not args.no_optimizer,
            weights_h5=args.weights_h5,
            dry_run=args.dry_run,
            force=args.force,
            verification=not args.no_verify,
        )

    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
