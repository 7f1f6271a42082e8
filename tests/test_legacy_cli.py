"""``python -m legacy_tf1``: train/eval/bench over the registry, checkpoints and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from legacy_tf1 import registry
from legacy_tf1.__main__ import EXIT_CHECKPOINT, EXIT_DATA, EXIT_USAGE, main
from legacy_tf1.api import is_optimizer_variable
from legacy_tf1.core import tf1

GOLDEN = Path(__file__).parent / "golden" / "legacy_variables"
ROOT = Path(__file__).resolve().parents[1]

# seed001's Saver lists only its 10 weights and vgg16 never had an optimizer,
# so their Adam slots are not part of what the original's checkpoint holds.
OPTIMIZER_EXEMPT = {"cifar10_cnn", "vgg16"}


def golden_variables(model: str) -> dict[str, list[int]]:
    """The original's global variables, name -> shape, from the checked-in golden list."""
    return {
        name: shape
        for name, shape in json.loads((GOLDEN / f"{model}.json").read_text())["variables"]
    }


def _steps(model: str) -> str:
    return "0" if model == "vgg16" else "2"


@pytest.mark.parametrize("model", registry.MODEL_NAMES)
def test_train_checkpoint_holds_every_original_variable(model, tmp_path):
    ckpt = tmp_path / "ckpt"
    logs = tmp_path / "logs"
    argv = [
        "train",
        model,
        "--steps",
        _steps(model),
        "--ckpt-dir",
        str(ckpt),
        "--logdir",
        str(logs),
    ]
    assert main(argv) == 0
    prefix = tf1.train.latest_checkpoint(str(ckpt))
    assert prefix.endswith(f"{registry.checkpoint_basename(model)}-{_steps(model)}")
    saved = tf1.train.load_checkpoint(prefix).get_variable_to_shape_map()
    expected = golden_variables(model)
    if model in OPTIMIZER_EXEMPT:
        expected = {k: v for k, v in expected.items() if not is_optimizer_variable(k)}
    if model == "vgg16":
        expected["Variable"] = [32, 224, 224, 3]
    missing = {k for k in expected if k not in saved}
    wrong = {k: (saved[k], v) for k, v in expected.items() if k in saved and list(saved[k]) != v}
    assert not missing and not wrong, f"missing {sorted(missing)}; wrong shapes {wrong}"
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(logs))


def test_train_resumes_from_latest_checkpoint(tmp_path, capsys):
    ckpt = str(tmp_path / "ckpt")
    assert (
        main(["train", "resnet_mnist_class", "--steps", "2", "--ckpt-dir", ckpt, "--seed", "1"])
        == 0
    )
    assert main(["train", "resnet_mnist_class", "--steps", "4", "--ckpt-dir", ckpt]) == 0
    err = capsys.readouterr().err
    assert "resumed from" in err and "model.ckpt-2" in err
    assert tf1.train.latest_checkpoint(ckpt).endswith("model.ckpt-4")


def test_cifar10_cnn_keeps_the_original_ten_variable_saver_unless_save_all(tmp_path):
    narrow, wide = str(tmp_path / "narrow"), str(tmp_path / "wide")
    assert main(["train", "cifar10_cnn", "--steps", "0", "--ckpt-dir", narrow]) == 0
    assert main(["train", "cifar10_cnn", "--steps", "0", "--ckpt-dir", wide, "--save-all"]) == 0
    narrow_names = tf1.train.load_checkpoint(
        tf1.train.latest_checkpoint(narrow)
    ).get_variable_to_shape_map()
    wide_names = tf1.train.load_checkpoint(
        tf1.train.latest_checkpoint(wide)
    ).get_variable_to_shape_map()
    assert set(narrow_names) == {"Variable"} | {f"Variable_{i}" for i in range(1, 10)}
    assert set(golden_variables("cifar10_cnn")) == set(wide_names)


def test_eval_reports_accuracy_as_json(tmp_path, capsys):
    ckpt = str(tmp_path / "ckpt")
    assert main(["train", "resnet_mnist_class", "--steps", "0", "--ckpt-dir", ckpt]) == 0
    capsys.readouterr()
    assert main(["eval", "resnet_mnist_class", "--ckpt-dir", ckpt, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["examples"] == 1000 and 0.0 <= result["accuracy"] <= 1.0


def test_missing_data_dir_is_a_data_error(tmp_path, capsys):
    code = main(
        [
            "train",
            "resnet_mnist",
            "--steps",
            "1",
            "--data-dir",
            str(tmp_path / "nope"),
            "--ckpt-dir",
            str(tmp_path / "c"),
        ]
    )
    assert code == EXIT_DATA
    assert "nope" in capsys.readouterr().err


def test_eval_without_checkpoint_is_a_checkpoint_error(tmp_path, capsys):
    assert main(["eval", "resnet_mnist", "--ckpt-dir", str(tmp_path)]) == EXIT_CHECKPOINT
    assert str(tmp_path) in capsys.readouterr().err


def test_unknown_option_is_a_usage_error(tmp_path, capsys):
    code = main(
        [
            "train",
            "resnet_mnist",
            "--steps",
            "0",
            "--ckpt-dir",
            str(tmp_path),
            "--option",
            "bogus=1",
        ]
    )
    assert code == EXIT_USAGE
    assert "bogus" in capsys.readouterr().err


def test_help_runs_in_a_fresh_process():
    result = subprocess.run(
        [sys.executable, "-m", "legacy_tf1", "train", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--ckpt-dir" in text and "--steps 0 saves the initial variables" in text
