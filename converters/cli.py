"""The converters' command lines, parsed before TensorFlow is imported.

``python -m converters.NAME`` runs :func:`run` first thing (see the top of each
converter module): the arguments are parsed here, so ``--help`` and usage
errors answer at once; then TensorFlow is started with its start-up chatter
filtered (:mod:`formats.quiet`; ``-v`` shows it) and ``converters.NAME.main``
runs. This module must import nothing that imports TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from converters import options
from formats import quiet
from tf2_port import MODEL_NAMES

AUTO = "auto"  # --model auto: detect the model from the checkpoint


def _option(text: str) -> tuple[str, object]:
    """argparse type of ``--option NAME=VALUE`` (VALUE a Python literal, else a string)."""
    try:
        return options.parse_option(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def ckpt_v1_to_v2() -> argparse.ArgumentParser:
    """``python -m converters.ckpt_v1_to_v2``'s parser."""
    parser = argparse.ArgumentParser(
        prog="python -m converters.ckpt_v1_to_v2",
        description="Convert a TF1 Saver checkpoint of a registry model into a tf2_port "
        "checkpoint (CheckpointManager layout, port_config.json, manifest.json), with "
        "the Adam state, then verify the logits against the legacy graph. Exit codes: "
        "2 usage / existing output, 3 unreadable input, 4 mapping error, 5 failed verification.",
    )
    parser.add_argument(
        "ckpt",
        metavar="CKPT",
        help="checkpoint directory, prefix, V1 file, or .index/.meta/.data-* file (resolved to "
        "its prefix; a .index means the V2 bundle when a V1 file has the same prefix)",
    )
    parser.add_argument(
        "--model",
        default=AUTO,
        choices=(AUTO, *MODEL_NAMES),
        help="model name (default: auto-detect)",
    )
    parser.add_argument("--output", help="output directory (default: CKPT_DIR_tf2)")
    parser.add_argument("--no-optimizer", action="store_true", help="drop the Adam state")
    parser.add_argument(
        "--weights-h5", metavar="FILE", help="also write Keras weights (.weights.h5)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the mapping, write nothing")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the logits comparison with the legacy graph (it builds both models and runs "
        "both; for a large model most of the time). Every copied tensor's crc32c is still "
        "checked and the index still checked against the port's variables",
    )
    parser.add_argument(
        "--timings",
        metavar="FILE",
        help="write the conversion's phases (seconds: plan, write, legacy_build, "
        "legacy_restore, legacy_forward, port_load, port_forward, convert) as JSON to FILE",
    )
    parser.add_argument(
        "--option",
        action="append",
        type=_option,
        metavar="NAME=VALUE",
        help="a legacy model option the checkpoint's shapes cannot show, e.g. "
        "linear_last_conv=True or fix_norm2_depth_radius=True (repeatable): the port is built "
        "with its counterpart, port_config.json records it and the legacy graph it is verified "
        "against is built with it. Options: docs/options.md",
    )
    parser.add_argument(
        "--rules",
        metavar="FILE",
        help="generic mode: map by this JSON rules file (see converters/rules.py; "
        "`python -m converters.rules init CKPT` writes a starter one) into --model, or into "
        "a plain tf.Module when --model is auto; needs --output unless --dry-run. The other "
        "flags apply (--no-verify skips the bit-exact read-back)",
    )
    target = parser.add_argument_group(
        "into your own Keras model (see converters/target.py)",
        "--target MODULE:FUNCTION, path/to/file.py:FUNCTION or FILE.keras: the checkpoint goes "
        "into that model (model.weights.h5 + a TF2 checkpoint in --output). Without --rules the "
        "mapping is proposed from the checkpoint's creation order (its .meta) and the shapes; "
        "an ambiguous one is refused (exit 2). With a .meta, the model is checked against the "
        "TF1 graph before publishing (exit 5 naming the first diverging layer).",
    )
    target.add_argument("--target", metavar="SPEC", help="the Keras model to convert into")
    target.add_argument(
        "--optimizer",
        action="store_true",
        help="with --target: write a built Adam even when the checkpoint has no Adam slots "
        "(default: only when it has them; --no-optimizer drops them)",
    )
    target.add_argument(
        "--inputs", metavar="NAME", help="with --target: the graph's input placeholder"
    )
    target.add_argument(
        "--outputs", metavar="NAME", help="with --target: the graph's output tensor (logits)"
    )
    return parser


def ckpt_v2_to_v1() -> argparse.ArgumentParser:
    """``python -m converters.ckpt_v2_to_v1``'s parser."""
    parser = argparse.ArgumentParser(
        prog="python -m converters.ckpt_v2_to_v1",
        description="Convert a tf2_port checkpoint into a TF1 Saver checkpoint (with its "
        "'checkpoint' state file) that the legacy graph restores. Exit codes: 2 usage / "
        "existing output, 3 unreadable input, 4 mapping error.",
    )
    parser.add_argument("ckpt", metavar="CKPT", help="tf2_port checkpoint directory or prefix")
    parser.add_argument("--model", required=True, choices=MODEL_NAMES)
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    return parser


def inspect() -> argparse.ArgumentParser:
    """``python -m converters.inspect``'s parser."""
    parser = argparse.ArgumentParser(
        prog="python -m converters.inspect",
        description="Describe a checkpoint (format, detected model, tensors) or --diff two.",
    )
    parser.add_argument("ckpt", metavar="CKPT", help="checkpoint directory, prefix or file")
    parser.add_argument("--diff", metavar="OTHER", help="compare with another checkpoint")
    return parser


def rules() -> argparse.ArgumentParser:
    """``python -m converters.rules``'s parser (subcommand ``init``)."""
    parser = argparse.ArgumentParser(
        prog="python -m converters.rules",
        description="Rules files for generic conversions (ckpt_v1_to_v2 --rules FILE). "
        "Exit codes: 2 usage error or existing output, 3 unreadable checkpoint.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser(
        "init",
        help="print a starter rules file for CKPT",
        description="Print (or write with --output) a rules file with one rule per variable, "
        "grouped by scope, targets in Keras naming, optimizer slots grouped. Unedited, it "
        "converts the checkpoint bit for bit into a plain tf.Module.",
    )
    start.add_argument("ckpt", metavar="CKPT", help="checkpoint directory, prefix or file")
    start.add_argument("--output", metavar="FILE", help="write here instead of printing")
    start.add_argument("--force", action="store_true", help="replace an existing FILE")
    quiet.add_verbose_flag(start)  # -v may also follow the subcommand
    return parser


def graph_to_savedmodel() -> argparse.ArgumentParser:
    """``python -m converters.graph_to_savedmodel``'s parser."""
    parser = argparse.ArgumentParser(
        prog="python -m converters.graph_to_savedmodel",
        description="Turn a TF1 graph (meta graph + checkpoint, or a frozen .pb) into a TF2 "
        "SavedModel with a serving_default signature, verified against a tf.compat.v1 Session "
        "on a random batch before it is published. Exit codes: 2 usage error / existing "
        "output, 3 unreadable input, 5 failed verification.",
    )
    parser.add_argument(
        "src", metavar="CKPT_OR_META_OR_PB", help="checkpoint (with PREFIX.meta), .meta, or .pb"
    )
    parser.add_argument("--inputs", required=True, help="input placeholders, comma-separated")
    parser.add_argument("--outputs", required=True, help="output tensors, comma-separated")
    parser.add_argument("--output", required=True, metavar="DIR", help="SavedModel directory")
    parser.add_argument("--force", action="store_true", help="replace an existing DIR")
    return parser


PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "ckpt_v1_to_v2": ckpt_v1_to_v2,
    "ckpt_v2_to_v1": ckpt_v2_to_v1,
    "inspect": inspect,
    "rules": rules,
    "graph_to_savedmodel": graph_to_savedmodel,
}


def parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``python -m converters.NAME``, with ``-v/--verbose``."""
    built = PARSERS[name]()
    quiet.add_verbose_flag(built)
    return built


def run(name: str, argv: list[str] | None = None) -> int:
    """``python -m converters.NAME``: parse, start TensorFlow quietly, run its ``main``."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser(name).parse_args(argv)  # --help and usage errors exit here
    quiet.toolkit_startup(verbose=quiet.verbose_requested(args))
    module = importlib.import_module(f"converters.{name}")
    return module.main(argv)
