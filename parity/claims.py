"""The seed000 claim: does the extra bias ``b_conv_fin`` explain 11.35 % vs 95.19 %?

Trains the faithful legacy graph (``legacy_tf1``) with and without the option
``extra_bias`` for several seeds each, with the original's schedule (3001 steps,
batch 10, Adam 1e-3, dropout 0.5) on the embedded MNIST sample, and records the
test accuracy of every run. Results are appended as JSON lines so that a long
run that is interrupted keeps what it finished and can be resumed.

    python -m parity.claims --seeds 0 1 2 3 4 --out reports/seed000_extra_bias.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

MODEL = "resnet_mnist"
# The original evaluates the whole test set in one feed; chunking changes nothing
# but memory (accuracy is a count of hits).
EVAL_CHUNK = 500


@dataclasses.dataclass(frozen=True)
class ClaimRun:
    """One training run of the seed000 study."""

    extra_bias: bool
    seed: int
    steps: int
    accuracy: float
    final_loss: float | None
    seconds: float


def run_one(extra_bias: bool, seed: int, steps: int, data_dir: str | None = None) -> ClaimRun:
    """Train seed000 once (faithful loop and data order for ``seed``) and evaluate it."""
    from legacy_tf1.train import TrainConfig, evaluate, train

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="seed000_claim_") as ckpt_dir:
        config = TrainConfig(
            model=MODEL,
            ckpt_dir=ckpt_dir,
            steps=steps,
            data_dir=data_dir,
            seed=seed,
            save_every=steps,
            resume=False,
            options={"extra_bias": extra_bias},
        )
        result = train(config, log=open(os.devnull, "w"))  # noqa: SIM115
        score = evaluate(
            MODEL,
            result.checkpoint,
            data_dir,
            extra_bias=extra_bias,
            eval_batch_size=EVAL_CHUNK,
        )
    return ClaimRun(
        extra_bias, seed, steps, score.accuracy, result.final_loss, time.monotonic() - began
    )


def load_jsonl(path: str) -> list[dict]:
    """The records of the JSON-lines file ``path`` (none if it is absent)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_runs(path: str) -> list[ClaimRun]:
    """Runs already recorded in the JSON-lines file ``path`` (none if it is absent)."""
    return [ClaimRun(**record) for record in load_jsonl(path)]


def append_jsonl(path: str, record: dict) -> None:
    """Append ``record`` to the JSON-lines file ``path`` as one whole line."""
    # One line per finished run keeps the earlier runs if this one dies.
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def main(argv: list[str] | None = None) -> int:
    """CLI: run the missing (extra_bias, seed) pairs and append them to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m parity.claims", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=3001, help="the original's 3001")
    parser.add_argument("--out", default="reports/seed000_extra_bias.jsonl")
    parser.add_argument("--data-dir", help="MNIST directory (default: the embedded sample)")
    args = parser.parse_args(argv)
    done = {(r.extra_bias, r.seed, r.steps) for r in load_runs(args.out)}
    for seed in args.seeds:
        for extra_bias in (True, False):
            if (extra_bias, seed, args.steps) in done:
                continue
            run = run_one(extra_bias, seed, args.steps, args.data_dir)
            append_jsonl(args.out, dataclasses.asdict(run))
            print(json.dumps(dataclasses.asdict(run)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
