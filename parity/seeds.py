"""The seed study: each side trained on its own for several seeds, judged by the TOST.

The lock-step accuracy run (parity/accuracy.py) compares one legacy and one
port trajectory; after a few Adam steps those are as different as two seeds,
so one run's final accuracy gap mixes implementation with luck. This study
trains each side alone, as a user would (``legacy_tf1.train`` and
``tf2_port.train``: each its own initialisation, input pipeline, data order
and dropout), for several seeds, records each run's test accuracy, and judges
the difference of the means by the criterion of parity/criterion.py.

    python -m parity.seeds run [--models M ...] [--seeds 0 1 2 3 4] [--precision P] [--file F]
    python -m parity.seeds report [--precision P] [--file F]

``run`` is resumable: each finished run is appended to the file at once, and
the runs already there are skipped. Runs go seed by seed, legacy then port,
so an interrupted study stays balanced.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
import time

from formats import quiet
from parity.claims import append_jsonl, load_jsonl


@dataclasses.dataclass(frozen=True)
class SeedRun:
    """One training run of one side."""

    model: str
    seed: int
    steps: int
    accuracy: float
    side: str
    final_loss: float | None
    seconds: float
    # The port's tf2_port precision; the legacy graph always computes in float32.
    precision: str = "float32"


def run_port(
    model: str, seed: int, steps: int, data_dir: str | None = None, precision: str = "float32"
) -> SeedRun:
    """Train the port ``model`` for ``steps`` with ``seed`` at ``precision``; its test accuracy."""
    from tf2_port import train

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="parity_seed_") as ckpt_dir:
        settings = train.RunSettings(
            ckpt_dir=ckpt_dir,
            steps=steps,
            data_dir=data_dir,
            seed=seed,
            save_every=steps,
            verbose=False,
        )
        result = train.train(model, settings, precision=precision)
        scores = train.evaluate(model, result.model, data_dir=data_dir)
    final_loss = result.losses[-1] if result.losses else None
    seconds = time.monotonic() - began
    return SeedRun(model, seed, steps, scores["accuracy"], "port", final_loss, seconds, precision)


def run_legacy(
    model: str, seed: int, steps: int, data_dir: str | None = None, precision: str = "float32"
) -> SeedRun:
    """Train the faithful legacy graph ``model`` for ``steps`` with ``seed``; test accuracy.

    ``precision`` is accepted for symmetry with :func:`run_port`: the legacy
    graph is the float32 reference whatever the port's precision.
    """
    del precision
    from legacy_tf1.train import TrainConfig, evaluate, train

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="parity_seed_") as ckpt_dir:
        config = TrainConfig(
            model, ckpt_dir, steps=steps, data_dir=data_dir, seed=seed, save_every=steps
        )
        result = train(config, log=open(os.devnull, "w"))  # noqa: SIM115
        accuracy = evaluate(model, result.checkpoint, data_dir).accuracy
    seconds = time.monotonic() - began
    return SeedRun(model, seed, steps, accuracy, "legacy", result.final_loss, seconds)


RUNNERS = {"legacy": run_legacy, "port": run_port}
STUDY_FILE = "docs/parity_seeds.jsonl"
TRAINED = ("resnet_mnist", "cifar10_cnn", "resnet_mnist_class", "alexnet_cifar10")


def study_steps(model: str) -> int:
    """The accuracy runs' schedule (parity.accuracy.SCHEDULES) for ``model``."""
    from parity.accuracy import SCHEDULES

    steps = SCHEDULES[model].steps
    if steps is None:
        raise ValueError(f"{model}: not trained in the accuracy runs ({SCHEDULES[model].reason})")
    return steps


def _precision(record: dict) -> str:
    """The run's precision: the legacy side is always float32, older records lack the field."""
    return (
        "float32" if record.get("side", "port") == "legacy" else record.get("precision", "float32")
    )


def _key(record: dict) -> tuple:
    side = record.get("side", "port")
    return (record["model"], side, _precision(record), record["seed"], record["steps"])


def run_study(
    models,
    seeds,
    path: str,
    data_dir: str | None = None,
    steps: int | None = None,
    log=sys.stdout,
    precision: str = "float32",
) -> int:
    """Run every (model, seed, side) not yet in ``path``; returns how many ran.

    ``steps`` replaces the schedule (smoke tests); :func:`study_results` only
    reads runs of the schedule's length. ``precision`` is the port's; the
    legacy runs (float32) are shared by the float32 and bfloat16 studies.
    """
    done = {_key(r) for r in load_jsonl(path)}
    todo = [
        (model, seed, side, steps or study_steps(model))
        for seed in seeds
        for model in models
        for side in RUNNERS
        if (model, side, _side_precision(side, precision), seed, steps or study_steps(model))
        not in done
    ]
    for number, (model, seed, side, length) in enumerate(todo, 1):
        label = f"{side} ({precision})" if side == "port" else side
        print(f"[{number}/{len(todo)}] {model} {label} seed {seed} ...", file=log, flush=True)
        run = RUNNERS[side](model, seed, length, data_dir, precision)
        record = {**dataclasses.asdict(run), "date": time.strftime("%Y-%m-%d")}
        append_jsonl(path, record)
        print(
            f"    accuracy {100 * run.accuracy:.2f} % in {run.seconds:.0f} s", file=log, flush=True
        )
    return len(todo)


def _side_precision(side: str, precision: str) -> str:
    return "float32" if side == "legacy" else precision


def study_results(path: str, models=TRAINED, steps: int | None = None, precision: str = "float32"):
    """The TOST of every model with >= 2 runs per side in ``path``, in points.

    The legacy (float32) runs against the port's runs at ``precision``.
    """
    from parity import criterion

    records = load_jsonl(path)
    results = []
    for model in models:
        length = steps or study_steps(model)
        sides = {
            side: [
                100 * r["accuracy"]
                for r in records
                if r["model"] == model
                and r.get("side", "port") == side
                and _precision(r) == _side_precision(side, precision)
                and r["steps"] == length
            ]
            for side in RUNNERS
        }
        if min(len(v) for v in sides.values()) >= 2:
            results.append(criterion.tost(model, sides["legacy"], sides["port"]))
    return results


def report_table(results) -> str:
    """The seed study as a markdown table."""
    from parity import criterion

    lines = [
        "| model | K legacy/port | legacy mean (sd) | port mean (sd) | legacy - port "
        "| 90 % CI | verdict (margin +-1) | power at K | screen false alarm / power |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        false_alarm, power = criterion.screen_rates(math.hypot(r.sd_legacy, r.sd_port))
        lines.append(
            f"| {r.model} | {r.n_legacy}/{r.n_port} | {r.mean_legacy:.2f} ({r.sd_legacy:.2f}) "
            f"| {r.mean_port:.2f} ({r.sd_port:.2f}) | {r.difference:+.2f} "
            f"| [{r.low:+.2f}, {r.high:+.2f}] | {r.verdict} | {r.power:.2f} "
            f"| {false_alarm:.3f} / {power:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``run`` the missing seeds, or ``report`` the TOST table (exit 1 unless all equivalent)."""
    parser = argparse.ArgumentParser(
        prog="python -m parity.seeds",
        description="Each side trained alone over seeds; the difference of means judged by TOST.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train the missing (model, seed, side) runs")
    run.add_argument("--models", nargs="+", choices=TRAINED, default=list(TRAINED))
    run.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    run.add_argument("--data-dir", help="data directory (default: the embedded sample)")
    report = commands.add_parser("report", help="print the TOST table of the recorded runs")
    for sub in (run, report):
        sub.add_argument("--file", default=STUDY_FILE, help=f"JSON-lines results ({STUDY_FILE})")
        sub.add_argument(
            "--steps", type=int, help="shortened runs (smoke tests only; default: the schedule)"
        )
        sub.add_argument(
            "--precision",
            choices=("float32", "mixed_bfloat16"),
            default="float32",
            help="the port's precision (the legacy side is float32 either way)",
        )
    quiet.add_verbose_flag(parser)
    for sub in (run, report):
        quiet.add_verbose_flag(sub)
    args = parser.parse_args(argv)
    if args.command == "run":
        # Only training needs TensorFlow; `report` reads the JSON lines.
        quiet.toolkit_startup(verbose=quiet.verbose_requested(args))
        run_study(
            args.models, args.seeds, args.file, args.data_dir, args.steps, precision=args.precision
        )
    results = study_results(args.file, steps=args.steps, precision=args.precision)
    print(report_table(results))
    return 0 if results and all(r.equivalent for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
