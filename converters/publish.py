"""Publish stage: a conversion's output appears whole, atomically, or not at all.

Every converter writes into a scratch directory beside ``--output``
(:func:`atomic_directory`), verifies there, and only then renames it into
place; an existing output is replaced only with ``--force``, after the new one
is complete. Scratch directories of killed runs are cleaned up first.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

from converters.errors import UsageError

TEMP_TAG, OLD_TAG = "tmp", "old"


def _scratch_name(output: str, tag: str) -> str:
    """``.OUT.TAG-PID-`` : our scratch directories beside ``output``, named after their owner."""
    return f".{os.path.basename(output)}.{tag}-{os.getpid()}-"


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_scratch(output: str) -> Iterator[tuple[str, str]]:
    """(tag, path) of our scratch directories beside ``output`` whose process is gone."""
    parent, base = os.path.dirname(output), os.path.basename(output)
    pattern = re.compile(rf"\.{re.escape(base)}\.({TEMP_TAG}|{OLD_TAG})-(\d+)-[\w]+")
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        found = pattern.fullmatch(name)
        path = os.path.join(parent, name)
        if found and os.path.isdir(path) and not _owner_alive(int(found.group(2))):
            yield found.group(1), path


def clean_stale_scratch(output: str, log: TextIO | None = None) -> None:
    """Remove what a killed conversion left beside ``output``; restore a displaced output.

    A ``.OUT.tmp-PID-*`` directory of a dead process is a half-written output:
    removed. A ``.OUT.old-PID-*/previous`` is the user's former output, moved
    aside by ``--force`` just before the kill: put back when ``output`` is
    missing, else removed (the new output had already replaced it).
    Directories of live processes (a concurrent conversion) are left alone.
    """
    output, log = os.path.abspath(output), log or sys.stderr
    for tag, path in _stale_scratch(output):
        previous = os.path.join(path, "previous")
        if tag == OLD_TAG and os.path.isdir(previous) and not os.path.exists(output):
            with contextlib.suppress(OSError):
                os.rename(previous, output)
                print(f"{output}: restored from {path} (a killed --force run)", file=log)
        shutil.rmtree(path, ignore_errors=True)
        print(f"{output}: removed {path} (left by a killed conversion)", file=log)


def _publish(temp: str, output: str, parent: str, force: bool) -> None:
    """Rename ``temp`` to ``output``; with ``force`` an existing ``output`` goes aside first.

    Without ``force`` the rename itself refuses a non-empty ``output``, so a
    conversion that lost a race for the same output raises OSError here
    instead of replacing the winner's.
    """
    if not (force and os.path.exists(output)):
        os.rename(temp, output)
        return
    old = tempfile.mkdtemp(prefix=_scratch_name(output, OLD_TAG), dir=parent)
    os.rename(output, os.path.join(old, "previous"))
    os.rename(temp, output)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(output: str, *, force: bool) -> Iterator[str]:
    """Yield a temporary directory beside ``output``; rename it to ``output`` on success.

    An existing ``output`` is refused unless ``force``; then it is replaced
    only after the new one is complete. Scratch directories of killed earlier
    runs are cleaned first (:func:`clean_stale_scratch`). Two conversions racing
    for the same ``output``: one wins, the other raises UsageError.
    """
    output = os.path.abspath(output)
    parent = os.path.dirname(output)
    clean_stale_scratch(output, sys.stderr)
    if os.path.exists(output) and not force:
        raise UsageError(f"{output}: already exists (use --force to replace it)")
    try:
        os.makedirs(parent, exist_ok=True)
        temp = tempfile.mkdtemp(prefix=_scratch_name(output, TEMP_TAG), dir=parent)
    except OSError as error:
        raise UsageError(f"{output}: cannot create the output here ({error.strerror})") from None
    try:
        yield temp
        try:
            _publish(temp, output, parent, force)
        except OSError as error:
            raise UsageError(
                f"{output}: another conversion wrote this output meanwhile; not replaced "
                f"({error.strerror}); use --force to replace it"
                if os.path.exists(output)
                else f"{output}: cannot move the finished output into place ({error.strerror})"
            ) from None
    finally:
        if os.path.exists(temp):
            shutil.rmtree(temp, ignore_errors=True)
