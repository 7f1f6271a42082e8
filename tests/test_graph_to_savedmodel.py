"""``python -m converters.graph_to_savedmodel``: TF1 graphs into verified TF2 SavedModels."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from converters import graph_to_savedmodel
from converters.bundle import EXIT_INPUT, EXIT_USAGE, EXIT_VERIFY


@pytest.fixture(scope="module")
def tf1_graph(tmp_path_factory):
    """(checkpoint prefix with .meta, frozen .pb, batch, expected outputs) of a small TF1 net."""
    from legacy_tf1.core import tf1

    directory = str(tmp_path_factory.mktemp("graph"))
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf.float32, (None, 4), name="images")
        scale = tf1.placeholder(tf.float32, (), name="scale")
        hidden = tf1.layers.dense(images, 8, activation=tf.nn.relu, name="hidden")
        logits = tf1.layers.dense(hidden * scale, 3, name="logits")
        tf.identity(tf.nn.softmax(logits), name="probabilities")
        saver = tf1.train.Saver()
        init = tf1.global_variables_initializer()
    batch = {"images:0": rng.random((5, 4), dtype=np.float32), "scale:0": np.float32(1.5)}
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        expected = sess.run(["logits/BiasAdd:0", "probabilities:0"], batch)
        prefix = saver.save(sess, os.path.join(directory, "model.ckpt"), global_step=1)
        frozen = tf1.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), ["logits/BiasAdd", "probabilities"]
        )
    pb = os.path.join(directory, "frozen.pb")
    with open(pb, "wb") as stream:
        stream.write(frozen.SerializeToString())
    return prefix, pb, batch, expected


ARGS = ["--inputs", "images,scale:0", "--outputs", "logits/BiasAdd,probabilities"]


@pytest.mark.parametrize("source", ["checkpoint", "meta", "pb"])
def test_graph_becomes_a_saved_model_that_tf_and_keras_load(source, tf1_graph, tmp_path, capsys):
    import keras

    prefix, pb, batch, expected = tf1_graph
    src = {"checkpoint": os.path.dirname(prefix), "meta": prefix + ".meta", "pb": pb}[source]
    output = str(tmp_path / "saved")
    assert graph_to_savedmodel.main([src, *ARGS, "--output", output]) == 0
    assert "verified: max abs difference" in capsys.readouterr().err
    inputs = {"images": tf.constant(batch["images:0"]), "scale": tf.constant(batch["scale:0"])}
    got = tf.saved_model.load(output).signatures["serving_default"](**inputs)
    np.testing.assert_allclose(got["logits_BiasAdd"], expected[0], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(got["probabilities"], expected[1], rtol=1e-6, atol=1e-5)
    layer = keras.layers.TFSMLayer(output)  # its "serve" endpoint takes the dict
    np.testing.assert_allclose(layer(inputs)["probabilities"], expected[1], rtol=1e-6, atol=1e-5)
    assert sorted(os.listdir(tmp_path)) == ["saved"]  # no temporary left beside it


def test_existing_output_needs_force(tf1_graph, tmp_path, capsys):
    _, pb, _, _ = tf1_graph
    output = tmp_path / "saved"
    output.mkdir()
    (output / "mine").write_text("keep")
    assert graph_to_savedmodel.main([pb, *ARGS, "--output", str(output)]) == EXIT_USAGE
    assert "--force" in capsys.readouterr().err and (output / "mine").exists()
    assert graph_to_savedmodel.main([pb, *ARGS, "--output", str(output), "--force"]) == 0
    assert not (output / "mine").exists()


def test_failed_verification_exits_5_and_publishes_nothing(tf1_graph, tmp_path, monkeypatch):
    _, pb, _, _ = tf1_graph
    real = graph_to_savedmodel._reference

    def off_by_a_little(*args):
        return [value + 1e-3 for value in real(*args)]

    monkeypatch.setattr(graph_to_savedmodel, "_reference", off_by_a_little)
    output = tmp_path / "saved"
    assert graph_to_savedmodel.main([pb, *ARGS, "--output", str(output)]) == EXIT_VERIFY
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--inputs", "nope", "--outputs", "probabilities"], EXIT_USAGE, "no input tensor 'nope'"),
        (
            ["--inputs", "hidden/Relu", "--outputs", "probabilities"],
            EXIT_USAGE,
            "not a Placeholder",
        ),
        (["--inputs", "images", "--outputs", "gone"], EXIT_USAGE, "no output tensor 'gone'"),
    ],
)
def test_bad_names_are_usage_errors(args, code, message, tf1_graph, tmp_path, capsys):
    _, pb, _, _ = tf1_graph
    assert graph_to_savedmodel.main([pb, *args, "--output", str(tmp_path / "o")]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "o").exists()


def test_unreadable_graph_and_checkpoint_without_meta_exit_3(tf1_graph, tmp_path, capsys):
    prefix, _, _, _ = tf1_graph
    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"\x00\xffnot a graph")
    assert graph_to_savedmodel.main([str(garbage), *ARGS, "--output", str(tmp_path / "o")]) == 3
    assert "not a GraphDef" in capsys.readouterr().err
    bare = tmp_path / "bare"
    bare.mkdir()
    for suffix in (".index", ".data-00000-of-00001"):
        os.link(prefix + suffix, str(bare / ("model.ckpt-1" + suffix)))
    argv = [str(bare / "model.ckpt-1"), *ARGS, "--output", str(tmp_path / "o")]
    assert graph_to_savedmodel.main(argv) == EXIT_INPUT
    assert "has no" in capsys.readouterr().err
