"""Checkpoint converters: legacy Saver checkpoints <-> tf2_port checkpoints.

Source checkpoints come from the legacy trainer (0-3 steps, embedded sample
data); one per model, shared by the module's tests.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import legacy_tf1
import tf2_port
from converters import ckpt_v1_to_v2, ckpt_v2_to_v1, maps
from converters.bundle import EXIT_INPUT, EXIT_MAPPING, EXIT_USAGE, Reader, resolve
from legacy_tf1.train import TrainConfig, train
from tf2_port import registry
from tf2_port.train import make_train_step

# Steps per model: enough to make Adam state non-trivial, vgg16 stays at its
# (small-image) initial checkpoint because of its size.
STEPS = {
    "resnet_mnist": 3,
    "cifar10_cnn": 2,
    "vgg16": 0,
    "resnet_mnist_class": 2,
    "alexnet_cifar10": 2,
}
OPTIONS = {"vgg16": {"image_size": 32}}


@pytest.fixture(scope="module")
def sources(legacy_checkpoints):
    """model -> directory of a legacy Saver checkpoint, trained lazily once."""
    return legacy_checkpoints(STEPS, OPTIONS)


def assert_same_tensors(left: str, right: str) -> None:
    """Same names, dtypes and bytes; fails naming the first differing tensor."""
    a, b = Reader(left), Reader(right)
    assert set(a.tensor_names()) == set(b.tensor_names()), (
        f"missing {sorted(set(a.tensor_names()) - set(b.tensor_names()))}, "
        f"extra {sorted(set(b.tensor_names()) - set(a.tensor_names()))}"
    )
    for name in a.tensor_names():
        x, y = a.get(name), b.get(name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), (
            f"{name}: max abs difference {np.max(np.abs(x.astype(np.float64) - y))}"
        )


@pytest.mark.parametrize("model", maps.MAPS)
def test_converts_and_port_reproduces_legacy_logits(model, sources, tmp_path):
    output = str(tmp_path / "out")
    result = ckpt_v1_to_v2.convert(sources(model), model=model, output=output)
    images = ckpt_v1_to_v2.verification_batch(maps.get(model), result.overrides)
    legacy = legacy_tf1.predict(
        model, sources(model), images, **ckpt_v1_to_v2.legacy_options(model, result.overrides)
    )
    port = ckpt_v1_to_v2.port_logits(
        tf2_port.load(model, output), maps.get(model).to_port_inputs(images)
    )
    tolerance = maps.get(model).tolerance
    np.testing.assert_allclose(port, legacy, rtol=tolerance.rtol, atol=tolerance.atol)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["model"] == model
    assert {m["source"] for m in manifest["mapping"]} | set(manifest["ignored"]) == set(
        Reader(resolve(sources(model)).prefix).tensor_names()
    )


@pytest.mark.parametrize("model", maps.MAPS)
def test_round_trip_is_bit_exact(model, sources, tmp_path):
    result = ckpt_v1_to_v2.convert(
        sources(model), model=model, output=str(tmp_path / "v2"), verification=False
    )
    prefix = ckpt_v2_to_v1.convert(str(tmp_path / "v2"), model=model, output=str(tmp_path / "v1"))
    assert_same_tensors(resolve(sources(model)).prefix, prefix)
    # And the legacy graph restores it through its state file.
    images = ckpt_v1_to_v2.verification_batch(maps.get(model), result.overrides)
    options = ckpt_v1_to_v2.legacy_options(model, result.overrides)
    np.testing.assert_array_equal(
        legacy_tf1.predict(model, str(tmp_path / "v1"), images, **options),
        legacy_tf1.predict(model, sources(model), images, **options),
    )


def test_resnet_mnist_optimizer_state_after_three_steps(sources, tmp_path):
    result = ckpt_v1_to_v2.convert(sources("resnet_mnist"), output=str(tmp_path / "out"))
    assert result.model == "resnet_mnist"  # auto-detected
    assert result.iterations == 3
    state = ckpt_v1_to_v2.build_port("resnet_mnist", result.overrides)
    state.checkpoint().restore(str(resolve(str(tmp_path / "out")).prefix)).expect_partial()
    assert int(state.optimizer.iterations.numpy()) == 3
    assert int(state.step.numpy()) == 3
    reader = Reader(resolve(sources("resnet_mnist")).prefix)
    np.testing.assert_array_equal(
        state.target("adam/m/fc1/kernel").numpy(), reader.get("Variable_2/Adam")
    )
    np.testing.assert_array_equal(
        state.target("adam/v/res2a_shortcut/kernel").numpy(), reader.get("res2a/Variable_6/Adam_1")
    )


def test_moved_directory_with_absolute_state_file(sources, tmp_path, capsys):
    moved = tmp_path / "moved"
    shutil.copytree(sources("cifar10_cnn"), moved)
    basename = os.path.basename(resolve(sources("cifar10_cnn")).prefix)
    # What a Saver on another machine writes: absolute paths that do not exist here.
    gone = f"/nonexistent/machine/ckpt/{basename}"
    (moved / "checkpoint").write_text(
        f'model_checkpoint_path: "{gone}"\nall_model_checkpoint_paths: "{gone}"\n'
    )
    resolved = resolve(str(moved))
    assert resolved.prefix.startswith(str(moved))
    assert "does not exist" in resolved.notes[0]
    result = ckpt_v1_to_v2.convert(str(moved), model="cifar10_cnn", output=str(tmp_path / "out"))
    assert result.max_abs_diff is not None


@pytest.mark.parametrize("suffix", [".index", ".meta", ""])
def test_checkpoint_files_resolve_to_their_prefix(sources, suffix):
    prefix = resolve(sources("resnet_mnist")).prefix
    assert resolve(prefix + suffix).prefix == prefix


def test_data_shard_given_as_checkpoint_resolves_to_its_prefix(sources, tmp_path, capsys):
    # TF's reader fails on a .data file ("bad magic number"); the converters take its prefix.
    prefix = resolve(sources("resnet_mnist")).prefix
    shard = prefix + ".data-00000-of-00001"
    resolved = resolve(shard)
    assert (
        resolved.prefix == prefix and f"using its checkpoint prefix {prefix}" in resolved.notes[0]
    )
    assert ckpt_v1_to_v2.main([shard, "--dry-run"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_directory_without_state_file_takes_the_newest_step(tmp_path):
    for step in (2, 10):
        (tmp_path / f"model.ckpt-{step}.index").write_bytes(b"")
    (tmp_path / "model.ckpt-9.index").write_bytes(b"")
    assert resolve(str(tmp_path)).prefix == str(tmp_path / "model.ckpt-10")


def test_existing_output_is_refused_without_force(sources, tmp_path, capsys):
    output = tmp_path / "out"
    output.mkdir()
    (output / "precious").write_text("keep")
    argv = [sources("cifar10_cnn"), "--output", str(output)]
    assert ckpt_v1_to_v2.main(argv) == EXIT_USAGE
    assert "--force" in capsys.readouterr().err
    assert (output / "precious").read_text() == "keep"
    assert ckpt_v1_to_v2.main([*argv, "--force"]) == 0
    assert not (output / "precious").exists()


def test_no_verify_skips_only_the_logits_comparison(sources, tmp_path, capsys, monkeypatch):
    def no_legacy_graph(*args, **kwargs):
        raise AssertionError("--no-verify must not build the legacy graph")

    monkeypatch.setattr(ckpt_v1_to_v2, "legacy_logits", no_legacy_graph)
    output = tmp_path / "out"
    argv = [sources("cifar10_cnn"), "--output", str(output), "--no-verify"]
    assert ckpt_v1_to_v2.main(argv) == 0
    assert "verified:" not in capsys.readouterr().err
    images = np.random.default_rng(0).random((2, 24, 24, 3), dtype=np.float32)
    expected = legacy_tf1.predict("cifar10_cnn", sources("cifar10_cnn"), images)
    restored = tf2_port.load("cifar10_cnn", str(output))
    np.testing.assert_allclose(ckpt_v1_to_v2.port_logits(restored, images), expected, atol=1e-5)


def test_source_is_not_modified(sources, tmp_path):
    directory = sources("cifar10_cnn")
    before = {
        name: os.path.getmtime(os.path.join(directory, name)) for name in os.listdir(directory)
    }
    ckpt_v1_to_v2.convert(directory, output=str(tmp_path / "out"), verification=False)
    after = {
        name: os.path.getmtime(os.path.join(directory, name)) for name in os.listdir(directory)
    }
    assert before == after


def test_wrong_model_is_a_mapping_error_listing_missing_and_unexpected(sources, capsys):
    code = ckpt_v1_to_v2.main([sources("cifar10_cnn"), "--model", "resnet_mnist", "--dry-run"])
    assert code == EXIT_MAPPING
    err = capsys.readouterr().err
    assert "missing (port)" in err and "unexpected (checkpoint)" in err
    assert "Traceback" not in err


def test_corrupt_input_exits_3(tmp_path, capsys):
    (tmp_path / "model.ckpt-1.index").write_bytes(b"not a checkpoint")
    assert ckpt_v1_to_v2.main([str(tmp_path / "model.ckpt-1")]) == EXIT_INPUT
    assert "cannot read" in capsys.readouterr().err


def test_auto_detection_fails_naming_the_closest_model(tmp_path, capsys):
    from converters.bundle import write_name_based

    tensors = {"Variable": np.zeros((5, 5, 3, 64), np.float32), "stray": np.zeros(3, np.float32)}
    write_name_based(str(tmp_path / "model.ckpt-0"), tensors)
    assert ckpt_v1_to_v2.main([str(tmp_path / "model.ckpt-0"), "--dry-run"]) == EXIT_MAPPING
    err = capsys.readouterr().err
    assert "closest is" in err and "stray" in err


def test_iterations_from_beta_powers():
    # TF1 starts the powers at beta and multiplies after each step (float32).
    for steps in (0, 1, 3, 50, 700):
        b1 = ckpt_v2_to_v1.tf1_beta_power(0.9, steps)
        b2 = ckpt_v2_to_v1.tf1_beta_power(0.999, steps)
        assert maps.iterations_from_beta_powers(b1, b2) == steps
    with pytest.raises(maps.MappingError, match="inconsistent"):
        maps.iterations_from_beta_powers(0.9**4, 0.999**10)


def test_tables_assign_each_port_variable_exactly_once():
    """Static check of each table: its literal rows never send two keys to one target."""
    for model_map in maps.MAPS.values():
        literal = [row.target for row in model_map.rows if "\\" not in row.target]
        assert len(literal) == len(set(literal)), model_map.name


def test_inspect_names_the_model_and_diffs(sources, tmp_path, capsys):
    from converters import inspect

    assert inspect.main([sources("resnet_mnist_class")]) == 0
    out = capsys.readouterr().out
    assert "model: resnet_mnist_class" in out and "V2, name-based" in out
    assert "Variable_40  float32  [32]  128 B" in out
    ckpt_v1_to_v2.convert(sources("cifar10_cnn"), output=str(tmp_path / "v2"), verification=False)
    prefix = ckpt_v2_to_v1.convert(
        str(tmp_path / "v2"), model="cifar10_cnn", output=str(tmp_path / "v1")
    )
    capsys.readouterr()
    assert inspect.main([sources("cifar10_cnn"), "--diff", prefix]) == 0
    assert "identical" in capsys.readouterr().out
    assert inspect.main([sources("cifar10_cnn"), "--diff", sources("resnet_mnist")]) == 1
    assert "missing: " in capsys.readouterr().out


def test_vgg16_ignored_image_is_kept_outside_the_object_graph(sources, tmp_path):
    output = str(tmp_path / "out")
    result = ckpt_v1_to_v2.convert(sources("vgg16"), model="vgg16", output=output)
    state = ckpt_v1_to_v2.build_port("vgg16", result.overrides)
    # Nothing in the TF2 file that the port's objects do not take.
    state.checkpoint().restore(tf.train.latest_checkpoint(output)).assert_consumed()
    side = Reader(os.path.join(output, ckpt_v1_to_v2.IGNORED_PREFIX))
    source = Reader(resolve(sources("vgg16")).prefix)
    assert side.tensor_names() == ["Variable"]
    assert side.get("Variable").tobytes() == source.get("Variable").tobytes()


# ---- resuming: N legacy steps, convert, M port steps == N + M legacy steps ----------------

RESUME_N, RESUME_M, RESUME_BATCH = 3, 3, 8
# Dropout off on both sides (resnet_mnist feeds keep_prob); seed001's placeholders fix the batch.
RESUME_LEGACY = {"resnet_mnist": {"keep_prob": 1.0}, "cifar10_cnn": {"batch_size": RESUME_BATCH}}
RESUME_PORT = {"resnet_mnist": {"keep_prob": 1.0}}
# Variables whose true gradient is zero: a bias right before a batch norm is cancelled
# by the mean subtraction. Their float32 gradients are rounding noise, which Adam's
# m / sqrt(v) normalises into steps of up to ~lr in a noise-driven direction, so two
# graphs that round differently let them drift apart by up to the Adam step bound.
# The batch norms' moving means average the pre-BN activations, so they inherit a
# (1 - momentum) share of that drift.
NULL_GRADIENT = {
    "alexnet_cifar10": (
        "conv2/bias",
        "dense/bias",
        "dense_1/bias",
        "batch_normalization/moving_mean",
        "moments/Squeeze/ExponentialMovingAverage",
        "moments_1/Squeeze/ExponentialMovingAverage",
    )
}


def _resume_batches(model: str, overrides: dict):
    shape = maps.get(model).legacy_input_shape(overrides)
    rng = np.random.default_rng(1)
    return [
        (rng.random((RESUME_BATCH, *shape), dtype=np.float32), rng.integers(0, 10, RESUME_BATCH))
        for _ in range(RESUME_N + RESUME_M)
    ]


def _legacy_run(model: str, batches, ckpt_dir: str) -> dict[str, np.ndarray]:
    """Train the legacy graph on ``batches``; save all variables after RESUME_N steps."""
    from legacy_tf1.core import tf1

    built = legacy_tf1.build(model, seed=0, **RESUME_LEGACY.get(model, {}))
    with built.graph.as_default():
        saver = tf1.train.Saver()  # every global variable, as `train --save-all`
        init = tf1.global_variables_initializer()
    variables = built.graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
    one_hot = built.labels.shape.rank == 2
    with tf1.Session(graph=built.graph) as sess:
        sess.run(init)
        for index, (images, ids) in enumerate(batches):
            if index == RESUME_N:
                saver.save(sess, os.path.join(ckpt_dir, "model.ckpt"), global_step=RESUME_N)
            labels = np.eye(10, dtype=np.float32)[ids] if one_hot else ids
            sess.run(built.train_op, built.feed(images, labels, training=True))
        return dict(zip([v.op.name for v in variables], sess.run(variables), strict=True))


def _port_resume(model: str, output: str, batches, overrides: dict):
    """Restore the converted checkpoint (assert_consumed) and run the port's train step."""
    state = ckpt_v1_to_v2.build_port(model, overrides)
    state.checkpoint().restore(tf.train.latest_checkpoint(output)).assert_consumed()
    assert int(state.optimizer.iterations.numpy()) == RESUME_N
    spec = registry.get(model)
    step = make_train_step(
        spec,
        spec.config(**overrides),
        state.model,
        state.optimizer,
        tf.distribute.get_strategy(),
        RESUME_BATCH,
    )
    for images, ids in batches[RESUME_N:]:
        labels = np.eye(10, dtype=np.float32)[ids] if spec.labels == "one_hot" else ids
        step((tf.constant(maps.get(model).to_port_inputs(images)), tf.constant(labels)))
    return state


# Relative error of the resumed run, per tensor: |port - legacy| / |legacy update|, L2.
RESUME_RTOL = {"resnet_mnist_class": 1e-4, "cifar10_cnn": 1e-4, "alexnet_cifar10": 2e-2}


def _relative_errors(model: str, reference, state, start: Reader) -> dict[str, float]:
    """Per legacy variable: L2 of (port - legacy) over L2 of what the M steps changed.

    Adam slots are compared with their own norm (they start from the checkpoint's
    values, but a wrong or missing state shows as an O(1) error either way).
    """
    errors = {}
    for key, expected in reference.items():
        found = maps.match(maps.get(model), key)
        if not isinstance(found, tuple) or found[1] != "identity":
            continue  # beta powers: checked through iterations
        got = state.target(found[0]).numpy()
        base = 0 if found[0].startswith("adam/") else start.get(key)
        scale = float(np.linalg.norm(expected - base))
        errors[key] = float(np.linalg.norm(got - expected)) / max(scale, 1e-30)
    return errors


@pytest.mark.parametrize("model", ["resnet_mnist_class", "cifar10_cnn", "alexnet_cifar10"])
def test_resume_after_conversion_matches_uninterrupted_legacy_training(model, tmp_path):
    """N legacy steps, convert (Adam state included), M port steps == N + M legacy steps.

    Tolerance. Both graphs compute the same gradients up to float32 summation
    order (~1e-7 relative). Adam divides by sqrt(v), so an element whose gradient
    is tiny turns that rounding into a visible step difference; elementwise maxima
    are therefore meaningless and we compare each tensor's L2 error relative to the
    L2 of what the M steps changed. Plain models stay below 1e-4 (observed ~1e-5).
    alexnet_cifar10 normalises with batch statistics of 8 examples, which amplifies
    the rounding further (observed up to ~5e-3): 2e-2. Losing the optimizer state
    gives errors of order 1 (control test below). The null-gradient variables
    (NULL_GRADIENT: a bias right before a batch norm, whose true gradient is zero
    and whose Adam steps are pure rounding noise) are excluded from the relative
    check and held to Adam's step bound instead: each run moves them by at most
    lr * (1 - beta1) / sqrt(1 - beta2) ~ 3.17 lr per step, so |difference| <= 2 * M * 3.17 * lr.
    """
    overrides = ckpt_v1_to_v2.port_overrides(model, {})
    batches = _resume_batches(model, overrides)
    reference = _legacy_run(model, batches, str(tmp_path / "tf1"))
    result = ckpt_v1_to_v2.convert(
        str(tmp_path / "tf1"), model=model, output=str(tmp_path / "tf2"), verification=False
    )
    assert result.iterations == RESUME_N
    port_overrides = {**result.overrides, **RESUME_PORT.get(model, {})}
    state = _port_resume(model, str(tmp_path / "tf2"), batches, port_overrides)
    assert int(state.optimizer.iterations.numpy()) == RESUME_N + RESUME_M
    errors = _relative_errors(model, reference, state, Reader(resolve(result.source).prefix))
    assert len(errors) == len(reference) - 2, "every variable but the beta powers is compared"
    null = NULL_GRADIENT.get(model, ())
    noisy = {key for key in errors if key in null or key.rsplit("/", 1)[0] in null}
    failures = [
        f"{key}: relative error {error:.3g} > {RESUME_RTOL[model]}"
        for key, error in errors.items()
        if key not in noisy and error > RESUME_RTOL[model]
    ]
    lr = ckpt_v1_to_v2.registry_learning_rate(model, port_overrides)
    for key in sorted(noisy & set(reference)):
        if "/Adam" in key:
            continue
        target = maps.match(maps.get(model), key)[0]
        drift = float(np.max(np.abs(state.target(target).numpy() - reference[key])))
        if drift > 2 * RESUME_M * 3.17 * lr:
            failures.append(f"{key}: drift {drift:.3g} > Adam's bound")
    assert not failures, "\n".join(failures)


def test_resume_without_optimizer_state_is_detected(tmp_path):
    """Control for the tolerance above: a fresh Adam after conversion fails it."""
    model = "cifar10_cnn"
    overrides = ckpt_v1_to_v2.port_overrides(model, {})
    batches = _resume_batches(model, overrides)
    reference = _legacy_run(model, batches, str(tmp_path / "tf1"))
    ckpt_v1_to_v2.convert(
        str(tmp_path / "tf1"),
        model=model,
        output=str(tmp_path / "tf2"),
        optimizer=False,
        verification=False,
    )
    state = ckpt_v1_to_v2.build_port(model, overrides)
    state.checkpoint().restore(tf.train.latest_checkpoint(str(tmp_path / "tf2"))).expect_partial()
    spec = registry.get(model)
    step = make_train_step(
        spec,
        spec.config(**overrides),
        state.model,
        state.optimizer,
        tf.distribute.get_strategy(),
        RESUME_BATCH,
    )
    for images, ids in batches[RESUME_N:]:
        step((tf.constant(images), tf.constant(ids)))
    start = Reader(resolve(str(tmp_path / "tf1")).prefix)
    errors = _relative_errors(model, reference, state, start)
    weights = [e for key, e in errors.items() if "/Adam" not in key]
    assert max(weights) > 100 * RESUME_RTOL[model]


# ---- the checkpoint layouts a Saver can write -----------------------------------------------


def rewrite_checkpoint(source: str, prefix: str, *, v1: bool = False, shards: int = 1) -> str:
    """Re-save every tensor of ``source`` with a Saver: V1 single file, or sharded V2.

    Sharding: a Saver(sharded=True) writes one data file per device holding
    variables, so the variables are spread over ``shards`` logical CPUs.
    """
    from legacy_tf1.core import tf1

    reader = Reader(resolve(source).prefix)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)  # the V1 writer does not create it
    graph = tf.Graph()
    with graph.as_default():
        for index, name in enumerate(reader.tensor_names()):
            with tf1.device(f"/cpu:{index % shards}"):
                tf1.Variable(reader.get(name), name=name, use_resource=False)
        version = tf1.train.SaverDef.V1 if v1 else tf1.train.SaverDef.V2
        saver = tf1.train.Saver(sharded=shards > 1, write_version=version)
        init = tf1.global_variables_initializer()
    config = tf1.ConfigProto(device_count={"CPU": shards})
    with tf1.Session(graph=graph, config=config) as sess:
        sess.run(init)
        return saver.save(sess, prefix, global_step=2, write_meta_graph=True)


def test_v1_single_file_checkpoint_converts(sources, tmp_path):
    prefix = rewrite_checkpoint(
        sources("cifar10_cnn"), str(tmp_path / "v1" / "model.ckpt"), v1=True
    )
    assert os.path.isfile(prefix) and not os.path.exists(prefix + ".index")
    assert resolve(prefix).format == "V1"
    result = ckpt_v1_to_v2.convert(prefix, output=str(tmp_path / "out"))
    assert result.model == "cifar10_cnn" and result.max_abs_diff is not None
    back = ckpt_v2_to_v1.convert(
        str(tmp_path / "out"), model="cifar10_cnn", output=str(tmp_path / "back")
    )
    assert_same_tensors(resolve(sources("cifar10_cnn")).prefix, back)


def test_sharded_checkpoint_converts_from_each_of_its_files(sources, tmp_path):
    prefix = rewrite_checkpoint(
        sources("resnet_mnist"), str(tmp_path / "sharded" / "model.ckpt"), shards=2
    )
    data = sorted(p.name for p in (tmp_path / "sharded").glob("*.data-*"))
    assert data == ["model.ckpt-2.data-00000-of-00002", "model.ckpt-2.data-00001-of-00002"]
    # Every file of the bundle resolves to the prefix; the .index and the .meta convert.
    for name in data:
        assert resolve(str(tmp_path / "sharded" / name)).prefix == prefix
    for index, name in enumerate(["model.ckpt-2.index", "model.ckpt-2.meta"]):
        output = str(tmp_path / f"out{index}")
        result = ckpt_v1_to_v2.convert(
            str(tmp_path / "sharded" / name), output=output, verification=index == 0
        )
        assert result.source == prefix and result.model == "resnet_mnist"
    back = ckpt_v2_to_v1.convert(
        str(tmp_path / "out0"), model="resnet_mnist", output=str(tmp_path / "back")
    )
    assert_same_tensors(prefix, back)


def test_weights_h5_loads_into_the_port_and_gives_the_same_logits(sources, tmp_path):
    model = "resnet_mnist_class"
    h5 = str(tmp_path / "w.weights.h5")
    result = ckpt_v1_to_v2.convert(
        sources(model), model=model, output=str(tmp_path / "out"), weights_h5=h5
    )
    keras_model = tf2_port.build(model, **result.overrides)
    keras_model.load_weights(h5)
    images = ckpt_v1_to_v2.verification_batch(maps.get(model), result.overrides)
    np.testing.assert_array_equal(
        ckpt_v1_to_v2.port_logits(keras_model, images),
        ckpt_v1_to_v2.port_logits(tf2_port.load(model, str(tmp_path / "out")), images),
    )
    # An existing .weights.h5 is refused like an existing output directory.
    code = ckpt_v1_to_v2.main(
        [sources(model), "--output", str(tmp_path / "o2"), "--weights-h5", h5]
    )
    assert code == EXIT_USAGE


# ---- legacy options that change the variables -------------------------------------------------


# (model, legacy options, some {TF1 key: port target} rows only the variant's table gives).
VARIANTS = [
    pytest.param(
        "resnet_mnist",
        {"extra_bias": True},
        # b_conv_fin comes after the projection shortcut in block a, first in blocks b and c.
        {
            "res2a/Variable_7": "res2a_final_bias/bias",
            "res2b/Variable_6": "res2b_final_bias/bias",
            "res2c/Variable_6/Adam_1": "adam/v/res2c_final_bias/bias",
        },
        id="resnet_mnist-extra_bias",
    ),
    pytest.param(
        "resnet_mnist_class",
        {"separate_shortcut_weights": True},
        # The projection block's own shortcut kernel is created last, after its b_conv_fin.
        {
            "Variable_40": "block5_final_bias/bias",
            "Variable_41": "block5_shortcut/kernel",
            "Variable_41/Adam": "adam/m/block5_shortcut/kernel",
        },
        id="resnet_mnist_class-separate_shortcut_weights",
    ),
    pytest.param(
        "resnet_mnist_class",
        {"drop_final_bias": True},
        # Six variables per block instead of seven: block2 starts at Variable_12.
        {
            "Variable_12": "block2_conv1/kernel",
            "Variable_35": "block5_conv3_bias/bias",
            "Variable_35/Adam_1": "adam/v/block5_conv3_bias/bias",
        },
        id="resnet_mnist_class-drop_final_bias",
    ),
    pytest.param(
        "resnet_mnist_class",
        {"separate_shortcut_weights": True, "drop_final_bias": True},
        {"Variable_35": "block5_conv3_bias/bias", "Variable_36": "block5_shortcut/kernel"},
        id="resnet_mnist_class-separate_shortcut_weights-drop_final_bias",
    ),
    pytest.param(
        "alexnet_cifar10",
        {"drop_bias_before_bn": True},
        # conv2, dense and dense_1 lose their bias; conv5 (ReLU before its BN) keeps it.
        {"conv5/bias": "conv5/bias", "dense/kernel": "fc1/kernel"},
        id="alexnet_cifar10-drop_bias_before_bn",
    ),
]


@pytest.mark.parametrize(("model", "options", "rows"), VARIANTS)
def test_variant_is_detected_recorded_and_round_trips(model, options, rows, tmp_path):
    source = str(tmp_path / "legacy")
    train(TrainConfig(model, source, steps=1, seed=1, options=options))
    output = tmp_path / "out"
    result = ckpt_v1_to_v2.convert(source, output=str(output))  # auto model, auto option
    assert result.model == model and options.items() <= result.overrides.items()
    # Verified against the legacy graph built with the options (convert raises beyond
    # the model's tolerance).
    assert result.max_abs_diff is not None
    saved = json.loads((output / "port_config.json").read_text())
    manifest = json.loads((output / "manifest.json").read_text())
    assert options.items() <= saved["overrides"].items()
    assert options.items() <= manifest["port_overrides"].items()
    mapping = {m["source"]: m["target"] for m in manifest["mapping"]}
    assert rows.items() <= mapping.items()
    prefix = ckpt_v2_to_v1.convert(str(output), model=model, output=str(tmp_path / "back"))
    assert_same_tensors(resolve(source).prefix, prefix)


# (model, options, port weights the variant adds, port weights it removes).
VARIANT_TABLES = [
    ("resnet_mnist", {"extra_bias": True}, {f"res2{b}_final_bias/bias" for b in "abc"}, set()),
    ("resnet_mnist_class", {"separate_shortcut_weights": True}, {"block5_shortcut/kernel"}, set()),
    (
        "resnet_mnist_class",
        {"drop_final_bias": True},
        set(),
        {f"block{i}_final_bias/bias" for i in range(1, 6)},
    ),
    (
        "resnet_mnist_class",
        {"separate_shortcut_weights": True, "drop_final_bias": True},
        {"block5_shortcut/kernel"},
        {f"block{i}_final_bias/bias" for i in range(1, 6)},
    ),
    (
        "alexnet_cifar10",
        {"drop_bias_before_bn": True},
        set(),
        {"conv2/bias", "fc1/bias", "fc2/bias"},
    ),
]


def _mapped_weights(model: str, options: dict) -> set[str]:
    """Port weights that the table for ``options`` gives the legacy graph's variables.

    Every variable of the legacy graph built with ``options`` must match a row.
    """
    graph = legacy_tf1.build(model, **options).graph
    keys = [v.op.name for v in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)]
    table = maps.for_overrides(maps.get(model), options)
    found = {key: maps.match(table, key) for key in keys}
    assert [key for key, hit in found.items() if hit is None] == []
    targets = {hit[0] for hit in found.values() if isinstance(hit, tuple)}
    return {t for t in targets if not t.startswith("adam/") and t != maps.STEP}


@pytest.mark.parametrize(("model", "options", "added", "removed"), VARIANT_TABLES)
def test_variant_tables_differ_from_the_base_only_by_the_options_variables(
    model, options, added, removed
):
    base = maps.get(model)
    (variant,) = [v for v in base.variants if v.overrides == options]
    assert maps.for_overrides(base, options).rows == variant.rows
    assert maps.for_overrides(base, dict.fromkeys(options, False)).rows == base.rows
    weights, base_weights = _mapped_weights(model, options), _mapped_weights(model, {})
    assert weights - base_weights == added
    assert base_weights - weights == removed


def test_tolerance_treats_non_finite_logits_as_a_failed_verification():
    tolerance = maps.Tolerance(rtol=1e-6, atol=1e-5)
    finite = np.array([[1.0, 2.0]], np.float32)
    assert not tolerance.exceeded(finite, finite)
    nan = np.array([[np.nan, 2.0]], np.float32)
    assert tolerance.exceeded(nan, nan)  # NaN == NaN must not pass as "no difference"
    assert tolerance.exceeded(finite, np.array([[np.inf, 2.0]], np.float32))


def test_vgg16_trained_with_another_batch_size_converts(tmp_path):
    from legacy_tf1.__main__ import main as legacy_main

    ckpt = tmp_path / "ckpt"
    argv = ["train", "vgg16", "--steps", "0", "--batch-size", "2", "--ckpt-dir", str(ckpt)]
    assert legacy_main([*argv, "--option", "image_size=32", "--option", "conv4_3_filters=512"]) == 0
    result = ckpt_v1_to_v2.convert(str(ckpt), model="vgg16", output=str(tmp_path / "out"))
    assert result.max_abs_diff <= maps.get("vgg16").tolerance.atol
