"""What the runner records while a script runs, and the migration report it writes.

The :class:`Recorder` collects every legacy API the script touched (and which
shim served it), the loops ``--cap-loops`` shortened, the sample data written,
the runtime bridges installed and, if the script failed, why. ``render_markdown``
turns that into the report; ``render_short`` into the few lines printed to
stderr at the end.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from pathlib import Path

from legacy_tf1.shims.replacements import REPLACEMENTS, replacement_for

# Failure kinds (what the report says about a failed run).
SCRIPT_BUG = "script bug"
UNBRIDGED_API = "unbridged API"
OTHER = "other"
MISSING_MODULE = "missing module"
NETWORK = "network access"
INTERRUPTED = "interrupted"
INCOMPLETE = "incomplete"

# How TF2 relates to a legacy API at the same path.
SAME = "same"  # TF2 has the very same object: nothing to migrate
CHANGED = "changed"  # TF2 has a different object under that name (signature/semantics)
ABSENT = "absent"  # TF2 has nothing there

_SHORT_LIST = 8
_TF1_MODE = (
    "`tf.compat.v1` with v2 behaviour disabled (graph mode, TF1 shapes); "
    "`TF_USE_LEGACY_KERAS=1` (tf.layers from tf_keras)"
)  # how many API names the stderr summary spells out


@dataclasses.dataclass
class ApiUse:
    """One legacy API the script touched."""

    path: str
    served_by: str
    tf2: str
    count: int = 1


@dataclasses.dataclass
class LoopCap:
    """One ``for ... in range(...)`` loop that ``--cap-loops`` wrapped."""

    lineno: int
    source: str
    cap: int
    entered: int = 0
    truncated: int = 0
    longest_requested: int | None = None
    most_run: int = 0  # the most iterations one entry of the loop ran


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why the script failed, for the report."""

    kind: str
    exception: str
    location: str
    explanation: str


@dataclasses.dataclass
class Outcome:
    """How the run ended."""

    exit_code: int
    status: str  # "completed", "exited", "failed", "interrupted", "incomplete"
    seconds: float
    failure: Failure | None = None


class Recorder:
    """Collects what the runner did for one script; thread-safe enough for queue runners."""

    def __init__(self, script: str | os.PathLike, command: list[str]) -> None:
        self.script = os.fspath(script)
        self.command = list(command)
        self.apis: dict[str, ApiUse] = {}
        self.refused: dict[str, str] = {}
        self.loops: dict[int, LoopCap] = {}
        self.data_notes: list[str] = []
        self.bridges: dict[str, str] = {}
        self.numpy: dict[str, str] = {}
        self.session_caps: list[str] = []
        self.network: list[str] = []
        self.outcome: Outcome | None = None
        self.tf1_mode = False  # set when the runner imported TensorFlow in TF1 mode
        self._lock = threading.Lock()

    def use(self, path: str, served_by: str, *, tf2: str = ABSENT) -> None:
        """Note that the script touched the legacy API ``path`` (``tf2``: SAME/CHANGED/ABSENT)."""
        with self._lock:
            record = self.apis.get(path)
            if record is None:
                self.apis[path] = ApiUse(path, served_by, tf2)
            else:
                record.count += 1

    def refuse(self, path: str, suggestion: str) -> None:
        """Note a legacy API the script asked for and the runner does not serve."""
        with self._lock:
            self.refused.setdefault(path, suggestion)

    def register_loop(self, lineno: int, source: str, cap: int) -> None:
        """Declare a capped loop at compile time (so never-run loops show too)."""
        self.loops[lineno] = LoopCap(lineno, source, cap)

    def loop_entered(self, lineno: int, requested: int | None) -> None:
        """A capped loop started; ``requested`` is its length when known."""
        with self._lock:
            loop = self.loops.setdefault(lineno, LoopCap(lineno, "", 0))
            loop.entered += 1
            if requested is not None:
                loop.longest_requested = max(loop.longest_requested or 0, requested)
                loop.most_run = max(loop.most_run, min(requested, loop.cap))
                if requested > loop.cap:
                    loop.truncated += 1

    def loop_ran(self, lineno: int, iterations: int, stopped: bool) -> None:
        """A capped ``while`` loop ran ``iterations`` times; ``stopped``: the cap ended it."""
        with self._lock:
            loop = self.loops.setdefault(lineno, LoopCap(lineno, "", 0))
            loop.most_run = max(loop.most_run, iterations)
            loop.truncated += int(stopped)

    def note_data(self, message: str) -> None:
        """Record sample data written on the script's behalf."""
        with self._lock:
            self.data_notes.append(message)

    def bridge(self, name: str, description: str) -> None:
        """Record a runtime bridge (a patch of TF/tf_slim internals) that was installed."""
        with self._lock:
            self.bridges.setdefault(name, description)

    def numpy_bridge(self, name: str, removed_in: str, replacement: str) -> None:
        """Record a numpy 1 API the script used that the installed numpy removed."""
        with self._lock:
            self.numpy.setdefault(
                name, f"removed in numpy {removed_in}, bridged (numpy 2: {replacement})"
            )

    def cap_session(self, message: str) -> None:
        """Record a session-driven loop bound that ``--cap-loops`` applied."""
        with self._lock:
            if message not in self.session_caps:
                self.session_caps.append(message)

    def note_network(self, message: str) -> None:
        """Record a download served from the sample, or network access refused."""
        with self._lock:
            self.network.append(message)

    def legacy_apis(self) -> list[ApiUse]:
        """APIs that need a change for TF2, in first-use order."""
        return [use for use in self.apis.values() if _needs_migration(use)]

    def unchanged_apis(self) -> list[ApiUse]:
        """APIs the script used that TF2 serves unchanged at the same path."""
        return [use for use in self.apis.values() if not _needs_migration(use)]


def _needs_migration(use: ApiUse) -> bool:
    # Some TF1 idioms are still exported by TF2 (tf.train.Coordinator, tf.Graph) but
    # have an idiomatic replacement: our table has the last word.
    return use.tf2 != SAME or use.path in REPLACEMENTS


def _code(text: str) -> str:
    return f"`{text}`"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _status_line(outcome: Outcome | None) -> str:
    if outcome is None:
        return "**incomplete**: did not finish (the runner stopped before the script ended)"
    text = f"**{outcome.status}** (exit code {outcome.exit_code}) after {outcome.seconds:.1f} s"
    if outcome.failure is not None:
        text += f"; failure: **{outcome.failure.kind}**"
    return text


def render_markdown(recorder: Recorder) -> str:
    """The full Markdown migration report."""
    name = os.path.basename(recorder.script)
    lines = [
        f"# Migration report: {name}",
        "",
        f"- script: `{recorder.script}`",
        f"- command: `{' '.join(recorder.command)}`",
        f"- result: {_status_line(recorder.outcome)}",
        f"- TF1 mode: {_TF1_MODE if recorder.tf1_mode else 'not needed (TensorFlow never imported)'}",
        "",
    ]
    lines += _failure_section(recorder.outcome)
    lines += _legacy_section(recorder)
    lines += _unchanged_section(recorder)
    lines += _refused_section(recorder)
    lines += _list_section(
        "numpy 1 APIs bridged", [f"{_code(k)}: {v}" for k, v in recorder.numpy.items()]
    )
    lines += _loops_section(recorder)
    lines += _list_section("Session loops bounded (--cap-loops)", recorder.session_caps)
    lines += _list_section("Network (--sample-data)", recorder.network)
    lines += _list_section("Sample data written", recorder.data_notes)
    lines += _list_section(
        "Runtime bridges installed",
        [f"{_code(key)}: {value}" for key, value in recorder.bridges.items()],
    )
    return "\n".join(lines).rstrip() + "\n"


def _failure_section(outcome: Outcome | None) -> list[str]:
    if outcome is None or outcome.failure is None:
        return []
    failure = outcome.failure
    return [
        "## Failure",
        "",
        f"- kind: **{failure.kind}**: {failure.explanation}",
        f"- exception: `{failure.exception}`",
        f"- raised at: `{failure.location}`",
        "",
    ]


def _legacy_section(recorder: Recorder) -> list[str]:
    uses = recorder.legacy_apis()
    lines = [f"## Legacy APIs the script used ({len(uses)})", ""]
    if not uses:
        return [*lines, "None.", ""]
    rows = [
        (_code(use.path), _code(use.served_by), replacement_for(use.path, use.tf2 == CHANGED))
        for use in uses
    ]
    return [*lines, *_table(("legacy API", "served by", "TF2 replacement"), rows), ""]


def _unchanged_section(recorder: Recorder) -> list[str]:
    uses = recorder.unchanged_apis()
    if not uses:
        return []
    names = ", ".join(_code(use.path) for use in uses)
    return [
        f"## Used unchanged in TF2 ({len(uses)})",
        "",
        "Served by `tf.compat.v1`, which hands out the same object as TF2 at the same path:",
        names,
        "",
    ]


def _refused_section(recorder: Recorder) -> list[str]:
    if not recorder.refused:
        return []
    rows = [(_code(path), text) for path, text in recorder.refused.items()]
    return [
        "## Requested but not bridged",
        "",
        *_table(("legacy API", "suggestion"), rows),
        "",
    ]


def _loops_section(recorder: Recorder) -> list[str]:
    if not recorder.loops:
        return []
    rows = []
    for loop in sorted(recorder.loops.values(), key=lambda item: item.lineno):
        requested = "?" if loop.longest_requested is None else str(loop.longest_requested)
        rows.append(
            (
                str(loop.lineno),
                _code(loop.source),
                str(loop.entered),
                requested,
                f"{loop.most_run} (cap {loop.cap})",
            )
        )
    header = ("line", "loop", "times entered", "iterations asked", "iterations run")
    return ["## Loops capped (--cap-loops)", "", *_table(header, rows), ""]


def _list_section(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [f"## {title}", "", *(f"- {item}" for item in items), ""]


def render_short(recorder: Recorder, report_path: str | None) -> str:
    """A few lines for stderr: outcome, failure kind, what was bridged, where the report is."""
    prefix = "[legacy_tf1.run]"
    name = os.path.basename(recorder.script)
    outcome = recorder.outcome
    lines = [f"{prefix} {name}: {_status_line(outcome).replace('**', '')}"]
    if outcome is not None and outcome.failure is not None:
        failure = outcome.failure
        where = (
            failure.explanation if failure.kind in (INTERRUPTED, INCOMPLETE) else failure.location
        )
        lines.append(f"{prefix}   {failure.kind}: {failure.exception} ({where})")
    uses = recorder.legacy_apis()
    shown = ", ".join(use.path for use in uses[:_SHORT_LIST])
    more = f" (+{len(uses) - _SHORT_LIST} more)" if len(uses) > _SHORT_LIST else ""
    lines.append(f"{prefix}   bridged {len(uses)} legacy APIs: {shown or '-'}{more}")
    if recorder.refused:
        lines.append(f"{prefix}   not bridged: {', '.join(recorder.refused)}")
    truncated = [loop for loop in recorder.loops.values() if loop.truncated]
    if recorder.loops:
        lines.append(
            f"{prefix}   loops capped: {len(truncated)} of {len(recorder.loops)} loops shortened"
        )
    if report_path:
        lines.append(f"{prefix}   report: {report_path}")
    return "\n".join(lines) + "\n"


def write_report(recorder: Recorder, path: str | os.PathLike) -> Path:
    """Write the Markdown report atomically (temp file beside it, then ``os.replace``)."""
    target = Path(path)
    text = render_markdown(recorder)
    directory = target.parent if str(target.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target
