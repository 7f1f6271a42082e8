"""``ckpt_v1_to_v2 --target``: a TF1 checkpoint into the user's own Keras 3 model."""

from __future__ import annotations

import json
import os
import shutil
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from converters import ckpt_v1_to_v2
from converters.bundle import EXIT_USAGE, EXIT_VERIFY

STEPS = 2

# The user's Keras model, as they would write it: same computation as the TF1 graph below.
# build_tanh has a wrong activation in conv2; build_swapped creates fc4 before fc3, so its
# weight order disagrees with the checkpoint's where fc3 and fc4 share the bias shape [32].
KERAS_MODULE = textwrap.dedent(
    """
    import keras


    def build(conv2_activation="relu"):
        inputs = keras.Input((784,), name="x")
        net = keras.layers.Reshape((28, 28, 1))(inputs)
        net = keras.layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")(net)
        net = keras.layers.MaxPooling2D(2, name="pool1")(net)
        net = keras.layers.Conv2D(
            16, 5, padding="same", activation=conv2_activation, name="conv2"
        )(net)
        net = keras.layers.MaxPooling2D(2, name="pool2")(net)
        net = keras.layers.Flatten()(net)
        net = keras.layers.Dense(32, activation="relu", name="fc3")(net)
        net = keras.layers.Dropout(0.5)(net)
        net = keras.layers.Dense(32, activation="relu", name="fc4")(net)
        logits = keras.layers.Dense(10, name="logits")(net)
        return keras.Model(inputs, logits, name="lenet")


    def build_tanh():
        return build(conv2_activation="tanh")


    class Swapped(keras.Model):
        def __init__(self):
            super().__init__(name="swapped")
            self.conv1 = keras.layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1")
            self.conv2 = keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv2")
            self.fc4 = keras.layers.Dense(32, activation="relu", name="fc4")
            self.fc3 = keras.layers.Dense(32, activation="relu", name="fc3")
            self.logits = keras.layers.Dense(10, name="logits")
            self.pool = keras.layers.MaxPooling2D(2)

        def call(self, x):
            net = self.pool(self.conv1(keras.ops.reshape(x, (-1, 28, 28, 1))))
            net = keras.ops.reshape(self.pool(self.conv2(net)), (-1, 7 * 7 * 16))
            return self.logits(self.fc4(self.fc3(net)))


    def build_swapped():
        model = Swapped()
        model(keras.ops.zeros((1, 784)))
        return model
    """
)

RULES = {
    "rules": [
        {"match": r"(\w+)/weights", "target": r"swapped/\1/kernel"},
        {"match": r"(\w+)/biases", "target": r"swapped/\1/bias"},
        {"match": r"(\w+)/weights/Adam", "target": r"adam/m/swapped/\1/kernel"},
        {"match": r"(\w+)/weights/Adam_1", "target": r"adam/v/swapped/\1/kernel"},
        {"match": r"(\w+)/biases/Adam", "target": r"adam/m/swapped/\1/bias"},
        {"match": r"(\w+)/biases/Adam_1", "target": r"adam/v/swapped/\1/bias"},
        {"match": "beta1_power", "target": "adam/beta1_power"},
        {"match": "beta2_power", "target": "adam/beta2_power"},
        {"match": "global_step", "target": "step"},
    ]
}


def _layer(tf1, name, inputs, kernel_shape, *, conv, relu=True):
    with tf1.variable_scope(name):
        kernel = tf1.get_variable(
            "weights", kernel_shape, initializer=tf1.truncated_normal_initializer(stddev=0.1)
        )
        bias = tf1.get_variable("biases", kernel_shape[-1:], initializer=tf1.zeros_initializer())
        net = (
            tf.nn.conv2d(inputs, kernel, [1, 1, 1, 1], "SAME")
            if conv
            else tf.matmul(inputs, kernel)
        )
        net = tf.nn.bias_add(net, bias)
        return tf.nn.relu(net) if relu else net


def _pool(tf1, net):
    return tf1.nn.max_pool(net, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")


@pytest.fixture(scope="module")
def tf1_lenet(tmp_path_factory):
    """(checkpoint prefix with .meta, batch, logits, values) of a small TF1 LeNet after 2 Adam steps."""
    from legacy_tf1.core import tf1

    directory = str(tmp_path_factory.mktemp("tf1") / "train")
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        x = tf1.placeholder(tf.float32, [None, 784], name="x")
        labels = tf1.placeholder(tf.int64, [None], name="labels")
        keep_prob = tf1.placeholder(tf.float32, [], name="keep_prob")
        net = _pool(
            tf1, _layer(tf1, "conv1", tf.reshape(x, [-1, 28, 28, 1]), [5, 5, 1, 6], conv=True)
        )
        net = _pool(tf1, _layer(tf1, "conv2", net, [5, 5, 6, 16], conv=True))
        net = _layer(tf1, "fc3", tf.reshape(net, [-1, 7 * 7 * 16]), [784, 32], conv=False)
        net = _layer(tf1, "fc4", tf1.nn.dropout(net, keep_prob=keep_prob), [32, 32], conv=False)
        logits = _layer(tf1, "logits", net, [32, 10], conv=False, relu=False)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )
        tf.argmax(logits, 1, name="prediction")
        step = tf1.train.get_or_create_global_step()
        train = tf1.train.AdamOptimizer(1e-3).minimize(loss, global_step=step)
        saver = tf1.train.Saver()
        init = tf1.global_variables_initializer()
    batch = rng.random((5, 784), dtype=np.float32)
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        for _ in range(STEPS):
            feed = {x: rng.random((8, 784), dtype=np.float32), labels: rng.integers(0, 10, 8)}
            sess.run(train, {**feed, keep_prob: 0.5})
        prefix = saver.save(sess, os.path.join(directory, "model.ckpt"), global_step=STEPS)
        expected = sess.run(logits, {x: batch, keep_prob: 1.0})
    return prefix, batch, expected


@pytest.fixture
def user_module(tmp_path):
    path = tmp_path / "mymodels.py"
    path.write_text(KERAS_MODULE)
    return str(path)


def _main(*args):
    return ckpt_v1_to_v2.main([str(a) for a in args])


def test_target_converts_weights_and_adam_and_matches_the_graph(
    tf1_lenet, user_module, tmp_path, capsys
):
    import keras

    prefix, batch, expected = tf1_lenet
    output = tmp_path / "out"
    assert _main(prefix, "--target", f"{user_module}:build", "--output", output) == 0
    err = capsys.readouterr().err
    assert (
        "fed keep_prob:0 = 1.0" in err
        and "verified: lenet vs model.ckpt-2.meta: 6 end points" in err
    )
    assert sorted(os.listdir(tmp_path)) == ["mymodels.py", "out"]  # no scratch left

    from converters.target import load_target

    model = load_target(f"{user_module}:build")
    model.load_weights(str(output / "model.weights.h5"))
    np.testing.assert_allclose(model(batch, training=False), expected, rtol=1e-5, atol=1e-5)

    # The TF2 checkpoint: the model, a Keras Adam carrying TF1's slots and step count.
    fresh = load_target(f"{user_module}:build")
    adam = keras.optimizers.Adam(1e-3, epsilon=1e-8)
    adam.build(fresh.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    root = tf.train.Checkpoint(model=fresh, optimizer=adam, step=step)
    root.restore(tf.train.latest_checkpoint(str(output))).assert_consumed()
    reader = tf.train.load_checkpoint(prefix)
    assert int(adam.iterations.numpy()) == STEPS == int(step.numpy())
    kernel = fresh.get_layer("conv2").kernel
    index = adam._get_variable_index(kernel)
    np.testing.assert_array_equal(adam._momentums[index], reader.get_tensor("conv2/weights/Adam"))
    np.testing.assert_array_equal(
        adam._velocities[index], reader.get_tensor("conv2/weights/Adam_1")
    )
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["optimizer"] == {"learning_rate": pytest.approx(1e-3), "iterations": STEPS}
    assert {"source": "fc4/weights", "target": "fc4/kernel", "transform": "identity"} in manifest[
        "mapping"
    ]

    # An existing output is kept without --force.
    assert _main(prefix, "--target", f"{user_module}:build", "--output", output) == EXIT_USAGE
    assert "--force" in capsys.readouterr().err


def test_dry_run_prints_the_proposal_and_writes_nothing(tf1_lenet, user_module, tmp_path, capsys):
    import keras

    from converters.target import load_target

    prefix, _, _ = tf1_lenet
    keras_file = tmp_path / "lenet.keras"
    load_target(f"{user_module}:build").save(str(keras_file))
    before = sorted(os.listdir(tmp_path))
    assert _main(prefix, "--target", keras_file, "--dry-run") == 0
    err = capsys.readouterr().err
    assert "creation order from model.ckpt-2.meta" in err
    assert "  conv1/weights -> conv1/kernel [5, 5, 1, 6]" in err
    assert "  fc3/biases -> fc3/bias [32]" in err and "  fc4/biases -> fc4/bias [32]" in err
    assert "  fc4/weights/Adam -> adam/m/fc4/kernel [32, 32]" in err
    assert sorted(os.listdir(tmp_path)) == before
    assert isinstance(keras.models.load_model(str(keras_file)), keras.Model)

    # --no-optimizer leaves the Adam state out; it and --optimizer exclude each other.
    assert _main(prefix, "--target", keras_file, "--dry-run", "--no-optimizer") == 0
    err = capsys.readouterr().err
    assert "conv1/weights/Adam: ignored (optimizer state not converted" in err
    assert "adam/" not in err
    both = ["--dry-run", "--optimizer", "--no-optimizer"]
    assert _main(prefix, "--target", keras_file, *both) == EXIT_USAGE

    # Without the .meta, the documented name order gives the same proposal here.
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in os.listdir(os.path.dirname(prefix)):
        if name.startswith("model.ckpt-2.") and not name.endswith(".meta"):
            shutil.copy(os.path.join(os.path.dirname(prefix), name), bare / name)
    assert _main(bare / "model.ckpt-2", "--target", f"{user_module}:build", "--dry-run") == 0
    err = capsys.readouterr().err
    assert "no .meta graph: ordered by scope and name" in err
    assert "  fc3/biases -> fc3/bias [32]" in err


def test_ambiguous_proposal_is_refused_and_rules_decide(tf1_lenet, user_module, tmp_path, capsys):
    prefix, batch, expected = tf1_lenet
    spec = f"{user_module}:build_swapped"
    assert _main(prefix, "--target", spec, "--output", tmp_path / "out") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "ambiguous mapping" in err and "fc3/biases [32]" in err and "--rules" in err
    assert not (tmp_path / "out").exists()

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    output = tmp_path / "out"
    assert _main(prefix, "--target", spec, "--rules", rules, "--output", output) == 0
    assert "verified:" in capsys.readouterr().err
    from converters.target import load_target

    model = load_target(spec)
    model.load_weights(str(output / "model.weights.h5"))
    np.testing.assert_allclose(model(batch), expected, rtol=1e-5, atol=1e-5)


def test_count_mismatch_is_refused(tf1_lenet, tmp_path, monkeypatch, capsys):
    prefix, _, _ = tf1_lenet
    monkeypatch.chdir(tmp_path)  # MODULE:FUNCTION is importable from the current directory
    module = tmp_path / "small_target_model.py"
    module.write_text(
        "import keras\n\ndef build():\n"
        "    inputs = keras.Input((784,))\n"
        "    return keras.Model(inputs, keras.layers.Dense(10, name='logits')(inputs))\n"
    )
    assert _main(prefix, "--target", "small_target_model:build", "--dry-run") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "10 checkpoint variables for 2 model weights" in err and "--rules" in err


def test_wrong_model_fails_verification_naming_the_layer(tf1_lenet, user_module, tmp_path, capsys):
    prefix, _, _ = tf1_lenet
    output = tmp_path / "out"
    spec = f"{user_module}:build_tanh"
    names = ["--inputs", "x", "--outputs", "logits/BiasAdd"]
    assert _main(prefix, "--target", spec, *names, "--output", output) == EXIT_VERIFY
    err = capsys.readouterr().err
    assert "first diverging: 'conv2 <- conv2/Relu:0' [4, 14, 14, 16]" in err, err
    assert not output.exists() and os.listdir(tmp_path) == ["mymodels.py"]


def test_compare_models_reports_in_the_suite_format(tf1_lenet, user_module, capsys):
    from converters.target import load_target
    from parity.compare import compare_models

    prefix, batch, expected = tf1_lenet
    model = load_target(f"{user_module}:build")  # fresh weights: every layer differs
    result = compare_models(prefix + ".meta", model, batch=batch, outputs="logits/BiasAdd")
    names = [leaf.name for leaf in result.leaves]
    assert names[0] == "conv1 <- conv1/Relu:0" and names[-1] == "output <- logits/BiasAdd:0"
    assert not result.passed and result.first_divergence.name == names[0]
    assert "FAIL, first diverging: 'conv1 <- conv1/Relu:0'" in result.message()
    np.testing.assert_array_equal([leaf.shape for leaf in result.leaves][-1], np.shape(expected))


def test_input_and_output_detection_refuses_what_it_cannot_tell():
    from converters import meta_graph
    from converters.bundle import UsageError
    from legacy_tf1.core import tf1

    graph = tf.Graph()
    with graph.as_default():
        x = tf1.placeholder(tf.float32, [None, 4], name="x")
        count = tf1.placeholder(tf.int32, [None], name="count")
        first = tf.identity(x * 2.0, name="first")
        tf.nn.softmax(first)
        tf.nn.softmax(tf.identity(x * tf.cast(count[0], tf.float32), name="second"))
    assert meta_graph.detect_input(graph, "g.meta") is x
    with pytest.raises(UsageError, match="2 tensors feed a softmax.*pass --outputs"):
        meta_graph.detect_output(graph, "g.meta")
    assert meta_graph.extra_feeds(first, x, "g.meta") == {}
    with pytest.raises(UsageError, match="also needs placeholder count:0"):
        meta_graph.extra_feeds(graph.get_tensor_by_name("second:0"), x, "g.meta")
