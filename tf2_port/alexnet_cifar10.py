"""Keras 3 port of seed004, the AlexNet-style CIFAR-10 net with batch norm.

conv1 3x3x48 + ReLU, LRN (depth_radius 4), pool1 2x2/2; conv2 3x3x96 (linear),
batch norm, ReLU, pool2; conv3 3x3x192 + ReLU; conv4 3x3x192 + ReLU; conv5
3x3x96 + ReLU, batch norm, ReLU again (the original ReLUs before *and* after
this batch norm), pool 2x2/2 (the original names it ``pool2`` a second time;
Keras names must be unique, so it is ``pool5`` here); flatten (NHWC order, as
``tf.layers.flatten``); dense 1024 (keeps its bias), hand-written batch norm,
ReLU; dense 1024, hand-written batch norm, ReLU; dense 10 (logits).
Pools are VALID (``tf.layers.max_pooling2d``'s default); kernels Glorot
uniform, biases zero (the ``tf.layers`` defaults).

The two ``tf.layers.batch_normalization`` layers are :class:`TF1BatchNormalization`
(momentum 0.99, epsilon 1e-3, moving variance updated like the fused TF1
kernel; Keras updates the moving statistics in training calls, so there is
no ``UPDATE_OPS``). The hand-written ``batch_normal()`` is :class:`BatchNormal`.

Options (defaults reproduce the original):

* ``fix_batch_normal_inference`` -- use batch_normal()'s moving averages when
  not training (the original always normalises with batch statistics and
  updates, but never reads, the averages).
* ``bn_unbiased_moving_variance`` -- False stores the biased batch variance in
  the Keras batch norms' moving variance (plain Keras behaviour).
* ``drop_bias_before_bn`` -- build conv2, fc1 and fc2 (the original's conv2,
  dense and dense_1) without the bias that their batch norm cancels; the
  checkpoint then lacks ``conv2/bias``, ``fc1/bias`` and ``fc2/bias``.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tf2_port.layers import BatchNormal, LocalResponseNormalization, TF1BatchNormalization
from tf2_port.precision import FLOAT32_LAYER

NAME = "alexnet_cifar10"
ORIGINAL = "seed004_alexnet_cifar10_bn.py"
DATA_KIND = "cifar-py"
LABELS = "sparse"
NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)


@dataclasses.dataclass(frozen=True)
class ConvSpec:
    """One 3x3 SAME convolution and what follows it."""

    name: str
    filters: int
    relu: bool = True
    batch_norm: bool = False
    lrn: bool = False
    pool: str | None = None


CONV_LAYERS = (
    ConvSpec("conv1", 48, lrn=True, pool="pool1"),
    ConvSpec("conv2", 96, relu=False, batch_norm=True, pool="pool2"),
    ConvSpec("conv3", 192),
    ConvSpec("conv4", 192),
    ConvSpec("conv5", 96, batch_norm=True, pool="pool5"),
)
DENSE_UNITS = (("fc1", 1024), ("fc2", 1024))
# The layers whose bias the following batch norm cancels (drop_bias_before_bn);
# conv5 keeps its bias because its ReLU sits between it and the batch norm.
BIAS_BEFORE_BN = ("conv2", "fc1", "fc2")


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters and defect switches; the defaults are the original's."""

    # train_steps 10000, batch_size 20, Adam 1e-3.
    steps: int = 10000
    batch_size: int = 20
    learning_rate: float = 1e-3
    fix_batch_normal_inference: bool = False
    bn_unbiased_moving_variance: bool = True
    # The original's conv2/dense/dense_1 carry a bias that the following batch
    # norm cancels; True builds them without it (as legacy_tf1's option).
    drop_bias_before_bn: bool = False
    # "mixed_bfloat16": bfloat16 compute, float32 variables (see tf2_port.precision).
    precision: str = "float32"


def _use_bias(layer: str, config: Config) -> bool:
    return not (config.drop_bias_before_bn and layer in BIAS_BEFORE_BN)


def _conv_stage(x, spec: ConvSpec, config: Config):
    x = keras.layers.Conv2D(
        spec.filters,
        3,
        padding="same",
        activation="relu" if spec.relu else None,
        use_bias=_use_bias(spec.name, config),
        name=spec.name,
    )(x)
    if spec.lrn:
        x = LocalResponseNormalization(
            4, bias=1.0, alpha=0.001 / 9.0, beta=0.75, name=f"{spec.name}_lrn"
        )(x)
    if spec.batch_norm:
        x = TF1BatchNormalization(
            momentum=0.99,
            epsilon=1e-3,
            unbiased_moving_variance=config.bn_unbiased_moving_variance,
            name=f"{spec.name}_bn",
        )(x)
        x = keras.layers.ReLU(name=f"{spec.name}_bn_relu")(x)
    if spec.pool:
        x = keras.layers.MaxPooling2D(2, strides=2, padding="valid", name=spec.pool)(x)
    return x


def build_model(config: Config = Config()) -> keras.Model:
    """The network from NHWC [N, 32, 32, 3] images to [N, 10] logits."""
    images = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = images
    for spec in CONV_LAYERS:
        x = _conv_stage(x, spec, config)
    x = keras.layers.Flatten(name="flatten")(x)
    for name, units in DENSE_UNITS:
        x = keras.layers.Dense(units, use_bias=_use_bias(name, config), name=name)(x)
        x = BatchNormal(
            decay=0.9,
            epsilon=0.001,
            use_moving_statistics_at_inference=config.fix_batch_normal_inference,
            name=f"{name}_bn",
        )(x)
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits", dtype=FLOAT32_LAYER)(x)
    return keras.Model(images, logits, name=NAME)


def per_example_loss(config: Config, labels, outputs):
    """tf.losses.sparse_softmax_cross_entropy (a mean) per example."""
    del config
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int64), logits=outputs
    )
