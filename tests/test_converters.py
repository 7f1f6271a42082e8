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

import legacy_tf1
import tf2_port
from converters import ckpt_v1_to_v2, ckpt_v2_to_v1, maps
from converters.bundle import EXIT_INPUT, EXIT_MAPPING, EXIT_USAGE, Reader, resolve
from legacy_tf1.train import TrainConfig, train

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
def sources(tmp_path_factory):
    """model -> directory of a legacy Saver checkpoint, trained lazily once."""
    root = tmp_path_factory.mktemp("legacy")
    made: dict[str, str] = {}

    def get(model: str) -> str:
        if model not in made:
            directory = str(root / model)
            train(
                TrainConfig(
                    model, directory, steps=STEPS[model], seed=1, options=OPTIONS.get(model, {})
                )
            )
            made[model] = directory
        return made[model]

    return get


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


@pytest.mark.parametrize("suffix", [".index", ".data-00000-of-00001", ".meta", ""])
def test_checkpoint_files_resolve_to_their_prefix(sources, suffix):
    prefix = resolve(sources("resnet_mnist")).prefix
    assert resolve(prefix + suffix).prefix == prefix


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
