"""``tf2_port`` checkpoint -> TF1 Saver checkpoint that the legacy graph restores.

Library: :func:`convert`. CLI::

    python -m converters.ckpt_v2_to_v1 CKPT --model NAME --output DIR [--force]

The TF1 names come from the legacy graph itself (``legacy_tf1.build``), each
mapped through the model's table in :mod:`converters.maps`. v1 -> v2 -> v1 is
bit-exact: the beta powers are rebuilt by TF1's own float32 recurrence and the
tensors the table ignores are read back from where v1 -> v2 kept them.
"""

# ruff: noqa: E402 -- `python -m` runs the guard below before the TensorFlow imports

from __future__ import annotations

import sys

if __name__ == "__main__":  # parse first: --help and usage errors answer before TF loads
    from converters.cli import run

    sys.exit(run("ckpt_v2_to_v1"))

import json
import os
import re
from typing import Any, TextIO

import numpy as np
import tensorflow as tf

from converters import maps
from converters.bundle import (
    InputError,
    MappingError,
    Reader,
    atomic_directory,
    resolve,
    write_name_based,
    write_state_file,
)
from converters.errors import run_cli
from converters.port import build_port, legacy_options
from converters.write import IGNORED_PREFIX, IGNORED_ROOT, MANIFEST_FILE

_OPTIMIZER_KEY = "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"


def _saved_overrides(name: str, directory: str) -> dict[str, Any]:
    """The port config of the checkpoint's directory, else the port's parity overrides."""
    from tf2_port import registry
    from tf2_port.train import read_run_config

    try:
        saved = read_run_config(directory)
    except ValueError as error:
        raise InputError(str(error)) from None
    if saved is None:
        return dict(registry.get(name).parity_overrides)
    if saved["model"] != name:
        raise MappingError(f"{directory} holds a {saved['model']!r} checkpoint, not {name!r}")
    return dict(saved["overrides"])


def _source_had_optimizer(directory: str, reader: Reader) -> bool:
    """False when v1 -> v2 recorded that the TF1 source held no Adam state."""
    path = os.path.join(directory, MANIFEST_FILE)
    if os.path.isfile(path):
        with open(path) as stream:
            return json.load(stream).get("optimizer") == "converted"
    return _OPTIMIZER_KEY in reader.infos


def tf1_beta_power(beta: float, iterations: int) -> np.float32:
    """TF1's ``beta_power`` after ``iterations`` steps: created at beta, times beta per step, in float32."""
    value = np.float32(beta)
    for _ in range(iterations):
        value = np.float32(value * np.float32(beta))
    return value


def _legacy_variables(name: str, overrides: dict[str, Any]):
    """(graph, global variables) of the legacy graph for ``overrides``."""
    import legacy_tf1

    built = legacy_tf1.build(name, **legacy_options(name, overrides))
    return built.graph, built.graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)


def _initial_values(graph, variables) -> dict[str, np.ndarray]:
    """Initial values of ``variables`` (ignored tensors that the TF2 file does not keep)."""
    if not variables:
        return {}
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(tf.compat.v1.variables_initializer(variables))
        return dict(zip((v.op.name for v in variables), sess.run(variables), strict=True))


def _restore_ignored(prefix: str, reader: Reader, ignored) -> dict[str, np.ndarray]:
    """The ignored tensors v1 -> v2 kept, by TF1 name.

    They live in the ``legacy_ignored`` bundle beside the TF2 checkpoint; outputs
    of older versions kept them under ``legacy_ignored/`` in the object graph.
    """
    side = os.path.join(os.path.dirname(prefix), IGNORED_PREFIX)
    if os.path.exists(side + ".index"):
        kept = Reader(side)
        return {v.op.name: kept.get(v.op.name) for v in ignored if v.op.name in kept.infos}
    if not any(key.startswith(IGNORED_ROOT + "/") for key in reader.infos):
        return {}
    module = tf.Module(name=IGNORED_ROOT)
    module.tensors = {
        v.op.name: tf.Variable(tf.zeros(v.shape, v.dtype.base_dtype), trainable=False)
        for v in ignored
    }
    tf.train.Checkpoint(**{IGNORED_ROOT: module}).restore(prefix).expect_partial()
    return {name: variable.numpy() for name, variable in module.tensors.items()}


def _require_model_variables(name: str, prefix: str, model) -> None:
    """Every port model variable has a value in ``prefix`` (else the output would be fresh init)."""
    status = tf.train.Checkpoint(model=model).restore(prefix)
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        first = str(error).strip().splitlines()[0]
        raise MappingError(
            f"{prefix}: is not a tf2_port {name!r} checkpoint: model variables missing ({first})"
        ) from None


def tf1_tensors(name: str, prefix: str, directory: str) -> dict[str, np.ndarray]:
    """Every legacy variable's value from the TF2 checkpoint ``prefix``, by TF1 name."""
    reader = Reader(prefix)
    if not reader.object_based:
        raise InputError(f"{prefix}: is a name-based (TF1) checkpoint, expected a tf2_port one")
    overrides = _saved_overrides(name, directory)
    state = build_port(name, overrides)
    state.checkpoint().restore(prefix).expect_partial()
    _require_model_variables(name, prefix, state.model)
    with_optimizer = _source_had_optimizer(directory, reader)
    iterations = int(state.optimizer.iterations.numpy())
    model_map = maps.for_overrides(maps.get(name), overrides)
    graph, variables = _legacy_variables(name, overrides)
    tensors: dict[str, np.ndarray] = {}
    ignored = []
    for variable in variables:
        key = variable.op.name
        found = maps.match(model_map, key)
        if found is None:
            raise MappingError(f"{name}: legacy variable {key} has no row in converters/maps.py")
        if isinstance(found, str):
            ignored.append(variable)
            continue
        target, transform = found
        if target.startswith("adam/") and not with_optimizer:
            continue
        dtype = variable.dtype.base_dtype.as_numpy_dtype
        if transform == "beta_power":
            beta = maps.ADAM_BETA1 if target == maps.BETA1_POWER else maps.ADAM_BETA2
            tensors[key] = tf1_beta_power(beta, iterations)
            continue
        _, inverse = maps.TRANSFORMS[transform]
        tensors[key] = np.asarray(inverse(state.target(target).numpy()), dtype=dtype)
    kept = _restore_ignored(prefix, reader, ignored)
    missing = [v for v in ignored if v.op.name not in kept]
    tensors.update(kept)
    tensors.update(_initial_values(graph, missing))
    return tensors


def convert(
    ckpt: str, *, model: str, output: str, force: bool = False, log: TextIO | None = None
) -> str:
    """Write a Saver checkpoint of ``model`` from the tf2_port checkpoint ``ckpt``; return its prefix."""
    from legacy_tf1 import registry

    log = log or sys.stderr
    maps.get(model)
    resolved = resolve(ckpt)
    for note in resolved.notes:
        print(note, file=log)
    directory = os.path.dirname(resolved.prefix)
    tensors = tf1_tensors(model, resolved.prefix, directory)
    step = re.search(r"-(\d+)$", resolved.prefix)
    basename = registry.checkpoint_basename(model) + (f"-{step.group(1)}" if step else "")
    output = os.path.abspath(output)
    with atomic_directory(output, force=force) as temp:
        write_name_based(os.path.join(temp, basename), tensors)
        write_state_file(temp, os.path.join(temp, basename))
    prefix = os.path.join(output, basename)
    print(f"wrote {prefix} ({len(tensors)} tensors)", file=log)
    return prefix


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    from converters import cli

    args = cli.parser("ckpt_v2_to_v1").parse_args(argv)
    return run_cli(
        lambda _: convert(args.ckpt, model=args.model, output=args.output, force=args.force), argv
    )
