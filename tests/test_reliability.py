"""Issue 8 outside the converters: hostile data files, training killed mid-run, the runner under faults.

The converter cases (corrupt checkpoints, SIGKILL during conversion, races)
are in tests/test_converters.py. Figures and commands: docs/reliability.md.

Most cases start ``python -m ...`` subprocesses, each paying TensorFlow's
import (~5-10 s on a loaded machine). The default run kills each training
command ``DEFAULT_KILLS`` times; ``-m slow`` runs ``SLOW_KILLS`` kills each.
``RELIABILITY_SEED=N`` replays the kill moments of an earlier run (the seed is
printed in every failure message).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import pickle
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats import sample
from formats.errors import FormatError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KILLS = 2
SLOW_KILLS = 10
EXIT_DATA = 3  # both CLIs: unreadable or hostile data
CLI_TIMEOUT_S = 300


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment (incl. the per-session sample cache) plus the repo on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"  # progress must reach the log file before a SIGKILL
    env.update(extra)
    return env


def run_module(module: str, *args: str, cwd: Path, timeout: float = CLI_TIMEOUT_S):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ============================================================ hostile data ===


class _Payload:
    """Pickles as a call of ``func(*args)``: what an attacker's batch file would hold."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def payloads(target: Path) -> dict[str, object]:
    """Objects whose unpickling would create ``target`` (each a different route to code)."""
    touch = f"import pathlib; pathlib.Path({str(target)!r}).write_text('pwned')"
    return {
        "builtins.open": _Payload(open, str(target), "w"),
        "os.system": _Payload(os.system, f"touch '{target}'"),
        "builtins.exec": _Payload(exec, touch),
        "builtins.eval": _Payload(eval, f"__import__('os').system('touch {target}')"),
        "subprocess.call": _Payload(subprocess.call, ["touch", str(target)]),
        "pathlib.Path.touch": _Payload(Path.touch, Path(target)),
    }


def hostile_batch(payload: object) -> bytes:
    """A CIFAR-10 python batch whose 'data' entry is ``payload`` (protocol 2, like the real files)."""
    return pickle.dumps(
        {"batch_label": "evil", "data": payload, "labels": [0], "filenames": ["x.png"]}, protocol=2
    )


def make_evil_cifar_dir(root: Path, payload_target: Path, victim: str = "data_batch_3") -> Path:
    """A copy of the embedded CIFAR-10 python sample with ``victim`` replaced by a hostile pickle."""
    evil = root / "EVIL"
    shutil.copytree(sample.sample_dir("cifar-py"), evil)
    (evil / victim).write_bytes(hostile_batch(payloads(payload_target)["builtins.open"]))
    return evil


@pytest.mark.parametrize("route", sorted(payloads(Path("x"))))
def test_hostile_batch_is_refused_by_cifar_data_and_never_runs(tmp_path, route):
    from legacy_tf1.inputs import CifarData

    target = tmp_path / "PWNED"
    path = tmp_path / "data_batch_1"
    path.write_bytes(hostile_batch(payloads(target)[route]))
    with pytest.raises(FormatError, match="refused to load global") as info:
        CifarData([path], need_shuffle=True)
    assert info.value.path == str(path)
    assert not target.exists()


@pytest.mark.parametrize(
    ("module", "ckpt_flag"),
    [("legacy_tf1", "--ckpt-dir"), ("tf2_port", "--ckpt-dir")],
    ids=["legacy", "port"],
)
def test_train_with_hostile_data_dir_exits_3_and_never_runs_the_payload(
    tmp_path, module, ckpt_flag
):
    target = tmp_path / "PWNED"
    evil = make_evil_cifar_dir(tmp_path, target)
    before = {p.name: p.read_bytes() for p in evil.iterdir()}
    result = run_module(
        module,
        "train",
        "alexnet_cifar10",
        "--data-dir",
        str(evil),
        "--steps",
        "2",
        ckpt_flag,
        str(tmp_path / "ckpt"),
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_DATA, result.stderr[-3000:]
    assert f"error: {evil / 'data_batch_3'}: refused to load global io.open" in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists()
    assert {p.name: p.read_bytes() for p in evil.iterdir()} == before  # input untouched
    ckpt = tmp_path / "ckpt"
    assert (
        not list(ckpt.glob("*.index")) if ckpt.exists() else True
    )  # nothing trained, nothing saved


SEED004_STYLE_LOADER = """
import pickle, sys

def load_data(filename):
    with open(filename, 'rb') as f:
        data = pickle.load(f, encoding='bytes')
        return data[b'data'], data[b'labels']

load_data(sys.argv[1])
"""


def test_runner_cannot_guard_a_scripts_own_pickle_load(tmp_path):
    """Documented limit: the runner runs the user's code unmodified, including its pickle.load.

    The safe path is the toolkit's own loader (``python -m legacy_tf1 train
    alexnet_cifar10``, tested above); this test pins the documented behaviour.
    """
    target = tmp_path / "PWNED"
    evil = make_evil_cifar_dir(tmp_path, target, victim="data_batch_1")
    (tmp_path / "loader.py").write_text(SEED004_STYLE_LOADER, encoding="utf-8")
    result = run_module(
        "legacy_tf1.run", "loader.py", str(evil / "data_batch_1"), cwd=tmp_path, timeout=60
    )
    assert target.exists(), result.stderr[-2000:]  # the script's own pickle.load ran the payload


# ------------------------------------------------------- lying headers ---


def idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def lying_idx_files() -> dict[str, tuple[str, bytes]]:
    """case -> (MNIST file to replace, its hostile content); every header over-claims."""
    billion = 10**9
    images = idx_header(0x08, (billion, 28, 28)) + bytes(784)
    labels = idx_header(0x08, (billion,)) + bytes(10)
    return {
        "raw images claim 1e9": ("train-images-idx3-ubyte", images),
        "gz images claim 1e9": ("train-images-idx3-ubyte.gz", _gz(images)),
        "raw labels claim 1e9": ("train-labels-idx1-ubyte", labels),
        "gz labels claim 1e9": ("train-labels-idx1-ubyte.gz", _gz(labels)),
        "dims 2**32-1 cubed": ("t10k-images-idx3-ubyte", idx_header(0x08, (2**32 - 1,) * 3)),
        "float64 1e9 x 784": ("t10k-images-idx3-ubyte", idx_header(0x0E, (billion, 28, 28))),
        "255 dims, 8 bytes": ("t10k-labels-idx1-ubyte", bytes([0, 0, 8, 255]) + bytes(8)),
        "gz cut mid-stream": ("train-images-idx3-ubyte.gz", _gz(images + bytes(10**6))[:2000]),
    }


def lying_cifar_pickles() -> dict[str, bytes]:
    """case -> a CIFAR python batch whose lengths or shapes lie."""
    reconstruct = np.ndarray.__reduce__(np.zeros(1, np.uint8))[0]
    huge_array = _Payload(reconstruct, np.ndarray, (0,), b"b")
    state = (1, (10**9, 3072), np.dtype(np.uint8), False, bytes(3072))

    class _Array(_Payload):
        def __reduce__(self):
            return (huge_array.func, huge_array.args, state)

    proto4 = b"\x80\x04"
    return {
        "array claims 1e9 rows": hostile_batch(_Array(None)),
        "BINBYTES8 claims 2**62 bytes": proto4 + b"\x8e" + struct.pack("<Q", 2**62) + b"ab.",
        "BINUNICODE8 claims 2**62": proto4 + b"\x8d" + struct.pack("<Q", 2**62) + b"ab.",
        "FRAME claims 2**62 bytes": proto4 + b"\x95" + struct.pack("<Q", 2**62) + b"}.",
        "memo index 1e9": proto4 + b"}" + b"r" + struct.pack("<I", 10**9) + b".",
        "LONG4 claims 2**31 bytes": b"\x80\x02\x8b" + struct.pack("<i", 2**31 - 1) + b"\x01.",
    }


LYING_HEADER_DRIVER = """
import json, resource, shutil, sys, time
from pathlib import Path
from formats import sample
from formats.errors import FormatError
from legacy_tf1 import inputs

work = Path(sys.argv[1])
cases = json.loads(Path(sys.argv[2]).read_text())
mnist = sample.sample_dir("mnist")
inputs.read_data_sets(str(mnist), one_hot=True)  # warm up: the honest read sets the baseline
inputs.CifarData([sample.sample_dir("cifar-py") / "test_batch"], False)
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
results = {}
for name, case in cases.items():
    directory = work / f"case{len(results)}"
    if case["reader"] == "mnist":
        shutil.copytree(mnist, directory)
        for stale in (case["file"], case["file"].removesuffix(".gz"), case["file"] + ".gz"):
            (directory / stale).unlink(missing_ok=True)
        (directory / case["file"]).write_bytes(bytes.fromhex(case["hex"]))
        call = lambda: inputs.read_data_sets(str(directory), one_hot=True)
    else:
        directory.mkdir()
        (directory / "data_batch_1").write_bytes(bytes.fromhex(case["hex"]))
        call = lambda: inputs.CifarData([directory / "data_batch_1"], True)
    started = time.monotonic()
    try:
        call()
        outcome = "no error"
    except FormatError as error:
        outcome = "FormatError: " + str(error)
    except BaseException as error:
        outcome = f"{type(error).__name__}: {error}"
    results[name] = {"outcome": outcome, "seconds": time.monotonic() - started}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak, "results": results}))
"""


def test_lying_headers_fail_fast_through_legacy_inputs_without_huge_allocation(tmp_path):
    cases = {
        name: {"reader": "mnist", "file": file, "hex": content.hex()}
        for name, (file, content) in lying_idx_files().items()
    }
    cases.update(
        {
            name: {"reader": "cifar", "hex": content.hex()}
            for name, content in lying_cifar_pickles().items()
        }
    )
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "driver.py").write_text(LYING_HEADER_DRIVER)
    completed = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path), str(tmp_path / "cases.json")],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    for name, result in report["results"].items():
        assert result["outcome"].startswith("FormatError"), (name, result)
        assert result["seconds"] < 5, (name, result)
    # 64 MiB of slack for allocator noise; the smallest lie claims 1 GB, the largest exabytes.
    growth_mib = (report["peak_kib"] - report["baseline_kib"]) / 1024
    assert growth_mib < 64, report


# ----------------------------------------------- bounded end-to-end fuzz ---

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
IDX_DIMS = st.one_of(
    st.sampled_from([0, 1, 2, 28, 5000, 10**9, 2**32 - 1]), st.integers(0, 2**32 - 1)
)


@pytest.fixture(scope="module")
def mnist_copy(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("mnist-fuzz")
    for name in sample.MNIST_FILES:
        shutil.copy(sample.sample_dir("mnist") / name, directory / name)
    return directory


@FUZZ
@given(
    victim=st.sampled_from(sample.MNIST_FILES),
    code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0xFF]),
    dims=st.lists(IDX_DIMS, min_size=0, max_size=4),
    body=st.binary(max_size=4096),
    gzipped=st.booleans(),
)
def test_read_data_sets_fuzzed_headers_raise_only_format_error(
    mnist_copy, victim, code, dims, body, gzipped
):
    from legacy_tf1.inputs import read_data_sets

    content = idx_header(code, tuple(dims)) + body
    original = (mnist_copy / victim).read_bytes()
    (mnist_copy / victim).write_bytes(_gz(content) if gzipped else content)
    try:
        started = time.monotonic()
        with contextlib.suppress(FormatError):  # success is fine too: only the error type matters
            read_data_sets(str(mnist_copy), one_hot=True, validation_size=0)
        assert time.monotonic() - started < 10
    finally:
        (mnist_copy / victim).write_bytes(original)


@pytest.fixture(scope="module")
def small_batch() -> bytes:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    batch = {
        b"batch_label": b"fuzz",
        b"data": data,
        b"labels": [1, 2, 3],
        b"filenames": [b"a", b"b", b"c"],
    }
    return pickle.dumps(batch, protocol=2)


@FUZZ
@given(data=st.data())
def test_cifar_data_fuzzed_batches_raise_only_format_error(tmp_path, small_batch, data):
    from legacy_tf1.inputs import CifarData

    blob = bytearray(small_batch)
    action = data.draw(st.sampled_from(["flip", "truncate", "splice", "random"]))
    if action == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    elif action == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif action == "splice":
        at = data.draw(st.integers(0, len(blob)))
        blob[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    else:
        blob = bytearray(data.draw(st.binary(max_size=512)))
    path = tmp_path / "data_batch_1"
    path.write_bytes(bytes(blob))
    try:
        loaded = CifarData([path], need_shuffle=False)
    except FormatError:
        return
    # A mutation that still parses must still be a well-formed batch.
    assert loaded.num_examples >= 1


def test_mnist_with_fewer_images_than_labels_is_a_format_error(mnist_copy, tmp_path):
    """Regression (fixed here): a count mismatch used to escape the CLI as a ValueError traceback."""
    from legacy_tf1.inputs import read_data_sets

    directory = tmp_path / "mnist"
    shutil.copytree(mnist_copy, directory)
    name = "train-images-idx3-ubyte.gz"
    (directory / name).write_bytes(_gz(idx_header(0x08, (6000, 28, 28)) + bytes(6000 * 784)))
    with pytest.raises(FormatError, match="labels"):
        read_data_sets(str(directory), one_hot=True)


# ================================================= killed during training ===


def _kill_rng() -> tuple[int, random.Random]:
    seed = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(2**32))
    return seed, random.Random(seed)


def _wait_for(log: Path, pattern: str, process: subprocess.Popen, timeout: float) -> bool:
    """Wait until ``pattern`` appears in ``log``; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, log.read_text(errors="replace")):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} in {log} after {timeout} s")


def assert_complete_checkpoints(ckpt_dir: Path) -> int | None:
    """Every checkpoint the state file lists reads back in full; the latest's step (or None)."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    if latest is None:
        return None
    state = tf.train.get_checkpoint_state(str(ckpt_dir))
    for prefix in {latest, *state.all_model_checkpoint_paths}:
        reader = tf.train.load_checkpoint(prefix)  # the bundle reader checks each tensor's crc32c
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    return int(re.search(r"-(\d+)$", latest).group(1))


class _TrainCommand:
    """One training CLI, its progress format and how it tells where it resumed."""

    def __init__(self, module: str, tmp_path: Path, save_every: int):
        self.module, self.tmp_path, self.save_every = module, tmp_path, save_every
        self.ckpt_dir = tmp_path / "ckpt"
        self.logdir = tmp_path / "logs"
        # legacy: "step 40/300 ..." on stderr; port: Keras Progbar "40/300" on stdout.
        self.progress = r"step (\d+)/\d+" if module == "legacy_tf1" else r"(\d+)/\d+"

    def argv(self, steps: int) -> list[str]:
        argv = [sys.executable, "-m", self.module, "train", "resnet_mnist_class"]
        argv += ["--steps", str(steps), "--save-every", str(self.save_every)]
        argv += ["--ckpt-dir", str(self.ckpt_dir), "--logdir", str(self.logdir), "--seed", "1"]
        return argv + (["--log-every", "1"] if self.module == "tf2_port" else [])

    def start(self, steps: int, run: int) -> tuple[subprocess.Popen, Path]:
        log = self.tmp_path / f"run{run}.log"
        with open(log, "w") as stream:
            process = subprocess.Popen(
                self.argv(steps), cwd=self.tmp_path, env=cli_env(), stdout=stream, stderr=stream
            )
        return process, log

    def printed_steps(self, log: Path) -> list[int]:
        text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
        return [int(match) for match in re.findall(self.progress, text)]


def run_kills(module: str, tmp_path: Path, kills: int) -> dict[str, object]:
    """Kill a training run ``kills`` times at random moments, then let it finish.

    After each kill: every listed checkpoint is complete, the saved step never
    goes back, at most ``save_every`` printed steps are lost, and the next run
    starts exactly at the saved step.
    """
    seed, rng = _kill_rng()
    save_every, steps_per_run = 10, 200
    command = _TrainCommand(module, tmp_path, save_every)
    saved, history = None, []
    for run in range(kills):
        # A short target keeps progress lines frequent (legacy prints every 5 % of the run);
        # a run that happens to finish before its kill is still checked the same way.
        process, log = command.start((saved or 0) + steps_per_run, run)
        try:
            # A moment from 0 to 2 s after training began (both CLIs print step 1.. lines).
            assert _wait_for(log, command.progress, process, timeout=240), log.read_text()[-3000:]
            delay = rng.uniform(0.0, 2.0)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
        context = (
            f"seed {seed}, run {run}, kill after {delay:.2f} s; log:\n{log.read_text()[-2000:]}"
        )
        printed = command.printed_steps(log)
        _check_resume_point(module, log, printed, saved, context)
        now = assert_complete_checkpoints(command.ckpt_dir)
        assert (now or 0) >= (saved or 0), context  # a saved step is never lost
        assert (now or 0) >= max(printed, default=0) - save_every, context
        history.append(
            {"kill_after_s": round(delay, 2), "last_printed": max(printed), "saved": now}
        )
        saved = now
    final_steps = (saved or 0) + 2 * save_every
    process, log = command.start(final_steps, kills)
    assert process.wait(timeout=CLI_TIMEOUT_S) == 0, log.read_text()[-3000:]
    _check_resume_point(module, log, command.printed_steps(log), saved, f"seed {seed}, final run")
    assert assert_complete_checkpoints(command.ckpt_dir) == final_steps
    if module == "tf2_port":
        _check_port_events(command.logdir, saved or 0, final_steps)
    return {"seed": seed, "kills": history, "final": final_steps}


def _check_resume_point(module, log, printed, saved, context) -> None:
    """The run began exactly at the last saved step."""
    if module == "legacy_tf1":
        resumed = re.findall(r"resumed from (\S+)", log.read_text())
        if saved is None:
            assert not resumed, context
        else:
            assert resumed and resumed[0].endswith(f"-{saved}"), context
    else:
        # Keras' Progbar always prints its first update: the step after the restored one.
        assert printed and printed[0] == (saved or 0) + 1, context


def _check_port_events(logdir: Path, saved: int, final_steps: int) -> None:
    """The finished run's TensorBoard file starts at the step after the restored one."""
    import tensorflow as tf

    newest = max(logdir.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime_ns)
    steps = {
        event.step
        for event in tf.compat.v1.train.summary_iterator(str(newest))
        if event.summary.value
    }
    assert min(steps) == saved + 1 and max(steps) == final_steps, sorted(steps)


@pytest.mark.parametrize("module", ["legacy_tf1", "tf2_port"], ids=["legacy", "port"])
def test_training_killed_at_random_moments_resumes_from_last_checkpoint(tmp_path, module):
    summary = run_kills(module, tmp_path, DEFAULT_KILLS)
    print(json.dumps(summary))


@pytest.mark.slow
@pytest.mark.parametrize("module", ["legacy_tf1", "tf2_port"], ids=["legacy", "port"])
def test_training_killed_many_times_resumes_from_last_checkpoint(tmp_path, module):
    summary = run_kills(module, tmp_path, SLOW_KILLS)
    print(json.dumps(summary))


# ===================================================== runner under faults ===
# Exceptions, sys.exit(n) and Ctrl-C with queue runners: tests/test_runner.py.
# Here: scripts that leave threads or processes behind. The runner exits as
# Python does: it waits for non-daemon threads (a script whose thread never
# ends hangs under plain Python too), never for daemon threads, forked
# children or spawned processes.


def run_script(tmp_path: Path, body: str, *, runner: bool = True, timeout: float = 60):
    """Run ``body`` as a script (under the runner or plain Python); return (process, seconds, stdout)."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body), encoding="utf-8")
    prefix = ["-m", "legacy_tf1.run", "--report", "report.md"] if runner else []
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    started = time.monotonic()
    # Files, not pipes: a child that outlives the runner would hold a pipe open.
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, *prefix, "script.py"],
            cwd=tmp_path,
            env=cli_env(),
            stdout=stdout,
            stderr=stderr,
        )
        try:
            process.wait(timeout=timeout)
        finally:
            process.kill()
    return process.returncode, time.monotonic() - started, out.read_text(), err.read_text()


def _end_child(pid: int) -> bool:
    """SIGKILL a leftover child the test's script started; True if it was still alive."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


NON_DAEMON_THREAD = """
import pathlib, threading, time
def work():
    time.sleep(2)
    pathlib.Path("thread-done").write_text("finished")
threading.Thread(target=work).start()
print("main returned", flush=True)
"""


@pytest.mark.parametrize("runner", [True, False], ids=["runner", "python"])
def test_non_daemon_thread_is_waited_for_as_python_does(tmp_path, runner):
    code, seconds, stdout, _ = run_script(tmp_path, NON_DAEMON_THREAD, runner=runner)
    assert (code, stdout) == (0, "main returned\n")
    assert (tmp_path / "thread-done").read_text() == "finished"
    assert seconds >= 2


def test_daemon_thread_never_blocks_exit(tmp_path):
    body = """
    import threading, time
    def spin():
        while True:
            time.sleep(0.01)
    threading.Thread(target=spin, daemon=True).start()
    print("main returned", flush=True)
    """
    code, seconds, stdout, stderr = run_script(tmp_path, body, timeout=30)
    assert (code, stdout) == (0, "main returned\n"), stderr
    assert seconds < 20
    assert "script.py: completed (exit code 0)" in stderr


@pytest.mark.parametrize("how", ["fork", "popen"])
def test_child_process_outliving_the_script_does_not_hold_the_runner(tmp_path, how):
    spawn = {
        "fork": "pid = os.fork()\nif pid == 0:\n    time.sleep(60)\n    os._exit(0)",
        "popen": "pid = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']).pid",
    }[how]
    body = f"import os, subprocess, sys, time\n{spawn}\nprint(pid, flush=True)\nsys.exit(4)\n"
    code, seconds, stdout, stderr = run_script(tmp_path, body, timeout=30)
    child = int(stdout.split()[0])
    assert _end_child(child), "the child should still be running after the runner exited"
    assert code == 4, stderr
    assert seconds < 20
    assert "script.py: exited (exit code 4)" in stderr


def test_forked_child_that_runs_off_the_script_end_leaves_the_report_to_the_parent(tmp_path):
    """Regression (fixed here): the child used to print a second summary and rewrite the report."""
    body = """
    import os, sys
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status), flush=True)
        raise RuntimeError("parent fails after the child ended")
    print("child done", flush=True)
    """
    code, _, stdout, stderr = run_script(tmp_path, body)
    assert code == 1
    assert stdout.splitlines() == ["child done", "child exit 0"]
    assert stderr.count("[legacy_tf1.run] script.py:") == 1
    assert "failure: **script bug**" in (tmp_path / "report.md").read_text(encoding="utf-8")


LEFTOVER_QUEUE_RUNNERS = """
import threading, time
import tensorflow as tf

queue = tf.FIFOQueue(capacity=4, dtypes=[tf.float32], shapes=[[]])
enqueue = queue.enqueue(tf.random_uniform([]))
tf.train.add_queue_runner(tf.train.QueueRunner(queue, [enqueue] * 2))
value = queue.dequeue()
sess = tf.Session()  # never closed
threads = tf.train.start_queue_runners(sess=sess, coord=tf.train.Coordinator())
blocked = tf.FIFOQueue(1, [tf.float32]).dequeue()
sess.run(value)
threading.Thread(target=lambda: sess.run(blocked), daemon=True).start()  # stuck in Session.run
print(len(threads), all(t.daemon for t in threads), time.time(), flush=True)
"""


def test_queue_runners_left_running_never_block_exit(tmp_path):
    code, _, stdout, stderr = run_script(tmp_path, LEFTOVER_QUEUE_RUNNERS, timeout=240)
    exited = time.time()
    count, daemon, script_end = stdout.split()
    assert code == 0, stderr[-3000:]
    assert (int(count), daemon) == (3, "True")
    assert exited - float(script_end) < 15  # exit took seconds, not a hang
