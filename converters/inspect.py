"""What a checkpoint holds: ``python -m converters.inspect CKPT [--diff OTHER]``.

Prints the format (V1/V2, object-based or name-based), the detected model (name-based
checkpoints), and each tensor's dtype, shape and bytes with totals. ``--diff``
compares two checkpoints tensor by tensor: missing, extra, max abs difference.
"""

# ruff: noqa: E402 -- `python -m` runs the guard below before the TensorFlow imports

from __future__ import annotations

import sys

if __name__ == "__main__":  # parse first: --help and usage errors answer before TF loads
    from converters.cli import run

    sys.exit(run("inspect"))

from typing import TextIO

import numpy as np

from converters import rules
from converters.bundle import MappingError, Reader, resolve
from converters.errors import run_cli
from converters.plan import detect_model


def describe(ckpt: str, out: TextIO) -> str | None:
    """Print the checkpoint's summary to ``out``; return the detected model (or None)."""
    resolved = resolve(ckpt)
    reader = Reader(resolved.prefix)
    kind = "object-based (TF2)" if reader.object_based else "name-based (TF1 Saver)"
    print(f"{resolved.prefix}: {resolved.format}, {kind}", file=out)
    model = None
    if not reader.object_based:
        try:
            model = detect_model(reader.shapes(), resolved.prefix)
        except MappingError as error:
            print(f"model: none ({str(error).splitlines()[0]})", file=out)
            for line in rules.holdings(reader.shapes()):
                print(f"  {line}", file=out)
            print(f"  starter rules file: python -m converters.rules init {ckpt}", file=out)
    if model:
        print(f"model: {model}", file=out)
    total = 0
    for name in reader.tensor_names():
        info = reader.infos[name]
        reader.get(name)  # reading checks the tensor's crc32c: corrupt data is an error
        total += info.nbytes
        print(f"  {name}  {info.dtype}  {list(info.shape)}  {info.nbytes} B", file=out)
    print(f"total: {len(reader.tensor_names())} tensors, {total} bytes", file=out)
    return model


def diff(left: str, right: str, out: TextIO) -> bool:
    """Print missing / extra / differing tensors of ``right`` against ``left``; True if identical."""
    a, b = Reader(resolve(left).prefix), Reader(resolve(right).prefix)
    names_a, names_b = set(a.tensor_names()), set(b.tensor_names())
    for name in sorted(names_a - names_b):
        print(f"missing: {name}", file=out)
    for name in sorted(names_b - names_a):
        print(f"extra:   {name}", file=out)
    same = names_a == names_b
    for name in sorted(names_a & names_b):
        x, y = a.get(name), b.get(name)
        if x.shape != y.shape:
            print(f"shape:   {name} {list(x.shape)} vs {list(y.shape)}", file=out)
            same = False
            continue
        if x.tobytes() != y.tobytes():
            delta = np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))) if x.size else 0.0
            print(f"differs: {name} max abs difference {delta:.6g}", file=out)
            same = False
    print("identical" if same else "different", file=out)
    return same


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code (1 when --diff finds differences)."""
    from converters import cli

    parser = cli.parser("inspect")
    args = parser.parse_args(argv)
    outcome = {}

    def run(_):
        describe(args.ckpt, sys.stdout)
        if args.diff:
            outcome["same"] = diff(args.ckpt, args.diff, sys.stdout)

    code = run_cli(run, argv)
    return code if code or outcome.get("same", True) else 1
