"""A TF1 graph (meta graph + checkpoint, or a frozen ``.pb``) -> a TF2 SavedModel.

CLI::

    python -m converters.graph_to_savedmodel SRC --inputs NAME[,NAME] --outputs NAME[,NAME]
        --output DIR [--force]

``SRC`` is a frozen GraphDef (``.pb`` binary, ``.pbtxt`` text), a ``.meta`` file
(its checkpoint is the prefix of the same name), or a checkpoint (directory,
prefix, ``.index``) that has a ``PREFIX.meta`` beside it. A meta graph is first
frozen: its variables are restored from the checkpoint in a tf.compat.v1
Session and become constants. The frozen graph is imported with
``tf.compat.v1.wrap_function`` and pruned to the named inputs and outputs; that
function is the SavedModel's ``serving_default`` signature (inputs and outputs
keyed by tensor name, ``/`` and ``:`` replaced by ``_``) and its ``serve`` endpoint
(the input tensor, or a dict of them), so ``tf.saved_model.load`` and
``keras.layers.TFSMLayer`` (default endpoint ``serve``) load it.

Before it is published (atomically, :func:`converters.bundle.atomic_directory`)
the written SavedModel is loaded back and run on a random batch beside the
original graph in a tf.compat.v1 Session: max abs difference <= 1e-5.
Exit codes: 2 usage error or existing output, 3 unreadable input, 5 failed verification.
"""

# ruff: noqa: E402 -- `python -m` runs the guard below before the TensorFlow imports

from __future__ import annotations

import sys

if __name__ == "__main__":  # parse first: --help and usage errors answer before TF loads
    from converters.cli import run

    sys.exit(run("graph_to_savedmodel"))

import dataclasses
import os
import re
from typing import TextIO

import numpy as np
import tensorflow as tf
from google.protobuf import message, text_format

from converters import meta_graph
from converters.bundle import (
    InputError,
    UsageError,
    VerificationError,
    atomic_directory,
    resolve,
)

ATOL = 1e-5
SIGNATURE = "serving_default"
# Unknown dimensions of an input placeholder take these sizes in the verification batch.
BATCH, OTHER_DIM = 2, 3


@dataclasses.dataclass(frozen=True)
class Source:
    """A frozen GraphDef, and how to run the original graph for verification."""

    path: str
    graph_def: tf.compat.v1.GraphDef
    meta: str | None = None  # the .meta file, when the graph came with a checkpoint
    prefix: str | None = None


def tensor_name(name: str) -> str:
    """``op`` or ``op:K`` -> ``op:K`` (output 0 when the index is left out)."""
    return name if re.search(r":\d+$", name) else f"{name}:0"


def signature_key(name: str) -> str:
    """A tensor name as a signature key: ``scope/x:0`` -> ``scope_x`` (``op_1`` for ``op:1``)."""
    op, _, index = tensor_name(name).rpartition(":")
    key = re.sub(r"[^A-Za-z0-9_]", "_", op)
    return key if index == "0" else f"{key}_{index}"


def _read_graph_def(path: str) -> tf.compat.v1.GraphDef:
    graph_def = tf.compat.v1.GraphDef()
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    try:
        if path.endswith(".pbtxt"):
            text_format.Merge(data.decode("utf-8"), graph_def)
        else:
            graph_def.ParseFromString(data)
    except (message.DecodeError, text_format.ParseError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a GraphDef ({error})") from None
    return graph_def


def _meta_and_prefix(path: str) -> tuple[str, str]:
    """(the .meta file, the checkpoint prefix) of a .meta file or a checkpoint."""
    if path.endswith(".meta"):
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such file")
        return path, resolve(path).prefix
    prefix = resolve(path).prefix
    meta = prefix + ".meta"
    if not os.path.isfile(meta):
        raise InputError(
            f"{path}: checkpoint {prefix} has no {meta} (the graph); pass a frozen .pb instead"
        )
    return meta, prefix


def _frozen(meta: str, prefix: str, outputs: list[str]) -> tf.compat.v1.GraphDef:
    """The meta graph with the checkpoint's values as constants, cut to ``outputs``."""
    graph = tf.Graph()
    with graph.as_default():
        saver = meta_graph.import_meta(meta)
        _check_names(graph, [], outputs, meta)
        with tf.compat.v1.Session(graph=graph) as session:
            try:
                saver.restore(session, prefix)
            except Exception as error:
                raise InputError(f"{prefix}: cannot restore ({_first_line(error)})") from None
            return tf.compat.v1.graph_util.convert_variables_to_constants(
                session, graph.as_graph_def(), [tensor_name(n).split(":")[0] for n in outputs]
            )


def load_source(path: str, outputs: list[str]) -> Source:
    """The frozen GraphDef of ``path`` (.pb/.pbtxt, .meta, or a checkpoint with its .meta)."""
    if path.endswith((".pb", ".pbtxt")):
        return Source(path, _read_graph_def(path))
    meta, prefix = _meta_and_prefix(path)
    return Source(path, _frozen(meta, prefix, outputs), meta, prefix)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_names(graph: tf.Graph, inputs: list[str], outputs: list[str], source: str) -> None:
    """Every name is a tensor of ``graph``; inputs are placeholders. UsageError listing them."""
    placeholders = sorted(op.name for op in graph.get_operations() if op.type == "Placeholder")
    for kind, names in (("input", inputs), ("output", outputs)):
        for name in names:
            try:
                tensor = graph.get_tensor_by_name(tensor_name(name))
            except (KeyError, ValueError):
                raise UsageError(
                    f"{source}: no {kind} tensor {name!r} in the graph "
                    f"(its placeholders: {placeholders[:10]})"
                ) from None
            if kind == "input" and tensor.op.type != "Placeholder":
                raise UsageError(
                    f"{source}: input {name!r} is a {tensor.op.type}, not a Placeholder "
                    f"(its placeholders: {placeholders[:10]})"
                )


def _pruned(graph_def: tf.compat.v1.GraphDef, inputs: list[str], outputs: list[str]):
    """The GraphDef imported by wrap_function, pruned to ``inputs`` -> ``outputs``."""

    def imports():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imports, [])
    graph = wrapped.graph
    feeds = [graph.get_tensor_by_name(tensor_name(n)) for n in inputs]
    fetches = [graph.get_tensor_by_name(tensor_name(n)) for n in outputs]
    return wrapped.prune(feeds, fetches), feeds


def _serving_module(graph_def, inputs: list[str], outputs: list[str]) -> tf.Module:
    """A tf.Module: ``signature`` (keyword inputs, for the SavedModel signature) and ``serve``.

    Signatures take keyword arguments only, while ``keras.layers.TFSMLayer`` calls its
    endpoint with one positional argument: ``serve`` takes the input tensor itself
    (one input) or a dict keyed like the signature (several).
    """
    pruned, feeds = _pruned(graph_def, inputs, outputs)
    keys = [signature_key(name) for name in inputs]
    specs = [
        tf.TensorSpec(feed.shape, feed.dtype, name=key)
        for feed, key in zip(feeds, keys, strict=True)
    ]
    results = [signature_key(name) for name in outputs]

    def run(args):
        return dict(zip(results, pruned(*args), strict=True))

    module = tf.Module()
    module.pruned = pruned
    module.signature = tf.function(lambda *args: run(args), input_signature=specs)
    if len(specs) == 1:
        module.serve = tf.function(lambda tensor: run([tensor]), input_signature=specs)
    else:
        by_key = {spec.name: spec for spec in specs}
        module.serve = tf.function(
            lambda named: run([named[key] for key in keys]), input_signature=[by_key]
        )
    return module


def _random_batch(graph: tf.Graph, inputs: list[str], seed: int = 0) -> list[np.ndarray]:
    """One random array per input placeholder; unknown dims: batch 2, others 3."""
    rng = np.random.default_rng(seed)
    batch = []
    for name in inputs:
        tensor = graph.get_tensor_by_name(tensor_name(name))
        dims = tensor.shape.as_list() if tensor.shape.rank is not None else [None]
        shape = [
            d if d is not None else (BATCH if i == 0 else OTHER_DIM) for i, d in enumerate(dims)
        ]
        dtype = tensor.dtype.as_numpy_dtype
        if tensor.dtype.is_floating:
            batch.append(rng.random(shape).astype(dtype))
        elif tensor.dtype.is_integer:
            batch.append(rng.integers(0, 10, shape).astype(dtype))
        elif tensor.dtype.is_bool:
            batch.append(rng.random(shape) < 0.5)
        else:
            raise UsageError(f"input {name!r} is {tensor.dtype.name}: cannot make a random batch")
    return batch


def _reference(source: Source, inputs, outputs, batch) -> list[np.ndarray]:
    """The original graph's outputs in a tf.compat.v1 Session (variables restored, not frozen)."""
    graph = tf.Graph()
    with graph.as_default():
        if source.meta:
            saver = meta_graph.import_meta(source.meta)
        else:
            tf.compat.v1.import_graph_def(source.graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            if source.meta:
                saver.restore(session, source.prefix)
            feeds = {tensor_name(n): value for n, value in zip(inputs, batch, strict=True)}
            return session.run([tensor_name(n) for n in outputs], feeds)


def _verify(directory: str, source: Source, inputs, outputs, shown_as: str) -> float:
    """Max abs difference of the SavedModel in ``directory`` against the original graph."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(source.graph_def, name="")
    batch = _random_batch(graph, inputs)
    expected = _reference(source, inputs, outputs, batch)
    signature = tf.saved_model.load(directory).signatures[SIGNATURE]
    got = signature(
        **{signature_key(n): tf.constant(v) for n, v in zip(inputs, batch, strict=True)}
    )
    worst = 0.0
    for name, want in zip(outputs, expected, strict=True):
        have = got[signature_key(name)].numpy()
        if have.shape != np.shape(want):
            raise VerificationError(
                f"{shown_as}: output {name} has shape {list(have.shape)}, the graph's "
                f"{list(np.shape(want))}"
            )
        difference = float(np.max(np.abs(have.astype(np.float64) - want), initial=0.0))
        if not np.isfinite(difference) or difference > ATOL:
            raise VerificationError(
                f"{shown_as}: output {name} differs from the graph's: max abs difference "
                f"{difference:.3g} > {ATOL}"
            )
        worst = max(worst, difference)
    return worst


def convert(
    src: str,
    inputs: list[str],
    outputs: list[str],
    output: str,
    *,
    force: bool = False,
    log: TextIO | None = None,
) -> float:
    """Write the SavedModel of ``src`` to ``output``, verified; returns the max abs difference."""
    log = log or sys.stderr
    if not inputs or not outputs:
        raise UsageError("--inputs and --outputs each need at least one tensor name")
    source = load_source(src, outputs)
    graph = tf.Graph()
    with graph.as_default():
        try:
            tf.compat.v1.import_graph_def(source.graph_def, name="")
        except Exception as error:
            raise InputError(f"{src}: cannot import the graph ({_first_line(error)})") from None
    _check_names(graph, inputs, outputs, src)
    output = os.path.abspath(output)
    with atomic_directory(output, force=force) as temp:
        module = _serving_module(source.graph_def, inputs, outputs)
        tf.saved_model.save(module, temp, signatures={SIGNATURE: module.signature})
        difference = _verify(temp, source, inputs, outputs, output)
    print(f"verified: max abs difference {difference:.3g}; wrote {output}", file=log)
    return difference


def _names(text: str) -> list[str]:
    return [name for name in (part.strip() for part in text.split(",")) if name]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    from converters import cli
    from converters.errors import run_cli

    parser = cli.parser("graph_to_savedmodel")
    args = parser.parse_args(argv)
    return run_cli(
        lambda _: convert(
            args.src, _names(args.inputs), _names(args.outputs), args.output, force=args.force
        ),
        argv,
    )
