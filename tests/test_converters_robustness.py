"""Issue 8, converter part: corrupted and odd checkpoints given to all three CLIs.

Each case must give a clear message (no traceback), the exit code of its class,
leave the input bit-for-bit unchanged and leave no output behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from converters import ckpt_v1_to_v2, ckpt_v2_to_v1, inspect
from converters.bundle import (
    EXIT_INPUT,
    EXIT_MAPPING,
    EXIT_USAGE,
    Reader,
    UsageError,
    atomic_directory,
    clean_stale_scratch,
    resolve,
    write_name_based,
)
from legacy_tf1.train import TrainConfig, train


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> str:
    """A small, valid legacy checkpoint directory (cifar10_cnn, 1 step)."""
    directory = str(tmp_path_factory.mktemp("good") / "ckpt")
    train(TrainConfig("cifar10_cnn", directory, steps=1, seed=1))
    return directory


def _copy(good: str, root) -> tuple[str, str]:
    """(directory, prefix) of a private copy of the good checkpoint."""
    directory = str(root / "case")
    shutil.copytree(good, directory)
    # The Saver's state file holds absolute paths into ``good``: take the copy's own prefix.
    return directory, os.path.join(directory, os.path.basename(resolve(good).prefix))


def _flip(path: str, offset: int) -> None:
    data = bytearray(Path(path).read_bytes())
    data[offset % len(data)] ^= 0x40
    Path(path).write_bytes(bytes(data))


def _truncate(path: str, keep: float = 0.5) -> None:
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])


def _data_file(prefix: str) -> str:
    return prefix + ".data-00000-of-00001"


# Each case: (name, builder(good, root) -> path given to the CLIs, expected exit code).
def _missing_dir(good, root):
    return str(root / "nope")


def _empty_dir(good, root):
    (root / "empty").mkdir()
    return str(root / "empty")


def _data_passed(good, root):
    _, prefix = _copy(good, root)
    _truncate(_data_file(prefix), 0.9)  # a corrupt .data passed as the checkpoint
    return _data_file(prefix)


def _truncated_data(good, root):
    directory, prefix = _copy(good, root)
    _truncate(_data_file(prefix))
    return directory


def _flipped_data(good, root):
    directory, prefix = _copy(good, root)
    _flip(_data_file(prefix), os.path.getsize(_data_file(prefix)) // 3)
    return directory


def _missing_shard(good, root):
    directory, prefix = _copy(good, root)
    os.remove(_data_file(prefix))
    return directory


def _garbage_index(good, root):
    directory, prefix = _copy(good, root)
    Path(prefix + ".index").write_bytes(os.urandom(300))
    return directory


def _truncated_index(good, root):
    directory, prefix = _copy(good, root)
    _truncate(prefix + ".index", 0.4)
    return directory


def _meta_only(good, root):
    directory, prefix = _copy(good, root)
    for suffix in (".index", ".data-00000-of-00001"):
        os.remove(prefix + suffix)
    os.remove(os.path.join(directory, "checkpoint"))
    return prefix + ".meta"


def _state_nowhere(good, root):
    directory, _ = _copy(good, root)
    for name in os.listdir(directory):
        os.remove(os.path.join(directory, name))
    gone = "/nonexistent/other-machine/model.ckpt-7"
    Path(directory, "checkpoint").write_text(
        f'model_checkpoint_path: "{gone}"\nall_model_checkpoint_paths: "{gone}"\n'
    )
    return directory


def _garbage_state(good, root):
    directory, _ = _copy(good, root)
    Path(directory, "checkpoint").write_bytes(b"\xff\xfe{{{ not a proto")
    return directory


def _not_a_checkpoint(good, root):
    path = root / "notes.txt"
    path.write_text("hello")
    return str(path)


def _unknown_model(good, root):
    prefix = str(root / "odd" / "model.ckpt-0")
    os.makedirs(os.path.dirname(prefix))
    write_name_based(
        prefix,
        {
            "half": np.ones((3, 3), np.float16),
            "big": np.arange(4, dtype=np.int64),
            "text": np.array([b"a", b"b"]),
            "empty": np.zeros((0, 4), np.float32),
        },
    )
    return prefix


def _odd_path(good, root):
    odd = root / "dir with spaces é ü"
    odd.mkdir()
    directory, prefix = _copy(good, odd)
    _truncate(_data_file(prefix))
    return directory


def _tensors(good) -> dict[str, np.ndarray]:
    reader = Reader(resolve(good).prefix)
    return {name: reader.get(name) for name in reader.tensor_names()}


def _rewritten(good, root, change: Callable[[dict], None]) -> str:
    """Directory of a name-based bundle of ``good``'s tensors after ``change`` (no state file)."""
    tensors = _tensors(good)
    change(tensors)
    directory = root / "mutated"
    write_name_based(str(directory / "model.ckpt-1"), tensors)
    return str(directory)


def _sharded(good, root) -> str:
    """Prefix of ``good`` re-saved by a Saver(sharded=True) over two devices: two data shards."""
    from legacy_tf1.core import tf1

    prefix = str(root / "sharded" / "model.ckpt")
    os.makedirs(os.path.dirname(prefix))  # the sharded Saver does not create it
    graph = tf.Graph()
    with graph.as_default():
        for index, (name, value) in enumerate(_tensors(good).items()):
            with tf1.device(f"/cpu:{index % 2}"):
                tf1.Variable(value, name=name, use_resource=False)
        saver = tf1.train.Saver(sharded=True)
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=graph, config=tf1.ConfigProto(device_count={"CPU": 2})) as sess:
        sess.run(init)
        prefix = saver.save(sess, prefix, global_step=1)
    assert os.path.exists(prefix + ".data-00001-of-00002")
    return prefix


def _v1_beside_v2(good, root):
    directory, prefix = _copy(good, root)
    Path(prefix).write_bytes(os.urandom(64))  # what a V1 Saver writes: one file named PREFIX
    return directory


def _missing_second_shard(good, root):
    prefix = _sharded(good, root)
    os.remove(prefix + ".data-00001-of-00002")
    return os.path.dirname(prefix)


def _truncated_second_shard(good, root):
    prefix = _sharded(good, root)
    _truncate(prefix + ".data-00001-of-00002")
    return os.path.dirname(prefix)


def _recast(dtype):
    def build(good, root):
        def change(tensors):
            tensors["Variable"] = tensors["Variable"].astype(dtype)  # conv1's kernel

        return _rewritten(good, root, change)

    return build


def _string_weight(good, root):
    def change(tensors):
        tensors["Variable_1"] = np.array([b"w"] * tensors["Variable_1"].size)

    return _rewritten(good, root, change)


def _zero_size_extra(good, root):
    return _rewritten(good, root, lambda t: t.update(extra=np.zeros((0, 7), np.float32)))


def _transposed_kernel(good, root):
    def change(tensors):
        tensors["Variable_4"] = np.ascontiguousarray(tensors["Variable_4"].T)  # local3

    return _rewritten(good, root, change)


def _missing_weight(good, root):
    return _rewritten(good, root, lambda tensors: tensors.pop("Variable_9"))


def _relative_state_nowhere(good, root):
    directory, _ = _copy(good, root)
    Path(directory, "checkpoint").write_text('model_checkpoint_path: "model.ckpt-404"\n')
    return directory


def _empty_state_only(good, root):
    (root / "state").mkdir()
    (root / "state" / "checkpoint").write_text("")
    return str(root / "state")


def _empty_index(good, root):
    directory, prefix = _copy(good, root)
    Path(prefix + ".index").write_bytes(b"")
    return directory


def _empty_data(good, root):
    directory, prefix = _copy(good, root)
    Path(_data_file(prefix)).write_bytes(b"")
    return directory


def _foreign_index(good, root):
    """An index of other values with the same layout: offsets agree, crc32c do not."""
    directory, prefix = _copy(good, root)
    other = str(root / "other" / "model")
    write_name_based(other, {k: v + 1 for k, v in _tensors(good).items() if k != "global_step"})
    shutil.copy(other + ".index", prefix + ".index")
    return directory


def _object_based(good, root):
    module = tf.Module()
    module.weights_ = tf.Variable(np.ones((3, 3), np.float32))
    directory = str(root / "tf2")
    tf.train.CheckpointManager(tf.train.Checkpoint(module=module), directory, 1).save()
    return directory


def _data_only(good, root):
    directory, prefix = _copy(good, root)
    for name in os.listdir(directory):
        if not name.endswith(".data-00000-of-00001"):
            os.remove(os.path.join(directory, name))
    return directory


def _dangling_index_link(good, root):
    directory, prefix = _copy(good, root)
    os.remove(prefix + ".index")
    os.symlink(str(root / "gone.index"), prefix + ".index")
    return directory


def _codes(v1_to_v2: int, v2_to_v1: int = EXIT_INPUT, inspect_: int = EXIT_INPUT) -> dict:
    return {"ckpt_v1_to_v2": v1_to_v2, "ckpt_v2_to_v1": v2_to_v1, "inspect": inspect_}


# A readable name-based checkpoint of cifar10_cnn that does not fit the port:
# v1 -> v2 gives a mapping error, v2 -> v1 refuses a name-based input, inspect lists it.
UNFIT = _codes(EXIT_MAPPING, EXIT_INPUT, 0)


CASES: dict[str, tuple[Callable, int | dict]] = {
    "missing directory": (_missing_dir, EXIT_INPUT),
    "empty directory": (_empty_dir, EXIT_INPUT),
    ".data passed as the checkpoint (corrupt)": (_data_passed, EXIT_INPUT),
    "truncated shard": (_truncated_data, EXIT_INPUT),
    "bit-flipped shard": (_flipped_data, EXIT_INPUT),
    "missing shard": (_missing_shard, EXIT_INPUT),
    "garbage index": (_garbage_index, EXIT_INPUT),
    "truncated index": (_truncated_index, EXIT_INPUT),
    ".meta without data": (_meta_only, EXIT_INPUT),
    "state file pointing nowhere": (_state_nowhere, EXIT_INPUT),
    "garbage state file": (_garbage_state, EXIT_INPUT),
    "not a checkpoint file": (_not_a_checkpoint, EXIT_INPUT),
    "odd dtypes and zero-size tensor, no model": (_unknown_model, EXIT_MAPPING),
    "truncated shard under a path with spaces and non-ASCII": (_odd_path, EXIT_INPUT),
    "V1 file beside V2 files with the same prefix": (_v1_beside_v2, EXIT_INPUT),
    "missing shard of a 2-shard set": (_missing_second_shard, EXIT_INPUT),
    "truncated second shard of a 2-shard set": (_truncated_second_shard, EXIT_INPUT),
    "float16 weight in a model checkpoint": (_recast(np.float16), UNFIT),
    "int64 weight in a model checkpoint": (_recast(np.int64), UNFIT),
    "string tensor as a weight": (_string_weight, UNFIT),
    "zero-size extra variable": (_zero_size_extra, UNFIT),
    "transposed kernel (shape mismatch)": (_transposed_kernel, UNFIT),
    "a weight missing": (_missing_weight, UNFIT),
    "state file with a relative path to a missing file": (_relative_state_nowhere, EXIT_INPUT),
    "empty state file and nothing else": (_empty_state_only, EXIT_INPUT),
    "zero-byte .index": (_empty_index, EXIT_INPUT),
    "zero-byte .data": (_empty_data, EXIT_INPUT),
    ".index of other values over this .data": (_foreign_index, EXIT_INPUT),
    "object-based TF2 checkpoint of another module": (
        _object_based,
        _codes(EXIT_INPUT, EXIT_MAPPING, 0),
    ),
    "only .data files, no index": (_data_only, EXIT_INPUT),
    "dangling symlink as .index": (_dangling_index_link, EXIT_INPUT),
}


def _fingerprint(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)  # a dangling link has no content to hash
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashes(root) -> dict[str, str]:
    return {
        os.path.relpath(os.path.join(d, f), root): _fingerprint(Path(d, f))
        for d, _, files in os.walk(root)
        for f in files
    }


CLIS = {
    "ckpt_v1_to_v2": lambda path, out: ckpt_v1_to_v2.main([path, "--output", out]),
    "ckpt_v2_to_v1": lambda path, out: ckpt_v2_to_v1.main(
        [path, "--model", "cifar10_cnn", "--output", out]
    ),
    "inspect": lambda path, out: inspect.main([path]),
}


@pytest.mark.parametrize("cli", CLIS)
@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_a_clear_error_and_changes_nothing(case, cli, good, tmp_path, capsys):
    build, codes = CASES[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = build(good, inputs)
    before = {**_hashes(inputs), **{f"good/{k}": v for k, v in _hashes(good).items()}}
    output = str(tmp_path / "out")
    result = CLIS[cli](path, output)
    captured = capsys.readouterr()
    expected = codes[cli] if isinstance(codes, dict) else codes
    if cli == "ckpt_v2_to_v1" and codes == EXIT_MAPPING:
        expected = EXIT_INPUT  # v2 -> v1 refuses a name-based file before any mapping
    if cli == "inspect" and (codes == EXIT_MAPPING or expected == 0):
        # A readable checkpoint: inspect lists every tensor, dtype included.
        assert result == 0, captured.err
        assert "total:" in captured.out and "Traceback" not in captured.err
        assert _hashes(inputs) == {k: v for k, v in before.items() if not k.startswith("good/")}
        return
    assert result == expected, captured.err
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.splitlines()
    assert any(line.startswith("error: ") for line in lines) and len(lines) < 40
    assert {**_hashes(inputs), **{f"good/{k}": v for k, v in _hashes(good).items()}} == before
    assert sorted(os.listdir(tmp_path)) == ["in"], "no output and no temporary left behind"


def test_unwritable_output_location_is_a_usage_error(good, tmp_path, capsys):
    # chmod 555 does not stop root (this sandbox); a parent that is a file fails for
    # everyone and takes the same path (mkdir/mkdtemp raise OSError).
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code = ckpt_v1_to_v2.main([good, "--output", str(blocker / "out")])
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot create the output" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["a-file"] and blocker.read_text() == "x"


def test_output_under_proc_is_a_usage_error(good, capsys):
    # A read-only place for root too: /proc refuses new directories to everyone.
    code = ckpt_v1_to_v2.main([good, "--output", "/proc/converted"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "cannot create the output" in err and "Traceback" not in err
    assert not os.path.exists("/proc/converted")


def test_path_with_spaces_and_non_ascii_works_in_every_cli(good, tmp_path, capsys):
    odd = tmp_path / "mes modèles ü" / "run 1 ✓"
    shutil.copytree(good, odd)
    output = str(tmp_path / "sortie é" / "tf2 out")
    assert ckpt_v1_to_v2.main([str(odd), "--output", output]) == 0
    back = str(tmp_path / "zurück ä")
    assert ckpt_v2_to_v1.main([output, "--model", "cifar10_cnn", "--output", back]) == 0
    capsys.readouterr()
    assert inspect.main([str(odd), "--diff", back]) == 0
    assert "identical" in capsys.readouterr().out


# ---- races, kills and what they leave ---------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
SCRATCH = re.compile(r"\.out\.(tmp|old)-\d+-\w+")


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "converters.ckpt_v1_to_v2", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_complete(output: str, model: str = "cifar10_cnn") -> None:
    """``inspect`` reads every tensor and tf2_port.load restores the model."""
    import tf2_port

    inspect.describe(output, io.StringIO())
    tf2_port.load(model, output)
    assert json.loads(Path(output, "manifest.json").read_text())["model"] == model


def test_losing_the_rename_race_refuses_cleanly(tmp_path):
    output = tmp_path / "out"
    expected = "another conversion wrote this output meanwhile"
    with (
        pytest.raises(UsageError, match=expected),
        atomic_directory(str(output), force=False) as mine,
    ):
        Path(mine, "mine").write_text("loser")
        # The other conversion passes the same existence check and publishes first.
        with atomic_directory(str(output), force=False) as theirs:
            Path(theirs, "theirs").write_text("winner")
    assert os.listdir(tmp_path) == ["out"], "the loser's temporary directory is removed"
    assert os.listdir(output) == ["theirs"]


def test_concurrent_conversions_apart_and_racing_for_one_output(good, tmp_path):
    apart = _start(good, "--output", str(tmp_path / "apart" / "out"))
    racers = [_start(good, "--output", str(tmp_path / "race" / "out")) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in (apart, *racers)]
    assert results[0][0] == 0, results[0][2]
    codes = sorted(code for code, _, _ in results[1:])
    assert codes == [0, EXIT_USAGE], [err for _, _, err in results[1:]]
    loser = next(err for code, _, err in results[1:] if code == EXIT_USAGE)
    assert "Traceback" not in loser and "error: " in loser
    assert "already exists" in loser or "another conversion" in loser
    assert os.listdir(tmp_path / "race") == ["out"], "no temporary left by the loser"
    _assert_complete(str(tmp_path / "apart" / "out"))
    _assert_complete(str(tmp_path / "race" / "out"))


def test_scratch_of_dead_processes_is_cleaned_live_ones_kept(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    output = tmp_path / "out"
    half = tmp_path / f".out.tmp-{gone.pid}-abc"
    live = tmp_path / f".out.tmp-{os.getpid()}-xyz"
    displaced = tmp_path / f".out.old-{gone.pid}-def" / "previous"
    for directory in (half, live, displaced):
        directory.mkdir(parents=True)
    (displaced / "weights").write_text("the user's previous output")
    clean_stale_scratch(str(output), io.StringIO())
    assert sorted(os.listdir(tmp_path)) == sorted(["out", live.name])
    assert (output / "weights").read_text() == "the user's previous output"


def _kill_after_mapping(source: str, output: str, delay: float) -> None:
    """Start a conversion, SIGKILL it ``delay`` s after it starts writing (or at exit)."""
    process = _start(source, "--output", output)
    for line in process.stderr:
        if "tensors mapped" in line:
            break
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.communicate()


def _assert_nothing_half_written(parent: Path, model: str) -> None:
    names = os.listdir(parent)
    assert all(name == "out" or SCRATCH.fullmatch(name) for name in names), names
    if "out" in names:
        _assert_complete(str(parent / "out"), model)


def _kill_loop(source: str, root: Path, kills: int, window: float, seed: int, model: str):
    rng = random.Random(seed)
    for index in range(kills):
        parent = root / f"kill{index}"
        parent.mkdir(parents=True)
        _kill_after_mapping(source, str(parent / "out"), rng.uniform(0, window))
        _assert_nothing_half_written(parent, model)
    return sorted(root.iterdir())


def _timed_run(source: str, output: str) -> float:
    """Seconds from 'tensors mapped' to exit of one uninterrupted conversion."""
    process = _start(source, "--output", output)
    for line in process.stderr:
        if "tensors mapped" in line:
            break
    start = time.monotonic()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return time.monotonic() - start


def test_sigkill_at_random_moments_leaves_no_half_output(good, tmp_path, capsys):
    window = _timed_run(good, str(tmp_path / "reference" / "out"))
    parents = _kill_loop(good, tmp_path / "kills", 5, window, seed=8, model="cifar10_cnn")
    # A later conversion into each place cleans what the killed one left.
    for parent in parents[:2]:
        force = ["--force"] if (parent / "out").exists() else []
        assert ckpt_v1_to_v2.main([good, "--output", str(parent / "out"), *force]) == 0
        assert os.listdir(parent) == ["out"]
    for parent in parents[2:]:
        clean_stale_scratch(str(parent / "out"), io.StringIO())
        assert set(os.listdir(parent)) <= {"out"}
    capsys.readouterr()


@pytest.fixture(scope="module")
def vgg16_checkpoints(tmp_path_factory):
    """vgg16 legacy checkpoints with Adam slots: small images (~460 MB) and the default 224."""
    root = tmp_path_factory.mktemp("vgg16")
    made = {}
    for size in (32, 224):
        made[size] = str(root / str(size))
        train(TrainConfig("vgg16", made[size], steps=0, seed=1, options={"image_size": size}))
    return made


@pytest.mark.slow
def test_sigkill_twenty_random_moments_on_a_larger_checkpoint(vgg16_checkpoints, tmp_path):
    source = vgg16_checkpoints[32]
    window = _timed_run(source, str(tmp_path / "reference" / "out"))
    parents = _kill_loop(source, tmp_path / "kills", 20, window, seed=20, model="vgg16")
    for parent in parents:
        clean_stale_scratch(str(parent / "out"), io.StringIO())
        assert set(os.listdir(parent)) <= {"out"}


@pytest.mark.slow
@pytest.mark.parametrize("seconds", [2, 4, 6])
def test_sigkill_into_a_vgg16_conversion(seconds, vgg16_checkpoints, tmp_path):
    # Issue 8's acceptance: killed 2, 4 and 6 s after the start of the process.
    process = _start(vgg16_checkpoints[224], "--output", str(tmp_path / "out"))
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    _assert_nothing_half_written(tmp_path, "vgg16")
    clean_stale_scratch(str(tmp_path / "out"), io.StringIO())
    assert set(os.listdir(tmp_path)) <= {"out"}
