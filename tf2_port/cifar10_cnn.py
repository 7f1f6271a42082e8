"""Keras 3 port of seed001, the TF cifar10 tutorial CNN.

conv 5x5x64 + ReLU, max pool 3x3/2 SAME, LRN (depth_radius 4), conv 5x5x64 +
ReLU, LRN (``tf.nn.lrn``'s default depth_radius 5: the original omits it),
max pool 3x3/2 SAME, FC 384, FC 192, linear 10. The three FC weights carry
``0.004 * tf.nn.l2_loss(w)`` weight losses; the convolutions' ``wl=0.0`` terms
add exact zeros to the original's total loss and are left out here.
Inputs are 24x24x3 standardized crops (see :mod:`tf2_port.data`).

The original reshapes ``pool2`` to ``[batch_size, -1]`` with the fixed batch
size 128 of its placeholders; the port flattens any batch size.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tf2_port import layers
from tf2_port.config import constant, truncated_normal
from tf2_port.layers import L2WeightLoss, LocalResponseNormalization
from tf2_port.precision import FLOAT32_LAYER

NAME = "cifar10_cnn"
ORIGINAL = "seed001_cifar10_cnn.py"
DATA_KIND = "cifar-bin"
LABELS = "sparse"
NUM_CLASSES = 10
IMAGE_SHAPE = (24, 24, 3)

# LRN parameters of the original: bias 1.0, alpha 0.001 / 9, beta 0.75.
LRN_BIAS = 1.0
LRN_ALPHA = 0.001 / 9.0
LRN_BETA = 0.75


@dataclasses.dataclass(frozen=True)
class DenseSpec:
    """One fully connected layer: name, units, init stddev, bias init, weight loss, ReLU."""

    name: str
    units: int
    stddev: float
    bias: float
    wl: float
    relu: bool = True


# local3, local4 and the softmax-linear layer of the original.
DENSE_LAYERS = (
    DenseSpec("local3", 384, stddev=0.04, bias=0.1, wl=0.004),
    DenseSpec("local4", 192, stddev=0.04, bias=0.1, wl=0.004),
    DenseSpec("logits", NUM_CLASSES, stddev=1 / 192, bias=0.0, wl=0.004, relu=False),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters; the defaults are the original's."""

    # max_steps 1000, batch_size 128, Adam 1e-3.
    steps: int = 1000
    batch_size: int = 128
    learning_rate: float = 1e-3
    # depth_radius of norm1 (explicit 4) and norm2 (tf.nn.lrn's default 5).
    norm1_depth_radius: int = 4
    norm2_depth_radius: int = 5
    # "mixed_bfloat16": bfloat16 compute, float32 variables (see tf2_port.precision).
    precision: str = "float32"


def _conv(filters, bias, name):
    return layers.Conv2D(
        filters,
        5,
        padding="same",
        activation="relu",
        kernel_initializer=truncated_normal(5e-2),
        bias_initializer=constant(bias),
        name=name,
    )


def _lrn(depth_radius, name):
    return LocalResponseNormalization(
        depth_radius, bias=LRN_BIAS, alpha=LRN_ALPHA, beta=LRN_BETA, name=name
    )


def _pool(name):
    return keras.layers.MaxPooling2D(3, strides=2, padding="same", name=name)


def build_model(config: Config = Config()) -> keras.Model:
    """The network from NHWC [N, 24, 24, 3] images to [N, 10] logits."""
    images = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = _conv(64, 0.0, "conv1")(images)
    x = _pool("pool1")(x)
    x = _lrn(config.norm1_depth_radius, "norm1")(x)
    x = _conv(64, 0.1, "conv2")(x)
    x = _lrn(config.norm2_depth_radius, "norm2")(x)
    x = _pool("pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for spec in DENSE_LAYERS:
        x = layers.Dense(
            spec.units,
            activation="relu" if spec.relu else None,
            kernel_initializer=truncated_normal(spec.stddev),
            bias_initializer=constant(spec.bias),
            kernel_regularizer=L2WeightLoss(spec.wl),
            name=spec.name,
            dtype=FLOAT32_LAYER if spec.name == "logits" else None,  # see tf2_port.precision
        )(x)
    return keras.Model(images, x, name=NAME)


def per_example_loss(config: Config, labels, outputs):
    """sparse_softmax_cross_entropy_with_logits, per example (weight losses come from the model)."""
    del config
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int64), logits=outputs
    )
