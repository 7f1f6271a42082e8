"""Faithful graph of ``seed000_resnet_mnist.py``: a bottleneck ResNet on MNIST.

What the original builds, in order: placeholders ``x`` ``[None, 784]`` and one-hot
``y`` ``[None, 10]``; a 2x2/2 stem convolution (64) with bias and ReLU; a 3x3
stride-1 max-pool that keeps 14x14; one convolutional block ``res2a`` (1x1, 3x3,
1x1 to 256 plus a bias-free 1x1 projection shortcut, all at stride 1) and two
identity blocks ``res2b`` and ``res2c``; a 2x2/2 max-pool to 7x7x256; FC 1024
with ReLU and dropout (``keep_prob`` placeholder); FC 10 logits; mean softmax
cross-entropy; ``AdamOptimizer(1e-3).minimize``; accuracy by argmax.
Every ``tf.Variable`` is unnamed, so the names are ``Variable_N`` at the root
and inside each block's ``variable_scope`` (``res2a/Variable_6`` ...).

Options (defaults reproduce the original):

- ``steps`` (3001), ``batch_size`` (10), ``learning_rate`` (1e-3),
  ``keep_prob`` (0.5): the original's hyperparameters.
- ``extra_bias``: the blog post's "before" version, which added a 0.1-initialised
  bias ``b_conv_fin`` to ``add`` before each block's final ReLU (the post reports
  11.35 % test accuracy with it against 95.19 % without).
- ``linear_last_conv``: drop the ReLU that the original applies to each block's
  third convolution *before* the residual addition (a standard ResNet adds the
  linear branch), so the residual branch can also subtract.
- ``eval_batch_size``: the original feeds the whole test set in one
  ``accuracy.eval``; an int splits ``test_batches`` into chunks of that size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from legacy_tf1.core import BatchSource, LegacyModel, tf1
from legacy_tf1.inputs import MnistSource, load_mnist, load_mnist_test

ORIGINAL = "seed000_resnet_mnist.py"
DATA_KIND = "mnist"

IMAGE_PIXELS = 784
NUM_CLASSES = 10
# (block name, in_filter, out_filters); the convolutional block comes first.
CONV_BLOCK = ("a", 64, (64, 64, 256))
IDENTITY_BLOCKS = (("b", 256, (64, 64, 256)), ("c", 256, (64, 64, 256)))
STAGE = 2
KERNEL_SIZE = 3
# Images per run for evaluate and predict: the original's single feed of
# 10,000 images peaks at ~6.4 GB; 500 keep the logits bit-identical to it.
EVAL_BATCH_SIZE = 500
PREDICT_BATCH_SIZE = EVAL_BATCH_SIZE


@dataclasses.dataclass(frozen=True)
class Options:
    """Hyperparameters and defect switches; the defaults reproduce the original."""

    # Training loop: `for i in range(3001)`, `mnist.train.next_batch(10)`, Adam 1e-3,
    # dropout fed `keep_prob: 0.5` while training and 1.0 for evaluation.
    steps: int = 3001
    batch_size: int = 10
    learning_rate: float = 1e-3
    keep_prob: float = 0.5
    # The original (the post's fixed version) has no final bias. True adds the post's
    # "before" variant: b_conv_fin = bias_variable([f3]) (0.1) right after
    # `add = tf.add(...)` and relu(add + b_conv_fin); one more variable per block.
    extra_bias: bool = False
    # The original ends each block's main path with relu(conv3 + b_conv3) and then
    # adds the shortcut. True leaves conv3 + b_conv3 linear (standard ResNet).
    linear_last_conv: bool = False
    # The original evaluates `mnist.test.images` (10000 images) in ONE feed, which
    # needs several GiB for the 14x14x256 activations. An int chunks the test set.
    eval_batch_size: int | None = None


def weight_variable(shape: list[int]) -> tf.Variable:
    """The original's `weight_variable`: truncated normal, stddev 0.1."""
    return tf1.Variable(tf1.truncated_normal(shape, mean=0, stddev=0.1))


def bias_variable(shape: list[int]) -> tf.Variable:
    """The original's `bias_variable`: constant 0.1."""
    return tf1.Variable(tf1.constant(0.1, shape=shape))


def _conv_relu(inputs, in_filter, out_filter, kernel_size, stride, *, relu=True):
    """conv2d (SAME) with a fresh weight, then bias, then (optionally) ReLU."""
    weight = weight_variable([kernel_size, kernel_size, in_filter, out_filter])
    conv = tf1.nn.conv2d(inputs, weight, strides=[1, stride, stride, 1], padding="SAME")
    bias = bias_variable([out_filter])
    return tf1.nn.relu(conv + bias) if relu else conv + bias


def _main_path(inputs, in_filter, out_filters, stride, options):
    """The three convolutions of a block; the first one carries the stride."""
    f1, f2, f3 = out_filters
    net = _conv_relu(inputs, in_filter, f1, 1, stride)
    net = _conv_relu(net, f1, f2, KERNEL_SIZE, 1)
    return _conv_relu(net, f2, f3, 1, 1, relu=not options.linear_last_conv)


def _final_relu(add, filters, options):
    """relu(add), or relu(add + b_conv_fin) in the post's "before" version."""
    if options.extra_bias:
        # Created after `add`, as the commented-out line sits in the original.
        b_conv_fin = bias_variable([filters])
        return tf1.nn.relu(add + b_conv_fin)
    return tf1.nn.relu(add)


def identity_block(inputs, in_filter, out_filters, block, options):
    """The original's identity_block: main path plus the unchanged input."""
    with tf1.variable_scope(f"res{STAGE}{block}"):
        net = _main_path(inputs, in_filter, out_filters, 1, options)
        add = tf1.add(net, inputs)
        return _final_relu(add, out_filters[2], options)


def convolutional_block(inputs, in_filter, out_filters, block, options, stride=1):
    """The original's convolutional_block: a bias-free 1x1 VALID projection shortcut."""
    with tf1.variable_scope(f"res{STAGE}{block}"):
        net = _main_path(inputs, in_filter, out_filters, stride, options)
        w_shortcut = weight_variable([1, 1, in_filter, out_filters[2]])
        shortcut = tf1.nn.conv2d(
            inputs, w_shortcut, strides=[1, stride, stride, 1], padding="VALID"
        )
        # The original adds (shortcut, main) here, (main, shortcut) in identity blocks.
        add = tf1.add(shortcut, net)
        return _final_relu(add, out_filters[2], options)


def inference(images, *, options: Options, keep_prob) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Logits and ordered end_points for flat ``[N, 784]`` images.

    ``keep_prob`` is the dropout keep probability tensor (the original's placeholder).
    """
    end_points: dict[str, tf.Tensor] = {}
    net = tf1.reshape(images, [-1, 28, 28, 1])
    end_points["conv1"] = net = _conv_relu(net, 1, 64, 2, 2)
    # 3x3 stride-1 SAME max-pool: the size stays 14x14 (the original's comment says so).
    end_points["pool1"] = net = tf1.nn.max_pool(
        net, ksize=[1, 3, 3, 1], strides=[1, 1, 1, 1], padding="SAME"
    )
    block, in_filter, out_filters = CONV_BLOCK
    net = convolutional_block(net, in_filter, out_filters, block, options, stride=1)
    end_points[f"res{STAGE}{block}"] = net
    for block, in_filter, out_filters in IDENTITY_BLOCKS:
        net = identity_block(net, in_filter, out_filters, block, options)
        end_points[f"res{STAGE}{block}"] = net
    end_points["pool2"] = net = tf1.nn.max_pool(
        net, [1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME"
    )
    end_points["flat"] = flat = tf1.reshape(net, [-1, 7 * 7 * 256])
    w_fc1 = weight_variable([7 * 7 * 256, 1024])
    b_fc1 = bias_variable([1024])
    end_points["fc1"] = h_fc1 = tf1.nn.relu(tf1.matmul(flat, w_fc1) + b_fc1)
    end_points["fc1_drop"] = h_fc1_drop = tf1.nn.dropout(h_fc1, keep_prob=keep_prob)
    w_fc2 = weight_variable([1024, NUM_CLASSES])
    b_fc2 = bias_variable([NUM_CLASSES])
    end_points["logits"] = logits = tf1.matmul(h_fc1_drop, w_fc2) + b_fc2
    return logits, end_points


def build(options: Options = Options()) -> LegacyModel:
    """The original's graph; call inside ``legacy_tf1.core.graph_scope()``."""
    x = tf1.placeholder(tf.float32, [None, IMAGE_PIXELS])
    y = tf1.placeholder(tf.float32, [None, NUM_CLASSES])
    # The original creates keep_prob after fc1; as the only other placeholder it is
    # named Placeholder_2 either way.
    keep_prob = tf1.placeholder(tf.float32)
    logits, end_points = inference(x, options=options, keep_prob=keep_prob)
    cross_entropy = tf1.reduce_mean(
        tf1.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits)
    )
    train_step = tf1.train.AdamOptimizer(options.learning_rate).minimize(cross_entropy)
    correct_prediction = tf1.equal(tf1.argmax(logits, 1), tf1.argmax(y, 1))
    accuracy = tf1.reduce_mean(tf1.cast(correct_prediction, tf.float32))
    return LegacyModel(
        name="resnet_mnist",
        graph=x.graph,
        inputs=x,
        labels=y,
        logits=logits,
        loss=cross_entropy,
        train_op=train_step,
        accuracy=accuracy,
        end_points=end_points,
        train_feed={keep_prob: options.keep_prob},
        eval_feed={keep_prob: 1.0},
        options=options,
    )


def _load_mnist(data_dir: str | None):
    """`input_data.read_data_sets(..., one_hot=True)`; None reads the embedded sample."""
    return load_mnist(data_dir, one_hot=True)


def train_source(options: Options, data_dir: str | None) -> BatchSource:
    """`mnist.train.next_batch(batch_size)`: flat [N, 784] images, one-hot labels."""
    return MnistSource(_load_mnist(data_dir).train, options.batch_size)


def test_batches(options: Options, data_dir: str | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`mnist.test` as flat images and one-hot labels: one chunk, as the original feeds it."""
    test = load_mnist_test(data_dir, one_hot=True)
    size = options.eval_batch_size or len(test.images)
    for start in range(0, len(test.images), size):
        yield test.images[start : start + size], test.labels[start : start + size]


def indexed_test_batches(
    options: Options, data_dir: str | None, *, batch_size: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`mnist.test` as (file indices, flat images, one-hot labels), with bounded memory.

    Chunks of ``batch_size``, else ``eval_batch_size``, else
    :data:`EVAL_BATCH_SIZE`, instead of the original's single feed. The
    accuracy is per image, so chunking keeps the figure; a short last chunk is
    merged into the one before it, because fc1's matmul rounds differently
    for small batches (below ~200 images on CPU), while from 500 images up
    the logits are bit-identical to the single feed.
    """
    from legacy_tf1.api import chunk_bounds  # the same runs as predict()

    test = load_mnist_test(data_dir, one_hot=True)
    size = batch_size or options.eval_batch_size or EVAL_BATCH_SIZE
    for start, end in chunk_bounds(len(test.images), size):
        yield np.arange(start, end), test.images[start:end], test.labels[start:end]
