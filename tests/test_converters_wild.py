"""Checkpoints from the wild: TF1 checkpoints of no registry model, written in every layout.

Each kind is built here with tf.compat.v1 (scalars, int/bool/string tensors,
partitioned variables, V1 files with and without a state file, Adam slots) or
broken the way public repositories break them (Git LFS pointers, Windows paths
in the state file, V1 and V2 side by side), plus fuzzed names, shapes and dtypes.
Every CLI must answer without a traceback: a clear error, or a success; a
starter rules file (``python -m converters.rules init``) must convert, unedited,
bit for bit.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converters import ckpt_v1_to_v2, inspect, rules
from converters.bundle import EXIT_INPUT, EXIT_MAPPING, EXIT_USAGE, resolve, write_name_based


def _tf1():
    from legacy_tf1.core import tf1

    return tf1


def _save(directory, build, *, v1=False, steps=(1,), state=True) -> tuple[str, dict]:
    """Build a graph with ``build()`` -> {name: tensor}; save at each step; (last prefix, values)."""
    tf1 = _tf1()
    os.makedirs(directory, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        tensors = build()
        version = tf1.train.SaverDef.V1 if v1 else tf1.train.SaverDef.V2
        saver = tf1.train.Saver(write_version=version)
        init = tf1.global_variables_initializer()
        train = tf1.get_collection("train_op")
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        for step in steps:
            sess.run(train)
            prefix = saver.save(sess, os.path.join(directory, "model.ckpt"), global_step=step)
        values = sess.run(tensors)
    if not state:
        os.remove(os.path.join(directory, "checkpoint"))
    return prefix, values


def _variable(value, name):
    return _tf1().Variable(value, name=name, use_resource=False)


def _scalar_step():
    # tf.Variable(0): the global step of many tutorials, which crashed vgg16 detection.
    rng = np.random.default_rng(1)
    return {
        "Variable": _variable(0, "Variable"),
        "conv4_3/w": _variable(rng.standard_normal(5).astype(np.float32), "conv4_3/w"),
        "fc6/w": _variable(np.float32(2.5), "fc6/w"),
    }


def _odd_dtypes():
    return {
        "counts": _variable(np.arange(6, dtype=np.int32).reshape(2, 3), "counts"),
        "vocab/ids": _variable(np.arange(3, dtype=np.int64), "vocab/ids"),
        "flag": _variable(True, "flag"),
        "vocab/words": _variable(np.array([b"tf", b"1.x"]), "vocab/words"),
        "title": _variable(b"model", "title"),
        "empty": _variable(np.zeros((0, 3), np.float32), "empty"),
    }


def _partitioned():
    tf1 = _tf1()
    init = tf1.random_normal_initializer(seed=3)
    with tf1.variable_scope("embedding", partitioner=tf1.fixed_size_partitioner(3)):
        table = tf1.get_variable("table", shape=(10, 4), initializer=init, use_resource=False)
    bias = tf1.get_variable("out/biases", shape=(4,), initializer=init, use_resource=False)
    return {"embedding/table": tf.concat(list(table), 0), "out/biases": bias}


def _adam():
    tf1 = _tf1()
    rng = np.random.default_rng(2)
    weights = _variable(rng.standard_normal((3, 2)).astype(np.float32), "dense/weights")
    biases = _variable(np.zeros(2, np.float32), "dense/biases")
    step = tf1.train.get_or_create_global_step()
    loss = tf.reduce_sum(tf.matmul(tf.ones((1, 3)), weights) + biases)
    train = tf1.train.AdamOptimizer(0.1).minimize(loss, global_step=step)
    tf1.add_to_collection("train_op", train)
    variables = {v.op.name: v for v in tf1.global_variables()}
    return variables


# Each kind: root -> (path given to the CLIs, {name: expected value}).
def _kind_scalar(root):
    return _save(str(root / "scalar"), _scalar_step)


def _kind_dtypes(root):
    return _save(str(root / "dtypes"), _odd_dtypes)


def _kind_partitioned(root):
    return _save(str(root / "part"), _partitioned)


def _kind_partitioned_v1(root):
    prefix, values = _save(str(root / "part_v1"), _partitioned, v1=True)
    return os.path.dirname(prefix), values


def _kind_v1_with_state(root):
    prefix, values = _save(str(root / "v1"), _scalar_step, v1=True)
    return os.path.dirname(prefix), values


def _kind_v1_without_state(root):
    # Steps 2 then 10: the newest by step, not by name order ("-10" < "-2" as text).
    prefix, values = _save(str(root / "v1n"), _adam, v1=True, steps=(2, 10), state=False)
    assert prefix.endswith("-10")
    return os.path.dirname(prefix), values


def _kind_adam(root):
    return _save(str(root / "adam"), _adam, steps=(1, 2))


def _kind_windows_state(root):
    prefix, values = _save(str(root / "win"), _odd_dtypes)
    name = os.path.basename(prefix)
    with open(os.path.join(os.path.dirname(prefix), "checkpoint"), "w") as stream:
        stream.write(f'model_checkpoint_path: "C:\\\\Users\\\\me\\\\train\\\\{name}"\n')
    return os.path.dirname(prefix), values


def _kind_data_shard(root):
    prefix, values = _save(str(root / "shard"), _scalar_step)
    return prefix + ".data-00000-of-00001", values


KINDS = {
    "scalar global step beside odd vgg16-like names": _kind_scalar,
    "int, bool, string and zero-size tensors": _kind_dtypes,
    "partitioned variable (V2)": _kind_partitioned,
    "partitioned variable (V1)": _kind_partitioned_v1,
    "V1 file with a state file": _kind_v1_with_state,
    "V1 files without a state file": _kind_v1_without_state,
    "Adam slots and beta powers": _kind_adam,
    "Windows paths in the state file": _kind_windows_state,
    ".data shard given": _kind_data_shard,
}


def _no_traceback(captured) -> str:
    text = captured.err + captured.out
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_from_the_wild_inspects_refuses_and_converts_by_starter_rules(
    kind, tmp_path, capsys
):
    path, expected = KINDS[kind](tmp_path / "in")
    assert inspect.main([path]) == 0
    out = _no_traceback(capsys.readouterr())
    assert "model: none" in out and "converters.rules init" in out
    # auto refuses helpfully: what the checkpoint holds and the rules-file way.
    assert ckpt_v1_to_v2.main([path, "--dry-run"]) == EXIT_MAPPING
    err = _no_traceback(capsys.readouterr())
    assert f"It holds {len(expected)} tensors" in err
    assert "--rules" in err and "python -m converters.rules init" in err
    assert "closest" not in err  # no model shares a correctly shaped key
    _convert_by_starter_rules(path, expected, tmp_path, capsys)


def _convert_by_starter_rules(path, expected, tmp_path, capsys) -> dict:
    rules_file = str(tmp_path / "rules.json")
    assert rules.main(["init", path, "--output", rules_file]) == 0
    output = str(tmp_path / "out")
    assert ckpt_v1_to_v2.main([path, "--rules", rules_file, "--output", output]) == 0
    _no_traceback(capsys.readouterr())
    module = rules.load_module(output)
    targets = rules.starter_targets({name: () for name in expected})
    assert set(module.tensors) == set(targets.values())
    for name, value in expected.items():
        got = module.tensors[targets[name]].numpy()
        assert rules.same_bits(got, tf.constant(value).numpy()), name
    return targets


def test_starter_rules_use_keras_names_group_scopes_and_optimizer_slots(tmp_path, capsys):
    prefix, _ = _kind_adam(tmp_path)
    assert rules.main(["init", prefix]) == 0
    text = capsys.readouterr().out
    assert text.lstrip().startswith("//")
    payload = json.loads(rules.without_comments(text))
    targets = {entry["match"].replace("\\", ""): entry["target"] for entry in payload["rules"]}
    assert targets["dense/weights"] == "dense/kernel"
    assert targets["dense/biases"] == "dense/bias"
    assert targets["dense/weights/Adam"] == "optimizer/m/dense/kernel"
    assert targets["dense/weights/Adam_1"] == "optimizer/v/dense/kernel"
    assert targets["beta1_power"] == "optimizer/beta1_power"
    assert "// dense: 2 variables" in text and "// optimizer state: 6 tensors" in text
    # The optimizer group comes after every weight.
    order = [entry["match"] for entry in payload["rules"]]
    assert order.index("dense/weights") < order.index("beta1_power")


def test_rules_init_refuses_to_overwrite_without_force(tmp_path, capsys):
    prefix, _ = _kind_scalar(tmp_path)
    target = tmp_path / "rules.json"
    target.write_text("mine")
    assert rules.main(["init", prefix, "--output", str(target)]) == EXIT_USAGE
    assert "--force" in capsys.readouterr().err and target.read_text() == "mine"
    assert rules.main(["init", prefix, "--output", str(target), "--force"]) == 0
    assert rules.load_rules(str(target)).table.rows


def test_v1_directory_without_state_file_takes_the_newest_step(tmp_path):
    directory, _ = _kind_v1_without_state(tmp_path)
    resolved = resolve(directory)
    assert resolved.prefix.endswith("model.ckpt-10") and resolved.format == "V1"
    assert "newest V1" in resolved.notes[0]


def test_windows_state_file_paths_are_split_on_backslashes(tmp_path):
    directory, _ = _kind_windows_state(tmp_path)
    resolved = resolve(directory)
    assert resolved.prefix == os.path.join(directory, "model.ckpt-1")
    assert "C:\\Users" in resolved.notes[0]


def _mixed(root) -> tuple[str, str]:
    """A directory holding a V2 bundle and a V1 file; (directory, V2 prefix)."""
    v2, _ = _save(str(root / "mixed"), _scalar_step, steps=(3,), state=False)
    v1, _ = _save(str(root / "v1src"), _scalar_step, v1=True, steps=(5,))
    shutil.copy(v1, os.path.join(root / "mixed", os.path.basename(v1)))
    return str(root / "mixed"), v2


def test_mixed_v1_and_v2_directory_is_ambiguous_and_the_index_chooses(tmp_path, capsys):
    directory, v2 = _mixed(tmp_path)
    for main in (inspect.main, lambda argv: ckpt_v1_to_v2.main([*argv, "--dry-run"])):
        assert main([directory]) == EXIT_INPUT
        err = _no_traceback(capsys.readouterr())
        assert "ambiguous" in err and "model.ckpt-3.index" in err and "model.ckpt-5" in err
    assert resolve(v2 + ".index").prefix == v2
    assert resolve(os.path.join(directory, "model.ckpt-5")).format == "V1"


def test_same_prefix_v1_and_v2_is_refused_unless_the_index_is_given(tmp_path, capsys):
    prefix, _ = _save(str(tmp_path / "same"), _scalar_step, state=False)
    v1, _ = _save(str(tmp_path / "v1src"), _scalar_step, v1=True)
    shutil.copy(v1, prefix)
    assert inspect.main([prefix]) == EXIT_INPUT
    assert f"pass {prefix}.index" in _no_traceback(capsys.readouterr())
    resolved = resolve(prefix + ".index")
    assert resolved.prefix == prefix and resolved.format == "V2"


@pytest.mark.parametrize("which", [".data-00000-of-00001", ".index", ""])
def test_git_lfs_pointer_is_named_as_such(which, tmp_path, capsys):
    v1 = which == ""
    prefix, _ = _save(str(tmp_path / "lfs"), _scalar_step, v1=v1)
    pointer = prefix + which
    with open(pointer, "w") as stream:
        stream.write(
            "version https://git-lfs.github.com/spec/v1\n"
            "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
            "size 12345\n"
        )
    for path in (prefix, os.path.dirname(prefix)):
        for main in (inspect.main, lambda argv: rules.main(["init", *argv])):
            assert main([path]) == EXIT_INPUT
            err = _no_traceback(capsys.readouterr())
            assert f"{pointer}: is a Git LFS pointer, not the data: run git lfs pull" in err


# ---- --rules honours every flag; every error in a rules file is exit 2 ---------------------


def _write_rules(tmp_path, payload) -> str:
    path = tmp_path / "my_rules.json"
    path.write_text(json.dumps(payload))
    return str(path)


def test_rules_dry_run_writes_nothing_and_no_optimizer_drops_slots(tmp_path, capsys):
    prefix, values = _kind_adam(tmp_path / "in")
    rules_file = str(tmp_path / "rules.json")
    assert rules.main(["init", prefix, "--output", rules_file]) == 0
    output = tmp_path / "out"
    argv = [prefix, "--rules", rules_file, "--output", str(output)]
    assert ckpt_v1_to_v2.main([*argv, "--dry-run"]) == 0
    assert "nothing written" in capsys.readouterr().err and not output.exists()
    assert sorted(os.listdir(tmp_path)) == ["in", "rules.json"]
    assert ckpt_v1_to_v2.main([*argv, "--no-optimizer"]) == 0
    module = rules.load_module(str(output))
    assert set(module.tensors) == {"dense/kernel", "dense/bias", "global_step"}
    manifest = json.loads((output / "manifest.json").read_text())
    assert len(manifest["ignored"]) == 6 and "dense/weights/Adam_1" in manifest["ignored"]
    # An existing output needs --force, which then replaces it (slots included now).
    assert ckpt_v1_to_v2.main(argv) == EXIT_USAGE
    assert "--force" in capsys.readouterr().err
    assert ckpt_v1_to_v2.main([*argv, "--force"]) == 0
    assert len(rules.load_module(str(output)).tensors) == len(values)


BAD_RULES = {
    "bad regex": ({"match": "dense/(", "target": "x"}, "bad regex"),
    "bad group reference": ({"match": "dense/(\\w+)", "target": "d/\\2"}, "bad group reference"),
    "target under adam/": ({"match": "dense/weights", "target": "adam/m/dense/kernel"}, "adam/"),
    "conv_as_dense on a scalar": (
        {"match": "global_step", "target": "step", "transform": "conv_as_dense"},
        "'conv_as_dense' needs a kernel of 2 or more dimensions, got shape []",
    ),
}


@pytest.mark.parametrize("case", BAD_RULES)
def test_every_rules_file_error_is_exit_2_naming_file_and_rule(case, tmp_path, capsys):
    prefix, _ = _kind_adam(tmp_path / "in")
    rule, message = BAD_RULES[case]
    payload = {"rules": [{"match": "unrelated", "target": "u"}, rule]}
    argv = [prefix, "--rules", _write_rules(tmp_path, payload), "--output", str(tmp_path / "o")]
    assert ckpt_v1_to_v2.main(argv) == EXIT_USAGE
    err = _no_traceback(capsys.readouterr())
    assert "my_rules.json" in err and "rules[1]" in err and message in err
    assert not (tmp_path / "o").exists()


def test_registry_model_rules_refuse_unknown_adam_targets(tmp_path, capsys):
    prefix, _ = _kind_adam(tmp_path / "in")
    payload = {"rules": [{"match": "beta1_power", "target": "adam/beta_one"}]}
    argv = [prefix, "--rules", _write_rules(tmp_path, payload), "--model", "cifar10_cnn"]
    assert ckpt_v1_to_v2.main([*argv, "--dry-run"]) == EXIT_USAGE
    assert "rules[0]" in _no_traceback(capsys.readouterr())


# ---- fuzzed names, shapes and dtypes ----------------------------------------------------------

_SEGMENT = st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-]{0,6}", fullmatch=True)
# Names that registry tables know, so that detection meets them with the wrong shapes.
_KNOWN = st.sampled_from(
    ["Variable", "Variable_1", "global_step", "fc6/w", "conv4_3/w", "fc8/w", "conv1/kernel"]
)
_NAME = st.one_of(_KNOWN, st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join))
_SHAPE = st.lists(st.integers(0, 3), max_size=4).map(tuple)
_DTYPE = st.sampled_from(["float32", "float16", "float64", "int32", "int64", "bool", "string"])


def _value(dtype: str, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "string":
        return np.array([f"s{i}".encode() for i in range(int(np.prod(shape)))]).reshape(shape)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    return (rng.standard_normal(shape) * 100).astype(dtype)


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.dictionaries(_NAME, st.tuples(_DTYPE, _SHAPE), min_size=1, max_size=6))
def test_fuzzed_checkpoints_never_give_a_traceback(tmp_path_factory, specs):
    root = tmp_path_factory.mktemp("fuzz")
    # A key and a key under it ("a" and "a/b") are fine in a bundle; slots need their variable.
    tensors = {name: _value(d, s, i) for i, (name, (d, s)) in enumerate(sorted(specs.items()))}
    prefix = str(root / "model.ckpt-1")
    write_name_based(prefix, tensors)
    codes = {inspect.main([prefix]), ckpt_v1_to_v2.main([prefix, "--dry-run"])}
    assert codes <= {0, EXIT_MAPPING}
    capture = _Capture()
    _convert_by_starter_rules(prefix, tensors, root, capture)


class _Capture:
    """capsys stand-in for the fuzz test (a function-scoped fixture cannot serve many examples)."""

    def readouterr(self):
        class Nothing:
            out = err = ""

        return Nothing()
