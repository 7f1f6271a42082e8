"""Quiet TensorFlow start-up for the toolkit's command lines.

Importing TensorFlow prints a dozen lines of C++ start-up chatter on stderr
(oneDNN, "Could not find cuda drivers", cpu_feature_guard, absl's
"All log messages before absl::InitializeLog()"...), written by native code
straight to file descriptor 2, which Python's ``warnings`` and ``logging``
cannot reach. :func:`tensorflow_startup` captures fd 2 while TensorFlow loads
and looks for devices, then replays every line that is not known start-up
noise, so a real error stays visible. :func:`quiet_deprecations` hides TF's
Python deprecation notices for the legacy APIs the toolkit calls on purpose.
``--verbose`` (:func:`add_verbose_flag`) turns all of this off.

This module imports nothing heavy: CLIs use it before parsing is done.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator

# One pattern per known start-up message; matched anywhere in the line so the
# absl prefix ("I0000 00:00:... 1234 port.cc:153] ") may vary.
NOISE_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
        r"oneDNN custom operations are on",
        r"Could not find cuda drivers on your machine",
        r"failed call to cuInit",
        r"cpu_feature_guard\.cc:\d+\]",
        r"This TensorFlow binary is optimized to use available CPU instructions",
        r"^To enable the following instructions: .*rebuild TensorFlow",
        r"TF-TRT Warning: Could not find TensorRT",
        r"Unable to register cu(DNN|FFT|BLAS) factory",
        r"computation placer already registered",
        r"Cannot dlopen some GPU libraries",
        r"Skipping registering GPU devices",
        r"could not open file to read NUMA node",
        r"Your kernel may have been built without NUMA support",
    )
)

_VERBOSE = False  # set once per process by configure(), read by the context managers


def configure(*, verbose: bool = False) -> None:
    """Set this process's mode; quiet mode defaults ``TF_CPP_MIN_LOG_LEVEL`` to 2.

    A value the user exported is kept. Call before TensorFlow is imported.
    """
    global _VERBOSE
    _VERBOSE = verbose
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``-v/--verbose``: show TensorFlow's start-up and deprecation messages.

    The flag may be given on a parser and on its subcommands' parsers: it has no
    default (read it with :func:`verbose_requested`), so a subcommand's parser
    does not reset a ``-v`` given before the subcommand.
    """
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show TensorFlow's start-up log lines and deprecation warnings (hidden by default)",
    )


def verbose_requested(args: argparse.Namespace) -> bool:
    """Whether ``-v/--verbose`` was given (see :func:`add_verbose_flag`)."""
    return bool(getattr(args, "verbose", False))


def is_startup_noise(line: str) -> bool:
    """Whether ``line`` (one stderr line, newline optional) is known start-up chatter."""
    return any(pattern.search(line) for pattern in NOISE_PATTERNS)


def real_lines(lines: Iterable[str]) -> list[str]:
    """The lines of ``lines`` that are not start-up noise, in order (blank lines dropped)."""
    return [line for line in lines if line.strip() and not is_startup_noise(line)]


@contextlib.contextmanager
def captured_fd2() -> Iterator[None]:
    """Send fd 2 to a scratch file for the block, then replay its real lines to stderr.

    In verbose mode the block runs untouched. The replay also happens when the
    block raises, so an import error's own messages are never lost.
    """
    if _VERBOSE:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    # sys.stderr itself is left alone: TF's log handler keeps the object it finds
    # at import time. Python's writes inside the block are held and replayed too.
    # A file rather than a pipe: nothing has to drain it while TF loads.
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            scratch.seek(0)
            text = scratch.read().decode("utf-8", errors="replace")
            kept = real_lines(text.splitlines())
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def tensorflow_startup() -> None:
    """Import TensorFlow and initialise its platforms with the noise filtered out.

    Listing the devices is where CUDA is probed ("failed call to cuInit"), so it
    happens here too. Later ``import tensorflow`` statements are then free.
    """
    with captured_fd2():
        import tensorflow as tf

        tf.config.list_physical_devices()


class _DeprecationFilter(logging.Filter):
    """Drops TensorFlow's "... is deprecated and will be removed" log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("is deprecated" in message or "Instructions for updating" in message)


_DEPRECATION_FILTER = _DeprecationFilter()


def quiet_deprecations() -> None:
    """Hide deprecation notices for the legacy APIs the toolkit itself calls on purpose.

    TF logs them through the ``tensorflow`` logger (queue runners, shuffle_batch,
    Variable.load, colocate_with...); tf_keras' legacy ``tf.layers`` warn through
    ``warnings``. Not for ``legacy_tf1.run``: there the migration report is where
    users learn what their script uses. No-op in verbose mode.
    """
    if _VERBOSE:
        return
    logger = logging.getLogger("tensorflow")
    if _DEPRECATION_FILTER not in logger.filters:
        logger.addFilter(_DEPRECATION_FILTER)
    warnings.filterwarnings("ignore", message=r".*is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(tensorflow|tf_keras)")


@contextlib.contextmanager
def deprecations_hidden() -> Iterator[None]:
    """Hide TF's deprecation log records for the block only (unless verbose).

    For a deprecated call the toolkit makes on the user's behalf where the user's
    own notices must stay visible (``legacy_tf1.run``'s ``disable_v2_behavior``).
    """
    logger = logging.getLogger("tensorflow")
    added = not _VERBOSE and _DEPRECATION_FILTER not in logger.filters
    if added:
        logger.addFilter(_DEPRECATION_FILTER)
    try:
        yield
    finally:
        if added:
            logger.removeFilter(_DEPRECATION_FILTER)


def toolkit_startup(*, verbose: bool = False) -> None:
    """What a toolkit command runs after parsing: configure, quiet deprecations, load TF."""
    configure(verbose=verbose)
    quiet_deprecations()
    tensorflow_startup()
