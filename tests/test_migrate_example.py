"""docs/migrate.md, run as written: every ``bash`` command and ``python`` block, in order."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "migrate.md"
# The commands name these paths relative to the repository root.
LINKED = ("legacy_tf1", "examples")


def doc_steps() -> list[tuple[str, str]]:
    """(language, text) of each ``bash`` / ``python`` fenced block of the page, in order."""
    blocks = re.findall(r"^```(bash|python)\n(.*?)^```", DOC.read_text(), re.M | re.S)
    return [(language, text) for language, text in blocks]


def _commands(text: str) -> list[list[str]]:
    joined = text.replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip()]


def _run_command(argv: list[str]) -> str:
    """A ``python -m MODULE ...`` line: converters in-process (fast), the runner as a process."""
    assert argv[:2] == ["python", "-m"], argv
    module, args = argv[2], argv[3:]
    if module == "legacy_tf1.run":
        done = subprocess.run(
            [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done.stdout + done.stderr
    main = __import__(module, fromlist=["main"]).main
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(args)
    assert code == 0, err.getvalue()
    return err.getvalue()


def test_the_migration_page_runs_as_written(tmp_path, monkeypatch, capsys):
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    steps = doc_steps()
    assert [language for language, _ in steps] == ["bash", "bash", "bash", "python", "python"]
    outputs, namespace = [], {}
    for language, text in steps:
        if language == "bash":
            outputs += [_run_command(argv) for argv in _commands(text)]
        else:
            exec(compile(text, f"{DOC.name} block", "exec"), namespace)  # noqa: S102
    train, dry_run, convert = outputs
    assert "saved lenet_train/model.ckpt-20" in train
    assert "LeNet/conv1/weights -> conv1/kernel [5, 5, 1, 32]" in dry_run
    assert "LeNet/fc4/biases -> fc4/bias [10]" in dry_run
    assert (
        "fed is_training:0 = False" in convert
        and "verified: lenet vs model.ckpt-20.meta" in convert
    )
    printed = capsys.readouterr().out
    assert "lenet vs model.ckpt-20.meta" in printed and ": pass" in printed
    assert "lenet_savedmodel vs model.ckpt-20.meta" in printed
    assert namespace["report"].passed
    # The dry run wrote nothing; the conversion wrote the weights, checkpoint and manifest.
    assert sorted(os.listdir(tmp_path / "lenet_tf2")) == [
        "checkpoint",
        "ckpt-20.data-00000-of-00001",
        "ckpt-20.index",
        "manifest.json",
        "model.weights.h5",
    ]
