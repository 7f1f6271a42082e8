"""Command lines answer --help before TensorFlow loads, and hide TF's start-up chatter.

Timing is not asserted (2 shared cores make it flaky): what makes ``--help``
instant is that neither TensorFlow nor Keras is imported to answer it, and
that is what is checked.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

from formats import quiet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CLIS = (
    "legacy_tf1",
    "legacy_tf1.run",
    "tf2_port",
    "converters.ckpt_v1_to_v2",
    "converters.ckpt_v2_to_v1",
    "converters.inspect",
    "converters.rules",
    "converters.graph_to_savedmodel",
    "parity",
    "parity.seeds",
    "bench",
)

# Real lines captured from TF 2.21's start-up on a CPU-only machine.
NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796532578.554591   15728 port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results due to floating-point round-off errors "
    "from different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796532578.554922   15728 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "I0000 00:00:1796532578.597206   15728 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796532583.615956   15728 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "2026-01-01 00:00:00.000000: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] "
    "TF-TRT Warning: Could not find TensorRT",
)
REAL = (
    "E0000 00:00:1796532583.615956   15728 op_kernel.cc:1857] OP_REQUIRES failed at "
    "save_restore_v2_ops.cc:109 : NOT_FOUND: /data/model.ckpt.index; No such file",
    "Traceback (most recent call last):",
    "ImportError: libcudnn.so.9: cannot open shared object file",
)


def _run(code: str, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def _no_startup_noise(stderr: str) -> None:
    noisy = [line for line in stderr.splitlines() if quiet.is_startup_noise(line)]
    assert not noisy, noisy


@pytest.mark.parametrize("module", CLIS)
def test_help_is_answered_before_tensorflow_is_imported(module):
    code = textwrap.dedent(
        """
        import runpy, sys
        module = sys.argv[1]
        sys.argv = [module, "--help"]
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        else:
            raise AssertionError("--help did not exit")
        loaded = sorted({"tensorflow", "keras", "tf_keras"} & set(sys.modules))
        print("LOADED", loaded, file=sys.stderr)
        """
    )
    completed = _run(code, module)
    assert completed.returncode == 0, completed.stderr
    assert "usage:" in completed.stdout
    assert "LOADED []" in completed.stderr, completed.stderr


@pytest.mark.parametrize("line", NOISE)
def test_known_startup_lines_are_noise(line):
    assert quiet.is_startup_noise(line)


@pytest.mark.parametrize("line", REAL)
def test_real_errors_are_not_noise(line):
    assert not quiet.is_startup_noise(line)


def test_real_lines_keeps_order_and_drops_noise():
    mixed = [NOISE[0], REAL[0], NOISE[1], "", REAL[1], NOISE[4], REAL[2]]
    assert quiet.real_lines(mixed) == list(REAL)


_WRITE_TO_FD2 = """
import os, sys
from formats import quiet
quiet.configure(verbose=sys.argv[1] == "verbose")
lines = sys.argv[2:]
with quiet.captured_fd2():
    # Native code writes to fd 2 directly, below sys.stderr.
    os.write(2, ("\\n".join(lines) + "\\n").encode())
print("after", file=sys.stderr)
"""


def test_captured_fd2_replays_real_lines_only():
    completed = _run(_WRITE_TO_FD2, "quiet", *NOISE, REAL[0])
    assert completed.returncode == 0
    assert completed.stderr.splitlines() == [REAL[0], "after"]


def test_verbose_mode_shows_everything():
    completed = _run(_WRITE_TO_FD2, "verbose", *NOISE, REAL[0])
    assert completed.stderr.splitlines() == [*NOISE, REAL[0], "after"]


def test_captured_fd2_replays_when_the_block_raises():
    code = """
import os
from formats import quiet
try:
    with quiet.captured_fd2():
        os.write(2, b"E0000 real.cc:1] the real reason\\n")
        raise ImportError("no")
except ImportError:
    pass
"""
    assert "the real reason" in _run(code).stderr


def test_log_level_defaults_to_2_unless_the_user_set_it(monkeypatch):
    monkeypatch.setattr(quiet, "_VERBOSE", False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    quiet.configure()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet.configure()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_deprecation_notices_are_hidden_and_other_warnings_kept(monkeypatch):
    monkeypatch.setattr(quiet, "_VERBOSE", False)
    logger = logging.getLogger("tensorflow")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quiet.quiet_deprecations()
            logger.warning(
                "From x.py:1: shuffle_batch (from tensorflow.python.training.input) is "
                "deprecated and will be removed in a future version.\nInstructions for updating:"
            )
            logger.warning("Checkpoint not found at /tmp/x")
            warnings.warn(
                "`tf.layers.dense` is deprecated and will be removed", UserWarning, stacklevel=1
            )
            warnings.warn("something else", UserWarning, stacklevel=1)
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(quiet._DEPRECATION_FILTER)
    assert handler.messages == ["Checkpoint not found at /tmp/x"]
    assert [str(w.message) for w in caught] == ["something else"]


def test_legacy_list_prints_no_startup_lines():
    completed = _run("from legacy_tf1.__main__ import main; raise SystemExit(main(['list']))")
    assert completed.returncode == 0, completed.stderr
    assert "resnet_mnist" in completed.stdout
    _no_startup_noise(completed.stderr)
    assert completed.stderr.strip() == ""


def test_converter_error_is_shown_without_startup_lines(tmp_path):
    missing = str(tmp_path / "no_such.ckpt")
    completed = _run(
        "import runpy; runpy.run_module('converters.inspect', run_name='__main__')", missing
    )
    assert completed.returncode != 0
    _no_startup_noise(completed.stderr)
    assert "no_such.ckpt" in completed.stderr


def test_compat_runner_hides_startup_lines_but_keeps_the_scripts_deprecations(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(
        "import tensorflow as tf\n"
        "x = tf.placeholder(tf.float32, [None, 2])\n"
        "y = tf.layers.dense(x, 1)\n"
        "print('built', y.shape)\n"
    )
    completed = _run(
        "import runpy; runpy.run_module('legacy_tf1.run', run_name='__main__')", str(script)
    )
    assert completed.returncode == 0, completed.stderr
    assert "built" in completed.stdout
    _no_startup_noise(completed.stderr)
    # The user's own deprecated calls stay visible: that is what they are migrating.
    assert "tf.layers.dense` is deprecated" in completed.stderr


def test_names_spelled_out_for_fast_parsing_match_the_registries():
    import tf2_port
    from converters import ckpt_v1_to_v2, cli, maps
    from tf2_port import registry

    # tf2_port and converters.cli name the models without importing Keras.
    assert tf2_port.MODEL_NAMES == registry.MODEL_NAMES == tuple(maps.MAPS)
    assert cli.AUTO == ckpt_v1_to_v2.AUTO


def test_deprecations_hidden_is_limited_to_its_block(monkeypatch):
    monkeypatch.setattr(quiet, "_VERBOSE", False)
    logger = logging.getLogger("tensorflow")
    handler = _Collect()
    logger.addHandler(handler)
    notice = "From x.py:1: disable_resource_variables (from y) is deprecated and will be removed"
    try:
        with quiet.deprecations_hidden():
            logger.warning(notice)
        logger.warning(notice)  # the user's own calls afterwards stay visible
    finally:
        logger.removeHandler(handler)
    assert handler.messages == [notice]
