"""Mixed bfloat16: float32 variables and outputs, interchangeable checkpoints, the CLI
option, the seed study's precision, the bfloat16 forward bound and the bench's goals."""

from __future__ import annotations

import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf2_port
from parity import bf16 as parity_bf16
from parity import seeds
from tf2_port import __main__ as cli
from tf2_port import precision, registry, train

# vgg16 at 224x224 is 138 M parameters: 32x32 keeps every layer.
FAST_OVERRIDES = {"vgg16": {"image_size": 32, "num_classes": 10}}
MIXED = "mixed_bfloat16"
# Layers that compute in float32 under every policy (tf2_port.precision's list).
FLOAT32_KINDS = ("LocalResponseNormalization", "TF1BatchNormalization", "BatchNormal", "Softmax")


def build(name: str, precision_name: str):
    return tf2_port.build(name, precision=precision_name, **FAST_OVERRIDES.get(name, {}))


def images_for(model, count: int = 3) -> np.ndarray:
    shape = (count, *model.inputs[0].shape[1:])
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def _described(model):
    # Dropout's seed generators are numbered per process, not per model.
    return [(v.path, v.shape, v.dtype) for v in model.variables if "seed_generator" not in v.path]


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_mixed_model_has_float32_variables_and_outputs(name):
    float32_model, mixed_model = build(name, "float32"), build(name, MIXED)
    assert _described(mixed_model) == _described(float32_model)
    assert mixed_model(images_for(mixed_model)).dtype == tf.float32
    # The policy does not leak out of the build.
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_mixed_model_computes_convolutions_in_bf16_and_the_sensitive_layers_in_float32(name):
    model = build(name, MIXED)
    compute = {layer.name: layer.compute_dtype for layer in model.layers}
    weighted = [layer for layer in model.layers if layer.weights]
    assert compute[weighted[0].name] == "bfloat16"  # the first conv
    for layer in model.layers:
        if type(layer).__name__ in FLOAT32_KINDS:
            assert compute[layer.name] == "float32", layer.name
    # The layer that makes the logits (the softmax's input, or the output itself).
    last = model.layers[-1]
    logits_layer = last._inbound_nodes[0].input_tensors[0]._keras_history.operation
    if isinstance(last, keras.layers.Softmax):
        assert logits_layer.compute_dtype == "float32"
    else:
        assert last.compute_dtype == "float32"


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(ValueError, match="expected one of"):
        tf2_port.build("cifar10_cnn", precision="float16")


def test_policy_scope_restores_the_previous_policy_after_an_error():
    with pytest.raises(RuntimeError), precision.policy(MIXED):
        assert keras.config.dtype_policy().name == MIXED
        raise RuntimeError("inside")
    assert keras.config.dtype_policy().name == "float32"


def _save(model, directory) -> str:
    return tf.train.Checkpoint(model=model).save(str(directory / "ckpt"))


@pytest.mark.parametrize("saved, loaded", [("float32", MIXED), (MIXED, "float32")])
@pytest.mark.parametrize("name", ["cifar10_cnn", "alexnet_cifar10"])
def test_checkpoints_are_interchangeable_between_precisions(tmp_path, name, saved, loaded):
    source = build(name, saved)
    prefix = _save(source, tmp_path)
    restored = train.load(name, prefix, precision=loaded, **FAST_OVERRIDES.get(name, {}))
    for expected, actual in zip(source.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())
    assert {layer.compute_dtype for layer in restored.layers} >= {
        "bfloat16" if loaded == MIXED else "float32"
    }


def test_a_mixed_train_step_keeps_the_loss_and_gradients_float32():
    spec = registry.get("cifar10_cnn")
    config = spec.config(precision=MIXED, batch_size=4)
    model = spec.build_model(config)
    optimizer = train.make_optimizer(config.learning_rate)
    strategy = tf.distribute.get_strategy()
    step = train.make_train_step(spec, config, model, optimizer, strategy, 4)
    before = [v.numpy() for v in model.trainable_variables]
    images = tf.constant(images_for(model, 4))
    loss, _ = step((images, tf.constant([1, 2, 3, 4])))
    assert loss.dtype == tf.float32 and np.isfinite(loss.numpy())
    after = [v.numpy() for v in model.trainable_variables]
    moved = [not np.array_equal(b, a) for b, a in zip(before, after, strict=True)]
    assert all(moved)  # every variable took a (float32) Adam step


def test_cli_precision_option_reaches_the_model_options():
    args = cli._parser().parse_args(["train", "cifar10_cnn", "--precision", MIXED])
    assert cli._model_options(args) == {"precision": MIXED}
    args = cli._parser().parse_args(["eval", "cifar10_cnn", "--ckpt-dir", "x"])
    assert "precision" not in cli._model_options(args)  # the checkpoint's own, else float32


def test_cli_rejects_an_unknown_precision_with_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "cifar10_cnn", "--precision", "float16"])
    assert exit_info.value.code == 2
    assert "mixed_bfloat16" in capsys.readouterr().err


def test_cli_export_without_an_output_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", "cifar10_cnn", "--ckpt-dir", "somewhere"])
    assert exit_info.value.code == 2
    assert "--keras" in capsys.readouterr().err


# ---- the seed study's precision ----------------------------------------------------------


def _record(side, seed, accuracy, precision_name=None):
    record = {"model": "cifar10_cnn", "seed": seed, "steps": 1000, "side": side}
    record["accuracy"] = accuracy
    if precision_name is not None:
        record["precision"] = precision_name
    return record


def test_seed_study_judges_the_port_at_the_requested_precision(tmp_path):
    from parity.claims import append_jsonl

    path = str(tmp_path / "study.jsonl")
    for seed in range(3):
        append_jsonl(path, _record("legacy", seed, 0.96 + seed / 1000))
        append_jsonl(path, _record("port", seed, 0.96 + seed / 1000))  # an older float32 record
        append_jsonl(path, _record("port", seed, 0.90 + seed / 1000, MIXED))
    (float32,) = seeds.study_results(path, models=["cifar10_cnn"])
    (mixed,) = seeds.study_results(path, models=["cifar10_cnn"], precision=MIXED)
    assert float32.difference == pytest.approx(0.0)
    assert mixed.difference == pytest.approx(6.0)
    assert (mixed.n_legacy, mixed.n_port) == (3, 3)


def test_seed_study_runs_only_the_missing_port_precision(tmp_path, monkeypatch):
    from parity.claims import append_jsonl

    path = str(tmp_path / "study.jsonl")
    append_jsonl(path, _record("legacy", 0, 0.96, "float32"))
    append_jsonl(path, _record("port", 0, 0.96, "float32"))
    calls = []

    def fake(side):
        def run(model, seed, steps, data_dir, precision_name):
            calls.append((side, precision_name))
            return seeds.SeedRun(model, seed, steps, 0.9, side, None, 1.0, precision_name)

        return run

    monkeypatch.setattr(seeds, "RUNNERS", {"legacy": fake("legacy"), "port": fake("port")})
    ran = seeds.run_study(["cifar10_cnn"], [0], path, precision=MIXED, log=io.StringIO())
    assert ran == 1 and calls == [("port", MIXED)]


# ---- the bfloat16 forward bound -----------------------------------------------------------


def test_rounding_events_counts_weights_outputs_float32_inputs_and_adds():
    with precision.policy(MIXED):
        images = keras.Input((4,))
        hidden = keras.layers.Dense(4, name="a")(images)  # input, weights, output: 3
        branch = keras.layers.Dense(4, name="b")(hidden)  # weights, output: 2
        total = keras.layers.Add(name="add")([hidden, branch])  # the sum: 1
        logits = keras.layers.Dense(2, dtype="float32", name="logits")(total)  # float32: 0
        relu = keras.layers.ReLU(name="relu")(logits)  # a float32 input: 1
    model = keras.Model(images, relu)
    assert parity_bf16.rounding_events(model) == 7


def test_forward_bound_passes_rounding_noise_and_fails_a_real_difference():
    rng = np.random.default_rng(1)
    expected = rng.standard_normal((8, 10))
    events = 16
    limit = parity_bf16.forward_limit(events)
    sigma = 2.0**-8 * np.sqrt(events / 3)
    noisy = expected * (1 + sigma * rng.standard_normal(expected.shape))
    assert parity_bf16.compare_logits("noise", expected, noisy, events).passed
    wrong = expected * (1 + 2 * limit * rng.choice([-1, 1], expected.shape))
    assert not parity_bf16.compare_logits("wrong", expected, wrong, events).passed


def test_cli_trains_in_bf16_then_evaluates_and_exports_in_either_precision(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    argv = ["train", "alexnet_cifar10", "--steps", "2", "--ckpt-dir", str(ckpt)]
    argv += ["--logdir", str(tmp_path / "logs"), "--precision", MIXED]
    assert cli.main(argv) == 0
    saved = train.read_run_config(ckpt)
    assert saved["overrides"]["precision"] == MIXED  # eval and export default to it
    scores = {}
    for precision_name in (MIXED, "float32"):
        capsys.readouterr()
        evaluate = ["eval", "alexnet_cifar10", "--ckpt-dir", str(ckpt), "--max-batches", "2"]
        assert cli.main([*evaluate, "--precision", precision_name]) == 0
        scores[precision_name] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores[MIXED]["examples"] == scores["float32"]["examples"] == 40
    saved_model = tmp_path / "saved"
    export = ["export", "alexnet_cifar10", "--ckpt-dir", str(ckpt), "--saved-model"]
    assert cli.main([*export, str(saved_model)]) == 0
    served = tf.saved_model.load(str(saved_model))
    outputs = served.serve(tf.zeros([1, 32, 32, 3]))
    assert outputs.dtype == tf.float32
