"""TF1 Saver checkpoint -> ``tf2_port`` checkpoint (weights, BN statistics, Adam state).

Library: :func:`convert`. CLI::

    python -m converters.ckpt_v1_to_v2 CKPT [--model NAME|auto] [--output DIR]
        [--no-optimizer] [--weights-h5 FILE] [--dry-run] [--force] [--rules FILE]
        [--option NAME=VALUE ...]
    python -m converters.ckpt_v1_to_v2 CKPT --target MODULE:FUNCTION --output DIR
        [--rules FILE] [--optimizer|--no-optimizer] [--inputs NAME] [--outputs NAME]

A conversion runs five stages, one module each: resolve (converters/bundle.py:
which files), plan (converters/plan.py for the registry tables,
converters/rules.py for a rules file, converters/target.py for the ``--target``
proposal; all give one :class:`converters.maps.Plan`), write
(converters/write.py: streaming or materialising, into a scratch directory),
verify (converters/verify.py against the legacy graph, converters/meta_graph.py
against a checkpoint's ``.meta``, or none) and publish (converters/publish.py:
atomic rename). This module keeps :func:`convert` and the command line.

Exit codes: 0 success, 2 usage error or existing output, 3 unreadable or corrupt
input, 4 mapping error, 5 failed verification.
"""

# ruff: noqa: E402 -- `python -m` runs the guard below before the TensorFlow imports

from __future__ import annotations

import sys

if __name__ == "__main__":  # parse first: --help and usage errors answer before TF loads
    from converters.cli import run

    sys.exit(run("ckpt_v1_to_v2"))

import dataclasses
import os
from typing import Any, TextIO

from converters import maps, rules, timing, write
from converters.bundle import InputError, MappingError, Reader, UsageError, resolve
from converters.errors import run_cli
from converters.options import OptionError
from converters.plan import detect_model, no_model_message, plan_for  # noqa: F401
from converters.port import (  # noqa: F401
    VERIFY_BATCH,
    PortShapes,
    PortState,
    build_port,
    legacy_options,
    option_overrides,
    port_logits,
    port_overrides,
    port_shapes,
    registry_learning_rate,
    verification_batch,
)
from converters.verify import check_restorable, legacy_logits, verify  # noqa: F401
from converters.write import (  # noqa: F401
    IGNORED_PREFIX,
    IGNORED_ROOT,
    MANIFEST_FILE,
    ignored_tensors,
)
from converters.write import _fast_source as _fast_source
from converters.write import save_port as _save_port  # noqa: F401

AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert` did."""

    source: str
    model: str
    output: str | None
    overrides: dict[str, Any]
    iterations: int | None
    max_abs_diff: float | None
    notes: tuple[str, ...]


def default_output(prefix: str) -> str:
    """``CKPT_DIR_tf2`` beside the checkpoint's directory."""
    directory = os.path.dirname(os.path.abspath(prefix))
    return directory.rstrip(os.sep) + "_tf2"


def convert(
    ckpt: str,
    *,
    model: str = AUTO,
    output: str | None = None,
    optimizer: bool = True,
    weights_h5: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    verification: bool = True,
    log: TextIO | None = None,
    options: dict[str, Any] | None = None,
) -> ConversionResult:
    """Convert the TF1 checkpoint ``ckpt`` (directory, prefix or one of its files).

    ``model`` is a registry name or "auto". Writes ``output`` (default
    ``CKPT_DIR_tf2``) atomically, then verifies it against the legacy graph.
    ``options`` are legacy model options the checkpoint's shapes cannot show
    (``linear_last_conv=True``): the port is built, and ``port_config.json``
    records, their port counterparts, and the legacy graph it is verified
    against is built with them. One the port lacks is a UsageError.
    """
    log = log or sys.stderr
    resolved = resolve(ckpt)
    for note in resolved.notes:
        print(note, file=log)
    reader = Reader(resolved.prefix)
    if reader.object_based:
        raise InputError(
            f"{resolved.prefix}: is an object-based (TF2) checkpoint, not a TF1 Saver one"
        )
    shapes = reader.shapes()
    name = detect_model(shapes, resolved.prefix) if model == AUTO else model
    maps.get(name)
    _check_options(name, options or {}, resolved.prefix)
    dtypes = {key: reader.infos[key].dtype for key in shapes}
    with timing.phase("plan"):
        plan, port = plan_for(name, shapes, optimizer=optimizer, dtypes=dtypes, options=options)
    if not plan.ok:
        raise MappingError(f"{resolved.prefix}: does not fit model {name!r}:\n{plan.report()}")
    print(
        f"{resolved.prefix}: {resolved.format} checkpoint of {name!r}, "
        f"{len(plan.assignments)} tensors mapped, {len(plan.ignored)} ignored",
        file=log,
    )
    if dry_run:
        for assignment in plan.assignments:
            print(
                f"  {assignment.source} -> {assignment.target} ({assignment.transform})", file=log
            )
        for key, reason in plan.ignored.items():
            print(f"  {key}: ignored ({reason})", file=log)
        return ConversionResult(
            resolved.prefix, name, None, port.overrides, None, None, resolved.notes
        )
    output = os.path.abspath(output or default_output(resolved.prefix))
    # Looked up here, at call time, so that a test replacing one of them reaches every stage.
    hooks = write.Hooks(
        build_port=build_port, fast_source=_fast_source, legacy_logits=legacy_logits
    )
    iterations, difference, port_model = write.write_output(
        output, port, reader, plan, resolved, optimizer, force, log, verification, hooks
    )
    if difference is not None:
        print(f"verified: max abs logits difference {difference:.3g}", file=log)
    if weights_h5:
        import tf2_port

        write.write_h5(port_model or tf2_port.load(name, output), weights_h5, force)
    print(f"wrote {output}", file=log)
    return ConversionResult(
        resolved.prefix, name, output, port.overrides, iterations, difference, resolved.notes
    )


def _check_options(name: str, options: dict[str, Any], prefix: str) -> None:
    """UsageError (exit 2) for an option the port cannot carry, naming it and the valid ones."""
    try:
        option_overrides(name, options)
    except OptionError as error:
        raise UsageError(f"{prefix}: {error}") from None


# ---- command line -------------------------------------------------------------------------


def _convert_target(args) -> None:
    from converters import target

    if args.model != AUTO:
        raise UsageError("--target and --model exclude each other")
    if args.optimizer and args.no_optimizer:
        raise UsageError("--optimizer and --no-optimizer exclude each other")
    if args.weights_h5:
        raise UsageError("--target always writes model.weights.h5 into --output")
    optimizer = True if args.optimizer else (False if args.no_optimizer else None)
    target.convert(
        args.ckpt,
        args.target,
        output=args.output,
        rules_file=args.rules,
        optimizer=optimizer,
        dry_run=args.dry_run,
        force=args.force,
        verification=not args.no_verify,
        inputs=args.inputs,
        outputs=args.outputs,
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    from converters import cli

    args = cli.parser("ckpt_v1_to_v2").parse_args(argv)

    def run(_):
        if args.option and (args.target or args.rules):
            raise UsageError("--option applies to registry models, not to --target or --rules")
        if args.target:
            if args.timings:
                raise UsageError("--timings applies to registry models, not to --target")
            _convert_target(args)
            return
        if args.optimizer or args.inputs or args.outputs:
            raise UsageError("--optimizer, --inputs and --outputs need --target")
        if args.timings and args.rules:
            raise UsageError("--timings applies to registry models, not to --rules")
        if args.rules:
            model = None if args.model == AUTO else args.model
            rules.convert(
                args.ckpt,
                args.rules,
                model=model,
                output=args.output,
                force=args.force,
                dry_run=args.dry_run,
                optimizer=not args.no_optimizer,
                verification=not args.no_verify,
                weights_h5=args.weights_h5,
            )
            return
        timing.reset()
        with timing.phase("convert"):
            convert(
                args.ckpt,
                model=args.model,
                output=args.output,
                optimizer=not args.no_optimizer,
                weights_h5=args.weights_h5,
                dry_run=args.dry_run,
                force=args.force,
                verification=not args.no_verify,
                options=dict(args.option or ()),
            )
        if args.timings:
            timing.write(args.timings)

    return run_cli(run, argv)
