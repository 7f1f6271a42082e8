"""Issue 8, converter part: corrupted and odd checkpoints given to all three CLIs.

Each case must give a clear message (no traceback), the exit code of its class,
leave the input bit-for-bit unchanged and leave no output behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from converters import ckpt_v1_to_v2, ckpt_v2_to_v1, inspect
from converters.bundle import EXIT_INPUT, EXIT_MAPPING, EXIT_USAGE, resolve, write_name_based
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


CASES: dict[str, tuple[Callable, int]] = {
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
}


def _hashes(root) -> dict[str, str]:
    return {
        os.path.relpath(os.path.join(d, f), root): hashlib.sha256(
            Path(d, f).read_bytes()
        ).hexdigest()
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
    build, code = CASES[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = build(good, inputs)
    before = {**_hashes(inputs), **{f"good/{k}": v for k, v in _hashes(good).items()}}
    output = str(tmp_path / "out")
    result = CLIS[cli](path, output)
    captured = capsys.readouterr()
    expected = code
    if cli == "ckpt_v2_to_v1" and code == EXIT_MAPPING:
        expected = EXIT_INPUT  # v2 -> v1 refuses a name-based file before any mapping
    if cli == "inspect" and code == EXIT_MAPPING:
        # A readable checkpoint of no known model: inspect lists it and says so.
        assert result == 0 and "model: none" in captured.out
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
