"""A checkpoint's TF1 graph (its ``.meta``) as the reference a Keras model is checked against.

Used by ``ckpt_v1_to_v2 --target`` (verification before publishing) and by
:func:`parity.compare.compare_models`. The graph is imported into a fresh
``tf.Graph`` and its variables restored from the checkpoint in a
``tf.compat.v1.Session``; nothing of the graph is rebuilt by hand.

What is found automatically, and the rule for each:

- variable creation order: the order of the variable nodes (``VariableV2``,
  ``VarHandleOp``) in the graph def, which is the order the script created them;
- the input: the single float placeholder that is not a scalar;
- the output: the single tensor (not a placeholder) read by a softmax,
  argmax or softmax cross-entropy op outside ``gradients/``;
- extra feeds the output needs: scalar float placeholders get 1.0 (keep_prob),
  bool placeholders False (is_training); any other one is refused.

Layer end points (which TF1 tensor a Keras layer's output is compared with):
the op that reads the layer's first mapped variable (Conv2D, MatMul, ...), then
the BiasAdd/Add right after it, then the activation right after that, each
taken only when it is the single such consumer. On the Keras side, the layer's
output, or the output of the activation layer right after a linear layer.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from converters.bundle import InputError, UsageError

VARIABLE_OPS = ("VariableV2", "VarHandleOp", "Variable")
READ_OPS = ("Identity", "ReadVariableOp")
# Ops whose first input is a classifier's logits.
HEAD_OPS = (
    "Softmax",
    "LogSoftmax",
    "ArgMax",
    "SoftmaxCrossEntropyWithLogits",
    "SparseSoftmaxCrossEntropyWithLogits",
)
COMPUTE_OPS = (
    "Conv2D",
    "DepthwiseConv2dNative",
    "MatMul",
    "BatchMatMulV2",
    "FusedBatchNorm",
    "FusedBatchNormV2",
    "FusedBatchNormV3",
    "Mul",
)
BIAS_OPS = ("BiasAdd", "Add", "AddV2")
ACTIVATION_OPS = ("Relu", "Relu6", "Elu", "Selu", "Tanh", "Sigmoid", "Softplus", "LeakyRelu")
BATCH = 4


def meta_file(prefix: str) -> str | None:
    """``PREFIX.meta`` when the checkpoint has its graph beside it, else None."""
    path = prefix + ".meta"
    return path if os.path.isfile(path) else None


def tensor_name(name: str) -> str:
    """``op`` or ``op:K`` -> ``op:K``."""
    return name if ":" in name else f"{name}:0"


def read_meta(path: str) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef in ``path``; InputError naming the file when it is not one."""
    meta = meta_graph_pb2.MetaGraphDef()
    try:
        with open(path, "rb") as stream:
            meta.ParseFromString(stream.read())
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    except Exception as error:  # protobuf raises DecodeError and friends
        raise InputError(f"{path}: not a MetaGraphDef ({error})") from None
    return meta


def creation_order(path: str) -> list[str]:
    """Variable names in the order the script created them (graph def node order).

    Falls back to the ``trainable_variables`` collection (also creation order)
    when the graph def holds no variable node (a graph kept in functions).
    """
    meta = read_meta(path)
    names = [node.name for node in meta.graph_def.node if node.op in VARIABLE_OPS]
    if names:
        return names
    collection = meta.collection_def.get("trainable_variables")
    if collection is None:
        return []
    names = []
    for raw in collection.bytes_list.value:
        variable = tf.compat.v1.VariableDef()
        variable.ParseFromString(raw)
        names.append(variable.variable_name.split(":")[0])
    return names


@dataclasses.dataclass
class Reference:
    """The TF1 graph restored from its checkpoint in a Session, with its input and output."""

    meta: str
    prefix: str
    graph: tf.Graph
    session: tf.compat.v1.Session
    input: tf.Tensor
    output: tf.Tensor
    extra_feeds: dict[str, object]

    def notes(self) -> list[str]:
        """What was fed besides the input, in words."""
        return [f"fed {name} = {value!r}" for name, value in self.extra_feeds.items()]

    def run(self, tensors: Sequence[tf.Tensor], batch: np.ndarray) -> list[np.ndarray]:
        """The values of ``tensors`` for ``batch`` (extra feeds included)."""
        feed = {self.input: batch, **self.extra_feeds}
        return self.session.run(list(tensors), feed)

    def close(self) -> None:
        self.session.close()


def _in_gradients(op) -> bool:
    return op.name.startswith("gradients") or "/gradients" in op.name


def detect_input(graph: tf.Graph, source: str) -> tf.Tensor:
    """The single non-scalar float placeholder; UsageError listing them otherwise."""
    placeholders = [op for op in graph.get_operations() if op.type == "Placeholder"]
    candidates = [
        op.outputs[0]
        for op in placeholders
        if op.outputs[0].dtype.is_floating and op.outputs[0].shape.rank != 0
    ]
    if len(candidates) != 1:
        listed = [
            f"{op.name} {op.outputs[0].dtype.name} {op.outputs[0].shape}" for op in placeholders
        ]
        raise UsageError(
            f"{source}: cannot tell the input: {len(candidates)} non-scalar float placeholders "
            f"(placeholders: {listed[:10]}); pass --inputs NAME"
        )
    return candidates[0]


def _through_identity(tensor: tf.Tensor) -> tf.Tensor:
    while tensor.op.type == "Identity" and tensor.op.inputs:
        tensor = tensor.op.inputs[0]
    return tensor


def detect_output(graph: tf.Graph, source: str) -> tf.Tensor:
    """The single tensor read by a softmax/argmax/cross-entropy op (the logits)."""
    found = {}
    for op in graph.get_operations():
        if op.type in HEAD_OPS and op.inputs and not _in_gradients(op):
            tensor = _through_identity(op.inputs[0])
            if tensor.op.type != "Placeholder":  # argmax(labels) reads the labels
                found[tensor.name] = tensor
    if len(found) != 1:
        raise UsageError(
            f"{source}: cannot tell the output: {len(found)} tensors feed a softmax, argmax or "
            f"cross-entropy ({sorted(found)[:10]}); pass --outputs NAME"
        )
    return next(iter(found.values()))


def _ancestors(tensor: tf.Tensor) -> set:
    seen, stack = set(), [tensor.op]
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return seen


def extra_feeds(output: tf.Tensor, input_: tf.Tensor, source: str) -> dict[str, object]:
    """Values for the other placeholders ``output`` needs: keep_prob 1.0, is_training False."""
    feeds = {}
    for op in sorted(_ancestors(output), key=lambda op: op.name):
        tensor = op.outputs[0] if op.outputs else None
        if op.type != "Placeholder" or tensor is input_:
            continue
        if tensor.dtype.is_bool and tensor.shape.rank == 0:
            feeds[tensor.name] = False
        elif tensor.dtype.is_floating and tensor.shape.rank == 0:
            feeds[tensor.name] = 1.0
        else:
            raise UsageError(
                f"{source}: the output {output.name} also needs placeholder {tensor.name} "
                f"({tensor.dtype.name} {tensor.shape}); only scalar float (fed 1.0) and bool "
                "(fed False) placeholders are fed automatically"
            )
    return feeds


def _tensor(graph: tf.Graph, name: str, kind: str, source: str) -> tf.Tensor:
    try:
        return graph.get_tensor_by_name(tensor_name(name))
    except (KeyError, ValueError):
        raise UsageError(f"{source}: no {kind} tensor {name!r} in the graph") from None


def import_meta(meta: str):
    """A Saver for the meta graph ``meta`` imported into the default graph; InputError if unusable."""
    try:
        saver = tf.compat.v1.train.import_meta_graph(meta, clear_devices=True)
    except Exception as error:  # TF raises several types for bad or foreign graphs
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{meta}: cannot import the meta graph ({first})") from None
    if saver is None:
        raise InputError(f"{meta}: the meta graph has no variables to restore (no Saver)")
    return saver


def load_reference(
    meta: str, prefix: str, *, input_name: str | None = None, output_name: str | None = None
) -> Reference:
    """Import ``meta`` into a fresh graph, restore ``prefix``; find or check input and output."""
    graph = tf.Graph()
    with graph.as_default():
        saver = import_meta(meta)
    input_ = _tensor(graph, input_name, "input", meta) if input_name else detect_input(graph, meta)
    if input_.op.type != "Placeholder":
        raise UsageError(f"{meta}: input {input_.name} is a {input_.op.type}, not a Placeholder")
    output = (
        _tensor(graph, output_name, "output", meta) if output_name else detect_output(graph, meta)
    )
    feeds = extra_feeds(output, input_, meta)
    session = tf.compat.v1.Session(graph=graph)
    try:
        with graph.as_default():
            saver.restore(session, prefix)
    except Exception as error:
        session.close()
        raise InputError(f"{prefix}: cannot restore the graph's variables ({error})") from None
    return Reference(meta, prefix, graph, session, input_, output, feeds)


def random_batch(reference: Reference, model, size: int = BATCH) -> np.ndarray:
    """A seeded uniform [0, 1) batch fitting both the placeholder and the Keras model's input."""
    graph_dims = reference.input.shape.as_list() if reference.input.shape.rank else None
    try:
        model_dims = list(model.inputs[0].shape)
    except (AttributeError, IndexError):  # a subclassed model: the placeholder decides
        model_dims = [None] * len(graph_dims or [None, None])
    if graph_dims is not None and len(graph_dims) != len(model_dims):
        raise UsageError(
            f"{reference.meta}: input {reference.input.name} has shape {graph_dims}, the Keras "
            f"model's input {model_dims}: they must agree"
        )
    dims = [size]
    for index, model_dim in enumerate(model_dims[1:], start=1):
        graph_dim = graph_dims[index] if graph_dims else None
        if graph_dim is not None and model_dim is not None and graph_dim != model_dim:
            raise UsageError(
                f"{reference.meta}: input {reference.input.name} has shape {graph_dims}, the "
                f"Keras model's input {model_dims}: they must agree"
            )
        dims.append(graph_dim or model_dim or 3)
    dtype = reference.input.dtype.as_numpy_dtype
    return np.random.default_rng(0).random(dims).astype(dtype)


# ---- layer end points ---------------------------------------------------------------------


def _single(ops, types):
    matching = [op for op in ops if op.type in types and not _in_gradients(op)]
    return matching[0] if len(matching) == 1 else None


def layer_tensor(graph: tf.Graph, variable: str) -> tf.Tensor | None:
    """The tensor a layer built on ``variable`` outputs: its op, + bias add, + activation."""
    try:
        op = graph.get_operation_by_name(variable)
    except (KeyError, ValueError):
        return None
    readers = [c for c in op.outputs[0].consumers() if c.type in READ_OPS]
    consumers = [c for reader in readers for c in reader.outputs[0].consumers()]
    current = _single(consumers, COMPUTE_OPS)
    if current is None:
        return None
    for types in (BIAS_OPS, ACTIVATION_OPS):
        following = _single(current.outputs[0].consumers(), types)
        if following is not None:
            current = following
    return current.outputs[0]


def _keras_output(model, layer):
    """The layer's output, or the next activation layer's when the layer itself is linear."""
    import keras

    activation = getattr(layer, "activation", None)
    if activation is not None and activation is not keras.activations.linear:
        return layer.output
    layers = list(model.layers)
    index = layers.index(layer)
    if index + 1 < len(layers):
        following = layers[index + 1]
        activations = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU)
        softmax = (
            isinstance(following, keras.layers.Activation)
            and following.activation is keras.activations.softmax
        )
        if isinstance(following, activations) and following.input is layer.output and not softmax:
            return following.output
    return layer.output


def layer_pairs(model, mapping: dict[str, str], graph: tf.Graph):
    """[(Keras layer name, Keras tensor, TF1 tensor)] in the model's layer order.

    ``mapping`` is Keras variable path -> checkpoint key. Only functional models
    expose their layers' outputs; for others the list is empty.
    """
    pairs = []
    for layer in model.layers:
        key = next((mapping[w.path] for w in layer.weights if w.path in mapping), None)
        tensor = layer_tensor(graph, key) if key else None
        if tensor is None:
            continue
        try:
            pairs.append((layer.name, _keras_output(model, layer), tensor))
        except (AttributeError, ValueError):
            return []  # a subclassed model: its layers have no symbolic outputs
    return pairs


def _keras_last_logits(model):
    """The model's output, or the input of a final softmax layer (the logits)."""
    import keras

    last = model.layers[-1]
    softmax = isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and last.activation is keras.activations.softmax
    )
    return last.input if softmax else model.outputs[0]


def end_points(reference: Reference, model, mapping: dict[str, str], batch: np.ndarray):
    """(expected, actual): TF1 and Keras values by end-point name, layers then the output.

    A layer pair whose two shapes differ (a layout the heuristic cannot line
    up) is left out; the output is always compared.
    """
    import keras

    output_name = f"output <- {reference.output.name}"
    try:
        pairs = layer_pairs(model, mapping, reference.graph)
        wanted = reference.output.op.type in ("Softmax",)
        final = model.outputs[0] if wanted else _keras_last_logits(model)
        probe = keras.Model(model.inputs[0], [k for _, k, _ in pairs] + [final])
    except (AttributeError, ValueError, TypeError):
        pairs, probe = [], None  # not a functional model: the model's output only
    graph_values = reference.run([t for _, _, t in pairs] + [reference.output], batch)
    if probe is None:
        keras_values = [np.asarray(model(batch, training=False))]
    else:
        keras_values = [np.asarray(v) for v in probe(batch, training=False)]
    expected, actual = {}, {}
    for (name, _, tensor), want, have in zip(pairs, graph_values, keras_values, strict=False):
        if np.shape(want) == np.shape(have):
            expected[f"{name} <- {tensor.name}"] = want
            actual[f"{name} <- {tensor.name}"] = have
    expected[output_name] = graph_values[-1]
    actual[output_name] = keras_values[-1]
    return expected, actual


def _proposed_mapping(prefix: str, model) -> dict[str, str]:
    """Keras path -> checkpoint key by ``--target``'s proposal; empty when it is ambiguous."""
    from converters import target
    from converters.bundle import ConverterError, Reader

    shapes = Reader(prefix).shapes()
    order, _ = target.checkpoint_order(prefix, shapes)
    try:
        proposal = target.propose(order, shapes, model, prefix)
    except ConverterError:
        return {}  # the outputs are still compared; layers cannot be named
    return {path: key for key, path in proposal.items()}


def meta_and_prefix(source: str) -> tuple[str, str]:
    """(.meta file, checkpoint prefix) of a ``.meta`` file or a checkpoint that has one."""
    from converters.bundle import resolve

    source = os.fspath(source)
    if source.endswith(".meta"):
        if not os.path.isfile(source):
            raise InputError(f"{source}: no such file")
        return source, source[: -len(".meta")]
    prefix = resolve(source).prefix
    meta = meta_file(prefix)
    if meta is None:
        raise InputError(f"{source}: checkpoint {prefix} has no {prefix}.meta (the graph)")
    return meta, prefix


def compared_end_points(
    source: str,
    model,
    *,
    inputs: str | None = None,
    outputs: str | None = None,
    batch: np.ndarray | None = None,
    mapping: dict[str, str] | None = None,
    log=None,
):
    """(expected, actual, label): the TF1 graph of ``source`` and ``model`` run on one batch.

    ``mapping`` is Keras path -> checkpoint key (default: ``--target``'s
    proposal); ``batch`` defaults to :func:`random_batch`. The extra feeds are
    reported on ``log`` (stderr).
    """
    meta, prefix = meta_and_prefix(source)
    if mapping is None:
        mapping = _proposed_mapping(prefix, model)
    reference = load_reference(meta, prefix, input_name=inputs, output_name=outputs)
    try:
        for note in reference.notes():
            print(f"{meta}: {note}", file=log or sys.stderr)
        if batch is None:
            batch = random_batch(reference, model)
        expected, actual = end_points(reference, model, mapping, batch)
    finally:
        reference.close()
    return expected, actual, f"{model.name} vs {os.path.basename(meta)}"


# Forward outputs of the same float32 ops in a TF1 Session and in Keras differ by a few
# ULPs of reordered sums; 1e-5 both ways leaves room for that and nothing more.
RTOL, ATOL = 1e-5, 1e-5


def _exceeds(expected, actual) -> tuple[bool, float]:
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if expected.shape != actual.shape:
        return True, float("nan")
    if not (np.all(np.isfinite(expected)) and np.all(np.isfinite(actual))):
        return True, float("nan")
    difference = np.abs(actual - expected)
    worst = float(np.max(difference, initial=0.0))
    return bool(np.any(difference > ATOL + RTOL * np.abs(expected))), worst


def divergence(expected: dict, actual: dict) -> str | None:
    """None when every output end point is within tolerance; else the report naming the first
    end point (layers in order, then the output) beyond it.

    The installed converters do not depend on the parity suite; this is the
    converter's own check on the same end points :func:`parity.compare.compare_models` reports.
    """
    outputs = [name for name in expected if name.startswith("output")]
    if not any(_exceeds(expected[n], actual[n])[0] for n in outputs):
        return None
    for name in expected:
        failed, worst = _exceeds(expected[name], actual[name])
        if failed:
            return (
                f"first diverging: {name!r} {list(np.shape(expected[name]))}: max abs difference "
                f"{worst:.3g} (tolerance rtol {RTOL:g}, atol {ATOL:g})"
            )
    return None
