"""``tf2_port.load(..., logits=True)`` returns logits for every model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tf2_port

# vgg16 at its fast size (every layer kept); the others at their defaults.
SMALL = {"vgg16": {"image_size": 32, "num_classes": 10, "conv4_3_filters": 8}}
# The ports that return the originals' softmax probabilities by default (docs/models.md).
PROBABILITIES = {"vgg16", "resnet_mnist_class"}
INPUTS = {
    "resnet_mnist": (28, 28, 1),
    "cifar10_cnn": (24, 24, 3),
    "vgg16": (32, 32, 3),
    "resnet_mnist_class": (28, 28, 1),
    "alexnet_cifar10": (32, 32, 3),
}


@pytest.mark.parametrize("model", tf2_port.MODEL_NAMES)
def test_logits_switch(model, tmp_path):
    options = SMALL.get(model, {})
    built = tf2_port.build(model, **options)
    prefix = tf.train.Checkpoint(model=built).save(str(tmp_path / "ckpt"))
    images = np.random.default_rng(0).random((3, *INPUTS[model]), dtype=np.float32)

    default = np.asarray(tf2_port.load(model, prefix, **options)(images, training=False))
    logits = np.asarray(
        tf2_port.load(model, prefix, logits=True, **options)(images, training=False)
    )
    assert logits.shape == default.shape == (3, options.get("num_classes", 10))
    if model in PROBABILITIES:
        np.testing.assert_allclose(default.sum(axis=-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), default, rtol=1e-5, atol=1e-7)
        assert not np.allclose(logits, default)
    else:
        np.testing.assert_array_equal(logits, default)
