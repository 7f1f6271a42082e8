"""Write stage: the planned tensors into a TF2 checkpoint in a scratch directory.

Two paths give the same files: the streaming one (converters/fastpath.py: the
source's bytes copied under new keys, the port never materialised) and the
materialising one (a full-size port + Adam take every tensor, then are saved),
which the streaming path falls back to for what it cannot express. Each runs
the verify stage (converters/verify.py) inside the scratch directory, before
the publish stage (converters/publish.py) renames it into place.

The steps a test may replace (building the port, choosing the streaming
source, the legacy graph's logits) come in a :class:`Hooks`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np
import tensorflow as tf

from converters import fastcrc, fastpath, maps, timing, verify
from converters.bundle import (
    InputError,
    Progress,
    Reader,
    UsageError,
    VerificationError,
    atomic_directory,
    write_name_based,
)
from converters.port import PortShapes, PortState, build_port

MANIFEST_FILE = "manifest.json"
# Keys of the TF2 checkpoint's root object, as tf2_port.train saves it, plus ours.
IGNORED_ROOT = "legacy_ignored"
# Name-based bundle beside the TF2 checkpoint holding the tensors the table ignores.
IGNORED_PREFIX = "legacy_ignored"


def assign(state: PortState, reader: Reader, plan: maps.Plan, log: TextIO) -> int | None:
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


def write_h5(model, path: str, force: bool) -> None:
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


def save_port(state, directory: str, step: int) -> str:
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
    save_port(state, temp, int(state.step.numpy()))
    kept = ignored_tensors(reader, plan, model_map)
    if kept:
        write_name_based(os.path.join(temp, IGNORED_PREFIX), kept)
    _write_side_files(temp, state.name, state.overrides, plan, resolved, optimizer, iterations)


def _write_slow(output, port, reader, plan, resolved, optimizer, force, log, verification, hooks):
    """The materialising path: a full-size port and Adam take every tensor, then are saved.

    Returns (Adam iterations, max abs logits difference or None, the port model).
    """
    state = hooks.build_port(port.name, port.overrides)
    iterations = assign(state, reader, plan, log)
    difference = None
    with atomic_directory(output, force=force) as temp:
        _write_files(temp, state, reader, plan, resolved, optimizer, iterations)
        if verification:
            verify.check_restorable(
                state.name, temp, state.overrides, shown_as=output, build_port_fn=hooks.build_port
            )
            difference = verify.verify(
                state.name,
                resolved.prefix,
                temp,
                state.overrides,
                shown_as=output,
                legacy_logits_fn=hooks.legacy_logits,
            )
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


@dataclasses.dataclass(frozen=True)
class Hooks:
    """The steps a caller may replace: building the port, the streaming source, the legacy logits.

    ckpt_v1_to_v2.convert passes its own module attributes, so a test replacing
    ``ckpt_v1_to_v2.build_port`` (or ``_fast_source``, ``legacy_logits``) reaches every stage.
    """

    build_port: Callable = build_port
    fast_source: Callable = _fast_source
    legacy_logits: Callable = verify.legacy_logits


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


def _skeleton(port: PortShapes, directory: str, step: int, hooks) -> fastpath.Layout:
    """The skeleton port saved into ``directory`` (its keys mapped); the full-size one never exists."""
    overrides = {**port.overrides, **maps.get(port.name).skeleton_overrides}
    state = hooks.build_port(port.name, overrides, unfilled=True)
    return fastpath.skeleton_layout(state, directory, step, save_port)


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

    Every copied tensor's crc32c is checked, so a damaged source (the
    materialising path's InputError, exit 3) is caught here too, before
    publishing: from the source bytes while they are copied (absl's crc32c,
    converters/fastcrc.py), else by reading the written tensors back with TF's
    reader, which checks each one's stored crc32c.
    """
    progress = Progress(sum(p.entry.size for p in parts if p.path), "converting", log)
    checking = fastcrc.extender() is not None
    try:
        fastpath.write_bundle(prefix, parts, header, progress.add, check=checking)
    except fastpath.ShortCopy as short:
        raise _blame(reader, sources.get(short.key), shown_as, short.key, "short source") from None
    except fastpath.BadChecksum as bad:
        raise _blame(reader, sources.get(bad.key), shown_as, bad.key, "crc32c mismatch") from None
    except FileNotFoundError as error:
        raise InputError(f"{error.filename}: cannot read ({error.strerror})") from None
    unchecked = [p for p in parts if p.key in sources and (fastpath.is_string(p) or not checking)]
    if unchecked:
        bad = fastpath.unreadable_tensors(prefix, [p.key for p in unchecked])
        if bad is not None:
            raise _blame(reader, sources[bad[0]], shown_as, *bad)


def _check_structure(prefix, expected, name, shown_as) -> None:
    """What ``assert_consumed()`` on a fresh port + Adam checked, from the index alone."""
    problems = fastpath.structural_problems(prefix, expected)
    if problems:
        raise VerificationError(
            f"{shown_as}: does not restore into {name!r} ({'; '.join(problems[:5])})"
        )


def _write_fast(output, port, reader, plan, resolved, optimizer, force, log, verification, hooks):
    """The streaming path (converters/fastpath.py); same files as :func:`_write_slow`."""
    source = hooks.fast_source(plan, resolved)
    iterations, step = _counters(reader, plan)
    difference, model = None, None
    with atomic_directory(output, force=force) as temp:
        with timing.phase("write"):
            stream = _Stream(port, plan, reader, source, hooks, log, output)
            stream.write(temp, iterations, step)
            _write_side_files(
                temp, port.name, port.overrides, plan, resolved, optimizer, iterations
            )
        if verification:
            difference, model = verify.verified_model(
                port.name,
                resolved.prefix,
                temp,
                port.overrides,
                shown_as=output,
                legacy_logits_fn=hooks.legacy_logits,
            )
    return iterations, difference, model


@dataclasses.dataclass
class _Stream:
    """What the streaming path copies from (``source``) and reports against (``output``)."""

    port: PortShapes
    plan: maps.Plan
    reader: Reader
    source: fastpath.Bundle
    hooks: Hooks
    log: TextIO
    output: str

    def write(self, temp: str, iterations: int | None, step: int) -> None:
        """The checkpoint and the ignored tensors' bundle into ``temp``, checked."""
        layout = _skeleton(self.port, temp, step, self.hooks)
        parts, generated, expected = _output_parts(
            layout, self.port, self.plan, self.source, iterations, step
        )
        scratch = os.path.join(temp, ".scratch")
        try:
            small = fastpath.scratch_bundle(scratch, generated)
            parts += [fastpath.copied(key, small, key) for key in sorted(generated)]
            sources = {
                p.key: a.source
                for p in parts
                for a in self.plan.assignments
                if a.transform == "identity" and p.path and p.entry is self.source.entries[a.source]
            }
            self._copy(layout.bundle.prefix, parts, layout.bundle.header, sources, self.log)
            self._keep_ignored(temp, layout.bundle.header)
        finally:
            fastpath.discard(scratch)
        # Cheap (the index alone), so it runs even when the logits check is skipped.
        _check_structure(layout.bundle.prefix, expected, self.port.name, self.output)

    def _copy(self, prefix, parts, header, sources, log) -> None:
        _copy_parts(prefix, parts, header, self.reader, sources, log, self.output)

    def _keep_ignored(self, temp: str, header) -> None:
        model_map = maps.for_overrides(maps.get(self.port.name), self.port.overrides)
        kept = [
            k
            for k in sorted(self.plan.ignored)
            if any(_fullmatch(r.tf1, k) for r in model_map.ignore)
        ]
        if kept:
            prefix = os.path.join(temp, IGNORED_PREFIX)
            parts = [fastpath.copied(k, self.source, k) for k in kept]
            self._copy(prefix, parts, header, {k: k for k in kept}, None)


def write_output(
    output, port, reader, plan, resolved, optimizer, force, log, verification, hooks=None
):
    """Write, verify in the temporary directory, then publish ``output`` atomically.

    The streaming path first; what it cannot express falls back to the
    materialising one (with a note). Verifying *before* the rename means a
    failed verification (or a kill) never leaves an output behind.
    Returns (Adam iterations, max abs logits difference or None, port model or None).
    """
    hooks = hooks or Hooks()
    try:
        return _write_fast(
            output, port, reader, plan, resolved, optimizer, force, log, verification, hooks
        )
    except fastpath.Unsupported as reason:
        print(f"{resolved.prefix}: converting through the full port ({reason})", file=log)
    return _write_slow(
        output, port, reader, plan, resolved, optimizer, force, log, verification, hooks
    )
