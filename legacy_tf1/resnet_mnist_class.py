"""Faithful graph of ``seed003_resnet_mnist_class.py``: the class-style ResNet on MNIST.

What the original builds, in order: ``Net.__init__`` creates placeholders ``x``
``[None, 28, 28, 1]`` and one-hot ``y`` ``[None, 10]``, then the 3x3 stem conv
(16) and both FC layers (1568x128, 128x10); ``Net.forward`` then creates, block
by block, the variables of four identity ``ResNet`` blocks (16 -> [8, 8, 16])
and one projection block (16 -> [16, 16, 32]), each with a zero-initialised
``b_conv_fin`` added before its final ReLU; 2x2/2 max-pools after the stem and
after the blocks; FC 128 ReLU; FC 10; softmax (``yo``); ``Net.backword``: mean
softmax cross-entropy *of the softmax output* and ``AdamOptimizer(0.003)``.
All variables are unnamed: ``Variable`` .. ``Variable_40``.

Options (defaults reproduce the original):

- ``steps`` (100000), ``batch_size`` (128), ``learning_rate`` (3e-3).
- ``fix_double_softmax``: compute the loss on the pre-softmax logits (the
  original feeds ``softmax(logits)`` to ``softmax_cross_entropy_with_logits``).
- ``separate_shortcut_weights``: give the projection block its own 1x1 shortcut
  weight (the original convolves the shortcut with ``conv_3``, the block's third
  weight, which only works because ``f2 == in_filter``).
- ``drop_final_bias``: remove ``b_conv_fin`` from every block.
- ``linear_last_conv``: no ReLU on the third convolution before the addition.

Deviation: the original's training loop fetches ``net.acc``, which it never
defines (an ``AttributeError`` on its first step); this module defines
``accuracy`` as the mean of ``argmax(yo) == argmax(y)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from legacy_tf1.core import BatchSource, LegacyModel, tf1
from legacy_tf1.inputs import MnistSource, load_mnist, load_mnist_test

ORIGINAL = "seed003_resnet_mnist_class.py"
DATA_KIND = "mnist"

NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
# Net.forward's blocks: (attribute name, in_filter, out_filters, identity?).
BLOCKS = (
    ("Rt", 16, (8, 8, 16), True),
    ("Rt1", 16, (8, 8, 16), True),
    ("Rt2", 16, (8, 8, 16), True),
    ("Rt3", 16, (8, 8, 16), True),
    ("URt", 16, (16, 16, 32), False),
)
KERNEL_SIZE = 3
STRIDE = 1
# Images per run for predict (the activations are small).
PREDICT_BATCH_SIZE = 500


@dataclasses.dataclass(frozen=True)
class Options:
    """Hyperparameters and defect switches; the defaults reproduce the original."""

    # Training loop: range(100000), next_batch(128) reshaped to [128, 28, 28, 1], Adam 0.003.
    steps: int = 100000
    batch_size: int = 128
    learning_rate: float = 3e-3
    # The original passes the softmax output `yo` as `logits=` to
    # softmax_cross_entropy_with_logits (a double softmax: weak, bounded gradients).
    # True passes the pre-softmax logits.
    fix_double_softmax: bool = False
    # The original's projection block (choice False) convolves the shortcut with
    # conv_3 ([1, 1, f2, f3]), sharing it with the main path; shapes only fit because
    # f2 == in_filter (16). True creates a separate [1, 1, in_filter, f3] weight
    # (after b_conv_fin, so earlier names do not shift).
    separate_shortcut_weights: bool = False
    # The original adds a zero-initialised b_conv_fin to `add` before the final ReLU
    # of every block. True leaves it out (5 fewer variables).
    drop_final_bias: bool = False
    # The original applies ReLU to the third convolution before the residual
    # addition. True keeps that branch linear (standard ResNet).
    linear_last_conv: bool = False


def _truncated_normal_weight(shape: list[int]) -> tf.Variable:
    """The blocks' weights: truncated normal, stddev 0.1."""
    return tf1.Variable(tf1.truncated_normal(shape=shape, stddev=0.1, mean=0, dtype=tf.float32))


def _random_normal_weight(shape: list[int]) -> tf.Variable:
    """Net's own weights: (untruncated) random normal, stddev 0.1."""
    return tf1.Variable(tf1.random_normal(shape, dtype=tf.float32, stddev=0.1))


def _zeros(size: int) -> tf.Variable:
    return tf1.Variable(tf1.zeros([size]))


@dataclasses.dataclass(frozen=True)
class NetVariables:
    """The variables Net.__init__ creates, in creation order."""

    conv1_w: tf.Variable
    convb1: tf.Variable
    W: tf.Variable  # noqa: N815 - the original's attribute names
    B: tf.Variable  # noqa: N815
    W1: tf.Variable  # noqa: N815
    B1: tf.Variable  # noqa: N815


def net_variables() -> NetVariables:
    """Net.__init__'s variables: the stem conv, then both FC layers."""
    return NetVariables(
        conv1_w=_random_normal_weight([3, 3, 1, 16]),
        convb1=_zeros(16),
        W=_random_normal_weight([7 * 7 * 32, 128]),
        B=_zeros(128),
        W1=_random_normal_weight([128, NUM_CLASSES]),
        B1=_zeros(NUM_CLASSES),
    )


def _conv(inputs, weight, stride=1):
    return tf1.nn.conv2d(inputs, weight, strides=[1, stride, stride, 1], padding="SAME")


def resnet_block(inputs, in_filter, out_filters, identity: bool, options: Options):
    """One `ResNet(...)` object plus its `ResNetChoice(identity)` call.

    All the block's variables are created first (the original's __init__), then the
    ops. `stride` is applied to conv_1 only: the original never strides the shortcut
    (harmless here, every block has stride 1).
    """
    f1, f2, f3 = out_filters
    conv_1 = _truncated_normal_weight([1, 1, in_filter, f1])
    conv_b1 = _zeros(f1)
    conv_2 = _truncated_normal_weight([KERNEL_SIZE, KERNEL_SIZE, f1, f2])
    conv_b2 = _zeros(f2)
    conv_3 = _truncated_normal_weight([1, 1, f2, f3])
    conv_b3 = _zeros(f3)
    b_conv_fin = None if options.drop_final_bias else _zeros(f3)
    shortcut_weight = conv_3
    if not identity and options.separate_shortcut_weights:
        shortcut_weight = _truncated_normal_weight([1, 1, in_filter, f3])

    y = tf1.nn.relu(_conv(inputs, conv_1, STRIDE) + conv_b1)
    y = tf1.nn.relu(_conv(y, conv_2) + conv_b2)
    y = _conv(y, conv_3) + conv_b3
    if not options.linear_last_conv:
        y = tf1.nn.relu(y)
    # The projection shortcut is a stride-1 conv, never `stride`, and has no bias.
    shortcut = inputs if identity else _conv(inputs, shortcut_weight)
    add = tf1.add(y, shortcut)
    return tf1.nn.relu(add if b_conv_fin is None else add + b_conv_fin)


def inference(images, *, options: Options) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Logits (pre-softmax) and ordered end_points for ``[N, 28, 28, 1]`` images.

    Creates Net.__init__'s variables first, as the original does before forward().
    """
    vs = net_variables()
    end_points: dict[str, tf.Tensor] = {}
    end_points["conv1"] = net = tf1.nn.relu(_conv(images, vs.conv1_w) + vs.convb1)
    end_points["pool1"] = net = tf1.nn.max_pool(
        net, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME"
    )
    for name, in_filter, out_filters, identity in BLOCKS:
        end_points[name] = net = resnet_block(net, in_filter, out_filters, identity, options)
    end_points["pool2"] = net = tf1.nn.max_pool(
        net, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME"
    )
    end_points["flat"] = net = tf1.reshape(net, [-1, 7 * 7 * 32])
    end_points["y0"] = net = tf1.nn.relu(tf1.matmul(net, vs.W) + vs.B)
    end_points["logits"] = logits = tf1.matmul(net, vs.W1) + vs.B1
    end_points["yo"] = tf1.nn.softmax(logits)
    return logits, end_points


def build(options: Options = Options()) -> LegacyModel:
    """The original's graph (Net(), forward(), backword()); call inside graph_scope()."""
    x = tf1.placeholder(tf.float32, [None, *IMAGE_SHAPE])
    y = tf1.placeholder(tf.float32, [None, NUM_CLASSES])
    logits, end_points = inference(x, options=options)
    yo = end_points["yo"]
    loss_input = logits if options.fix_double_softmax else yo
    cross_entropy = tf1.reduce_mean(
        tf1.nn.softmax_cross_entropy_with_logits(logits=loss_input, labels=y)
    )
    optimizer = tf1.train.AdamOptimizer(options.learning_rate).minimize(cross_entropy)
    # Deviation: net.acc is never defined by the original.
    correct = tf1.equal(tf1.argmax(yo, 1), tf1.argmax(y, 1))
    accuracy = tf1.reduce_mean(tf1.cast(correct, tf.float32))
    return LegacyModel(
        name="resnet_mnist_class",
        graph=x.graph,
        inputs=x,
        labels=y,
        logits=logits,
        loss=cross_entropy,
        train_op=optimizer,
        accuracy=accuracy,
        end_points=end_points,
        options=options,
    )


def _load_mnist(data_dir: str | None, min_train: int = 1):
    """`input_data.read_data_sets('MNIST_data', one_hot=True)`; None reads the embedded sample.

    ``min_train``: training images the caller needs after the validation split.
    """
    return load_mnist(data_dir, one_hot=True, min_train=min_train)


def train_source(options: Options, data_dir: str | None) -> BatchSource:
    """`mnist.train.next_batch(128)` reshaped to `[128, 28, 28, 1]`, as the loop does."""
    shape = (options.batch_size, *IMAGE_SHAPE)
    train = _load_mnist(data_dir, min_train=options.batch_size).train
    return MnistSource(train, options.batch_size, reshape_to=shape)


def test_batches(options: Options, data_dir: str | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`mnist.test` as `[n, 28, 28, 1]` chunks of ``batch_size`` (the original never evaluates)."""
    for _, images, labels in indexed_test_batches(options, data_dir):
        yield images, labels


def indexed_test_batches(
    options: Options, data_dir: str | None, *, batch_size: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(file indices, `[n, 28, 28, 1]` images, one-hot labels) in chunks of ``batch_size``.

    ``batch_size`` defaults to the option's; the graph has no fixed batch and
    no batch-dependent op, so any size gives the same predictions. Reads only
    the two t10k files.
    """
    test = load_mnist_test(data_dir, one_hot=True)
    size = batch_size or options.batch_size
    for start in range(0, len(test.images), size):
        images = test.images[start : start + size]
        indices = np.arange(start, start + len(images))
        yield indices, images.reshape(-1, *IMAGE_SHAPE), test.labels[start : start + size]
