"""The parity report's figure (matplotlib) and the accuracy runs' TensorBoard events."""

from __future__ import annotations

import glob
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from parity import accuracy, report

STEPS = 60


def _result(name: str, floor: float | None, seed: int) -> accuracy.AccuracyResult:
    """A finished lock-step run with decaying losses and rising accuracies."""
    rng = np.random.default_rng(seed)
    steps = np.arange(1, STEPS + 1)
    curves = []
    for offset in (0.0, 0.05):
        losses = (2.3 * np.exp(-steps / 20) + 0.05 + offset * rng.random(STEPS)).tolist()
        eval_steps = [20, 40, 60]
        accuracies = [0.7 + offset, 0.9, 0.95 - offset / 10]
        curves.append(accuracy.Curve(losses, eval_steps, accuracies, [3, 2, 1]))
    return accuracy.AccuracyResult(name, STEPS, "test run", *curves, floor, 1.0)


def _png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as stream:
        header = stream.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_figure_is_a_png_of_the_promised_size(tmp_path):
    results = [
        _result("resnet_mnist_class", 0.95, 0),
        _result("alexnet_cifar10", None, 1),
        accuracy.AccuracyResult(
            "vgg16", None, "skipped", accuracy.Curve(), accuracy.Curve(), None, 0.0
        ),
    ]
    md_path, png_path = report.write_reports(
        str(tmp_path), [], results, command="python -m parity --full", seconds=1.0
    )
    assert png_path == str(tmp_path / "parity.png")
    # Two trained models: two columns; the skipped one draws nothing.
    assert _png_size(png_path) == report.figure_pixels(2)
    text = Path(md_path).read_text(encoding="utf-8")
    assert png_path in text and os.path.join(str(tmp_path), "tensorboard") in text


def test_without_curves_there_is_no_figure(tmp_path):
    skipped = accuracy.AccuracyResult(
        "vgg16", None, "skipped", accuracy.Curve(), accuracy.Curve(), None, 0.0
    )
    _, png_path = report.write_reports(str(tmp_path), [], [skipped], command="c", seconds=0.0)
    assert png_path is None and not (tmp_path / "parity.png").exists()


def test_without_matplotlib_the_report_says_the_figure_was_skipped(tmp_path, monkeypatch):
    # A None entry makes `import` raise ImportError, as when matplotlib is absent.
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)
    md_path, png_path = report.write_reports(
        str(tmp_path), [], [_result("alexnet_cifar10", 0.9, 0)], command="c", seconds=0.0
    )
    assert png_path is None and not (tmp_path / "parity.png").exists()
    assert "figure skipped" in Path(md_path).read_text(encoding="utf-8")


def _scalars(run_dir: str) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of every scalar event under ``run_dir``."""
    import tensorflow as tf

    values: dict[str, dict[int, float]] = {}
    files = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    assert len(files) == 1, files
    for record in tf.data.TFRecordDataset(files):
        event = tf.compat.v1.Event.FromString(record.numpy())
        for value in event.summary.value:
            number = float(tf.make_ndarray(value.tensor))
            values.setdefault(value.tag, {})[event.step] = number
    return values


def test_tensorboard_events_hold_both_sides_curves(tmp_path):
    result = _result("resnet_mnist_class", 0.95, 0)
    runs = accuracy.write_tensorboard(result, str(tmp_path))
    assert runs == [str(tmp_path / "resnet_mnist_class" / side) for side in ("legacy", "port")]
    for side, run in zip(("legacy", "port"), runs, strict=True):
        curve = getattr(result, side)
        scalars = _scalars(run)
        assert sorted(scalars) == ["accuracy", "loss"]
        assert sorted(scalars["loss"]) == list(range(1, STEPS + 1))
        np.testing.assert_allclose(
            [scalars["loss"][s] for s in range(1, STEPS + 1)], curve.losses, rtol=1e-6
        )
        assert scalars["accuracy"] == pytest.approx(
            dict(zip(curve.eval_steps, curve.accuracies, strict=True))
        )
    # A second run replaces the first: one event file per side, this run's numbers.
    accuracy.write_tensorboard(_result("resnet_mnist_class", 0.95, 5), str(tmp_path))
    assert len(_scalars(runs[0])["loss"]) == STEPS


def test_full_run_writes_tensorboard_events_under_the_reports(tmp_path, monkeypatch):
    from parity import __main__ as cli
    from parity import checks

    monkeypatch.setattr(checks, "run_all", lambda name, workdir, steps: [])
    monkeypatch.setattr(
        accuracy,
        "run_accuracy",
        lambda name, workdir, *, seed=0, log=None: _result(name, 0.9, seed),
    )
    assert cli.main(["--full", "--reports", str(tmp_path), "alexnet_cifar10"]) == 0
    for side in ("legacy", "port"):
        assert "loss" in _scalars(str(tmp_path / "tensorboard" / "alexnet_cifar10" / side))
    assert _png_size(str(tmp_path / "parity.png")) == report.figure_pixels(1)
