"""``--rules FILE`` generic mode: any TF1 checkpoint into a tf.Module or a registry model.

Worked example: a tf_slim ``vgg_16`` checkpoint (the names of Google's published
slim checkpoints) into the standard tf2_port vgg16 and keras.applications.VGG16.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from converters import ckpt_v1_to_v2, rules
from converters.bundle import EXIT_MAPPING, EXIT_USAGE

SLIM_VGG16_RULES = {
    "rules": [
        {"match": r"vgg_16/conv(\d)/conv\d_(\d)/weights", "target": r"block\1_conv\2/kernel"},
        {"match": r"vgg_16/conv(\d)/conv\d_(\d)/biases", "target": r"block\1_conv\2/bias"},
        # slim's fully connected layers are convolutions: 7x7 (fc6) and 1x1 (fc7, fc8).
        {"match": "vgg_16/fc6/weights", "target": "fc1/kernel", "transform": "conv_as_dense"},
        {"match": "vgg_16/fc6/biases", "target": "fc1/bias"},
        {"match": "vgg_16/fc7/weights", "target": "fc2/kernel", "transform": "conv_as_dense"},
        {"match": "vgg_16/fc7/biases", "target": "fc2/bias"},
        {
            "match": "vgg_16/fc8/weights",
            "target": "predictions/kernel",
            "transform": "conv_as_dense",
        },
        {"match": "vgg_16/fc8/biases", "target": "predictions/bias"},
    ],
    "ignore": [{"match": "global_step", "reason": "a training counter, not a weight"}],
}


def _write_json(path, payload) -> str:
    path.write_text(json.dumps(payload))
    return str(path)


def _small_tf1_checkpoint(directory) -> tuple[str, dict[str, np.ndarray]]:
    """A Saver checkpoint of a few hand-made variables; returns (prefix, values)."""
    from legacy_tf1.core import tf1

    rng = np.random.default_rng(3)
    values = {
        "net/conv/weights": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
        "net/conv/biases": rng.standard_normal(4).astype(np.float32),
        "net/fc/weights": rng.standard_normal((1, 1, 4, 5)).astype(np.float32),
        "global_step": np.array(7, np.int64),
    }
    graph = tf.Graph()
    with graph.as_default():
        for name, value in values.items():
            tf1.Variable(value, name=name, use_resource=False)
        saver = tf1.train.Saver()
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        return saver.save(sess, os.path.join(directory, "model.ckpt")), values


MODULE_RULES = {
    "rules": [
        {"match": r"net/(\w+)/weights", "target": r"\1.kernel"},
        {"match": r"net/(\w+)/biases", "target": r"\1.bias"},
    ],
    "ignore": [{"match": "global_step", "reason": "not a weight"}],
}


def test_rules_into_a_tf_module_are_bit_exact(tmp_path):
    prefix, values = _small_tf1_checkpoint(str(tmp_path / "ckpt"))
    payload = {**MODULE_RULES, "rules": list(MODULE_RULES["rules"])}
    payload["rules"][0] = {
        "match": r"net/fc/weights",
        "target": "fc.kernel",
        "transform": "conv_as_dense",
    }
    payload["rules"].insert(1, {"match": r"net/conv/weights", "target": "conv.kernel"})
    rules_file = _write_json(tmp_path / "rules.json", payload)
    output = str(tmp_path / "out")
    assert ckpt_v1_to_v2.main([prefix, "--rules", rules_file, "--output", output]) == 0
    module = rules.load_module(output)
    assert set(module.tensors) == {"conv.kernel", "conv.bias", "fc.kernel"}
    np.testing.assert_array_equal(module.tensors["conv.kernel"], values["net/conv/weights"])
    np.testing.assert_array_equal(module.tensors["conv.bias"], values["net/conv/biases"])
    np.testing.assert_array_equal(module.tensors["fc.kernel"], values["net/fc/weights"][0, 0])
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["ignored"] == {"global_step": "not a weight"}


def test_rules_leaving_a_key_unmapped_is_a_mapping_error(tmp_path, capsys):
    prefix, _ = _small_tf1_checkpoint(str(tmp_path / "ckpt"))
    payload = {"rules": MODULE_RULES["rules"]}  # global_step neither mapped nor ignored
    rules_file = _write_json(tmp_path / "rules.json", payload)
    code = ckpt_v1_to_v2.main([prefix, "--rules", rules_file, "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == EXIT_MAPPING and "global_step" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_rules_assigning_a_target_twice_is_a_mapping_error(tmp_path, capsys):
    prefix, _ = _small_tf1_checkpoint(str(tmp_path / "ckpt"))
    payload = {**MODULE_RULES, "rules": [{"match": r"net/.*", "target": "same"}]}
    rules_file = _write_json(tmp_path / "rules.json", payload)
    code = ckpt_v1_to_v2.main([prefix, "--rules", rules_file, "--output", str(tmp_path / "o")])
    assert code == EXIT_MAPPING and "assigned twice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"rules": {}}',
        '{"rules": [{"match": "(", "target": "x"}]}',
        '{"rules": [{"match": "x", "target": "y", "transform": "rot90"}]}',
        '{"rules": [], "extra": 1}',
    ],
)
def test_bad_rules_files_are_usage_errors_naming_the_file(text, tmp_path, capsys):
    prefix, _ = _small_tf1_checkpoint(str(tmp_path / "ckpt"))
    (tmp_path / "rules.json").write_text(text)
    argv = [prefix, "--rules", str(tmp_path / "rules.json"), "--output", str(tmp_path / "o")]
    assert ckpt_v1_to_v2.main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "rules.json" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def slim_vgg16(tmp_path_factory):
    """(prefix, image, slim logits) of a randomly initialised tf_slim vgg_16 at 224."""
    import tf_slim
    from tf_slim.nets import vgg

    from legacy_tf1.core import tf1

    directory = str(tmp_path_factory.mktemp("slim_vgg16"))
    image = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
    graph = tf.Graph()
    with graph.as_default():
        inputs = tf1.placeholder(tf.float32, (1, 224, 224, 3))
        with tf_slim.arg_scope(vgg.vgg_arg_scope()):
            logits, _ = vgg.vgg_16(inputs, num_classes=1000, is_training=False)
        tf1.train.get_or_create_global_step()
        saver = tf1.train.Saver()
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        expected = sess.run(logits, {inputs: image})
        prefix = saver.save(sess, os.path.join(directory, "vgg_16.ckpt"))
    return prefix, image, expected


@pytest.mark.slow
def test_slim_vgg16_converts_into_the_port_and_keras_vgg16(slim_vgg16, tmp_path):
    import keras

    import tf2_port

    prefix, image, expected = slim_vgg16
    rules_file = _write_json(tmp_path / "slim_vgg16.json", SLIM_VGG16_RULES)
    output = str(tmp_path / "out")
    assert (
        ckpt_v1_to_v2.main([prefix, "--rules", rules_file, "--model", "vgg16", "--output", output])
        == 0
    )
    port = tf2_port.load("vgg16", output)
    got = ckpt_v1_to_v2.port_logits(port, image)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # The standard port's layer names are keras.applications.VGG16's.
    reference = keras.applications.VGG16(weights=None, classifier_activation=None)
    for layer in reference.layers:
        if layer.weights:
            layer.set_weights(port.get_layer(layer.name).get_weights())
    np.testing.assert_allclose(np.asarray(reference(image)), expected, rtol=1e-4, atol=1e-4)
