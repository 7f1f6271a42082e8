"""The five originals three ways: as written, after ``tf_upgrade_v2``, under ``legacy_tf1.run``.

Each cell of the table in ``docs/compat.md`` is checked here: a row says
``fails: `<last exception line>` ``, ``runs`` or ``stops at its own bug:
`<exception line>` ``, and the test runs that script that way and compares.
Every run happens in a scratch directory holding only a copy of the script
(plus, for the plain and upgraded runs, the embedded sample where the script
expects data, so those runs get the same data as ``--sample-data`` gives ours).

Skipped when ``../shared/originals`` (the acceptance workload) is absent.
seed002 (VGG16 at 224x224, batch 32) takes ~2.5 minutes on 2 CPU cores even
with ``--cap-loops 2``, so its runner run is marked slow.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ORIGINALS_DIR = REPO_ROOT.parent / "shared" / "originals"
COMPAT_DOC = REPO_ROOT / "docs" / "compat.md"
TF_UPGRADE_V2 = Path(sys.executable).with_name("tf_upgrade_v2")
RUN_TIMEOUT_S = 600

# model name -> original script (the names used across the toolkit)
ORIGINALS = {
    "resnet_mnist": "seed000_resnet_mnist.py",
    "cifar10_cnn": "seed001_cifar10_cnn.py",
    "vgg16": "seed002_vgg16_bench.py",
    "resnet_mnist_class": "seed003_resnet_mnist_class.py",
    "alexnet_cifar10": "seed004_alexnet_cifar10_bn.py",
}
# What each runner report must name as bridged (the acceptance examples and more).
BRIDGED = {
    "resnet_mnist": ["tf.examples.tutorials.mnist.input_data.read_data_sets", "tf.placeholder"],
    "cifar10_cnn": [
        "cifar10.maybe_download_and_extract",
        "cifar10_input.distorted_inputs",
        "cifar10_input.inputs",
        "tf.train.start_queue_runners",
        "tf.train.Saver",
    ],
    "vgg16": [
        "tf.contrib.layers.xavier_initializer",
        "tf.contrib.layers.xavier_initializer_conv2d",
        "tf.nn.relu_layer",
    ],
    "resnet_mnist_class": ["tf.examples.tutorials.mnist.input_data.read_data_sets"],
    "alexnet_cifar10": ["tf.layers.conv2d", "tf.layers.batch_normalization", "tf.layers.dense"],
}
SLOW_UNDER_RUNNER = {"vgg16"}

pytestmark = pytest.mark.skipif(
    not ORIGINALS_DIR.is_dir(), reason=f"{ORIGINALS_DIR} (the original scripts) is absent"
)


# ------------------------------------------------------------ the doc table ---

ROW = re.compile(r"^\|\s*`?(seed\d{3}_\w+)\.py`?\s*\|(.*)\|\s*$")


def documented_results() -> dict[str, tuple[str, str, str]]:
    """script stem -> (as written, after tf_upgrade_v2, under the runner) cells of docs/compat.md."""
    rows = {}
    for line in COMPAT_DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            cells = [cell.strip() for cell in match.group(2).split(" | ")]
            assert len(cells) == 3, f"{COMPAT_DOC}: expected 3 result cells in {line!r}"
            rows[match.group(1)] = tuple(cells)
    return rows


def expected_error(cell: str) -> str:
    """The exception line a 'fails: `...`' or 'stops at its own bug: `...`' cell quotes."""
    match = re.search(r"`([^`]+)`", cell)
    assert match, f"{COMPAT_DOC}: no `exception line` in cell {cell!r}"
    return match.group(1)


# ----------------------------------------------------------------- running ---


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


def _scratch(tmp_path: Path, name: str, source: Path) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    shutil.copy(source, directory / source.name)
    return directory


def _give_sample_data(directory: Path, script: Path) -> None:
    """What --sample-data does, for the runs that are not ours."""
    from formats import sample
    from legacy_tf1.run import expected_data_dirs

    for kind, path in expected_data_dirs(script.read_text(encoding="utf-8")):
        if not os.path.isabs(path):
            sample.write_sample(kind, directory / path)


def _last_exception_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def upgraded_dir(tmp_path_factory) -> Path:
    """Each original converted by ``tf_upgrade_v2 --infile X --outfile Y`` (two at a time)."""
    if not TF_UPGRADE_V2.exists():
        pytest.fail(f"{TF_UPGRADE_V2} not found: it is installed with TensorFlow")
    target = tmp_path_factory.mktemp("upgraded")

    def upgrade(name: str) -> subprocess.CompletedProcess:
        command = [
            str(TF_UPGRADE_V2),
            "--infile", str(ORIGINALS_DIR / name),
            "--outfile", str(target / name),
            "--reportfile", str(target / f"{name}.upgrade_report.txt"),
        ]  # fmt: skip
        return _run(command, cwd=target)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for name, result in zip(
            ORIGINALS.values(), pool.map(upgrade, ORIGINALS.values()), strict=True
        ):
            assert result.returncode == 0, f"tf_upgrade_v2 {name}: {result.stderr[-3000:]}"
    return target


def _check_failure(cell: str, result: subprocess.CompletedProcess, what: str) -> None:
    assert cell.startswith("fails"), f"{what}: unexpected doc cell {cell!r}"
    assert result.returncode != 0, f"{what} ran, but docs/compat.md says {cell!r}"
    assert _last_exception_line(result.stderr) == expected_error(cell), result.stderr[-3000:]


# ------------------------------------------------------------------- tests ---


def test_doc_table_covers_every_original():
    assert sorted(documented_results()) == sorted(name[:-3] for name in ORIGINALS.values())


@pytest.mark.parametrize("model", ORIGINALS)
def test_as_written_and_after_tf_upgrade_v2_fail_as_documented(model, tmp_path, upgraded_dir):
    script = ORIGINALS_DIR / ORIGINALS[model]
    as_written, upgraded, _ = documented_results()[script.stem]
    plain_dir = _scratch(tmp_path, "plain", script)
    upgraded_dir_for_run = _scratch(tmp_path, "upgraded", upgraded_dir / script.name)
    for directory in (plain_dir, upgraded_dir_for_run):
        _give_sample_data(directory, script)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        plain = pool.submit(_run, [sys.executable, script.name], plain_dir)
        after = pool.submit(_run, [sys.executable, script.name], upgraded_dir_for_run)
        _check_failure(as_written, plain.result(), f"{script.name} as written")
        _check_failure(upgraded, after.result(), f"{script.name} after tf_upgrade_v2")


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(model, marks=pytest.mark.slow) if model in SLOW_UNDER_RUNNER else model
        for model in ORIGINALS
    ],
)
def test_runner_result_matches_the_doc(model, tmp_path):
    script = ORIGINALS_DIR / ORIGINALS[model]
    cell = documented_results()[script.stem][2]
    directory = _scratch(tmp_path, "run", script)
    result = _run(
        [sys.executable, "-m", "legacy_tf1.run", "--cap-loops", "2", "--sample-data",
         "--report", "report.md", script.name],
        directory,
    )  # fmt: skip
    report = (directory / "report.md").read_text(encoding="utf-8")
    if cell.startswith("runs"):
        assert result.returncode == 0, result.stderr[-4000:]
        assert "result: **completed** (exit code 0)" in report
    else:
        assert cell.startswith("stops at its own bug"), f"unexpected doc cell {cell!r}"
        assert result.returncode == 1, result.stderr[-4000:]
        assert _last_exception_line(result.stderr) == expected_error(cell)
        assert "failure: **script bug**" in report
        assert expected_error(cell) in report
    for path in BRIDGED[model]:
        assert f"| `{path}` |" in report, f"{model}: report does not name {path}"
