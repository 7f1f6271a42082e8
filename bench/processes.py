"""Process-level measurement: one child's wall time and peak resident set size."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class ProcessRun:
    """Wall time and peak resident set size of one finished child process."""

    seconds: float
    peak_rss_mb: float


def run_process(command: list[str], cwd: str | os.PathLike[str] | None = None) -> ProcessRun:
    """Run ``command`` to completion; its own wall time and peak RSS (``wait4``'s rusage)."""
    # stderr goes to a file, not a pipe: a chatty child could fill a pipe and block.
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr, env=_child_env()
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}:\n{tail}")
    return ProcessRun(seconds, usage.ru_maxrss / 1024)  # Linux reports kilobytes


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env
