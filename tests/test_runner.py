"""The compat runner (``python -m legacy_tf1.run``): shims, options, reports, failure paths.

Scripts run in subprocesses because the runner switches the whole process to
TF1 mode. Scripts that never import TensorFlow start in a fraction of a
second; the TF ones (examples, shim probes, Ctrl-C) take ~10-20 s each.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import traceback
import warnings
from pathlib import Path

import pytest

from legacy_tf1 import examples
from legacy_tf1.run import expected_data_dirs
from legacy_tf1.shims.failures import ScriptFiles, classify
from legacy_tf1.shims.loops import cap_helpers, compile_script
from legacy_tf1.shims.numpy_compat import NumpyProxy, removed_names
from legacy_tf1.shims.offline import OfflineError, OfflineNetwork, sample_payload, served_name
from legacy_tf1.shims.replacements import REPLACEMENTS, replacement_for
from legacy_tf1.shims.report import (
    ABSENT,
    CHANGED,
    OTHER,
    SAME,
    SCRIPT_BUG,
    Outcome,
    Recorder,
    render_markdown,
    write_report,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = Path(examples.__file__).parent
TF_TIMEOUT_S = 240


def runner_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra or {})
    return env


def run_runner(
    args: list[str], cwd: Path, *, timeout: float = TF_TIMEOUT_S
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "legacy_tf1.run", *args],
        cwd=cwd,
        env=runner_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def traceback_block(stderr: str) -> str:
    """The script's traceback as printed (from 'Traceback' to the runner's summary)."""
    start = stderr.index("Traceback (most recent call last):")
    end = stderr.index("[legacy_tf1.run]", start)
    return stderr[start:end]


# --------------------------------------------------- in-process pieces ---


def _run_capped(source: str, cap: int) -> tuple[dict, Recorder]:
    recorder = Recorder("script.py", [])
    code = compile_script(source, "script.py", cap=cap, recorder=recorder)
    namespace = cap_helpers(cap, recorder)
    exec(code, namespace)
    return namespace, recorder


def test_cap_loops_caps_range_and_while_statements_not_comprehensions():
    source = textwrap.dedent(
        """
        outer = inner = 0
        for i in range(100):
            outer += 1
            for j in range(5, 50, 3):
                inner += 1
        files = [k for k in range(1, 6)]
        n = 0
        while n < 7:
            n += 1
        for item in ["a", "b", "c"]:
            n += 1
        short = 0
        for s in range(1):
            short += 1
        """
    )
    namespace, recorder = _run_capped(source, cap=2)
    assert namespace["outer"] == 2
    assert namespace["inner"] == 4  # 2 per outer iteration
    assert namespace["files"] == [1, 2, 3, 4, 5]  # comprehensions keep their length
    assert namespace["n"] == 5  # the while loop capped at 2, the list loop untouched
    assert namespace["short"] == 1
    loops = recorder.loops
    assert sorted(loops) == [3, 5, 9, 14]
    assert loops[9].source == "while n < 7" and loops[9].most_run == 2 and loops[9].truncated == 1
    assert loops[3].longest_requested == 100 and loops[3].entered == 1
    assert loops[3].source == "for i in range(100)"
    assert loops[5].entered == 2 and loops[5].truncated == 2
    assert loops[14].truncated == 0


def test_capped_loops_work_inside_classes_despite_name_mangling():
    source = textwrap.dedent(
        """
        class _ToySequenceData:
            def __init__(self):
                self.__data = []
                for __i in range(100):
                    self.__data.append(__i)
                while True:
                    self.__data.append(-1)

            def size(self):
                return len(self.__data)

        size = _ToySequenceData().size()
        """
    )
    namespace, recorder = _run_capped(source, cap=3)
    assert namespace["size"] == 6
    assert recorder.loops[5].truncated == 1 and recorder.loops[7].truncated == 1


def test_while_cap_counts_each_entry_and_natural_ends():
    source = textwrap.dedent(
        """
        runs = []
        for outer in range(3):
            k = 0
            while k < 1:
                k += 1
            runs.append(k)
        """
    )
    namespace, recorder = _run_capped(source, cap=5)
    assert namespace["runs"] == [1, 1, 1]
    assert recorder.loops[5].entered == 3 and recorder.loops[5].truncated == 0
    assert recorder.loops[5].most_run == 1


def test_numpy_proxy_bridges_only_names_numpy_removed():
    import numpy as np

    recorder = Recorder("s.py", [])
    proxy = NumpyProxy(recorder)
    removed = removed_names()
    for name, entry in removed.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # np.object, np.str probes
            assert not hasattr(np, name), name
        assert getattr(proxy, name) is not None
        assert f"removed in numpy {entry.removed_in}, bridged" in recorder.numpy[f"np.{name}"]
    assert proxy.float is float and proxy.asscalar(np.array([4])) == 4
    assert proxy.zeros is np.zeros and proxy.load is np.load  # np.load untouched
    if hasattr(np, "bool"):  # numpy 2 brought np.bool back: served as numpy's own
        assert "bool" not in removed and proxy.bool is np.bool
    assert proxy.reshape(np.arange(6), newshape=(2, 3)).shape == (2, 3)
    text = render_markdown(recorder)
    assert "## numpy 1 APIs bridged" in text and "`np.float`: removed in numpy 1.24" in text


def test_offline_serves_dataset_urls_and_refuses_others(tmp_path):
    import tarfile

    assert served_name("http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz")
    assert served_name("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz")
    assert served_name("https://example.com/cifar-10-binary.tar.gz") is None  # unknown host
    recorder = Recorder("s.py", [])
    network = OfflineNetwork(recorder)  # not installed: the test process keeps its urllib
    target = tmp_path / "cifar-10-binary.tar.gz"
    path, headers = network.urlretrieve(
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", target
    )
    with tarfile.open(path, "r:gz") as archive:
        names = archive.getnames()
    assert "cifar-10-batches-bin/data_batch_1.bin" in names
    assert int(headers["Content-Length"]) == target.stat().st_size
    labels = "https://storage.googleapis.com/cvdf-datasets/mnist/train-labels-idx1-ubyte.gz"
    with network.urlopen(labels) as response:
        assert response.read() == sample_payload("train-labels-idx1-ubyte.gz")
    with pytest.raises(OfflineError) as info:
        network.urlopen("https://example.com/weights.h5")
    assert "https://example.com/weights.h5" in str(info.value)
    assert any("refused `https://example.com/weights.h5`" in n for n in recorder.network)


def test_cap_zero_skips_loop_bodies_and_keeps_line_numbers():
    source = "total = 0\nfor i in range(10):\n    total += 1\nraise ValueError(total)\n"
    with pytest.raises(ValueError) as info:
        _run_capped(source, cap=0)
    assert info.value.args == (0,)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert [(f.filename, f.lineno) for f in frames if f.filename == "script.py"] == [
        ("script.py", 4)
    ]


def test_replacement_table_prefers_idiomatic_tf2_over_compat_v1():
    assert "GlorotUniform" in replacement_for("tf.contrib.layers.xavier_initializer")
    assert "keras.optimizers.Adam" in replacement_for("tf.train.AdamOptimizer")
    # From tf_upgrade_v2's own rename table (not in ours).
    assert "tf.random.truncated_normal" in replacement_for("tf.truncated_normal")
    assert "tf.compat.v1" in replacement_for("tf.some_unknown_api")
    assert "TF2's own version" in replacement_for("tf.reduce_mean", tf2_has_path=True)
    assert all(text.strip() for text in REPLACEMENTS.values())


def test_report_lists_legacy_and_unchanged_apis_and_is_written_atomically(tmp_path):
    recorder = Recorder(tmp_path / "s.py", ["python", "-m", "legacy_tf1.run", "s.py"])
    recorder.tf1_mode = True
    recorder.use("tf.placeholder", "tf.compat.v1.placeholder", tf2=ABSENT)
    recorder.use("tf.reduce_mean", "tf.compat.v1.reduce_mean", tf2=CHANGED)
    recorder.use("tf.float32", "tf.compat.v1.float32", tf2=SAME)
    recorder.refuse("tf.contrib.learn", "use Keras")
    recorder.outcome = Outcome(0, "completed", 1.5)
    text = render_markdown(recorder)
    assert "| `tf.placeholder` | `tf.compat.v1.placeholder` |" in text
    assert "`tf.reduce_mean` (TF2's own version" in text
    assert "Used unchanged in TF2 (1)" in text and "`tf.float32`" in text
    assert "| `tf.contrib.learn` | use Keras |" in text
    target = write_report(recorder, tmp_path / "out" / "report.md")
    assert target.read_text(encoding="utf-8") == text
    assert [p.name for p in target.parent.iterdir()] == ["report.md"]


def test_expected_data_dirs_finds_literal_dataset_directories():
    source = textwrap.dedent(
        """
        a = read('MNIST_data')
        b = './cifar-10-batches-py'
        c = '/tmp/cifar10_data/cifar-10-batches-bin'
        d = 'MNIST_data/'
        e = 'not_data'
        """
    )
    assert sorted(expected_data_dirs(source)) == [
        ("cifar-bin", "/tmp/cifar10_data/cifar-10-batches-bin"),
        ("cifar-py", "cifar-10-batches-py"),
        ("mnist", "MNIST_data"),
    ]


def test_classify_tells_script_bugs_from_library_errors(tmp_path):
    script = write_script(
        tmp_path,
        "bug.py",
        """
        class Net:
            def forward(self):
                return 1

        def fetch(net):
            return net.acc

        """,
    )
    namespace: dict = {"__name__": "bug"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    files = ScriptFiles(str(script), str(tmp_path))
    with pytest.raises(AttributeError) as info:
        namespace["fetch"](namespace["Net"]())
    failure = classify(info.value, files)
    assert failure.kind == SCRIPT_BUG
    assert "'Net' object has no attribute 'acc'" in failure.exception
    assert failure.location == f"{script}:7"
    with pytest.raises(AttributeError) as info:
        namespace["fetch"](3)  # an int is not the script's own object
    assert classify(info.value, files).kind == OTHER


# ------------------------------------------------- runner without TF ---


def test_script_runs_as_main_with_its_argv_path_and_cwd(tmp_path):
    script_dir = tmp_path / "scripts"
    script_dir.mkdir()
    write_script(script_dir, "helper.py", "VALUE = 42\n")
    write_script(
        script_dir,
        "show.py",
        """
        import json, os, sys
        import helper
        print(json.dumps({"argv": sys.argv, "path0": sys.path[0], "cwd": os.getcwd(),
                          "name": __name__, "file": __file__, "helper": helper.VALUE,
                          "main_is_me": sys.modules["__main__"].__dict__ is globals()}))
        """,
    )
    result = run_runner(["scripts/show.py", "--flag", "x"], tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    info = __import__("json").loads(result.stdout)
    assert info == {
        "argv": ["scripts/show.py", "--flag", "x"],
        "path0": str(script_dir),
        "cwd": str(tmp_path),
        "name": "__main__",
        "file": "scripts/show.py",
        "helper": 42,
        "main_is_me": True,
    }
    assert "TensorFlow never imported" not in result.stdout  # the report goes to stderr
    assert "[legacy_tf1.run] show.py: completed (exit code 0)" in result.stderr


def test_script_exception_keeps_its_traceback_and_exit_code_1(tmp_path):
    write_script(
        tmp_path,
        "boom.py",
        """
        def inner():
            raise RuntimeError("boom from the script")

        inner()
        """,
    )
    result = run_runner(["--report", "report.md", "boom.py"], tmp_path, timeout=60)
    assert result.returncode == 1
    block = traceback_block(result.stderr)
    assert 'boom.py", line 5, in <module>' in block
    assert 'boom.py", line 3, in inner' in block
    assert "RuntimeError: boom from the script" in block
    assert "legacy_tf1" not in block  # the runner's frames are trimmed
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "failure: **script bug**" in report
    assert "RuntimeError: boom from the script" in report


@pytest.mark.parametrize(
    ("statement", "code", "stderr_text"),
    [("sys.exit(3)", 3, None), ("sys.exit()", 0, None), ("sys.exit('bye now')", 1, "bye now")],
)
def test_sys_exit_code_is_preserved(tmp_path, statement, code, stderr_text):
    write_script(
        tmp_path, "leave.py", f"import sys\nprint('before')\n{statement}\nprint('after')\n"
    )
    result = run_runner(["--report", "r.md", "leave.py"], tmp_path, timeout=60)
    assert result.returncode == code
    assert result.stdout == "before\n"
    assert "Traceback" not in result.stderr
    if stderr_text:
        assert stderr_text in result.stderr
    assert f"(exit code {code})" in (tmp_path / "r.md").read_text(encoding="utf-8")


def test_python2_script_is_reported_as_a_script_bug(tmp_path):
    write_script(tmp_path, "old.py", "x = 1\nprint 'hello'\n")
    result = run_runner(["--report", "r.md", "old.py"], tmp_path, timeout=60)
    assert result.returncode == 1
    assert "SyntaxError" in result.stderr and "legacy_tf1/run.py" not in result.stderr
    assert "failure: **script bug**" in (tmp_path / "r.md").read_text(encoding="utf-8")


def test_report_never_overwrites_a_foreign_file(tmp_path):
    write_script(tmp_path, "ok.py", "print('ran')\n")
    (tmp_path / "notes.md").write_text("my notes\n", encoding="utf-8")
    result = run_runner(["--report", "notes.md", "ok.py"], tmp_path, timeout=60)
    assert result.returncode == 2
    assert "refusing to overwrite" in result.stderr and result.stdout == ""
    assert (tmp_path / "notes.md").read_text(encoding="utf-8") == "my notes\n"
    # An earlier report of ours is replaced.
    assert run_runner(["--report", "r.md", "ok.py"], tmp_path, timeout=60).returncode == 0
    assert run_runner(["--report", "r.md", "ok.py"], tmp_path, timeout=60).returncode == 0


def test_usage_errors_exit_2(tmp_path):
    result = run_runner(["missing.py"], tmp_path, timeout=60)
    assert result.returncode == 2 and "missing.py: no such script" in result.stderr
    result = run_runner(["--cap-loops", "-1", "x.py"], tmp_path, timeout=60)
    assert result.returncode == 2 and "expected a number >= 0" in result.stderr


def test_sample_data_materialises_only_relative_dirs_the_script_names(tmp_path):
    write_script(
        tmp_path,
        "data.py",
        """
        import os
        DIRS = ['MNIST_data', './cifar-10-batches-py', '/nonexistent/cifar-10-batches-bin']
        print(sorted(os.listdir('MNIST_data')))
        print(sorted(os.listdir('cifar-10-batches-py')))
        """,
    )
    result = run_runner(["--sample-data", "--report", "r.md", "data.py"], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert ast.literal_eval(lines[0]) == sorted(
        ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    )  # fmt: skip
    assert "batches.meta" in ast.literal_eval(lines[1])
    assert not (tmp_path / "cifar-10-batches-bin").exists()
    assert not Path("/nonexistent").exists()
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "absolute path, not materialised" in report
    assert "TensorFlow never imported" in report
    # A second run leaves the now complete directories alone.
    again = run_runner(["--sample-data", "--report", "r.md", "data.py"], tmp_path, timeout=120)
    assert again.returncode == 0
    assert "MNIST_data: already complete" in (tmp_path / "r.md").read_text(encoding="utf-8")


# -------------------------------------------------------- TF scripts ---

SHIM_PROBE = """
import os
import tensorflow as tf
import tensorflow.compat.v1 as tf1
from tensorflow.contrib import slim
from tensorflow.contrib.layers import xavier_initializer
from tensorflow.examples.tutorials.mnist import input_data
import helper_module

assert tf1 is tf and tf.compat.v1 is tf
assert not tf.executing_eagerly()
x = tf.placeholder(tf.float32, [None, 7, 3])
assert x.get_shape()[1].value == 7 and x.get_shape()[0].value is None
assert slim.conv2d is tf.contrib.layers.conv2d
assert callable(xavier_initializer)
assert helper_module.graph_mode  # the user's own module also gets TF1 mode
assert not hasattr(tf.contrib, "learn")  # unbridged names stay hasattr-friendly

for bad in ("tf.contrib.learn", "tf.contrib.layers.no_such_layer", "tf.no_such_api"):
    try:
        eval(bad)
    except AttributeError as error:
        assert bad in str(error), (bad, str(error))
        print("refused", bad, "|", error)
    else:
        raise AssertionError(bad + " did not raise")
try:
    from tensorflow.contrib import learn
except ImportError as error:
    assert "tensorflow.contrib.learn" in str(error) and "Keras" in str(error)
else:
    raise AssertionError("import of tensorflow.contrib.learn did not fail")

w = tf.get_variable("w", [3, 4], initializer=tf.contrib.layers.variance_scaling_initializer())
y = tf.nn.relu_layer(tf.reshape(x, [-1, 3]), w, tf.zeros([4]))
reg = tf.contrib.layers.l2_regularizer(0.5)(w)
step = tf.contrib.framework.get_or_create_global_step()
mnist = input_data.read_data_sets("probe_mnist", one_hot=True)
assert mnist.train.images.shape[1] == 784 and mnist.test.labels.shape[1] == 10
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    import numpy as np
    out, reg_value = sess.run([y, reg], {x: np.ones((2, 7, 3))})
    assert out.shape == (14, 4) and reg_value > 0
    assert sess.run(step) == 0
print("probe ok")
"""


def test_shims_serve_tf1_api_contrib_and_input_data(tmp_path):
    write_script(tmp_path, "probe.py", SHIM_PROBE)
    write_script(
        tmp_path,
        "helper_module.py",
        "import tensorflow as tf\ngraph_mode = not tf.executing_eagerly() and hasattr(tf, 'placeholder')\n",
    )
    result = run_runner(["--report", "r.md", "probe.py"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "probe ok" in result.stdout
    assert "probe_mnist: no MNIST files; wrote the embedded sample" in result.stderr
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    for path, served_by in [
        ("tf.placeholder", "tf.compat.v1.placeholder"),
        ("tf.nn.relu_layer", "tf.compat.v1.nn.relu_layer"),
        ("tf.contrib.layers.xavier_initializer", "tf_slim.xavier_initializer"),
        ("tf.contrib.layers.variance_scaling_initializer", "tf_slim.variance_scaling_initializer"),
        ("tf.contrib.layers.l2_regularizer", "tf_slim.l2_regularizer"),
        ("tf.contrib.slim.conv2d", "tf_slim.conv2d"),
        ("tf.contrib.framework.get_or_create_global_step", "tf.compat.v1.train."),
        ("tf.examples.tutorials.mnist.input_data.read_data_sets", "legacy_tf1.shims."),
    ]:
        assert re.search(rf"\| `{re.escape(path)}` \| `{re.escape(served_by)}", report), path
    assert "## Requested but not bridged" in report
    assert "| `tf.contrib.learn` |" in report and "Keras (`model.compile`" in report
    assert "| `tf.no_such_api` |" in report


def test_unknown_contrib_attribute_fails_naming_it(tmp_path):
    write_script(
        tmp_path,
        "uses_learn.py",
        """
        import tensorflow as tf
        x = tf.placeholder(tf.float32, [None, 4])
        classifier = tf.contrib.learn.DNNClassifier(hidden_units=[10])
        """,
    )
    result = run_runner(["--report", "r.md", "uses_learn.py"], tmp_path)
    assert result.returncode == 1
    block = traceback_block(result.stderr)
    assert 'uses_learn.py", line 4, in <module>' in block
    assert "UnsupportedAPIError: tf.contrib.learn is not bridged by legacy_tf1.run" in block
    assert "its successor tf.estimator in TF 2.16" in block
    assert "legacy_tf1/shims" not in block  # the proxy's own frame is trimmed
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "failure: **unbridged API**" in report
    assert "`tf.contrib.learn`" in report


def test_script_dir_cifar10_module_wins_over_the_shim(tmp_path):
    write_script(tmp_path, "cifar10.py", "OWN = True\n")
    write_script(tmp_path, "use.py", "import cifar10\nprint(cifar10.OWN)\n")
    result = run_runner(["use.py"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize("name", examples.EXAMPLES)
def test_example_runs_under_the_runner(tmp_path, name):
    script = EXAMPLES_DIR / name
    extra = ["--data_dir", str(tmp_path / "cifar10_data")] if name == "cifar10_queues.py" else []
    started = time.monotonic()
    result = run_runner(
        ["--cap-loops", "2", "--sample-data", "--report", "r.md", str(script), *extra], tmp_path
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "result: **completed** (exit code 0)" in report
    assert "## Loops capped" in report
    for path in EXAMPLE_APIS[name]:
        assert f"| `{path}` |" in report, path
    print(f"{name}: {time.monotonic() - started:.1f} s")


EXAMPLE_APIS = {
    "flags_logging_gfile.py": [
        "tf.app.flags.DEFINE_string",
        "tf.flags.DEFINE_integer",
        "tf.app.run",
        "tf.logging.info",
        "tf.gfile.MakeDirs",
        "tf.gfile.GFile",
    ],
    "mnist_tf_layers.py": [
        "tf.examples.tutorials.mnist.input_data.read_data_sets",
        "tf.layers.conv2d",
        "tf.layers.batch_normalization",
        "tf.nn.relu_layer",
        "tf.train.Saver",
        "tf.summary.FileWriter",
        "tf.summary.merge_all",
    ],
    "contrib_slim.py": [
        "tf.contrib.layers.xavier_initializer",
        "tf.contrib.layers.xavier_initializer_conv2d",
        "tf.contrib.layers.variance_scaling_initializer",
        "tf.contrib.layers.l2_regularizer",
        "tf.contrib.layers.conv2d",
        "tf.contrib.layers.flatten",
        "tf.contrib.layers.fully_connected",
        "tf.contrib.layers.batch_norm",
        "tf.contrib.slim.arg_scope",
        "tf.contrib.framework.get_or_create_global_step",
        "tf.contrib.deprecated.scalar_summary",
        "tf.contrib.deprecated.merge_all_summaries",
    ],
    "cifar10_queues.py": [
        "cifar10.maybe_download_and_extract",
        "cifar10.distorted_inputs",
        "cifar10_input.inputs",
        "tf.train.start_queue_runners",
        "tf.train.Coordinator",
        "tf.train.Saver",
    ],
}


SLEEPER = """
import time
print("READY", flush=True)
while True:
    time.sleep(0.05)
"""


def test_timeout_writes_the_report_marked_incomplete(tmp_path):
    write_script(tmp_path, "sleeper.py", SLEEPER)
    result = run_runner(["--timeout", "1", "--report", "r.md", "sleeper.py"], tmp_path, timeout=60)
    assert result.returncode == 124, result.stderr
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "result: **incomplete** (exit code 124)" in report
    assert "--timeout 1 s expired" in report


def test_sigterm_writes_the_report_marked_incomplete(tmp_path):
    write_script(tmp_path, "sleeper.py", SLEEPER)
    process = subprocess.Popen(
        [sys.executable, "-m", "legacy_tf1.run", "--report", "r.md", "sleeper.py"],
        cwd=tmp_path,
        env=runner_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "READY"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 143, stderr
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "result: **incomplete** (exit code 143)" in report and "SIGTERM" in report


QUEUE_SCRIPT = """
import sys
import tensorflow as tf

queue = tf.FIFOQueue(capacity=8, dtypes=[tf.float32], shapes=[[]])
enqueue = queue.enqueue(tf.random_uniform([]))
tf.train.add_queue_runner(tf.train.QueueRunner(queue, [enqueue] * 2))
value = queue.dequeue()
never_filled = tf.FIFOQueue(capacity=1, dtypes=[tf.float32], shapes=[[]])
sess = tf.Session()
coord = tf.train.Coordinator()
threads = tf.train.start_queue_runners(sess=sess, coord=coord)
sess.run(value)
print("READY", flush=True)
if sys.argv[1] == "busy":
    while True:  # the queue runners keep feeding; each run returns quickly
        sess.run(value)
else:
    sess.run(never_filled.dequeue())  # blocks inside Session.run for ever
"""


@pytest.mark.parametrize("mode", ["busy", "blocked"])
def test_ctrl_c_with_queue_runners_stops_cleanly(tmp_path, mode):
    write_script(tmp_path, "queues.py", QUEUE_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, "-m", "legacy_tf1.run", "--report", "r.md", "queues.py", mode],
        cwd=tmp_path,
        env=runner_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = process.stdout.readline()
        assert ready.strip() == "READY", process.stderr.read()[-3000:]
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, stderr = process.communicate(timeout=30)
        waited = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr[-3000:]
    assert waited < 15
    assert "queues.py: interrupted (exit code 130)" in stderr
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "failure: **interrupted**" in report
    assert "| `tf.train.start_queue_runners` |" in report
