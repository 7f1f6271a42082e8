"""Keras 3 port of seed000, the bottleneck ResNet on MNIST.

Stem: 2x2/2 conv (64) + ReLU, 3x3/1 max pool. Stage 2: one convolutional
block (projection shortcut: a 1x1 VALID conv without bias) and two identity
blocks, all with filters (64, 64, 256). Then a 2x2/2 max pool, FC 1024 + ReLU,
dropout and a 10-way linear layer that outputs the logits.

As in the original every block's third convolution is followed by a ReLU
*before* the residual addition, and the addition is ReLU'd again. Weights are
``truncated_normal(stddev=0.1)`` and biases ``0.1`` everywhere.

Options (defaults reproduce the original, names as in ``legacy_tf1``):

* ``extra_bias`` -- the blog post's "before" variant: a ``b_conv_fin`` bias
  (0.1) added to the sum before the final ReLU of each block.
* ``linear_last_conv`` -- no ReLU on the third convolution (standard ResNet).
* ``keep_prob`` -- the dropout keep probability while training (rate = 1 - keep_prob).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tf2_port import layers
from tf2_port.config import BlockSpec, constant, truncated_normal
from tf2_port.layers import BiasAdd
from tf2_port.precision import FLOAT32_LAYER

NAME = "resnet_mnist"
ORIGINAL = "seed000_resnet_mnist.py"
DATA_KIND = "mnist"
LABELS = "one_hot"
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)


# Stage 2 of the original: convolutional_block 'res2a', identity blocks 'res2b', 'res2c'.
BLOCKS = (
    BlockSpec("res2a", (64, 64, 256), projection=True, stride=1),
    BlockSpec("res2b", (64, 64, 256), projection=False),
    BlockSpec("res2c", (64, 64, 256), projection=False),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters and defect switches; the defaults are the original's."""

    # Training loop: range(3001), next_batch(10), Adam 1e-3, keep_prob 0.5 (1.0 for eval).
    steps: int = 3001
    batch_size: int = 10
    learning_rate: float = 1e-3
    keep_prob: float = 0.5
    # The post's "before" variant: relu(add + b_conv_fin), b_conv_fin initialised to 0.1.
    extra_bias: bool = False
    # True drops the ReLU after each block's third convolution (standard ResNet).
    linear_last_conv: bool = False
    # "mixed_bfloat16": bfloat16 compute, float32 variables (see tf2_port.precision).
    precision: str = "float32"


def _conv(filters, kernel_size, name, *, strides=1, padding="same", activation="relu", bias=True):
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        activation=activation,
        use_bias=bias,
        kernel_initializer=truncated_normal(0.1),
        bias_initializer=constant(0.1),
        name=name,
    )


def residual_block(x, spec: BlockSpec, config: Config):
    """The original's identity_block / convolutional_block."""
    f1, f2, f3 = spec.filters
    shortcut = x
    y = _conv(f1, 1, f"{spec.name}_conv1", strides=spec.stride)(x)
    y = _conv(f2, spec.kernel_size, f"{spec.name}_conv2")(y)
    last_activation = None if config.linear_last_conv else "relu"
    y = _conv(f3, 1, f"{spec.name}_conv3", activation=last_activation)(y)
    if spec.projection:
        shortcut = _conv(
            f3,
            1,
            f"{spec.name}_shortcut",
            strides=spec.stride,
            padding="valid",
            activation=None,
            bias=False,
        )(shortcut)
        y = keras.layers.Add(name=f"{spec.name}_add")([shortcut, y])
    else:
        y = keras.layers.Add(name=f"{spec.name}_add")([y, shortcut])
    if config.extra_bias:
        y = BiasAdd(constant(0.1), name=f"{spec.name}_final_bias")(y)
    return keras.layers.ReLU(name=f"{spec.name}_relu")(y)


def build_model(config: Config = Config()) -> keras.Model:
    """The network from NHWC [N, 28, 28, 1] images to [N, 10] logits."""
    images = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = _conv(64, 2, "conv1", strides=2)(images)
    x = keras.layers.MaxPooling2D(3, strides=1, padding="same", name="pool1")(x)
    for spec in BLOCKS:
        x = residual_block(x, spec, config)
    x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name="pool2")(x)
    # tf.reshape of the NHWC pool output: the same order as Flatten.
    x = keras.layers.Flatten(name="flatten")(x)
    x = layers.Dense(
        1024,
        activation="relu",
        kernel_initializer=truncated_normal(0.1),
        bias_initializer=constant(0.1),
        name="fc1",
    )(x)
    # tf.nn.dropout(x, keep_prob) scales kept units by 1/keep_prob, as Dropout(rate) does.
    x = keras.layers.Dropout(1.0 - config.keep_prob, name="fc1_dropout")(x)
    logits = layers.Dense(
        NUM_CLASSES,
        kernel_initializer=truncated_normal(0.1),
        bias_initializer=constant(0.1),
        name="logits",
        dtype=FLOAT32_LAYER,
    )(x)
    return keras.Model(images, logits, name=NAME)


def per_example_loss(config: Config, labels, outputs):
    """softmax_cross_entropy_with_logits on one-hot labels, per example."""
    del config
    return tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=outputs)
