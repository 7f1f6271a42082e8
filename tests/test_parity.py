"""The fast part of the equivalence suite: legacy graph -> converter -> port, per model.

Every model (parametrized over parity.tolerances.SPECS): forward end points in
inference and training mode, total/regularization loss and every gradient in
both modes, and a few optimizer steps (re-synced and free-running). The long
accuracy runs live in ``nox -s parity`` (``python -m parity --full``).
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from parity import checks, tolerances
from parity.compare import ParityError, Tolerance, assert_close, compare
from parity.report import accuracy_table, checks_table

FAST_STEPS = 3


@pytest.fixture(scope="module", params=tolerances.MODEL_NAMES)
def pair(request, tmp_path_factory):
    built = checks.make_pair(request.param, str(tmp_path_factory.mktemp(request.param)))
    yield built
    built.close()


@pytest.fixture(scope="module")
def batch(pair):
    return checks.data_batches(pair, 1)[0]


@pytest.fixture
def deterministic():
    # As `python -m parity`: TF's deterministic kernels for the check, off again after it.
    with checks.deterministic_ops():
        yield


def _assert(comparison):
    assert comparison.passed, comparison.message()
    return comparison


# ---- the comparison helper --------------------------------------------------------------------


def test_compare_names_the_first_diverging_leaf_in_expected_order():
    expected = {"conv1": np.zeros(3), "pool1": np.ones(2), "logits": np.ones(2)}
    actual = {"conv1": np.zeros(3), "pool1": np.ones(2) + 1e-3, "logits": np.ones(2) + 1.0}
    result = compare(expected, actual, Tolerance(), label="demo")
    assert not result.passed
    assert result.first_divergence.name == "pool1"
    assert result.worst.name == "logits"
    assert "first diverging: 'pool1'" in result.message()
    assert result.max_abs == pytest.approx(1.0)


def test_compare_reports_missing_unexpected_and_shape_mismatch():
    result = compare(
        {"a": np.zeros(2), "b": np.zeros(2)}, {"a": np.zeros(3), "c": 0.0}, Tolerance()
    )
    problems = {leaf.name: leaf.problem for leaf in result.leaves}
    assert "shape" in problems["a"]
    assert problems["b"] == "missing"
    assert problems["c"] == "unexpected"
    with pytest.raises(ParityError, match="first diverging: 'a'"):
        assert_close({"a": np.zeros(2)}, {"a": np.zeros(3)}, Tolerance())


def test_tolerance_is_numpy_isclose():
    tolerance = Tolerance(rtol=1e-3, atol=1e-6)
    expected = np.array([1.0, 1000.0])
    inside = expected + np.array([1e-3, 0.9])
    outside = expected + np.array([2e-3, 0.0])
    assert compare(expected, inside, tolerance).passed
    assert not compare(expected, outside, tolerance).passed


def test_every_tolerance_looser_than_the_guide_has_an_argument():
    guide = Tolerance()
    for spec in tolerances.SPECS.values():
        for check in tolerances.CHECKS:
            tolerance = spec.tolerance(check)
            if tolerance.rtol > guide.rtol or tolerance.atol > guide.atol:
                assert len(tolerance.argument) > 30, (spec.name, check)


def test_gap_standard_error_counts_only_discordant_test_images():
    from parity.accuracy import AccuracyResult, Curve

    legacy = Curve(accuracies=[0.95], only_right=[30])
    port = Curve(accuracies=[0.94], only_right=[14])
    result = AccuracyResult("m", 10, "r", legacy, port, 0.9, 1.0)
    assert result.gap_points == pytest.approx(1.0)
    assert result.gap_standard_error_points == pytest.approx(100 * 44**0.5 / 1000)
    assert "| 1.00 | 0.66 |" in accuracy_table([result])


def test_report_table_marks_failures():
    rows = [
        checks.CheckRow("m", "forward", 0.0, "rtol=1e-06 atol=1e-05", True, ""),
        checks.CheckRow("m", "steps", 1.0, "rtol=1e-06 atol=1e-05", False, "x"),
    ]
    table = checks_table(rows)
    assert "| m | forward | 0 |" in table and "**NO**" in table


# ---- per model ------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_forward_end_points_match(pair, batch, training, deterministic):
    result = _assert(checks.check_forward(pair, batch, training=training))
    assert len(result.leaves) == len(tolerances.get(pair.name).end_points)


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_losses_and_gradients_match(pair, batch, training, deterministic):
    result = _assert(checks.check_gradients(pair, batch, training=training))
    names = [leaf.name for leaf in result.leaves]
    assert names[:2] == ["loss/total", "loss/regularization"]
    # Every trainable variable of the port has its gradient compared.
    assert len(names) - 2 == len(pair.port.model.trainable_variables)


def test_optimizer_steps_match(pair, deterministic):
    batches = checks.data_batches(pair, FAST_STEPS, skip=1)
    _assert(checks.check_steps_synced(pair, batches))
    _assert(checks.check_steps(pair, batches))


def test_setup_checks_pass_on_the_ports_as_they_are(pair, deterministic, tmp_path):
    from parity import setup_checks

    batches = checks.data_batches(pair, 3, skip=1)
    rows = list(setup_checks.run_setup(pair, batches, str(tmp_path)))
    assert [r.check.split(" ")[0] for r in rows] == [
        "init",
        "config",
        "steps_late",
        "train_pipeline",
        "eval_pipeline",
    ]
    for row in rows:
        assert row.passed, row.detail


def test_localisation_names_the_perturbed_end_point(tmp_path):
    """A port weight changed after conversion: the helper must point at that block."""
    pair = checks.make_pair("resnet_mnist", str(tmp_path))
    try:
        batch = checks.data_batches(pair, 1)[0]
        pair.reset()
        kernel = pair.port.model.get_layer("res2b_conv2").kernel
        kernel.assign(kernel * 1.01)
        legacy = pair.legacy.run(pair.legacy.model.end_points, batch, training=False)
        spec = tolerances.get("resnet_mnist")
        port = pair.port.end_points(
            [p for _, p in spec.end_points], batch.port_images, training=False
        )
        result = compare(
            {name: legacy[name] for name, _ in spec.end_points},
            dict(zip([name for name, _ in spec.end_points], port, strict=True)),
            spec.tolerance("forward"),
        )
        assert result.first_divergence.name == "res2b"
    finally:
        pair.close()


# The acceptance path: `legacy_tf1 train` -> converters.ckpt_v1_to_v2 -> tf2_port.load.
TRAIN_OPTIONS = {
    # The sample has 4000 training images; the default warm-up would queue 20000.
    "cifar10_cnn": {"queue_examples_per_epoch": 400},
    "vgg16": {"image_size": 32, "num_classes": 10},
}


@pytest.mark.parametrize("name", tolerances.MODEL_NAMES)
def test_trained_checkpoint_converts_to_the_same_logits(name, tmp_path):
    import tf2_port
    from converters.ckpt_v1_to_v2 import convert, port_logits
    from converters.maps import get as get_map
    from legacy_tf1.api import predict
    from legacy_tf1.train import TrainConfig, train

    options = TRAIN_OPTIONS.get(name, {})
    config = TrainConfig(name, str(tmp_path / "ckpt"), steps=2, seed=0, options=options)
    trained = train(config, log=open(os.devnull, "w"))  # noqa: SIM115
    result = convert(
        trained.checkpoint, model=name, output=str(tmp_path / "tf2"), log=io.StringIO()
    )
    model_map = get_map(name)
    shape = model_map.legacy_input_shape(result.overrides)
    images = np.random.default_rng(7).random((5, *shape), dtype=np.float32)
    legacy = predict(name, trained.checkpoint, images, **options)
    port = port_logits(tf2_port.load(name, str(tmp_path / "tf2")), model_map.to_port_inputs(images))
    # 1e-5 relative to the logits' scale; seed004 keeps its argued batch-statistics bound.
    tolerance = tolerances.get(name).tolerance("forward")
    if tolerance == tolerances.FORWARD:
        tolerance = Tolerance(1e-5, 1e-5 * max(1.0, float(np.max(np.abs(legacy)))))
    result = compare({"logits": legacy}, {"logits": port}, tolerance, label=name)
    assert result.passed, result.message()


def test_seed000_probe_reports_dead_units_per_interval():
    from parity.seed000_probe import PROBED, probe

    rows = probe(extra_bias=True, steps=2, every=1, seed=0)
    assert [r["step"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert set(r["dead"]) == set(PROBED)
        assert all(0.0 <= share <= 1.0 for share in r["dead"].values())
        assert 1 <= r["classes"] <= 10 and np.isfinite(r["loss"])
    # The extra bias keeps every block output positive from the very first step.
    assert rows[0]["dead"]["res2c"] == 0.0


def test_seed_study_runs_both_sides_resumably_and_reports(tmp_path, capsys):
    from parity import seeds

    out = tmp_path / "runs.jsonl"
    argv = ["--file", str(out), "--steps", "2"]
    run = ["run", "--models", "resnet_mnist_class", *argv]
    assert seeds.main([*run, "--seeds", "3", "4"]) in (0, 1)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["side"], r["seed"], r["steps"]) for r in records] == [
        ("legacy", 3, 2),
        ("port", 3, 2),
        ("legacy", 4, 2),
        ("port", 4, 2),
    ]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in records)
    capsys.readouterr()
    seeds.main([*run, "--seeds", "3"])  # recorded already: nothing runs
    assert "seed 3 ..." not in capsys.readouterr().out and len(out.read_text().splitlines()) == 4
    seeds.main(["report", *argv])
    assert "| resnet_mnist_class | 2/2 |" in capsys.readouterr().out


def test_full_run_passes_its_seed_to_the_accuracy_runs(tmp_path, monkeypatch):
    from parity import __main__ as cli
    from parity import accuracy, checks

    seen = []

    def fake_accuracy(name, workdir, *, seed=0, log=None):
        seen.append((name, seed))
        return accuracy.AccuracyResult(
            name, None, "skipped here", accuracy.Curve(), accuracy.Curve(), None, 0.0
        )

    monkeypatch.setattr(checks, "run_all", lambda name, workdir, steps: [])
    monkeypatch.setattr(accuracy, "run_accuracy", fake_accuracy)
    argv = ["--full", "--seed", "3", "--reports", str(tmp_path), "cifar10_cnn"]
    assert cli.main(argv) == 0
    assert seen == [("cifar10_cnn", 3)]


def _accuracy_result(name, legacy, port):
    from parity import accuracy

    # numpy floats, as the runs produce them: `passed` must still be a plain truth value.
    curves = [accuracy.Curve(accuracies=[np.float64(a)], eval_steps=[10]) for a in (legacy, port)]
    return accuracy.AccuracyResult(name, 10, "test", *curves, None, 0.0)


@pytest.mark.parametrize(("port", "expected"), [(0.955, 0), (0.91, 1)])
def test_accuracy_screen_decides_the_exit_status(tmp_path, monkeypatch, port, expected):
    from parity import __main__ as cli
    from parity import accuracy, checks

    monkeypatch.setattr(checks, "run_all", lambda name, workdir, steps: [])
    monkeypatch.setattr(
        accuracy,
        "run_accuracy",
        lambda name, workdir, *, seed=0, log=None: _accuracy_result(name, 0.96, port),
    )
    assert cli.main(["--full", "--reports", str(tmp_path), "resnet_mnist_class"]) == expected


def test_a_failing_check_gives_a_nonzero_exit_through_the_command_line(tmp_path, monkeypatch):
    import keras

    from parity import __main__ as cli
    from tf2_port import train

    # Keras' default Adam epsilon (1e-7, TF1's is 1e-8): the classic porting slip.
    monkeypatch.setattr(
        train, "make_optimizer", lambda lr, fused=True: keras.optimizers.Adam(lr, epsilon=1e-7)
    )
    code = cli.main(["--fast", "--steps", "2", "--reports", str(tmp_path), "resnet_mnist_class"])
    assert code == 1
    assert "epsilon" in (tmp_path / "parity.md").read_text()


def test_tost_decides_equivalence_from_the_interval():
    from parity import criterion

    near = criterion.tost("m", [95.0, 95.2, 94.8, 95.1, 94.9], [94.9, 95.1, 95.0, 94.8, 95.2])
    assert near.equivalent and near.verdict == "equivalent"
    far = criterion.tost("m", [96.0, 96.2, 95.8, 96.1, 95.9], [94.0, 94.2, 93.8, 94.1, 93.9])
    assert not far.equivalent and far.verdict == "different"
    noisy = criterion.tost("m", [95.0, 97.0, 93.0], [95.0, 93.0, 97.0])
    assert noisy.verdict == "not shown" and noisy.power < 0.05
    # Power grows with K and falls with the spread; 0 when the interval cannot fit the margin.
    assert criterion.tost_power(0.5, 0.5, 10, 10) > criterion.tost_power(0.5, 0.5, 5, 5)
    assert criterion.tost_power(3.0, 3.0, 2, 2) == 0.0


def test_student_t_quantile_matches_tables():
    from parity.stats import student_t_quantile

    # Standard table values of t(0.95, dof).
    for dof, value in ((4, 2.132), (8, 1.860), (30, 1.697)):
        assert student_t_quantile(0.95, dof) == pytest.approx(value, abs=2e-3)
