"""Keras 3 port of seed002, VGGNet-16 (configuration D).

By default this is the standard VGG16: its layer names and weight shapes are
those of ``keras.applications.VGG16(weights=None)`` (``block1_conv1`` ...
``block5_pool``, ``flatten``, ``fc1``, ``fc2``, ``predictions``), whose weights
load into it layer by layer and give the same outputs. The model outputs
softmax probabilities, like the application.

What the original adds, and the options that reproduce it:

* ``conv4_3_filters=2512`` -- the original's typo for 512 (conv4_3 and
  conv5_1 grow); the default 512 is the standard network.
* ``fix_fc8_relu=False`` -- the original's ``fc_op`` ReLUs fc8 too, so its
  softmax reads ReLU'd logits; the default True is the standard network.
* Dropout (``keep_prob`` 0.5) after fc1 and fc2, as the original's
  forward-backward benchmark; it has no weights and does nothing at inference.
* Initializers as the original: Glorot uniform (``xavier_initializer``)
  kernels, conv biases 0, FC biases 0.1. Pools are 2x2/2 SAME (the original),
  identical to the application's VALID pools for sizes divisible by 32.

For parity with the faithful legacy graph use ``PARITY_OVERRIDES``.
``image_size`` (224) may be reduced for fast tests; fc1 then shrinks.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tf2_port import layers
from tf2_port.config import XAVIER, constant
from tf2_port.precision import FLOAT32_LAYER

NAME = "vgg16"
ORIGINAL = "seed002_vgg16_bench.py"
DATA_KIND = "cifar-bin"
LABELS = "sparse"

# What legacy_tf1.vgg16 builds by default: the typo and the ReLU'd fc8.
PARITY_OVERRIDES = {"conv4_3_filters": 2512, "fix_fc8_relu": False}


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters; see the module docstring for which defaults are standard VGG16."""

    # Ours: the original only benchmarks (batch 32); Adam 1e-4 for training.
    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 1e-4
    image_size: int = 224
    num_classes: int = 1000
    keep_prob: float = 0.5
    conv4_3_filters: int = 512
    fix_fc8_relu: bool = True
    # "mixed_bfloat16": bfloat16 compute, float32 variables (see tf2_port.precision).
    precision: str = "float32"


def conv_blocks(config: Config) -> tuple[tuple[int, ...], ...]:
    """Filters of each convolution, one tuple per block (each block ends in a pool)."""
    return (
        (64, 64),
        (128, 128),
        (256, 256, 256),
        (512, 512, config.conv4_3_filters),
        (512, 512, 512),
    )


def _dense(units, name, activation="relu", dtype=None):
    return layers.Dense(
        units,
        activation=activation,
        kernel_initializer=XAVIER,
        bias_initializer=constant(0.1),
        name=name,
        dtype=dtype,
    )


def build_model(config: Config = Config()) -> keras.Model:
    """The network from NHWC [N, size, size, 3] images to [N, num_classes] probabilities."""
    images = keras.Input(shape=(config.image_size, config.image_size, 3), name="images")
    x = images
    for block, filters in enumerate(conv_blocks(config), start=1):
        for index, units in enumerate(filters, start=1):
            x = layers.Conv2D(
                units,
                3,
                padding="same",
                activation="relu",
                kernel_initializer=XAVIER,
                bias_initializer="zeros",
                name=f"block{block}_conv{index}",
            )(x)
        x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"block{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    rate = 1.0 - config.keep_prob
    x = _dense(4096, "fc1")(x)
    x = keras.layers.Dropout(rate, name="fc1_dropout")(x)
    x = _dense(4096, "fc2")(x)
    x = keras.layers.Dropout(rate, name="fc2_dropout")(x)
    x = _dense(config.num_classes, "predictions", activation=None, dtype=FLOAT32_LAYER)(x)
    if not config.fix_fc8_relu:
        x = keras.layers.ReLU(name="fc8_relu", dtype=FLOAT32_LAYER)(x)
    probabilities = keras.layers.Softmax(name="softmax", dtype=FLOAT32_LAYER)(x)
    return keras.Model(images, probabilities, name=NAME)


def per_example_loss(config: Config, labels, outputs):
    """Sparse categorical cross-entropy on the softmax output (ours: the original only benchmarks)."""
    del config
    return keras.losses.sparse_categorical_crossentropy(tf.cast(labels, tf.int64), outputs)
