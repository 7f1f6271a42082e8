"""Both CLIs on MNIST directories too small for read_data_sets' 5000-image validation split.

Training gets one ``error:`` line naming the directory and what was expected,
a data-error exit code and no traceback; ``python -m tf2_port train`` also
leaves no checkpoint directory behind when its data cannot be read. Evaluation
reads only the test files, so such a directory evaluates.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from formats import idx, sample
from legacy_tf1.__main__ import EXIT_DATA
from legacy_tf1.__main__ import main as legacy_main
from tf2_port import __main__ as port_cli

VALIDATION_SIZE = 5000


def write_mnist(directory, train_count: int, test_count: int = 20):
    """The four gzipped IDX files with ``train_count`` training images (zeros, labels 0..9)."""
    directory.mkdir()
    counts = (train_count, train_count, test_count, test_count)
    for name, count in zip(sample.MNIST_FILES, counts, strict=True):
        shape = (count, 28, 28) if "images" in name else (count,)
        array = np.zeros(shape, np.uint8) if "images" in name else np.arange(count) % 10
        idx.write_idx(directory / name, array.astype(np.uint8))
    return directory


def assert_one_error_line(err: str, *fragments: str) -> None:
    """Exactly one ``error:`` line, holding every fragment, and no traceback."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert all(fragment in errors[0] for fragment in fragments), errors[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("model", "train_count", "expected"),
    [
        # Fewer than validation_size: read_data_sets refuses.
        ("resnet_mnist", 100, f"more than validation_size={VALIDATION_SIZE}"),
        # Exactly validation_size: nothing is left to train on.
        ("resnet_mnist_class", VALIDATION_SIZE, f"more than validation_size={VALIDATION_SIZE}"),
        # 50 left: seed003 reshapes every batch to 128 images, a short one would crash it.
        ("resnet_mnist_class", VALIDATION_SIZE + 50, f"expected at least {VALIDATION_SIZE + 128}"),
    ],
)
def test_legacy_train_on_a_small_mnist_dir_is_a_data_error(
    model, train_count, expected, tmp_path, capsys
):
    data_dir = write_mnist(tmp_path / "mnist", train_count)
    argv = ["train", model, "--steps", "1", "--data-dir", str(data_dir)]
    code = legacy_main([*argv, "--ckpt-dir", str(tmp_path / "ckpt")])
    assert code == EXIT_DATA
    assert_one_error_line(
        capsys.readouterr().err, str(data_dir), f"holds {train_count} training images", expected
    )


@pytest.mark.parametrize("train_count", [100, VALIDATION_SIZE])
def test_legacy_eval_ignores_the_training_files(train_count, tmp_path, capsys):
    # Evaluation reads only the t10k files: the validation-split checks are for training.
    ckpt = str(tmp_path / "ckpt")
    assert legacy_main(["train", "resnet_mnist", "--steps", "0", "--ckpt-dir", ckpt]) == 0
    capsys.readouterr()
    data_dir = write_mnist(tmp_path / "mnist", train_count)
    argv = ["eval", "resnet_mnist", "--ckpt-dir", ckpt, "--data-dir", str(data_dir), "--json"]
    assert legacy_main(argv) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 20


@pytest.mark.parametrize("data", ["small", "missing"])
def test_port_train_on_bad_data_fails_before_writing_the_checkpoint_dir(data, tmp_path, capsys):
    data_dir = tmp_path / "mnist"
    if data == "small":
        write_mnist(data_dir, 100)
    ckpt = tmp_path / "ckpt"
    argv = ["train", "resnet_mnist", "--steps", "1", "--data-dir", str(data_dir)]
    code = port_cli.main([*argv, "--ckpt-dir", str(ckpt), "--logdir", str(tmp_path / "logs")])
    assert code == port_cli.EXIT_DATA
    assert_one_error_line(capsys.readouterr().err, str(data_dir))
    # No port_config.json (nor anything else) in a directory the run never used.
    assert not ckpt.exists()
