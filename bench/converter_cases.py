"""The checkpoint converter's and ``tf2_port.load``'s benchmark cases (see :mod:`bench.cases`)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.processes import ProcessRun, run_process
from bench.runner import Repeats, interleave, paired_ratios, round_sig, summarize


def write_vgg16_checkpoint(prefix: str) -> None:
    """The legacy vgg16 graph (defaults: batch 32, 224x224, conv4_3 2512) saved with Adam slots."""
    from legacy_tf1 import api
    from legacy_tf1.core import tf1

    model = api.build("vgg16", seed=0)
    with model.graph.as_default():
        init = tf1.global_variables_initializer()
        saver = tf1.train.Saver()
    with tf1.Session(graph=model.graph) as session:
        session.run(init)
        saver.save(session, prefix)


def _checkpoint_files(prefix: Path) -> list[Path]:
    return sorted(p for p in prefix.parent.iterdir() if p.name.startswith(prefix.name + "."))


def converter(repeats: Repeats) -> dict[str, Any]:
    """converter_vs_cp, the converter's peak RSS against ``import tensorflow``'s, tf_import_s."""
    work = Path(tempfile.mkdtemp(prefix="bench-converter-"))
    try:
        prefix = work / "source" / "model.ckpt"
        prefix.parent.mkdir()
        made = run_process(
            [sys.executable, "-m", "bench.cases", "make-vgg16-checkpoint", "--output", str(prefix)]
        )
        files = _checkpoint_files(prefix)
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        counter = iter(range(1_000_000))

        verified_phases: list[dict[str, float]] = []

        def convert_once(*flags: str) -> ProcessRun:
            output = work / f"converted-{next(counter)}"
            command = [sys.executable, "-m", "converters.ckpt_v1_to_v2", str(prefix), *flags]
            run = run_process([*command, "--model", "vgg16", "--output", str(output)])
            shutil.rmtree(output, ignore_errors=True)
            return run

        def convert_verified() -> ProcessRun:
            timings = work / "timings.json"
            run = convert_once("--timings", str(timings))
            verified_phases.append(json.loads(timings.read_text())["seconds"])
            return run

        def copy_once() -> ProcessRun:
            target = work / "copy"
            target.mkdir()
            run = run_process(["cp", *map(str, files), str(target)])
            shutil.rmtree(target)
            return run

        runs: dict[str, list[ProcessRun]] = {
            "convert": [],
            "convert_unverified": [],
            "cp": [],
            "python": [],
            "import": [],
        }
        trials = {
            "convert": convert_verified,
            "convert_unverified": lambda: convert_once("--no-verify"),
            "cp": copy_once,
            "python": lambda: run_process([sys.executable, "-c", "pass"]),
            "import": lambda: run_process([sys.executable, "-c", "import tensorflow"]),
        }

        def recording(name):
            def trial() -> float:
                run = trials[name]()
                runs[name].append(run)
                return run.seconds

            return trial

        samples = interleave(
            {name: recording(name) for name in trials},
            rounds=repeats.rounds,
            warmup=repeats.warmup,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = _converter_results(samples, runs, size_mb, made, repeats)
    results["converter_verify_budget"] = _verify_budget(samples, verified_phases[repeats.warmup :])
    return results


def _verify_budget(samples, phases: list[dict[str, float]]) -> dict[str, Any]:
    """Verified phase / (unverified phase + the two forward passes), paired per round.

    The forward passes are timed inside the verified converter process
    (``--timings``): the legacy graph's ``session.run`` of the logits and the
    port's call, on the verification batch (4 images).
    """
    verified = [c - i for c, i in zip(samples["convert"], samples["import"], strict=True)]
    bare = [c - i for c, i in zip(samples["convert_unverified"], samples["import"], strict=True)]
    forwards = [p["legacy_forward"] + p["port_forward"] for p in phases]
    budgets = paired_ratios(verified, [b + f for b, f in zip(bare, forwards, strict=True)])
    names = ("legacy_build", "legacy_restore", "legacy_forward", "port_load", "port_forward")
    return {
        "value": summarize(budgets).median,
        "details": {
            "ratio": summarize(budgets).to_json(),
            "verified_phase_s": summarize(verified).to_json(),
            "unverified_phase_s": summarize(bare).to_json(),
            "verify_phases_s": {
                name: summarize([p.get(name, 0.0) for p in phases]).to_json() for name in names
            },
            "forwards_measured": "in the verified converter process (--timings): one "
            "session.run of the legacy logits, one call of the port, batch of 4",
        },
    }


def _converter_results(samples, runs, size_mb, made, repeats) -> dict[str, Any]:
    counted = {name: values[repeats.warmup :] for name, values in runs.items()}
    # The conversion phase: the converter's wall time less a bare `import tensorflow`
    # process (interpreter start-up included), paired round by round.
    phase = [c - i for c, i in zip(samples["convert"], samples["import"], strict=True)]
    speeds = paired_ratios(samples["cp"], phase)  # (MB/phase) / (MB/cp) = cp / phase
    bare = [c - i for c, i in zip(samples["convert_unverified"], samples["import"], strict=True)]
    bare_speeds = paired_ratios(samples["cp"], bare)
    peak = summarize([r.peak_rss_mb for r in counted["convert"]])
    baseline = summarize([r.peak_rss_mb for r in counted["import"]])
    extra = peak.median - baseline.median
    return {
        "converter_vs_cp": {
            "value": summarize(speeds).median,
            "details": {
                "ratio": summarize(speeds).to_json(),
                "checkpoint_mb": round_sig(size_mb),
                "checkpoint": "legacy vgg16 defaults (batch 32, 224, conv4_3 2512) + Adam slots",
                "conversion_phase_s": summarize(phase).to_json(),
                "converter_process_s": summarize(samples["convert"]).to_json(),
                "cp_s": summarize(samples["cp"]).to_json(),
                "conversion_mb_per_s": round_sig(size_mb / summarize(phase).median),
                "cp_mb_per_s": round_sig(size_mb / summarize(samples["cp"]).median),
                "checkpoint_write_s": round_sig(made.seconds),
            },
        },
        "converter_vs_cp_unverified": {
            "value": summarize(bare_speeds).median,
            "details": {
                "ratio": summarize(bare_speeds).to_json(),
                "conversion_phase_s": summarize(bare).to_json(),
                "flag": "--no-verify",
            },
        },
        "converter_peak_rss_mb": {"value": round_sig(peak.median), "details": peak.to_json()},
        "tf_baseline_rss_mb": {"value": round_sig(baseline.median), "details": baseline.to_json()},
        "converter_extra_rss_over_checkpoint": {
            "value": round_sig(extra / size_mb),
            "details": {"extra_rss_mb": round_sig(extra), "checkpoint_mb": round_sig(size_mb)},
        },
        "tf_import_s": {
            "value": summarize(samples["import"]).median,
            "details": {
                "python_c_import_tensorflow_s": summarize(samples["import"]).to_json(),
                "python_c_pass_s": summarize(samples["python"]).to_json(),
            },
        },
    }


# What each side of load_ratio_vgg16 runs in its fresh process. Each child times itself
# from just after `import tensorflow` to the end of the work and writes the seconds to
# TIMES: the difference of two whole-process wall times (~10 s each, with a spread of
# seconds on a shared machine) would drown a phase of about a second.
_TIMED = """
import sys, time
import tensorflow
start = time.perf_counter()
{body}
open(sys.argv[1], "w").write(repr(time.perf_counter() - start))
"""
# The port: import tf2_port (Keras 3, the model modules) and tf2_port.load, which builds
# the model from port_config.json and restores its weights (not the Adam state).
_PORT_LOAD = """
import tf2_port
tf2_port.load("vgg16", {output!r})
"""
# The legacy side: import legacy_tf1, build the faithful vgg16 graph (as the original script
# does, training ops included) and Saver.restore its model variables (not the Adam slots,
# which the port side does not read either): both restore the same 138M weights.
_LEGACY_RESTORE = """
from legacy_tf1 import api
from legacy_tf1.core import tf1

built = api.build("vgg16")
variables = built.graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
with built.graph.as_default():
    saver = tf1.train.Saver([v for v in variables if not api.is_optimizer_variable(v.op.name)])
with tf1.Session(graph=built.graph) as session:
    saver.restore(session, {prefix!r})
"""


def load_restore(repeats: Repeats) -> dict[str, Any]:
    """load_ratio_vgg16: ``tf2_port.load`` / legacy Saver restore of the same weights."""
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        prefix = work / "source" / "model.ckpt"
        prefix.parent.mkdir()
        run_process(
            [sys.executable, "-m", "bench.cases", "make-vgg16-checkpoint", "--output", str(prefix)]
        )
        output = work / "converted"
        command = [sys.executable, "-m", "converters.ckpt_v1_to_v2", str(prefix), "--no-verify"]
        run_process([*command, "--model", "vgg16", "--output", str(output)])
        bodies = {
            "port": _PORT_LOAD.format(output=str(output)),
            "legacy": _LEGACY_RESTORE.format(prefix=str(prefix)),
        }
        runs: dict[str, list[ProcessRun]] = {name: [] for name in bodies}
        phases: dict[str, list[float]] = {name: [] for name in bodies}

        def recording(name):
            def trial() -> float:
                times = work / "seconds.txt"
                script = _TIMED.format(body=bodies[name])
                runs[name].append(run_process([sys.executable, "-c", script, str(times)]))
                phases[name].append(float(times.read_text()))
                return phases[name][-1]

            return trial

        samples = interleave(
            {name: recording(name) for name in bodies},
            rounds=repeats.rounds,
            warmup=repeats.warmup,
        )
        baseline = [
            run_process([sys.executable, "-c", "import tensorflow"]).peak_rss_mb
            for _ in range(repeats.rounds)
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counted = {name: values[repeats.warmup :] for name, values in runs.items()}
    return _load_results(samples, counted, summarize(baseline).median)


def _load_results(samples, runs, baseline_mb: float) -> dict[str, Any]:
    ratios = paired_ratios(samples["port"], samples["legacy"])
    rss = {name: summarize([r.peak_rss_mb for r in values]) for name, values in runs.items()}
    wall = {name: summarize([r.seconds for r in values]) for name, values in runs.items()}
    return {
        "load_ratio_vgg16": {
            "value": summarize(ratios).median,
            "details": {
                "ratio": summarize(ratios).to_json(),
                "port_load_s": summarize(samples["port"]).to_json(),
                "legacy_restore_s": summarize(samples["legacy"]).to_json(),
                "port_process_s": wall["port"].to_json(),
                "legacy_process_s": wall["legacy"].to_json(),
                "timed_from": "just after import tensorflow, inside each fresh process",
                "port_side": _PORT_LOAD.format(output="OUT").strip(),
                "legacy_side": _LEGACY_RESTORE.format(prefix="CKPT").strip(),
            },
        },
        "load_port_peak_rss_mb": {
            "value": round_sig(rss["port"].median),
            "details": {**rss["port"].to_json(), "tf_baseline_mb": round_sig(baseline_mb)},
        },
        "load_legacy_peak_rss_mb": {
            "value": round_sig(rss["legacy"].median),
            "details": {**rss["legacy"].to_json(), "tf_baseline_mb": round_sig(baseline_mb)},
        },
    }
