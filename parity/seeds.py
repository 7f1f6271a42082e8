"""Accuracy over seeds: each side trained on its own, for several seeds.

The lock-step accuracy run (parity/accuracy.py) compares one legacy and one
port trajectory; after a few Adam steps those are as different as two seeds,
so one run's final accuracy gap mixes implementation with luck. This study
trains each side alone (``legacy_tf1.train`` and ``tf2_port.train``: each its
own initialisation, data order and dropout) for several seeds and records the
test accuracy, so that the two distributions can be compared.

    python -m parity.seeds --model resnet_mnist --side port --seeds 0 1 2 3 4 \
        --out reports/seeds.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

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


def run_port(model: str, seed: int, steps: int, data_dir: str | None = None) -> SeedRun:
    """Train the port ``model`` for ``steps`` with ``seed``; its test accuracy."""
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
        result = train.train(model, settings)
        scores = train.evaluate(model, result.model, data_dir=data_dir)
    final_loss = result.losses[-1] if result.losses else None
    seconds = time.monotonic() - began
    return SeedRun(model, seed, steps, scores["accuracy"], "port", final_loss, seconds)


def run_legacy(model: str, seed: int, steps: int, data_dir: str | None = None) -> SeedRun:
    """Train the faithful legacy graph ``model`` for ``steps`` with ``seed``; test accuracy."""
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


def main(argv: list[str] | None = None) -> int:
    """CLI: run the missing seeds and append each finished run to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m parity.seeds", description=__doc__)
    parser.add_argument("--model", default="resnet_mnist")
    parser.add_argument("--side", choices=tuple(RUNNERS), default="port")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=3001, help="resnet_mnist's original 3001")
    parser.add_argument("--out", default="reports/seeds.jsonl")
    parser.add_argument("--data-dir", help="data directory (default: the embedded sample)")
    args = parser.parse_args(argv)
    done = {
        (r["model"], r.get("side", "port"), r["seed"], r["steps"]) for r in load_jsonl(args.out)
    }
    for seed in args.seeds:
        if (args.model, args.side, seed, args.steps) in done:
            continue
        run = RUNNERS[args.side](args.model, seed, args.steps, args.data_dir)
        append_jsonl(args.out, dataclasses.asdict(run))
        print(json.dumps(dataclasses.asdict(run)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
