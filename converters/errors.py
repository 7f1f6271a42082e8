"""The converters' user-facing errors, their exit codes, and the CLI wrapper that applies them."""

from __future__ import annotations

import sys

EXIT_USAGE, EXIT_INPUT, EXIT_MAPPING, EXIT_VERIFY = 2, 3, 4, 5


class ConverterError(Exception):
    """A user-facing error; ``exit_code`` tells the CLI how to exit."""

    exit_code = 1


class UsageError(ConverterError):
    """Bad arguments, or an output that exists without ``--force``."""

    exit_code = EXIT_USAGE


class InputError(ConverterError):
    """A checkpoint that is missing, unreadable or corrupt."""

    exit_code = EXIT_INPUT


class MappingError(ConverterError):
    """Checkpoint keys and model variables that do not correspond."""

    exit_code = EXIT_MAPPING


class VerificationError(ConverterError):
    """Converted weights that do not reproduce the source's outputs."""

    exit_code = EXIT_VERIFY


def run_cli(function, argv) -> int:
    """Run ``function(argv)``, turning converter errors into messages and exit codes."""
    try:
        function(argv)
    except ConverterError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0
