"""Evaluation on the user's own test set: test files alone, batched, per-image predictions.

Both CLIs (``python -m legacy_tf1 eval`` and ``python -m tf2_port eval``)
must evaluate a directory that holds only the test files, give the same
accuracy as the full sample, and write an ``index,label,prediction`` file
whose rows reproduce the reported accuracy. ``legacy_tf1.Predictor`` builds
and restores once and runs in batches without changing the logits.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from formats import cifar, idx, predictions, sample
from formats.errors import FormatError
from legacy_tf1 import api
from legacy_tf1 import registry as legacy_registry
from legacy_tf1.__main__ import EXIT_DATA, EXIT_USAGE
from legacy_tf1.__main__ import main as legacy_main
from tf2_port import __main__ as port_cli
from tf2_port import registry as port_registry

MODELS = legacy_registry.MODEL_NAMES
# vgg16 keeps its structure but runs at 32x32 (and without the conv4_3 typo) to stay cheap.
LEGACY_OPTIONS = {"vgg16": {"image_size": 32, "conv4_3_filters": 512}}
PORT_OPTIONS = {"vgg16": {"image_size": 32}}
# The port's vgg16 evaluates 8 batches only: the same reader as cifar10_cnn, at 10x the cost.
PORT_EVAL_ARGS = {"vgg16": ["--max-batches", "8"]}


def kind_of(model: str) -> str:
    return legacy_registry.get(model).DATA_KIND


def copy_test_files(tmp_path, kind: str):
    """A copy of the sample's test files for ``kind``, and nothing else."""
    directory = tmp_path / f"{kind}-test-only"
    directory.mkdir()
    for name in sample.TEST_FILES_BY_KIND[kind]:
        shutil.copy(sample.sample_dir(kind) / name, directory / name)
    return directory


def labels_in_test_file(kind: str) -> np.ndarray:
    """The labels of the sample's test file, in file order."""
    directory = sample.sample_dir(kind)
    if kind == "mnist":
        return idx.read_idx(directory / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    if kind == "cifar-bin":
        return cifar.read_cifar_bin(directory / "test_batch.bin")[1].astype(np.int64)
    return np.asarray(cifar.load_batch(directory / "test_batch")["labels"], np.int64)


def option_args(options: dict) -> list[str]:
    return [arg for name, value in options.items() for arg in ("--option", f"{name}={value}")]


@pytest.fixture(scope="module")
def legacy_ckpt(legacy_checkpoints):
    """model -> a legacy checkpoint directory holding the initial variables (seed 1)."""
    return legacy_checkpoints(dict.fromkeys(MODELS, 0), LEGACY_OPTIONS)


def legacy_eval(model, ckpt, capsys, *extra: str) -> dict:
    argv = ["eval", model, "--ckpt-dir", ckpt, "--json", *extra]
    assert legacy_main([*argv, *option_args(LEGACY_OPTIONS.get(model, {}))]) == 0
    return json.loads(capsys.readouterr().out)


# ---- legacy CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_legacy_eval_on_the_test_files_alone(model, legacy_ckpt, tmp_path, capsys):
    ckpt, kind = legacy_ckpt(model), kind_of(model)
    full = legacy_eval(model, ckpt, capsys)
    out = tmp_path / "predictions.csv"
    data_dir = str(copy_test_files(tmp_path, kind))
    alone = legacy_eval(model, ckpt, capsys, "--data-dir", data_dir, "--predictions", str(out))
    assert (alone["accuracy"], alone["examples"]) == (full["accuracy"], full["examples"])
    rows = predictions.read(out)
    labels = labels_in_test_file(kind)
    # One row per evaluated test image, in file order, with the test file's labels.
    np.testing.assert_array_equal(rows.index, np.arange(len(rows.index)))
    np.testing.assert_array_equal(rows.label, labels[: len(rows.index)])
    assert alone["images"] == len(rows.index) == min(len(labels), alone["examples"])
    if model == "cifar10_cnn":
        # The original's formula counts 79 * 128 predictions, cycling the test file.
        cycled = np.arange(alone["examples"]) % len(rows.index)
        hits = (rows.label == rows.prediction)[cycled]
        assert alone["accuracy"] == int(hits.sum()) / alone["examples"]
    else:
        assert alone["accuracy"] == rows.accuracy


def test_cifar10_predictions_match_the_exact_per_image_eval(legacy_ckpt, tmp_path, capsys):
    ckpt = legacy_ckpt("cifar10_cnn")
    out = tmp_path / "predictions.csv"
    legacy_eval("cifar10_cnn", ckpt, capsys, "--predictions", str(out))
    exact = ["--option", "exact_eval=True", "--option", "dynamic_batch=True"]
    result = legacy_eval("cifar10_cnn", ckpt, capsys, *exact, "--batch-size", "300")
    assert result["examples"] == result["images"] == len(labels_in_test_file("cifar-bin"))
    assert result["accuracy"] == predictions.read(out).accuracy


@pytest.mark.parametrize("model", ["resnet_mnist", "resnet_mnist_class"])
def test_legacy_eval_batch_size_keeps_every_prediction(model, legacy_ckpt, tmp_path, capsys):
    ckpt = legacy_ckpt(model)
    default, single = tmp_path / "default.csv", tmp_path / "single.csv"
    first = legacy_eval(model, ckpt, capsys, "--predictions", str(default))
    # One run over the whole test set: what seed000 fed (its default is chunks of 500).
    whole = legacy_eval(model, ckpt, capsys, "--batch-size", "1000", "--predictions", str(single))
    assert first["accuracy"] == whole["accuracy"]
    np.testing.assert_array_equal(
        predictions.read(default).prediction, predictions.read(single).prediction
    )


@pytest.mark.parametrize("model", ["cifar10_cnn", "alexnet_cifar10"])
def test_legacy_eval_refuses_a_batch_size_that_changes_the_figure(model, legacy_ckpt, capsys):
    argv = ["eval", model, "--ckpt-dir", legacy_ckpt(model), "--batch-size", "7"]
    assert legacy_main(argv) == EXIT_USAGE
    assert "batch_size option" in capsys.readouterr().err


def test_legacy_eval_refuses_to_overwrite_predictions(legacy_ckpt, tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    out.write_text("mine\n")
    argv = ["eval", "resnet_mnist_class", "--ckpt-dir", legacy_ckpt("resnet_mnist_class")]
    assert legacy_main([*argv, "--predictions", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert str(out) in err and "--force" in err and "Traceback" not in err
    assert out.read_text() == "mine\n"
    assert legacy_main([*argv, "--predictions", str(out), "--force"]) == 0
    assert len(predictions.read(out).index) == len(labels_in_test_file("mnist"))
    nowhere = tmp_path / "missing" / "p.csv"
    assert legacy_main([*argv, "--predictions", str(nowhere)]) == EXIT_USAGE


@pytest.mark.parametrize("model", ["resnet_mnist", "cifar10_cnn", "alexnet_cifar10"])
def test_legacy_eval_names_the_missing_test_file(model, legacy_ckpt, tmp_path, capsys):
    kind = kind_of(model)
    directory = copy_test_files(tmp_path, kind)
    missing = sample.TEST_FILES_BY_KIND[kind][-1]
    (directory / missing).unlink()
    # The training files do not stand in for the test files.
    for name in sample.FILES_BY_KIND[kind]:
        if name not in sample.TEST_FILES_BY_KIND[kind]:
            shutil.copy(sample.sample_dir(kind) / name, directory / name)
    argv = ["eval", model, "--ckpt-dir", legacy_ckpt(model), "--data-dir", str(directory)]
    assert legacy_main(argv) == EXIT_DATA
    err = capsys.readouterr().err
    assert missing in err and str(directory) in err and "Traceback" not in err


# ---- Predictor / predict ------------------------------------------------------------------


def sample_inputs(model: str, count: int) -> np.ndarray:
    """``count`` sample test images in ``model``'s input layout (what test_batches feeds)."""
    module = legacy_registry.get(model)
    options = api.options_for(model, **LEGACY_OPTIONS.get(model, {}))
    if model == "cifar10_cnn":
        options = api.options_for(model, exact_eval=True, dynamic_batch=True)
    chunks = [images for _, images, _ in module.indexed_test_batches(options, None)]
    return np.concatenate(chunks)[:count]


@pytest.mark.parametrize("model", MODELS)
def test_batched_predict_equals_one_run(model, legacy_ckpt):
    images = sample_inputs(model, 300)
    options = LEGACY_OPTIONS.get(model, {})
    with api.Predictor(model, legacy_ckpt(model), **options) as predictor:
        batched = predictor.predict(images)
        if predictor.fixed_batch:  # seed001's [128, ...] placeholder: compare with a graph of 300
            one_run = api.predict(model, legacy_ckpt(model), images, batch_size=300)
        else:
            one_run = predictor.predict(images, batch_size=len(images))
    assert batched.shape == one_run.shape == (300, batched.shape[1])
    np.testing.assert_array_equal(batched.argmax(axis=1), one_run.argmax(axis=1))
    np.testing.assert_allclose(batched, one_run, rtol=1e-6, atol=1e-5)


def test_resnet_mnist_batched_logits_are_bit_identical_to_one_feed(legacy_ckpt):
    images = sample_inputs("resnet_mnist", 1000)
    tiled = np.concatenate([images, images[:200]])  # 1200: chunks of 500 and 700
    chunked = api.predict("resnet_mnist", legacy_ckpt("resnet_mnist"), tiled)
    one_feed = api.predict("resnet_mnist", legacy_ckpt("resnet_mnist"), tiled, batch_size=1200)
    np.testing.assert_array_equal(chunked, one_feed)


def test_predictor_builds_and_restores_once(legacy_ckpt, monkeypatch):
    calls = {"restore": 0, "build": 0}
    module = legacy_registry.get("resnet_mnist_class")
    real_restore, real_build = api.restore, module.build

    def counting_restore(*args, **kwargs):
        calls["restore"] += 1
        return real_restore(*args, **kwargs)

    def counting_build(*args, **kwargs):
        calls["build"] += 1
        return real_build(*args, **kwargs)

    monkeypatch.setattr(api, "restore", counting_restore)
    monkeypatch.setattr(module, "build", counting_build)
    images = sample_inputs("resnet_mnist_class", 40)
    with api.Predictor("resnet_mnist_class", legacy_ckpt("resnet_mnist_class")) as predictor:
        results = [predictor.predict(images, batch_size=size) for size in (40, 16, 7)]
    assert calls == {"restore": 1, "build": 1}
    for other in results[1:]:
        np.testing.assert_array_equal(other.argmax(axis=1), results[0].argmax(axis=1))


def test_chunk_bounds_never_leave_a_short_last_run():
    assert api.chunk_bounds(1000, 500) == [(0, 500), (500, 1000)]
    assert api.chunk_bounds(1100, 500) == [(0, 500), (500, 1100)]
    assert api.chunk_bounds(300, 500) == [(0, 300)]
    assert api.chunk_bounds(300, None) == [(0, 300)]
    assert api.chunk_bounds(0, 500) == []


# ---- tf2_port CLI --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def port_ckpt(tmp_path_factory):
    """model -> a CheckpointManager directory of the port's initial weights."""
    import keras
    import tensorflow as tf

    made = {}

    def get(model: str) -> str:
        if model not in made:
            keras.utils.set_random_seed(1)
            spec = port_registry.get(model)
            network = spec.build_model(spec.config(**PORT_OPTIONS.get(model, {})))
            directory = str(tmp_path_factory.mktemp(f"port-{model}"))
            tf.train.CheckpointManager(tf.train.Checkpoint(model=network), directory, 1).save()
            made[model] = directory
        return made[model]

    return get


def port_eval(model, ckpt, capsys, *extra: str) -> dict:
    argv = ["eval", model, "--ckpt-dir", ckpt, *PORT_EVAL_ARGS.get(model, []), *extra]
    assert port_cli.main([*argv, *option_args(PORT_OPTIONS.get(model, {}))]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("model", port_registry.MODEL_NAMES)
def test_port_eval_on_the_test_files_alone(model, port_ckpt, tmp_path, capsys):
    ckpt, kind = port_ckpt(model), kind_of(model)
    full = port_eval(model, ckpt, capsys)
    out = tmp_path / "predictions.csv"
    data_dir = str(copy_test_files(tmp_path, kind))
    alone = port_eval(model, ckpt, capsys, "--data-dir", data_dir, "--predictions", str(out))
    assert (alone["accuracy"], alone["examples"]) == (full["accuracy"], full["examples"])
    assert alone["loss"] == full["loss"]
    rows = predictions.read(out)
    labels = labels_in_test_file(kind)
    assert len(rows.index) == alone["examples"] == (256 if model == "vgg16" else len(labels))
    np.testing.assert_array_equal(rows.index, np.arange(len(rows.index)))
    np.testing.assert_array_equal(rows.label, labels[: len(rows.index)])
    assert alone["accuracy"] == rows.accuracy and alone["predictions"] == str(out)


def test_port_eval_refuses_to_overwrite_predictions(port_ckpt, tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    out.write_text("mine\n")
    argv = ["eval", "resnet_mnist_class", "--ckpt-dir", port_ckpt("resnet_mnist_class")]
    assert port_cli.main([*argv, "--predictions", str(out)]) == port_cli.EXIT_DATA
    err = capsys.readouterr().err
    assert str(out) in err and "--force" in err
    assert out.read_text() == "mine\n"
    assert port_cli.main([*argv, "--predictions", str(out), "--force", "--max-batches", "2"]) == 0
    assert len(predictions.read(out).index) == 2 * 128


@pytest.mark.parametrize("kind", sample.KINDS)
def test_port_eval_names_the_missing_test_file(kind, port_ckpt, tmp_path, capsys):
    model = {"mnist": "resnet_mnist_class", "cifar-bin": "cifar10_cnn"}.get(kind, "alexnet_cifar10")
    directory = copy_test_files(tmp_path, kind)
    missing = sample.TEST_FILES_BY_KIND[kind][0]
    (directory / missing).unlink()
    argv = ["eval", model, "--ckpt-dir", port_ckpt(model), "--data-dir", str(directory)]
    assert port_cli.main(argv) == port_cli.EXIT_DATA
    err = capsys.readouterr().err
    assert missing in err and str(directory) in err


# ---- the file format -------------------------------------------------------------------


def test_predictions_file_round_trips_and_keeps_the_first_of_repeated_images(tmp_path):
    rows = predictions.collect([2, 0, 1, 0, 2], [5, 3, 4, 3, 5], [5, 1, 4, 1, 5])
    np.testing.assert_array_equal(rows.index, [0, 1, 2])
    path = predictions.write(tmp_path / "p.csv", rows)
    assert path.read_text().splitlines() == ["index,label,prediction", "0,3,1", "1,4,4", "2,5,5"]
    back = predictions.read(path)
    assert back.accuracy == rows.accuracy == 2 / 3
    with pytest.raises(FileExistsError):
        predictions.write(path, rows)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FormatError, match="bad.csv"):
        predictions.read(tmp_path / "bad.csv")
