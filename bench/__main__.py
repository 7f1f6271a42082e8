"""``python -m bench``: run every benchmark, each in a fresh process, and write the reports.

Writes ``reports/bench.json`` and ``reports/bench.md`` (and the cases' own
output, TF's log lines included, to ``reports/bench.log``); ``--publish`` also
writes the commit-ready copies ``docs/benchmarks.json`` and ``docs/benchmarks.md``.
``--quick`` runs one counted round of everything (a smoke test, not a measurement).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.cases import CASES, ROOT, TRAINABLE_MODELS
from bench.runner import pool_processes


@dataclasses.dataclass(frozen=True)
class Job:
    """One case run in its own process."""

    case: str
    rounds: int
    warmup: int = 1
    model: str | None = None
    process: int = 0  # which of the case's processes (see PROCESSES)

    @property
    def group(self) -> str:
        return f"{self.case}[{self.model}]" if self.model else self.case

    @property
    def label(self) -> str:
        return f"{self.group} process {self.process + 1}" if self.process else self.group


# A port/legacy ratio near 1 measured in one process differs from the next
# process's by a few percent (thread placement, memory layout), more than its
# rounds spread: these cases run in this many fresh processes, rounds pooled.
PROCESSES = {"train_step": 3, "vgg16_forward": 3}


def plan(
    cases: list[str], models: list[str], quick: bool, max_rounds: int | None = None
) -> list[Job]:
    """The jobs to run, with repetition counts chosen to fit ~20 minutes on 2 cores.

    Ratios near 1 (the train steps, VGG16's forward pass) run in several
    processes (:data:`PROCESSES`): their spread between processes is a few percent.

    ``max_rounds`` caps every case's counted rounds (for a busy machine).
    """
    rounds = {
        "train_step": 5,
        "vgg16_forward": 5,
        "input_pipeline": 7,
        "runner_overhead": 5,
        "converter": 3,
        "load": 5,
        "bf16_accuracy": 1,  # reads the seed study's recorded runs: nothing to repeat
    }
    if max_rounds is not None:
        rounds = {case: min(count, max_rounds) for case, count in rounds.items()}
    jobs = []
    for case in cases:
        # A train step is warmed up even in a quick run: its first call traces the function.
        warmup = 1 if case == "train_step" or not (quick or case == "bf16_accuracy") else 0
        for model in models if case == "train_step" else [None]:
            # vgg16 at batch 32 and 224x224 takes ~20 s per train step on 2 cores.
            one = quick or model == "vgg16"
            processes = 1 if one else PROCESSES.get(case, 1)
            count = 1 if quick else rounds[case]
            jobs += [Job(case, count, warmup, model, index) for index in range(processes)]
    return jobs


# Lines of a failed case's log shown on the console (the whole log is in the file).
FAILED_LOG_LINES = 40


def run_job(job: Job, log_path: Path) -> dict:
    """Run ``job`` in a child process and return its keyed results.

    The child's output (TF's C++ start-up lines, deprecation warnings) is
    appended to ``log_path`` rather than the console; a failing child raises
    CalledProcessError after its last lines are printed.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        output = Path(scratch) / "result.json"
        command = [sys.executable, "-m", "bench.cases", job.case, "--output", str(output)]
        command += ["--rounds", str(job.rounds), "--warmup", str(job.warmup)]
        if job.model:
            command += ["--model", job.model]
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"==== {job.label}: {shlex.join(command)}\n")
            log.flush()
            start = log.tell()
            completed = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if completed.returncode != 0:
            _print_tail(log_path, start)
            raise subprocess.CalledProcessError(completed.returncode, command)
        return json.loads(output.read_text())


def _print_tail(log_path: Path, start: int) -> None:
    with open(log_path, encoding="utf-8", errors="replace") as log:
        log.seek(start)
        lines = log.read().splitlines()[-FAILED_LOG_LINES:]
    print("\n".join(lines), file=sys.stderr, flush=True)


def machine_info() -> dict[str, object]:
    """Cores, CPU, its bfloat16 hardware, TF/Python versions and whether oneDNN custom ops are on."""
    from tf2_port import precision  # no TensorFlow import

    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "bfloat16": precision.bf16_hardware() or "none (bf16 cases skipped)",
        "python": platform.python_version(),
        "tensorflow": importlib.metadata.version("tensorflow"),
        "keras": importlib.metadata.version("keras"),
        # TF 2.21 turns oneDNN custom ops on by default on x86 Linux.
        "onednn": "on (default)" if onednn is None else ("off" if onednn == "0" else "on"),
        "platform": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and write the reports."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--models", nargs="+", choices=TRAINABLE_MODELS, default=TRAINABLE_MODELS)
    parser.add_argument("--quick", action="store_true", help="one round each: a smoke test")
    parser.add_argument("--max-rounds", type=int, help="cap every case's counted rounds")
    parser.add_argument("--reports", default=str(ROOT / "reports"), help="report directory")
    parser.add_argument("--publish", action="store_true", help="also write docs/benchmarks.*")
    args = parser.parse_args(argv)
    load_before = _load_average()
    started = time.perf_counter()
    reports = Path(args.reports)
    reports.mkdir(parents=True, exist_ok=True)
    log_path = reports / "bench.log"
    log_path.write_text("")  # this run's cases only
    print(f"[bench] the cases' own output goes to {log_path}", flush=True)
    runs: dict[str, list[dict]] = {}
    failures: dict[str, str] = {}
    for job in plan(args.cases, list(args.models), args.quick, args.max_rounds):
        print(f"[bench] {job.label}: {job.rounds} rounds after {job.warmup} warm-up", flush=True)
        job_start = time.perf_counter()
        try:
            runs.setdefault(job.group, []).append(run_job(job, log_path))
        except subprocess.CalledProcessError as error:
            # One broken case must not cost the figures of the others; it is reported.
            failures[job.label] = f"exit code {error.returncode} (see {log_path})"
            print(f"[bench] {job.label} FAILED: {failures[job.label]}", flush=True)
        print(f"[bench] {job.label} done in {time.perf_counter() - job_start:.0f} s", flush=True)
    results: dict = {}
    for group_runs in runs.values():
        results.update(group_runs[0] if len(group_runs) == 1 else pool_processes(group_runs))
    meta = {
        "command": "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
        "machine": machine_info(),
        "load_average": {"before": load_before, "after": _load_average()},
        "total_s": round(time.perf_counter() - started),
        "failures": failures,
    }
    document = report.assemble(results, meta)
    written = report.write_reports(document, reports, "bench")
    if args.publish:
        written += report.write_reports(document, ROOT / "docs", "benchmarks")
    print(report.render_markdown(document))
    print("[bench] wrote " + ", ".join(map(str, written)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
