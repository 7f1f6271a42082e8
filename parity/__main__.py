"""``python -m parity [--fast|--full] [--reports DIR] [MODEL...]``.

``--fast`` (default): forward, gradients (inference and training mode), 20
optimizer steps (free-running and re-synced), resume, and the set-up checks
(initialisation, configuration, input pipelines, late synced steps) for
every model. ``--full`` adds the accuracy screen (parity/accuracy.py,
criterion in parity/criterion.py) on the models of
``accuracy.SCREEN_MODELS``, or on the models named. Writes ``DIR/parity.md``
(and, with ``--full``, ``DIR/parity.png`` and TensorBoard events of both sides
under ``DIR/tensorboard/MODEL/{legacy,port}``), prints a summary table and the wall
time. Exit status 1 when any check or accuracy criterion fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from formats import quiet
from parity import tolerances


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m parity", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--fast",
        dest="full",
        action="store_false",
        help="step and set-up checks of every model (default; ~5 min on 2 cores)",
    )
    mode.add_argument(
        "--full",
        dest="full",
        action="store_true",
        help="the checks, then the accuracy screen: one lock-step run per screened model, "
        "failing beyond a 3-point gap (the main job; equivalence over seeds is "
        "`python -m parity.seeds`)",
    )
    quiet.add_verbose_flag(parser)
    parser.add_argument("--reports", default="reports", help="report directory (default: reports)")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps compared (20)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the accuracy runs' seed: initial weights and data order of both sides (0)",
    )
    parser.add_argument(
        "models",
        nargs="*",
        choices=[[], *tolerances.MODEL_NAMES],
        default=[],
        help="models to check (default: all; with --full, the accuracy screen's models)",
    )
    return parser


def _summary(rows, results) -> str:
    lines = [f"{'model':20s} {'check':26s} {'max diff':>10s}  pass"]
    lines += [
        f"{r.model:20s} {r.check:26s} {r.max_abs:10.3g}  {'yes' if r.passed else 'NO'}"
        for r in rows
    ]
    for r in results:
        if r.steps is None:
            lines.append(f"{r.model:20s} {'accuracy':26s} {'skipped':>10s}  -")
        else:
            lines.append(
                f"{r.model:20s} {'accuracy legacy/port':26s} "
                f"{100 * r.legacy.final_accuracy:5.2f}/{100 * r.port.final_accuracy:5.2f}%  "
                f"{'yes' if r.passed else 'NO'}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the checks (and with --full the accuracy runs); write the reports."""
    args = _parser().parse_args(argv)
    began = time.monotonic()
    # After parsing: --help and usage errors cost no TensorFlow start-up.
    quiet.toolkit_startup(verbose=quiet.verbose_requested(args))
    from parity import accuracy, checks, report

    models = args.models or list(tolerances.MODEL_NAMES)
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="parity_") as work:
        for name in models:
            for row in checks.run_all(name, os.path.join(work, name), steps=args.steps):
                rows.append(row)
                print(row.detail, flush=True)
        if args.full:
            for name in args.models or accuracy.SCREEN_MODELS:
                result = accuracy.run_accuracy(
                    name, os.path.join(work, f"acc_{name}"), seed=args.seed, log=sys.stdout
                )
                results.append(result)
                tensorboard = os.path.join(args.reports, "tensorboard")
                for run in accuracy.write_tensorboard(result, tensorboard):
                    print(f"TensorBoard events: {run}", flush=True)
    seconds = time.monotonic() - began
    command = "python -m parity " + " ".join(argv if argv is not None else sys.argv[1:])
    md_path, png_path = report.write_reports(
        args.reports, rows, results, command=command.strip(), seconds=seconds
    )
    print()
    print(_summary(rows, results))
    print(
        f"\nwall time {seconds:.0f} s; report: {md_path}"
        + (f", curves: {png_path}" if png_path else "")
    )
    # `passed` may be a numpy bool: test truth, never identity with False.
    failed = not all(r.passed for r in rows) or any(
        r.passed is not None and not r.passed for r in results
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
