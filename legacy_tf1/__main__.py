"""Command line: ``python -m legacy_tf1 {train,eval,bench,list} ...``.

Exit codes: 0 success, 2 usage error, 3 unreadable or missing data,
4 checkpoint problem, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys

from formats import quiet
from legacy_tf1 import registry

EXIT_USAGE, EXIT_DATA, EXIT_CHECKPOINT, EXIT_INTERRUPTED = 2, 3, 4, 130

_DESCRIPTION = """\
Faithful TF1 (tf.compat.v1 graph/session) versions of the five reference tutorials.
Defaults reproduce each original script: its steps, batch size, learning rate and
its defects (see docs/originals.md; fix them with --option NAME=VALUE).
Without --data-dir the embedded sample (5,000 real MNIST digits, also written in
CIFAR-10 formats) is built on first use into the user cache; nothing is downloaded."""


def _option(text: str) -> tuple[str, object]:
    """Parse NAME=VALUE, VALUE as a Python literal (True, 512, 1e-3) or a string."""
    import ast

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, received {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model and write Saver checkpoints + TensorBoard summaries",
        description="Train MODEL with the original's graph and data logic. Writes "
        "tf.compat.v1.train.Saver checkpoints to --ckpt-dir (resuming from the latest one "
        "there) and loss/accuracy summaries to --logdir. --steps 0 saves the initial variables.",
    )
    p.add_argument("model", choices=registry.MODEL_NAMES)
    p.add_argument("--steps", type=int, help="training steps (default: the original's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the original's)")
    p.add_argument(
        "--data-dir", help="a real MNIST / CIFAR-10 directory (default: embedded sample)"
    )
    p.add_argument("--ckpt-dir", default="ckpt", help="checkpoint directory (default: ./ckpt)")
    p.add_argument("--logdir", help="TensorBoard event directory (default: none)")
    p.add_argument(
        "--seed", type=int, help="graph-level and numpy seed (default: unseeded, as the originals)"
    )
    p.add_argument("--save-every", type=int, help="checkpoint interval in steps")
    p.add_argument(
        "--save-all",
        action="store_true",
        help="save every global variable (cifar10_cnn's original Saver keeps only its 10 weights)",
    )
    p.add_argument(
        "--no-resume", action="store_true", help="ignore existing checkpoints in --ckpt-dir"
    )
    p.add_argument(
        "--option",
        action="append",
        type=_option,
        default=[],
        metavar="NAME=VALUE",
        help="set a model option, e.g. extra_bias=True or conv4_3_filters=512 (repeatable)",
    )


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="test accuracy of a checkpoint",
        description="Accuracy of a checkpoint on the test split, by the original's own formula. "
        "Reads only the test files of --data-dir (MNIST t10k-*, CIFAR-10 test_batch.bin or "
        "test_batch), in batches, so memory does not grow with the test set.",
    )
    p.add_argument("model", choices=registry.MODEL_NAMES)
    p.add_argument("--ckpt-dir", required=True, help="checkpoint directory or prefix")
    p.add_argument(
        "--data-dir",
        help="a real MNIST / CIFAR-10 directory; the test files are enough "
        "(default: embedded sample)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="test images per session run (default: resnet_mnist 500, others their batch "
        "size); cifar10_cnn and alexnet_cifar10 refuse a different one, as their figure "
        "depends on it (use --option batch_size=N)",
    )
    p.add_argument(
        "--predictions",
        metavar="FILE",
        help="write index,label,prediction CSV, one row per test image in file order",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --predictions file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--option", action="append", type=_option, default=[], metavar="NAME=VALUE")


def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="seed002's VGG16 forward / forward-backward timing",
        description="Reproduce seed002's benchmark (random images, forward with keep_prob 1.0, "
        "forward-backward of l2_loss(fc8) with keep_prob 0.5) and report mean and standard "
        "deviation over the measured batches, computed correctly; the original's own "
        "(incorrect) figures are printed beside them.",
    )
    p.add_argument("model", choices=["vgg16"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--batches", type=int, default=100, help="measured batches after 10 burn-in")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--option", action="append", type=_option, default=[], metavar="NAME=VALUE")


def parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    top = argparse.ArgumentParser(
        prog="python -m legacy_tf1",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    quiet.add_verbose_flag(top)
    sub = top.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_eval(sub)
    _add_bench(sub)
    sub.add_parser("list", help="list the models and their originals")
    for command in sub.choices.values():
        quiet.add_verbose_flag(command)
    return top


def _chatter_to_stderr():
    """Keep stdout for results: the originals' helpers print progress ("Extracting ...")."""
    return contextlib.redirect_stdout(sys.stderr)


def _run_train(args) -> int:
    from legacy_tf1.train import TrainConfig, train

    config = TrainConfig(
        model=args.model,
        ckpt_dir=args.ckpt_dir,
        steps=args.steps,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        logdir=args.logdir,
        seed=args.seed,
        save_every=args.save_every,
        save_all=args.save_all,
        resume=not args.no_resume,
        options=dict(args.option),
    )
    with _chatter_to_stderr():
        result = train(config)
    if result.final_loss is not None:
        print(f"final loss {result.final_loss:.4f} after {result.steps_run} steps")
    print(result.checkpoint)
    return 0


def _eval_usage_problem(args) -> str | None:
    """What is wrong with eval's own arguments, checked before any data is read."""
    from formats import predictions

    if args.batch_size is not None and args.batch_size < 1:
        return f"--batch-size must be positive; received {args.batch_size}"
    if args.predictions is None:
        return None
    try:
        predictions.check_destination(args.predictions, overwrite=args.force)
    except FileExistsError as error:
        return f"{error} (pass --force to replace it)"
    except FileNotFoundError as error:
        return str(error)
    return None


def _run_eval(args) -> int:
    from legacy_tf1.train import evaluate

    problem = _eval_usage_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with _chatter_to_stderr():
            result = evaluate(
                args.model,
                args.ckpt_dir,
                args.data_dir,
                batch_size=args.batch_size,
                predictions_file=args.predictions,
                overwrite=args.force,
                **dict(args.option),
            )
    except FileExistsError as error:
        print(f"error: {error} (pass --force to replace it)", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"model": args.model, **dataclasses.asdict(result)}))
    else:
        print(f"{args.model}: accuracy {result.accuracy:.4f} on {result.examples} test examples")
        print(f"checkpoint: {result.checkpoint}")
        if result.predictions_file:
            print(f"predictions: {result.predictions_file} ({result.images} images)")
    return 0


def _run_bench(args) -> int:
    from legacy_tf1.bench import run_benchmark

    with _chatter_to_stderr():
        result = run_benchmark(args.batch_size, args.batches, **dict(args.option))
    print(json.dumps(result, indent=2) if args.json else result["text"])
    return 0


def _run_list(_args) -> int:
    for name in registry.MODEL_NAMES:
        print(f"{name:20s} {registry.get(name).ORIGINAL}")
    return 0


_COMMANDS = {"train": _run_train, "eval": _run_eval, "bench": _run_bench, "list": _run_list}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = parser().parse_args(argv)
    # After parsing, so --help and usage errors cost no TensorFlow start-up; the
    # originals' APIs are deprecated by design, so their notices are hidden too.
    quiet.toolkit_startup(verbose=quiet.verbose_requested(args))
    from formats.errors import DataDirError, FormatError
    from legacy_tf1.api import CheckpointError
    from legacy_tf1.core import OptionError

    try:
        return _COMMANDS[args.command](args)
    except (DataDirError, FormatError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DATA
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CHECKPOINT
    except OptionError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
