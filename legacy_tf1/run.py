"""``python -m legacy_tf1.run [options] SCRIPT [args...]``: run a TF1 script unmodified.

The script runs as ``__main__`` in this process, with ``sys.argv`` =
``[SCRIPT, *args]``, ``sys.path[0]`` = its directory and the working
directory unchanged, under TF1 behaviour (``tf.compat.v1`` with v2 behaviour
disabled, ``tf.layers`` from tf_keras, ``tf.contrib`` on tf_slim, offline
``input_data`` / ``cifar10``). At the end a short report goes to stderr and,
with ``--report FILE``, a Markdown migration report to FILE: every legacy API
the script touched, what served it, the TF2 replacement, and for a failure
whether it is the script's own bug or an API the runner does not bridge.

Exit codes: the script's own (0, ``sys.exit(n)``), 1 for an uncaught
exception (its traceback printed without the runner's frames), 130 for
Ctrl-C, 143 for SIGTERM and 124 for ``--timeout`` (both write the report,
marked incomplete), 2 for a usage error of the runner itself.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import sys
import threading
import time
import tokenize
import types
from pathlib import Path

from formats import quiet
from legacy_tf1.shims import interrupt
from legacy_tf1.shims.failures import ScriptFiles, classify, print_script_traceback
from legacy_tf1.shims.importer import ScriptDirFinder, ShimRuntime
from legacy_tf1.shims.loops import cap_helpers, compile_script
from legacy_tf1.shims.report import (
    INCOMPLETE,
    INTERRUPTED,
    Failure,
    Outcome,
    Recorder,
    render_short,
    write_report,
)

EXIT_USAGE = 2
REPORT_HEADER = "# Migration report:"
# The directory holding the legacy_tf1 package: kept importable after sys.path[0] changes.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What to run and how (the command line, parsed)."""

    script: str
    args: tuple[str, ...] = ()
    cap_loops: int | None = None
    sample_data: bool = False
    report: str | None = None
    timeout: float | None = None


class UsageError(Exception):
    """A problem with the runner's own command line (exit code 2)."""


# ------------------------------------------------------------- sample data ---


def expected_data_dirs(source: str) -> list[tuple[str, str]]:
    """(kind, path) for each data directory the script names in a string literal.

    A literal whose last path component is ``MNIST_data``,
    ``cifar-10-batches-bin`` or ``cifar-10-batches-py`` counts (``'./x'``,
    ``'x/'``, ``'data/x'`` too).
    """
    from formats.sample import DIR_NAMES

    kinds = {name: kind for kind, name in DIR_NAMES.items()}
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
            path = os.path.normpath(node.value.strip())
            kind = kinds.get(os.path.basename(path))
            if kind is not None:
                found.setdefault(path, kind)
    return [(kind, path) for path, kind in found.items()]


def materialise_sample_data(source: str, recorder: Recorder) -> None:
    """``--sample-data``: write the embedded sample where the script expects data, if absent.

    Relative paths resolve against the working directory, as the script's
    own would. Absolute paths and partly filled directories are left alone
    (and noted): the option only ever creates data in the working directory.
    """
    from formats import sample

    for kind, path in expected_data_dirs(source):
        if os.path.isabs(path):
            recorder.note_data(f"{path}: absolute path, not materialised by --sample-data")
            continue
        if sample.is_complete(kind, path):
            recorder.note_data(f"{path}: already complete, left as it is")
            continue
        if os.path.isdir(path) and os.listdir(path):
            recorder.note_data(f"{path}: exists with other files, left as it is")
            continue
        sample.write_sample(kind, path)
        message = f"{path}: wrote the embedded {kind} sample (--sample-data)"
        print(f"[legacy_tf1.run] {message}", file=sys.stderr, flush=True)
        recorder.note_data(message)


# ---------------------------------------------------------------- running ---


class _Finisher:
    """Records the outcome and writes the reports exactly once (main thread or watcher)."""

    def __init__(self, recorder: Recorder, report_path: str | None) -> None:
        self.recorder = recorder
        self.report_path = report_path
        self._lock = threading.Lock()
        self._done = False

    def finish(self, outcome: Outcome) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self.recorder.outcome = outcome
            if self.report_path:
                try:
                    write_report(self.recorder, self.report_path)
                except OSError as error:
                    print(f"[legacy_tf1.run] could not write the report: {error}", file=sys.stderr)
            sys.stderr.write(render_short(self.recorder, self.report_path))
            sys.stderr.flush()


def _exit_code(error: SystemExit) -> int:
    """The process exit code Python would give for ``error``."""
    code = error.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _check_report_path(path: str | None) -> str | None:
    """Absolute report path; refuses to overwrite a file that is not one of our reports."""
    if path is None:
        return None
    absolute = os.path.abspath(path)
    if os.path.exists(absolute):
        try:
            with open(absolute, encoding="utf-8") as stream:
                first = stream.readline()
        except (OSError, UnicodeDecodeError):
            first = ""
        if not first.startswith(REPORT_HEADER):
            raise UsageError(
                f"--report {path}: the file exists and is not a migration report written by "
                "legacy_tf1.run; refusing to overwrite it"
            )
    return absolute


def _read_script(path: str) -> str:
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such script (expected a Python file to run)")
    # tokenize.open applies Python's source decoding (PEP 263 cookie, UTF-8 default).
    with tokenize.open(path) as stream:
        return stream.read()


class _ScriptEnvironment:
    """sys.argv / sys.path[0] / __main__ / meta_path as for ``python SCRIPT``; restored after."""

    def __init__(self, script: str, args: tuple[str, ...], runtime: ShimRuntime) -> None:
        self.script = script
        self.args = args
        self.runtime = runtime
        self.module = types.ModuleType("__main__")
        self.finder = ScriptDirFinder(runtime.script_dir, runtime.builtins)

    def __enter__(self) -> dict:
        self._saved = (list(sys.argv), list(sys.path), sys.modules.get("__main__"))
        sys.argv = [self.script, *self.args]
        sys.path[0:1] = [self.runtime.script_dir]
        if _PACKAGE_ROOT not in sys.path:
            sys.path.append(_PACKAGE_ROOT)  # our lazily imported shims must stay importable
        sys.modules["__main__"] = self.module
        sys.meta_path.insert(0, self.finder)
        namespace = self.module.__dict__
        namespace.update(
            __file__=self.script,
            __builtins__=self.runtime.builtins,
            __cached__=None,
            __loader__=None,
            __package__=None,
            __spec__=None,
        )
        return namespace

    def __exit__(self, *exc_info) -> None:
        argv, path, main_module = self._saved
        sys.argv, sys.path[:] = argv, path
        if main_module is not None:
            sys.modules["__main__"] = main_module
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)


def run_script(options: RunOptions) -> int:
    """Run the script as described in the module docstring; return its exit code.

    Changes process-wide state (TF1 mode, import hooks, SIGINT handling):
    call it in a process of its own, as ``python -m legacy_tf1.run`` does.
    """
    report_path = _check_report_path(options.report)
    source = _read_script(options.script)
    script_path = os.path.abspath(options.script)
    command = ["python", "-m", "legacy_tf1.run", *_option_words(options), options.script]
    recorder = Recorder(script_path, [*command, *options.args])
    finisher = _Finisher(recorder, report_path)
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before anything imports TensorFlow
    offline = None
    if options.sample_data:
        from legacy_tf1.shims.offline import OfflineNetwork

        offline = OfflineNetwork(recorder)
        offline.install()
    runtime = ShimRuntime(
        recorder, os.path.dirname(script_path), cap_loops=options.cap_loops, offline=offline
    )
    files = ScriptFiles(script_path, runtime.script_dir)
    started = time.monotonic()
    if options.sample_data:
        materialise_sample_data(source, recorder)
    watcher = interrupt.InterruptWatcher(
        lambda: finisher.finish(_interrupted(started, "Ctrl-C; the script did not stop in time")),
        timeout_s=options.timeout,
        on_stop=lambda stopped: finisher.finish(
            _incomplete(started, stopped, "the script did not stop in time")
        ),
    )
    watcher.start()
    runner_pid = os.getpid()
    outcome = _execute(options, source, script_path, runtime, recorder, files, watcher, started)
    watcher.stop()
    if os.getpid() != runner_pid:
        # A child the script forked ran off the end of the script: exit as Python
        # would, leaving the summary and report to the parent (the real outcome).
        return outcome.exit_code
    finisher.finish(outcome)
    if outcome.status in ("interrupted", "incomplete"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(outcome.exit_code)  # daemon queue threads must not block exit
    return outcome.exit_code


def _execute(
    options: RunOptions,
    source: str,
    script_path: str,
    runtime: ShimRuntime,
    recorder: Recorder,
    files: ScriptFiles,
    watcher: interrupt.InterruptWatcher,
    started: float,
) -> Outcome:
    """Compile and run the script; turn how it ended into an Outcome."""
    try:
        code = compile_script(source, script_path, cap=options.cap_loops, recorder=recorder)
        with _ScriptEnvironment(options.script, options.args, runtime) as namespace:
            if options.cap_loops is not None:
                namespace.update(cap_helpers(options.cap_loops, recorder))
            exec(code, namespace)
    except SystemExit as error:
        code_value = _exit_code(error)
        status = "completed" if code_value == 0 else "exited"
        return Outcome(code_value, status, time.monotonic() - started)
    except interrupt.ScriptStopped as stopped:
        watcher.handled.set()
        interrupt.stop_tensorflow_work()
        return _incomplete(started, stopped, "queue runners stopped and sessions closed")
    except KeyboardInterrupt:
        watcher.handled.set()
        interrupt.stop_tensorflow_work()
        return _interrupted(started, "Ctrl-C; queue runners stopped and sessions closed")
    except BaseException as error:  # noqa: BLE001 - report whatever the script raised
        if watcher.stopped is not None:
            # A session closed by the watcher raises CancelledError first.
            watcher.handled.set()
            return _incomplete(started, watcher.stopped, "stopped while TensorFlow was running")
        if watcher.interrupted:
            # A session closed by the watcher raises CancelledError before the KeyboardInterrupt.
            watcher.handled.set()
            return _interrupted(started, "Ctrl-C while TensorFlow was running")
        sys.stdout.flush()
        print_script_traceback(error, files, sys.stderr)
        return Outcome(1, "failed", time.monotonic() - started, classify(error, files))
    return Outcome(0, "completed", time.monotonic() - started)


def _interrupted(started: float, explanation: str) -> Outcome:
    failure = Failure(INTERRUPTED, "KeyboardInterrupt", "-", explanation)
    return Outcome(interrupt.EXIT_INTERRUPTED, "interrupted", time.monotonic() - started, failure)


def _incomplete(started: float, stopped: interrupt.ScriptStopped, detail: str) -> Outcome:
    failure = Failure(INCOMPLETE, stopped.reason, "-", f"{stopped.reason}; {detail}")
    return Outcome(stopped.exit_code, "incomplete", time.monotonic() - started, failure)


def _option_words(options: RunOptions) -> list[str]:
    words = []
    if options.cap_loops is not None:
        words += ["--cap-loops", str(options.cap_loops)]
    if options.sample_data:
        words.append("--sample-data")
    if options.report:
        words += ["--report", options.report]
    if options.timeout is not None:
        words += ["--timeout", f"{options.timeout:g}"]
    return words


# -------------------------------------------------------------------- CLI ---


def build_parser() -> argparse.ArgumentParser:
    """The runner's argument parser (options must precede SCRIPT)."""
    parser = argparse.ArgumentParser(
        prog="python -m legacy_tf1.run",
        description=(
            "Run an original-style TensorFlow 1.x script unmodified on TensorFlow 2.21 "
            "and report every legacy API it used."
        ),
        epilog=(
            "Everything after SCRIPT is passed to the script as its sys.argv[1:]. "
            "Exit code: the script's own; 1 for an uncaught exception; 130 for Ctrl-C; "
            "143 for SIGTERM and 124 for --timeout (report marked incomplete); "
            "2 for a runner usage error."
        ),
    )
    parser.add_argument(
        "--cap-loops",
        type=_non_negative,
        metavar="N",
        help=(
            "smoke test: run every `for ... in range(...)` and every `while` statement at most "
            "N times, and stop every StopAtStepHook N steps after its session starts "
            "(MonitoredTrainingSession, Supervisor and coord.should_stop() loops end cleanly)"
        ),
    )
    parser.add_argument(
        "--sample-data",
        action="store_true",
        help=(
            "write the embedded sample wherever the script names MNIST_data/, "
            "cifar-10-batches-bin/ or cifar-10-batches-py/ (relative paths, if absent), "
            "and serve the usual MNIST / CIFAR-10 download URLs from it offline; any other "
            "network access fails at once naming the URL"
        ),
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop the script after SECONDS; the report is written, marked incomplete (exit 124)",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="write the Markdown migration report to FILE (only overwrites an earlier report)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show TensorFlow's C++ start-up log lines (hidden by default; the script's own "
        "output, warnings and errors are always shown)",
    )
    parser.add_argument("script", metavar="SCRIPT", help="the TF1 Python script to run")
    parser.add_argument(
        "script_args", nargs=argparse.REMAINDER, metavar="...", help="arguments for the script"
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0; got {text}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0; got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the script, return the exit code."""
    parsed = build_parser().parse_args(argv)
    quiet.configure(verbose=parsed.verbose)
    options = RunOptions(
        script=parsed.script,
        args=tuple(parsed.script_args),
        cap_loops=parsed.cap_loops,
        sample_data=parsed.sample_data,
        report=parsed.report,
        timeout=parsed.timeout,
    )
    try:
        return run_script(options)
    except UsageError as error:
        print(f"legacy_tf1.run: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
