"""Command line: ``python -m tf2_port {train,eval,export} MODEL ...``.

Exit codes: 0 success, 2 usage error, 3 data or checkpoint error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from formats import quiet
from tf2_port import MODEL_NAMES
from tf2_port.precision import PRECISIONS

EXIT_USAGE = 2
EXIT_DATA = 3


def _option(text: str) -> tuple[str, Any]:
    """KEY=VALUE with a JSON (or Python-style True/False/None) value; else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    python_words = {"True": True, "False": False, "None": None}
    if raw in python_words:
        return key, python_words[raw]
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=MODEL_NAMES, help="which port")
    parser.add_argument(
        "--option",
        "--set",
        dest="options",
        action="append",
        type=_option,
        default=[],
        metavar="NAME=VALUE",
        help="set a model option (the same names as python -m legacy_tf1 --option), "
        "e.g. extra_bias=True or conv4_3_filters=2512 (repeatable; --set is an alias)",
    )
    parser.add_argument("--data-dir", help="dataset directory (default: the embedded sample)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="float32 (the originals' numbers) or mixed_bfloat16 (bfloat16 compute, float32 "
        "variables, logits, softmax, batch norm and LRN; faster on CPUs with AVX512_BF16/AMX "
        "and on GPUs); checkpoints work with either (default: the checkpoint's, else float32)",
    )


def _model_options(args) -> dict[str, Any]:
    """The --option values, with --precision as the ``precision`` option when given."""
    options = dict(args.options)
    if args.precision is not None:
        options["precision"] = args.precision
    return options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tf2_port", description=__doc__)
    quiet.add_verbose_flag(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train (resuming from --ckpt-dir)")
    _add_model_options(train)
    train.add_argument("--steps", type=int, help="total steps (default: the original's)")
    train.add_argument("--batch-size", type=int, help="global batch size (default: the original's)")
    train.add_argument("--ckpt-dir", help="checkpoint directory (default runs/tf2_port/MODEL/ckpt)")
    train.add_argument("--logdir", help="TensorBoard directory (default runs/tf2_port/MODEL/logs)")
    train.add_argument("--seed", type=int, help="seed of initialisation and data order")
    train.add_argument(
        "--strategy", choices=("default", "mirrored", "multiworker"), default="default"
    )
    train.add_argument("--save-every", type=int, default=100, help="checkpoint period in steps")
    train.add_argument("--log-every", type=int, default=10, help="TensorBoard period in steps")
    train.add_argument(
        "--steps-per-call",
        type=int,
        default=10,
        help="training steps run by one tf.function call (Keras' steps_per_execution; "
        "same numbers, less per-step overhead; 1 = a call per step)",
    )
    train.add_argument(
        "--deterministic", action="store_true", help="no shuffling and no augmentation"
    )

    evaluate = commands.add_parser(
        "eval",
        help="evaluate a checkpoint on the test split",
        description="Loss and accuracy on the test split, read from the test files alone "
        "(MNIST t10k-*, CIFAR-10 test_batch.bin or test_batch), batch by batch.",
    )
    _add_model_options(evaluate)
    evaluate.add_argument("--ckpt-dir", required=True, help="checkpoint directory or prefix")
    evaluate.add_argument(
        "--batch-size", type=_positive, help="test images per batch (default: the model's)"
    )
    evaluate.add_argument("--max-batches", type=int, help="stop after this many batches")
    evaluate.add_argument(
        "--predictions",
        metavar="FILE",
        help="write index,label,prediction CSV, one row per evaluated test image in file order",
    )
    evaluate.add_argument(
        "--force", action="store_true", help="replace an existing --predictions file"
    )

    export = commands.add_parser("export", help="export a checkpoint to .keras and/or SavedModel")
    _add_model_options(export)
    export.add_argument("--ckpt-dir", required=True, help="checkpoint directory or prefix")
    export.add_argument("--keras", dest="keras_path", help="output .keras file")
    export.add_argument("--saved-model", help="output SavedModel directory")
    export.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    for command in commands.choices.values():
        quiet.add_verbose_flag(command)
    return parser


def _default_dir(model: str, leaf: str) -> str:
    return os.path.join("runs", "tf2_port", model, leaf)


def _train(args) -> None:
    from tf2_port import train

    settings = train.RunSettings(
        ckpt_dir=args.ckpt_dir or _default_dir(args.model, "ckpt"),
        logdir=args.logdir or _default_dir(args.model, "logs"),
        steps=args.steps,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        seed=args.seed,
        strategy=args.strategy,
        deterministic=args.deterministic,
        save_every=args.save_every,
        log_every=args.log_every,
        steps_per_call=args.steps_per_call,
    )
    result = train.train(args.model, settings, **_model_options(args))
    if result.checkpoint:
        print(f"step {result.step}; checkpoint {result.checkpoint}")


def _positive(text: str) -> int:
    """A positive integer argument."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _eval(args) -> None:
    from formats import predictions
    from tf2_port import train

    if args.predictions is not None:
        # Before loading anything: a refusal should not cost an evaluation.
        try:
            predictions.check_destination(args.predictions, overwrite=args.force)
        except FileExistsError as error:
            raise FileExistsError(f"{error} (pass --force to replace it)") from None
    overrides = _model_options(args)
    model = train.load(args.model, args.ckpt_dir, **overrides)
    saved = train.read_run_config(train.checkpoint_prefix(args.ckpt_dir)[1])
    merged = {**(saved["overrides"] if saved else {}), **overrides}
    metrics = train.evaluate(
        args.model,
        model,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        max_batches=args.max_batches,
        predictions_file=args.predictions,
        overwrite=args.force,
        **merged,
    )
    print(json.dumps(metrics))


def _export(args) -> None:
    from tf2_port import export, train

    model = train.load(args.model, args.ckpt_dir, **_model_options(args))
    if args.keras_path:
        print(export.export_keras(model, args.keras_path, overwrite=args.overwrite))
    if args.saved_model:
        print(export.export_saved_model(model, args.saved_model, overwrite=args.overwrite))


COMMANDS = {"train": _train, "eval": _eval, "export": _export}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "export" and not (args.keras_path or args.saved_model):
        parser.error("export: give --keras PATH and/or --saved-model DIR")  # exits 2
    # After parsing: --help and usage errors cost no TensorFlow start-up.
    quiet.toolkit_startup(verbose=quiet.verbose_requested(args))
    from formats.errors import DataDirError, FormatError

    try:
        COMMANDS[args.command](args)
    except (DataDirError, FormatError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DATA
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
