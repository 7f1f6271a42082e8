"""The TF1-style script corpus (``tests/tf1_scripts/``) run unmodified by the compat runner.

Each script runs in its own scratch directory with ``--cap-loops 2 --sample-data``;
``CORPUS`` holds what each run must end with (exit code, failure kind, report
lines). The whole corpus takes ~2.5 minutes on 2 CPU cores (each TensorFlow
script pays ~5 s of TensorFlow import).
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

from tests.test_runner import run_runner

CORPUS_DIR = Path(__file__).resolve().parent / "tf1_scripts"
COMPAT_DOC = Path(__file__).resolve().parent.parent / "docs" / "compat.md"
HELPER_MODULES = {"mnist_download_helper.py", "cifar10_tutorial/cifar10.py",
                  "cifar10_tutorial/cifar10_input.py"}  # fmt: skip
SOFT_PLACEMENT = "`soft device placement`: on"


@dataclasses.dataclass(frozen=True)
class Expect:
    """How one corpus script must end under the runner."""

    uses: str  # what the script exercises (the docs table)
    exit_code: int = 0
    kind: str | None = None  # the report's failure kind when the run fails
    raised_at: str | None = None  # text of the script line the failure must point at
    report: tuple[str, ...] = ()  # substrings the Markdown report must contain
    stdout: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


CORPUS: dict[str, Expect] = {
    "rnn_static_class.py": Expect(
        "contrib.rnn BasicLSTMCell + static_rnn in a class, input_data",
        report=(
            "| `tf.contrib.rnn.static_rnn` |",
            "| `tf.contrib.rnn.BasicLSTMCell` |",
            "`for step in range(1, 1001)` | 1 | 1000 | 2 (cap 2) |",
        ),
        stdout=("Optimization Finished!",),
    ),
    "rnn_dynamic_class.py": Expect(
        "dynamic_rnn + GRUCell + DropoutWrapper in classes; capped loops in methods using "
        "`__private` names (name mangling)",
        report=(
            "| `tf.nn.dynamic_rnn` |",
            "`keras.layers.RNN(cell, return_sequences=True, return_state=True)`",
            "dropout=1 - input_keep_prob",
            "`for i in range(n_samples)` | 1 | 1000 | 2 (cap 2) |",
        ),
        stdout=("step 2 cost",),
    ),
    "tf_layers_cnn.py": Expect(
        "tf.layers conv2d/max_pooling2d/dense/dropout, tf.losses, Adam",
        report=("| `tf.layers.conv2d` |", "| `tf.layers.dropout` |", "epsilon=1e-8"),
        stdout=("test accuracy",),
    ),
    "slim_lenet.py": Expect(
        "contrib.slim LeNet: arg_scope, conv2d, max_pool2d, dropout(keep_prob), l2_regularizer",
        report=(
            "| `tf.contrib.slim.l2_regularizer` |",
            "`keras.regularizers.L2(l2=scale / 2)`",
            "| `tf.contrib.slim.dropout` |",
            "`keras.layers.Dropout(rate=1 - keep_prob)`",
            "pass `stddev` (TF1 default 1.0, Keras 0.05)",
        ),
    ),
    "queue_batch.py": Expect(
        "slice_input_producer + tf.train.batch, Coordinator, `while not coord.should_stop()`",
        report=("| `tf.train.batch` |", "`while not coord.should_stop()` | 1 | ? | 2 (cap 2) |"),
        stdout=("trained 2 steps",),
    ),
    "monitored_hooks.py": Expect(
        "MonitoredTrainingSession + StopAtStepHook(last_step=1000000), NanTensorHook, "
        "LoggingTensorHook, CheckpointSaverHook",
        report=(
            "last step 1000000 bounded to 2",
            "| `tf.train.MonitoredTrainingSession` |",
            "`keras.callbacks.TerminateOnNaN()`",
            "`keras.callbacks.ModelCheckpoint(save_freq=N)`",
            "| `tf.train.LoggingTensorHook` |",
        ),
        stdout=("ran 2 steps",),
    ),
    "supervisor_loop.py": Expect(
        "tf.train.Supervisor, managed_session, `while not sv.should_stop()`",
        report=("| `tf.train.Supervisor` |", "`while not sv.should_stop()` | 1 | ? | 2 (cap 2) |"),
        stdout=("done",),
    ),
    "summaries_filewriter.py": Expect(
        "tf.summary scalar/histogram/image, merge_all, FileWriter",
        report=("| `tf.summary.FileWriter` |", "| `tf.summary.merge_all` |"),
        stdout=("events written",),
    ),
    "saver_restore.py": Expect(
        "tf.train.Saver save + restore into a fresh graph, latest_checkpoint",
        report=("| `tf.train.Saver` |",),
        stdout=("restored saver_ckpt/model.ckpt-1",),
    ),
    "device_pinning.py": Expect(
        "`tf.device('/gpu:0')` with a ConfigProto (soft placement)",
        report=(SOFT_PLACEMENT,),
        stdout=("sum 32.0",),
    ),
    "app_flags.py": Expect(
        "tf.app.flags (script args), tf.app.run(main), tf.logging, tf.gfile",
        args=("--learning_rate", "0.05"),
        report=("| `tf.app.run` |", "| `tf.gfile.MakeDirs` |", "| `tf.logging.info` |"),
    ),
    "numpy1_idioms.py": Expect(
        "np.float/int/object, np.reshape(newshape=), np.asscalar, np.product ... ; np.load "
        "keeps allow_pickle=False",
        report=(
            "`np.float`: removed in numpy 1.24, bridged",
            "`np.int`: removed in numpy 1.24, bridged",
            "`np.object`: removed in numpy 1.24, bridged",
            "`np.asscalar`: removed in numpy 1.23, bridged",
            "`np.reshape(..., newshape=...)`: removed in numpy 2.4, bridged",
            "`np.product`: removed in numpy 2.0, bridged",
            "TensorFlow never imported",
        ),
        stdout=("np.load refused the pickle",),
    ),
    "mnist_download.py": Expect(
        "a helper module fetching the four MNIST .gz files from yann.lecun.com (six.moves "
        "urlretrieve)",
        report=(
            "served `http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz`",
            "served `http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz`",
            "`np.int`: removed in numpy 1.24, bridged",
        ),
        stdout=("train (9000, 28, 28, 1)",),
    ),
    "cifar_python_download.py": Expect(
        "urlopen of cifar-10-python.tar.gz, tarfile, pickle batches",
        report=("served `https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz`",),
        stdout=("batch 1: (800, 32, 32, 3)",),
    ),
    "keras_datasets.py": Expect(
        "tf.keras.datasets.mnist.load_data(), tf.keras.utils.get_file(untar=True)",
        report=(
            "served `https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz`",
            "served `https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`",
        ),
        stdout=("train (4000, 28, 28)",),
    ),
    "network_other.py": Expect(
        "a download that is not a dataset (refused offline)",
        exit_code=1,
        kind="network access",
        report=("refused `https://nlp.stanford.edu/data/glove.6B.zip`",),
        raised_at='urllib.request.urlretrieve(url, "glove.6B.zip")',
    ),
    "estimator_dnn.py": Expect(
        "tf.estimator.DNNClassifier (removed in TF 2.16: clear error)",
        exit_code=1,
        kind="unbridged API",
        report=(
            "tf.estimator was removed in TensorFlow 2.16",
            "`model.fit(dataset)`",
            "python -m tf2_port train MODEL",
        ),
    ),
    "missing_module.py": Expect(
        "an uninstalled third-party import after TF is set up",
        exit_code=1,
        kind="missing module",
        raised_at="import tf1_era_plotting_helpers as plotting",
    ),
    "library_error.py": Expect(
        "an error raised inside numpy (missing file)",
        exit_code=1,
        kind="other",
        raised_at="return np.load(path)",
        report=("raised inside TensorFlow or another library (at `",),
    ),
    "dataset_iterators.py": Expect(
        "tf.data make_one_shot_iterator / make_initializable_iterator, OutOfRangeError loop",
        report=(
            "| `tf.data.Dataset.make_one_shot_iterator` |",
            "| `tf.data.Dataset.make_initializable_iterator` |",
            "TF2 datasets lack this method",
        ),
        stdout=("eval rows 8",),
    ),
    "semantics_mlp.py": Expect(
        "tf.nn.dropout(keep_prob), xavier + variance_scaling initializers, l2_regularizer, Adam",
        report=(
            "`keras.regularizers.L2(l2=scale / 2)`: TF1 computes scale * sum(w^2) / 2",
            "xavier = glorot_uniform",
            "TF1 defaults factor=2.0, FAN_IN, uniform=False (= `HeNormal()`)",
            "rate=1 - keep_prob",
            "TF1's epsilon default is 1e-8, Keras' 1e-7",
        ),
    ),
    "interactive_session.py": Expect(
        "InteractiveSession, Tensor.eval / Operation.run, input_data one_hot",
        report=("| `tf.InteractiveSession` |",),
    ),
    "cifar10_tutorial/cifar10_train.py": Expect(
        "three-module cifar10 tutorial look-alike: maybe_download_and_extract by DATA_URL, "
        "queue input, MonitoredTrainingSession + StopAtStepHook(last_step=1000000) + _LoggerHook",
        args=("--data_dir", "cifar10_data", "--train_dir", "cifar10_train"),
        report=(
            "served `https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`",
            "last step 1000000 bounded to 2",
            "| `tf.train.SessionRunHook` |",
            "`keras.callbacks.Callback` subclass",
            "| `tf.train.StopAtStepHook` |",
            SOFT_PLACEMENT,
        ),
        stdout=("step 1, loss =",),
    ),
}


def line_of(name: str, text: str) -> int:
    """The 1-based number of the corpus script's line containing ``text``."""
    lines = (CORPUS_DIR / name).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def documented_result(expect: Expect) -> str:
    """The result cell of the corpus table in docs/compat.md for ``expect``."""
    if expect.exit_code == 0:
        return "runs (exit 0)"
    return f"fails as intended (exit {expect.exit_code}, {expect.kind})"


def test_docs_corpus_table_matches_the_expectations():
    rows = {}
    for line in COMPAT_DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `([\w/]+\.py)` \| (.*) \| (.*) \|$", line)
        if match and not match.group(1).startswith("seed"):
            rows[match.group(1)] = match.group(3)
    assert rows == {name: documented_result(expect) for name, expect in CORPUS.items()}


def corpus_scripts() -> list[str]:
    """Every script in the corpus directory (helper modules excluded)."""
    found = sorted(str(path.relative_to(CORPUS_DIR)) for path in CORPUS_DIR.rglob("*.py"))
    return [name for name in found if name not in HELPER_MODULES]


def test_corpus_table_covers_every_script():
    assert sorted(CORPUS) == corpus_scripts()
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_script_under_the_runner(tmp_path, name):
    expect = CORPUS[name]
    started = time.monotonic()
    result = run_runner(
        ["--cap-loops", "2", "--sample-data", "--report", "r.md", str(CORPUS_DIR / name),
         *expect.args],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == expect.exit_code, result.stderr[-4000:]
    report = (tmp_path / "r.md").read_text(encoding="utf-8")
    status = "completed" if expect.exit_code == 0 else "failed"
    assert f"result: **{status}** (exit code {expect.exit_code})" in report
    if expect.kind is not None:
        assert f"failure: **{expect.kind}**" in report
    if expect.raised_at is not None:
        assert f"- raised at: `{CORPUS_DIR / name}:{line_of(name, expect.raised_at)}`" in report
    for text in expect.report:
        assert text in report, (text, report)
    for text in expect.stdout:
        assert text in result.stdout, (text, result.stdout[-2000:])
    print(f"{name}: {time.monotonic() - started:.1f} s")
