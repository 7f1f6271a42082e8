"""The benchmark harness's statistics, interleaving and reports (no timed assertions)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import cases, report, runner

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


# ---- statistics ----------------------------------------------------------------------


@settings(deadline=None)  # the machine is shared; speed is not what this checks
@given(st.lists(finite, min_size=1, max_size=50))
def test_summarize_matches_numpy_quantiles(values):
    summary = runner.summarize(values)
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    assert summary.median == pytest.approx(median, abs=1e-6)
    assert summary.q1 == pytest.approx(q1, abs=1e-6)
    assert summary.q3 == pytest.approx(q3, abs=1e-6)
    assert summary.iqr == pytest.approx(q3 - q1, abs=1e-6)
    assert summary.n == len(values)


def test_summarize_rejects_an_empty_sample():
    with pytest.raises(ValueError, match="at least one sample"):
        runner.summarize([])


def test_paired_ratios_divide_round_by_round():
    assert runner.paired_ratios([2.0, 9.0, 4.0], [1.0, 3.0, 8.0]) == [2.0, 3.0, 0.5]
    with pytest.raises(ValueError, match="equal length"):
        runner.paired_ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        runner.paired_ratios([1.0], [0.0])


def test_paired_ratio_cancels_a_drift_shared_by_both_sides():
    # The machine slows down 3x during the run; A is always 0.8x B within a round.
    drift = [1.0, 1.5, 3.0, 2.0, 1.0]
    a = [0.8 * d for d in drift]
    b = list(drift)
    assert runner.summarize(runner.paired_ratios(a, b)).iqr == pytest.approx(0.0)
    assert runner.summarize(runner.paired_ratios(a, b)).median == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [(1234.5678, 4, 1235.0), (0.000123456, 3, 0.000123), (-9.87654, 2, -9.9), (0.0, 4, 0.0)],
)
def test_round_sig(value, digits, expected):
    assert runner.round_sig(value, digits) == expected


# ---- interleaving --------------------------------------------------------------------


def test_interleave_alternates_and_discards_warmup():
    calls = []

    def trial(name):
        def run():
            calls.append(name)
            return float(len(calls))

        return run

    samples = runner.interleave({"a": trial("a"), "b": trial("b")}, rounds=3, warmup=2)
    assert calls == ["a", "b"] * 5
    # Calls 1-4 were warm-up; the counted ones are 5..10, alternating.
    assert samples == {"a": [5.0, 7.0, 9.0], "b": [6.0, 8.0, 10.0]}


def test_interleave_rejects_no_rounds():
    with pytest.raises(ValueError, match="rounds >= 1"):
        runner.interleave({"a": lambda: 1.0}, rounds=0)


def test_timed_returns_the_clock_difference_around_the_action():
    ticks = iter([10.0, 12.5])
    done = []
    trial = runner.timed(lambda: done.append(True), clock=lambda: next(ticks))
    assert trial() == 2.5
    assert done == [True]


def test_compare_reports_both_sides_and_the_ratio():
    result = runner.compare({"port": [1.0, 2.0, 3.0], "legacy": [2.0, 2.0, 2.0]}, "port", "legacy")
    assert result["ratio"]["median"] == 1.0
    assert result["port"]["median"] == 2.0
    assert result["legacy"]["n"] == 3


def test_pool_processes_takes_the_median_of_every_processs_rounds():
    def run(*ratios):
        details = {"ratio": runner.summarize(ratios).to_json(), "ratios": list(ratios)}
        details.update(unit="s/step", port=runner.summarize([1.0]).to_json())
        return {"train_step_ratio.vgg16": {"value": details["ratio"]["median"], "details": details}}

    pooled = runner.pool_processes([run(0.9, 0.95), run(1.1, 1.2, 1.3), run(1.0)])
    result = pooled["train_step_ratio.vgg16"]
    assert result["value"] == pytest.approx(1.05)  # median of the six rounds, not of medians
    assert result["details"]["ratio"]["n"] == 6
    assert result["details"]["process_medians"] == [0.925, 1.2, 1.0]
    assert result["details"]["processes"] == 3
    assert result["details"]["unit"] == "s/step"
    assert "port" not in result["details"]  # one process's side summary is not the pool's
    with pytest.raises(ValueError, match="no runs"):
        runner.pool_processes([])


def test_pool_processes_takes_the_median_process_of_a_figure_without_rounds():
    runs = [{"fraction": {"value": v, "details": {"unit": "x"}}} for v in (0.7, 0.9, 0.8)]
    pooled = runner.pool_processes(runs)["fraction"]
    assert pooled["value"] == pytest.approx(0.8)
    assert pooled["details"] == {"unit": "x", "processes": 3, "process_values": [0.7, 0.9, 0.8]}


def test_plan_runs_each_train_step_in_several_processes():
    from bench.__main__ import PROCESSES, plan

    jobs = plan(["train_step", "converter"], ["cifar10_cnn", "vgg16"], quick=False)
    groups = [job.group for job in jobs]
    assert groups.count("train_step[cifar10_cnn]") == PROCESSES["train_step"] > 1
    assert groups.count("train_step[vgg16]") == 1  # ~20 s a step: one process
    assert groups.count("converter") == 1
    assert plan(["vgg16_forward"], [], quick=False)[0].rounds == 5
    assert len(plan(["vgg16_forward"], [], quick=False)) == PROCESSES["vgg16_forward"]
    assert len({job.label for job in jobs}) == len(jobs)
    assert all(job.rounds == 1 for job in plan(["train_step"], ["cifar10_cnn"], quick=True))


def test_a_failing_case_goes_to_the_log_and_its_tail_to_the_console(tmp_path, capsys):
    import subprocess

    from bench.__main__ import Job, run_job

    log = tmp_path / "bench.log"
    log.write_text("an earlier case's output\n")
    # An unknown case: bench.cases' own argument check fails before TensorFlow is imported.
    with pytest.raises(subprocess.CalledProcessError):
        run_job(Job("no_such_case", rounds=1), log)
    written = log.read_text()
    assert written.startswith("an earlier case's output\n==== no_such_case: ")
    assert "invalid choice: 'no_such_case'" in written
    shown = capsys.readouterr()
    assert "invalid choice" in shown.err and "earlier case" not in shown.err
    assert "invalid choice" not in shown.out


# ---- reports -------------------------------------------------------------------------


def _results():
    def entry(value):
        return {"value": value, "details": {"ratio": runner.summarize([value]).to_json()}}

    return {
        "train_step_ratio.cifar10_cnn": entry(0.9),
        "train_step_ratio.vgg16": entry(1.1),
        "train_step_ratio_one_call_per_step.vgg16": entry(1.2),
        "input_pipeline_speedup": entry(3.0),
        "runner_overhead": entry(1.01),
    }


def test_assemble_groups_train_steps_and_checks_goals():
    document = report.assemble(_results(), {"machine": {"cores": 2}})
    assert document["train_step_ratio"] == {"cifar10_cnn": 0.9, "vgg16": 1.1}
    assert document["train_step_ratio_one_call_per_step"] == {"vgg16": 1.2}
    assert document["input_pipeline_speedup"] == 3.0
    assert document["goals"]["train_step_ratio"]["met"] is False  # vgg16 is over 1.0
    assert document["goals"]["input_pipeline_speedup"]["met"] is True
    assert document["goals"]["runner_overhead"]["met"] is True
    assert "converter_vs_cp" not in document["goals"]  # not measured, not judged
    assert set(document["details"]) == set(_results())


@pytest.mark.parametrize(
    ("goal", "value", "met"),
    [
        (report.Goal(1.0, at_most=True), 1.0, True),
        (report.Goal(1.0, at_most=True), 1.01, False),
        (report.Goal(2.0, at_most=False), 1.99, False),
        (report.Goal(2.0, at_most=False), 2.0, True),
    ],
)
def test_goal_bounds_are_inclusive(goal, value, met):
    assert goal.met(value) is met


def test_markdown_has_one_row_per_figure_and_flags_misses():
    document = report.assemble(_results(), {"command": "python -m bench", "machine": {}})
    text = report.render_markdown(document)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 5  # header + five figures
    assert "train_step_ratio [vgg16]" in text
    assert "train_step_ratio_one_call_per_step [vgg16]" in text
    assert "**no**" in text
    assert "`python -m bench`" in text


def test_write_reports_is_atomic_and_readable(tmp_path):
    document = report.assemble(_results(), {"machine": {}})
    (tmp_path / "bench.json").write_text("old")
    paths = report.write_reports(document, tmp_path, "bench")
    assert json.loads(paths[0].read_text())["input_pipeline_speedup"] == 3.0
    assert paths[1].read_text().startswith("# Benchmarks")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.md"]


# ---- case helpers (no timing) --------------------------------------------------------


def test_alexnet_batches_go_from_flat_chw_to_nhwc():
    flat = np.arange(2 * 3072, dtype=np.float32).reshape(2, 3072)
    nhwc = cases.to_port_layout("alexnet_cifar10", flat)
    # Pixel (row 5, column 7) of channel 2 of image 1 sits at 2*1024 + 5*32 + 7 in CHW.
    assert nhwc.shape == (2, 32, 32, 3)
    assert nhwc[1, 5, 7, 2] == flat[1, 2 * 1024 + 5 * 32 + 7]
    assert cases.to_port_layout("resnet_mnist", np.zeros((3, 784))).shape == (3, 28, 28, 1)


def test_vgg16_flops_match_the_published_count():
    from tf2_port import vgg16

    # Simonyan & Zisserman's VGG16 (D) is commonly quoted at 15.47 G multiply-adds per
    # 224x224 image; 2 FLOPs per multiply-add.
    flops = cases.vgg16_forward_flops(vgg16.Config(), batch_size=2)
    assert flops == pytest.approx(2 * 2 * 15.47e9, rel=0.01)
    typo = cases.vgg16_forward_flops(vgg16.Config(conv4_3_filters=2512), batch_size=1)
    assert typo > flops / 2  # the 2512-filter typo makes conv4_3 and conv5_1 larger


@pytest.mark.parametrize("side", ["tf_data", "queue"])
def test_pipeline_rate_times_batches_after_the_warm_up(side):
    from bench.cases import pipeline_rate

    measured = pipeline_rate(side, warm=1, batches=2)
    assert measured["images_per_s"] > 0 and measured["warm_s"] > 0


def test_per_model_goal_needs_its_count_of_models():
    four = {"a": 0.5, "b": 0.6, "c": 0.65, "d": 0.69, "e": 0.9}
    three = {**four, "d": 0.71}
    assert report.check_goals({"train_step_ratio_bf16": four})["train_step_ratio_bf16"]["met"]
    assert not report.check_goals({"train_step_ratio_bf16": three})["train_step_ratio_bf16"]["met"]
    # Goals without a count need every model.
    assert not report.check_goals({"bf16_accuracy_delta": {"a": 0.2, "b": 1.2}})[
        "bf16_accuracy_delta"
    ]["met"]


def test_skipped_figures_are_neither_met_nor_failed_and_say_why():
    reason = "no bfloat16 hardware: this CPU reports none of ['avx512_bf16', 'amx_bf16']"
    results = {
        "vgg16_forward_ratio_bf16": {"value": None, "details": {"skipped": reason}},
        "train_step_ratio_bf16.cifar10_cnn": {"value": None, "details": {"skipped": reason}},
    }
    document = report.assemble(results, {"command": "python -m bench"})
    assert document["goals"]["vgg16_forward_ratio_bf16"]["met"] is None
    assert document["goals"]["train_step_ratio_bf16"]["met"] is None
    text = report.render_markdown(document)
    assert "| skipped |" in text and reason in text and "not measured" in text
