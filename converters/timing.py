"""Wall-clock phases of a conversion, written by ``--timings FILE``.

The stages record their phases here (:func:`phase`); the command line writes
them as JSON when asked. Phases of one name add up (a stage run twice).
Names: ``plan``, ``write`` (skeleton, copy, index), ``legacy_build``,
``legacy_restore``, ``legacy_forward`` (the legacy graph's logits: one
``session.run``), ``port_load`` (``tf2_port.load`` of the written output),
``port_forward`` (the port's logits: one call), ``convert`` (all of it).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator

_phases: dict[str, float] = {}


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the wall time of the ``with`` body to phase ``name``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _phases[name] = _phases.get(name, 0.0) + time.perf_counter() - start


def reset() -> None:
    """Forget every recorded phase (a new conversion in the same process)."""
    _phases.clear()


def recorded() -> dict[str, float]:
    """Seconds by phase name, so far."""
    return dict(_phases)


def write(path: str) -> None:
    """The recorded phases as JSON at ``path``, written atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump({"seconds": recorded()}, stream, indent=1, sort_keys=True)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
