"""Keras 3 port of seed003, the class-style ResNet on MNIST.

conv 3x3x16 + ReLU, max pool 2x2/2, four identity blocks (8, 8, 16), one
projection block (16, 16, 32), max pool 2x2/2, FC 128 + ReLU, linear 10 and a
softmax: the model outputs the softmax probabilities ``yo``.

Quirks of the original, reproduced by default (option names as in ``legacy_tf1``):

* The projection block convolves its shortcut with the block's own ``conv_3``
  kernel (``[1, 1, f2, f3]``; it only fits because f2 == in_filter == 16).
  The port calls the same bias-free ``conv3`` layer on both paths, so the
  kernel is one variable; ``conv_b3`` is a separate :class:`BiasAdd` on the
  main path. ``separate_shortcut_weights=True`` gives the shortcut its own kernel.
* Every block adds a zero-initialised ``b_conv_fin`` before its final ReLU
  (``drop_final_bias=True`` removes it) and ReLUs its third convolution before
  the addition (``linear_last_conv=True`` removes that ReLU).
* The loss is ``softmax_cross_entropy_with_logits`` applied to the softmax
  output (a double softmax). ``fix_double_softmax=True`` uses categorical
  cross-entropy on the probabilities instead (Keras clips them to [1e-7, 1 - 1e-7]).
* Weights: ``truncated_normal(0.1)`` in the blocks, ``random_normal(0.1)``
  for the stem conv and the FC layers; all biases zero.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tf2_port import layers
from tf2_port.config import BlockSpec, random_normal, truncated_normal
from tf2_port.layers import BiasAdd
from tf2_port.precision import FLOAT32_LAYER

NAME = "resnet_mnist_class"
ORIGINAL = "seed003_resnet_mnist_class.py"
DATA_KIND = "mnist"
LABELS = "one_hot"
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)


# Net.forward: Rt, Rt1, Rt2, Rt3 (ResNetChoice(True)) and URt (ResNetChoice(False)).
BLOCKS = (
    BlockSpec("block1", (8, 8, 16), projection=False),
    BlockSpec("block2", (8, 8, 16), projection=False),
    BlockSpec("block3", (8, 8, 16), projection=False),
    BlockSpec("block4", (8, 8, 16), projection=False),
    BlockSpec("block5", (16, 16, 32), projection=True),
)


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters and defect switches; the defaults are the original's."""

    # range(100000), next_batch(128), Adam 0.003.
    steps: int = 100000
    batch_size: int = 128
    learning_rate: float = 3e-3
    fix_double_softmax: bool = False
    separate_shortcut_weights: bool = False
    drop_final_bias: bool = False
    linear_last_conv: bool = False
    # "mixed_bfloat16": bfloat16 compute, float32 variables (see tf2_port.precision).
    precision: str = "float32"


def _conv(filters, kernel_size, name, *, strides=1, bias=True, activation="relu"):
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        activation=activation,
        use_bias=bias,
        kernel_initializer=truncated_normal(0.1),
        bias_initializer="zeros",
        name=name,
    )


def resnet_block(x, spec: BlockSpec, config: Config):
    """ResNet.ResNetChoice(not spec.projection) of the original."""
    f1, f2, f3 = spec.filters
    # The original's projection block applies its stride to conv_1 only (stride 1 here).
    y = _conv(f1, 1, f"{spec.name}_conv1", strides=spec.stride if spec.projection else 1)(x)
    y = _conv(f2, spec.kernel_size, f"{spec.name}_conv2")(y)
    conv3 = _conv(f3, 1, f"{spec.name}_conv3", bias=False, activation=None)
    y = BiasAdd(name=f"{spec.name}_conv3_bias")(conv3(y))
    if not config.linear_last_conv:
        y = keras.layers.ReLU(name=f"{spec.name}_conv3_relu")(y)
    if not spec.projection:
        shortcut = x
    elif config.separate_shortcut_weights:
        shortcut = _conv(f3, 1, f"{spec.name}_shortcut", bias=False, activation=None)(x)
    else:
        # The same layer object: the shortcut reuses conv_3's kernel, as the original.
        shortcut = conv3(x)
    y = keras.layers.Add(name=f"{spec.name}_add")([y, shortcut])
    if not config.drop_final_bias:
        y = BiasAdd(name=f"{spec.name}_final_bias")(y)
    return keras.layers.ReLU(name=f"{spec.name}_relu")(y)


def _dense(units, name, activation=None, dtype=None):
    return layers.Dense(
        units,
        activation=activation,
        kernel_initializer=random_normal(0.1),
        bias_initializer="zeros",
        name=name,
        dtype=dtype,
    )


def build_model(config: Config = Config()) -> keras.Model:
    """The network from NHWC [N, 28, 28, 1] images to [N, 10] softmax probabilities."""
    images = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = layers.Conv2D(
        16,
        3,
        padding="same",
        activation="relu",
        kernel_initializer=random_normal(0.1),
        bias_initializer="zeros",
        name="conv1",
    )(images)
    x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name="pool1")(x)
    for spec in BLOCKS:
        x = resnet_block(x, spec, config)
    x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = _dense(128, "fc1", activation="relu")(x)
    logits = _dense(NUM_CLASSES, "logits", dtype=FLOAT32_LAYER)(x)
    probabilities = keras.layers.Softmax(name="softmax", dtype=FLOAT32_LAYER)(logits)
    return keras.Model(images, probabilities, name=NAME)


def per_example_loss(config: Config, labels, outputs):
    """The original's double softmax by default; categorical CE on probabilities when fixed."""
    if config.fix_double_softmax:
        return keras.losses.categorical_crossentropy(labels, outputs)
    return tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=outputs)
