"""Minimal compat harness: run an original tutorial script, then save what it built.

Usage: ``python tests/original_harness.py SCRIPT OUT_DIR SPEC_JSON``

The script runs unmodified in a fresh process (its cwd is OUT_DIR) with
``tensorflow`` served by ``tf.compat.v1`` in TF1 mode, offline stand-ins for
``input_data``/``cifar10``/``cifar10_input``, and every ``for ... in range()``
loop capped at one iteration. Sessions are kept open past the script's end; the
harness then saves all global variables of the last session's graph with a
Saver and evaluates the logits the spec names on a fixed input, which the test
compares with ``legacy_tf1.predict``. This is deliberately not the product's
compat runner: it is an independent, minimal check of the legacy graphs.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import types

os.environ["TF_USE_LEGACY_KERAS"] = "1"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as real_tf  # noqa: E402
import tf_slim  # noqa: E402

tf1 = real_tf.compat.v1
tf1.disable_v2_behavior()

from formats import sample  # noqa: E402
from legacy_tf1 import inputs  # noqa: E402

_SESSIONS: list = []


class _KeptSession(tf1.Session):
    """A Session whose close is deferred until the harness has saved."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _SESSIONS.append(self)

    def close(self):
        pass

    def __exit__(self, *exc):
        return False


class _KeptInteractiveSession(tf1.InteractiveSession):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _SESSIONS.append(self)

    def close(self):
        pass


def _tensorflow_module() -> types.ModuleType:
    module = types.ModuleType("tensorflow")
    module.__dict__.update({k: getattr(tf1, k) for k in dir(tf1) if not k.startswith("__")})
    module.Session = _KeptSession
    module.InteractiveSession = _KeptInteractiveSession
    module.contrib = types.SimpleNamespace(
        layers=types.SimpleNamespace(
            xavier_initializer=tf_slim.xavier_initializer,
            xavier_initializer_conv2d=tf_slim.xavier_initializer_conv2d,
        )
    )
    return module


def _input_data_module() -> types.ModuleType:
    def read_data_sets(train_dir, *args, **kwargs):
        if not sample.is_complete("mnist", train_dir):
            sample.write_sample("mnist", train_dir)
        return inputs.read_data_sets(train_dir, *args, **kwargs)

    return types.SimpleNamespace(read_data_sets=read_data_sets)


def _cifar10_modules(spec: dict) -> tuple[types.ModuleType, types.ModuleType]:
    # The script's own data_dir (/tmp/cifar10_data/...) is replaced by the sample.
    sample_data = str(sample.sample_dir("cifar-bin"))
    cifar10 = types.SimpleNamespace(maybe_download_and_extract=lambda: None)
    small = spec.get("examples_per_epoch")
    cifar10_input = types.SimpleNamespace(
        distorted_inputs=lambda data_dir=None, batch_size=128: inputs.distorted_inputs(
            sample_data, batch_size, examples_per_epoch=small
        ),
        inputs=lambda eval_data, data_dir=None, batch_size=128: inputs.inputs(
            eval_data, sample_data, batch_size, examples_per_epoch=small
        ),
    )
    return cifar10, cifar10_input


def _install_modules(spec: dict) -> None:
    tf_module = _tensorflow_module()
    sys.modules["tensorflow"] = tf_module
    input_data = _input_data_module()
    for name in (
        "tensorflow.examples",
        "tensorflow.examples.tutorials",
        "tensorflow.examples.tutorials.mnist",
    ):
        package = types.ModuleType(name)
        package.__path__ = []
        sys.modules[name] = package
    sys.modules["tensorflow.examples.tutorials.mnist"].input_data = input_data
    sys.modules["tensorflow.examples.tutorials.mnist.input_data"] = input_data
    sys.modules["cifar10"], sys.modules["cifar10_input"] = _cifar10_modules(spec)


class _CapRange(ast.NodeTransformer):
    """``for x in range(...)`` -> ``for x in range(...)[:1]``: one iteration."""

    def visit_For(self, node):
        self.generic_visit(node)
        call = node.iter
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "range":
            node.iter = ast.Subscript(
                value=call, slice=ast.Slice(upper=ast.Constant(1)), ctx=ast.Load()
            )
        return node


def _run_script(path: str) -> tuple[dict, str | None]:
    with open(path, encoding="utf-8") as stream:
        tree = _CapRange().visit(ast.parse(stream.read(), path))
    ast.fix_missing_locations(tree)
    namespace = {"__name__": "__main__", "__file__": path}
    try:
        exec(compile(tree, path, "exec"), namespace)
    except Exception as error:  # seed003 fails on its own `net.acc`
        return namespace, f"{type(error).__name__}: {error}"
    return namespace, None


def _resolve(namespace: dict, graph, expression: str):
    """A tensor from a script global expression (``net.yo``) or a graph name (``fc8:0``)."""
    if ":" in expression:
        return graph.get_tensor_by_name(expression)
    return eval(expression, {}, namespace)


def main(script: str, out_dir: str, spec: dict) -> None:
    os.chdir(out_dir)
    if "materialise" in spec:  # seed004 reads ./cifar-10-batches-py
        sample.write_sample(spec["materialise"], sample.DIR_NAMES[spec["materialise"]])
    _install_modules(spec)
    namespace, error = _run_script(script)
    if not _SESSIONS:
        raise SystemExit(f"the script created no session; it failed with {error}")
    sess = _SESSIONS[-1]
    graph = sess.graph
    with graph.as_default():
        saver = tf1.train.Saver(var_list=tf1.global_variables())
    prefix = saver.save(sess, os.path.join(out_dir, "original.ckpt"))
    logits = _resolve(namespace, graph, spec["logits"])
    feed = {}
    rng = np.random.default_rng(0)
    batch = None
    if "input" in spec:
        placeholder = _resolve(namespace, graph, spec["input"])
        shape = [spec["batch"] if d is None else d for d in placeholder.shape.as_list()]
        batch = rng.uniform(0, 1, size=shape).astype(np.float32)
        feed[placeholder] = batch
    if "input_variable" in spec:
        batch = sess.run(_resolve(namespace, graph, spec["input_variable"]))
    for expression, value in spec.get("feeds", {}).items():
        feed[_resolve(namespace, graph, expression)] = value
    result = sess.run(logits, feed)
    np.savez(os.path.join(out_dir, "original_logits.npz"), logits=result, inputs=batch)
    with open(os.path.join(out_dir, "result.json"), "w") as stream:
        json.dump({"prefix": prefix, "error": error}, stream)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
