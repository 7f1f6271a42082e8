"""Faithful ``tf.compat.v1`` version of seed002, the VGG16 timing benchmark.

The original (``seed002_vgg16_bench.py``) builds VGGNet-16 (configuration D)
on a ``tf.Variable`` of random 224x224 images and times a forward pass
(``predictions`` with ``keep_prob`` 1.0) and a forward-backward pass
(``tf.gradients(tf.nn.l2_loss(fc8), p)`` with ``keep_prob`` 0.5).

* :func:`bench_graph` rebuilds exactly that benchmark graph;
  :func:`timing_stats` computes its statistics (correctly by default, or with
  the original's bug) and :func:`benchmark_stats` picks the formula from
  ``Options.fix_timing_stats``.
* :func:`build` is the toolkit's addition: the original never trains, but we
  train the same network as a classifier on CIFAR-10 resized to
  ``image_size``. The random image ``Variable`` is still created first so a
  checkpoint holds every variable of the original; the network reads a
  ``placeholder_with_default`` of it, so batches can be fed.

Options (defaults reproduce the original):

* ``conv4_3_filters`` -- 2512, the original's typo for 512.
* ``fix_fc8_relu`` -- the original's ``fc_op`` applies ``relu_layer`` to fc8
  too, so its "logits" are ReLU'd; True makes fc8 linear.
* ``fix_timing_stats`` -- the original accumulates only every 10th duration
  (burn-in included) and divides by ``num_batches``; True computes mean and
  standard deviation over the measured steps (see :func:`timing_stats`).
* ``batch_size`` 32, ``num_batches`` 100, ``num_burn_in`` 10,
  ``image_size`` 224 (smaller sizes are for fast tests), ``keep_prob`` 0.5
  (the forward-backward benchmark and training), ``num_classes`` 1000.
* Ours, for training only: ``steps``, ``learning_rate`` (Adam 1e-4) and
  ``data_seed``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import tf_slim

from legacy_tf1.core import LegacyModel, tf1

ORIGINAL = "seed002_vgg16_bench.py"
DATA_KIND = "cifar-bin"

TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
# Images per run for predict: at 224x224 each image's activations take tens of MB.
PREDICT_BATCH_SIZE = 32


@dataclasses.dataclass(frozen=True)
class Options:
    """Hyperparameters of seed002; the defaults are the original's."""

    # The benchmark's batch of random images (also the shape of 'Variable').
    batch_size: int = 32
    # Measured benchmark batches, after num_burn_in warm-up batches.
    num_batches: int = 100
    num_burn_in: int = 10
    # 224 in the original; smaller values only keep tests fast (fc6 shrinks).
    image_size: int = 224
    # keep_prob fed for forward-backward (the forward pass feeds 1.0).
    keep_prob: float = 0.5
    num_classes: int = 1000
    # The original creates conv4_3 with n_out=2512, a typo for 512; the graph
    # still builds, just larger (conv4_3 and conv5_1 grow).
    conv4_3_filters: int = 2512
    # The original's fc_op uses relu_layer for fc8 as well, so fc8 (the
    # "logits") is ReLU'd; True makes fc8 a plain affine layer.
    fix_fc8_relu: bool = False
    # The original's statistics keep only every 10th step (burn-in included)
    # and divide by num_batches; True computes them over the measured steps.
    fix_timing_stats: bool = False
    # Ours (the original never trains): training steps, Adam learning rate,
    # and the seed of the per-epoch shuffle (None: drawn from numpy's global RNG).
    steps: int = 1000
    learning_rate: float = 1e-4
    data_seed: int | None = None


# (name, n_out) per conv layer, grouped into blocks that each end in a max pool.
def _conv_blocks(options: Options) -> tuple[tuple[tuple[str, int], ...], ...]:
    return (
        (("conv1_1", 64), ("conv1_2", 64)),
        (("conv2_1", 128), ("conv2_2", 128)),
        (("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256)),
        (("conv4_1", 512), ("conv4_2", 512), ("conv4_3", options.conv4_3_filters)),
        (("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512)),
    )


def _conv_op(input_op, name: str, n_out: int, params: list):
    """3x3/1 SAME conv + bias + ReLU, variables '<name>/w' and '<name>/b'."""
    n_in = input_op.get_shape()[-1]
    with tf1.name_scope(name) as scope:
        # get_variable ignores the name scope, hence the explicit prefix.
        kernel = tf1.get_variable(
            scope + "w",
            shape=[3, 3, n_in, n_out],
            dtype=tf1.float32,
            initializer=tf_slim.xavier_initializer_conv2d(),
        )
        conv = tf1.nn.conv2d(input_op, kernel, (1, 1, 1, 1), padding="SAME")
        bias_init_val = tf1.constant(0.0, shape=[n_out], dtype=tf1.float32)
        biases = tf1.Variable(bias_init_val, trainable=True, name="b")
        z = tf1.nn.bias_add(conv, biases)
        activation = tf1.nn.relu(z, name=scope)
        params += [kernel, biases]
        return activation


def _fc_op(input_op, name: str, n_out: int, params: list, *, relu: bool = True):
    """Fully connected layer '<name>/w', '<name>/b' (bias 0.1), ReLU'd like the original."""
    n_in = input_op.get_shape()[-1]
    with tf1.name_scope(name) as scope:
        kernel = tf1.get_variable(
            scope + "w",
            shape=[n_in, n_out],
            dtype=tf1.float32,
            initializer=tf_slim.xavier_initializer(),
        )
        biases = tf1.Variable(tf1.constant(0.1, shape=[n_out], dtype=tf1.float32), name="b")
        layer = tf1.nn.relu_layer if relu else tf1.nn.xw_plus_b
        activation = layer(input_op, kernel, biases, name=scope)
        params += [kernel, biases]
        return activation


def _max_pool(input_op, name: str):
    return tf1.nn.max_pool(
        input_op, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME", name=name
    )


def _inference_op(images, keep_prob, options: Options):
    """The original's inference_op: (predictions, softmax, fc8, params, end_points)."""
    params: list = []
    end_points: dict = {}
    net = images
    for block_index, block in enumerate(_conv_blocks(options), start=1):
        for name, n_out in block:
            net = end_points[name] = _conv_op(net, name, n_out, params)
        pool_name = f"pool{block_index}"
        net = end_points[pool_name] = _max_pool(net, pool_name)
    shape = net.get_shape()
    flattened_shape = shape[1] * shape[2] * shape[3]
    net = end_points["resh1"] = tf1.reshape(net, [-1, flattened_shape], name="resh1")
    for name in ("fc6", "fc7"):
        net = end_points[name] = _fc_op(net, name, 4096, params)
        net = end_points[f"{name}_drop"] = tf1.nn.dropout(net, keep_prob, name=f"{name}_drop")
    fc8 = _fc_op(net, "fc8", options.num_classes, params, relu=not options.fix_fc8_relu)
    end_points["fc8"] = end_points["logits"] = fc8
    softmax = tf1.nn.softmax(fc8)
    predictions = tf1.argmax(softmax, 1)
    return predictions, softmax, fc8, params, end_points


def inference(images, *, options: Options, keep_prob) -> tuple:
    """VGG16 logits (fc8, ReLU'd unless ``fix_fc8_relu``) and ordered end_points.

    end_points: conv1_1 ... pool5, resh1, fc6, fc6_drop, fc7, fc7_drop, fc8, logits.
    """
    _, _, fc8, _, end_points = _inference_op(images, keep_prob, options)
    return fc8, end_points


def _random_images(options: Options):
    """The original's input: a Variable (named 'Variable') of N(0, 0.1) images."""
    size = options.image_size
    return tf1.Variable(
        tf1.random_normal([options.batch_size, size, size, 3], dtype=tf1.float32, stddev=1e-1)
    )


def bench_graph(options: Options = Options()) -> tuple:
    """run_benchmark's graph: ``(images_var, keep_prob, predictions, grads)``.

    Call inside ``legacy_tf1.core.graph_scope()``. Time ``predictions`` with
    ``{keep_prob: 1.0}`` (forward) and ``grads`` with ``{keep_prob: 0.5}``
    (forward-backward), as the original does. Its global variables are exactly
    the original's.
    """
    images = _random_images(options)
    keep_prob = tf1.placeholder(tf1.float32)
    predictions, _, fc8, params, _ = _inference_op(images, keep_prob, options)
    objective = tf1.nn.l2_loss(fc8)
    grads = tf1.gradients(objective, params)
    return images, keep_prob, predictions, grads


class TimingStats(NamedTuple):
    """Benchmark summary in seconds per batch; unpacks as ``mean, std``."""

    mean: float
    std: float


def timing_stats(durations, num_burn_in: int = 10, faithful: bool = False) -> TimingStats:
    """Mean and standard deviation of the per-batch ``durations`` (seconds).

    ``durations`` holds every step, burn-in first (num_batches + num_burn_in
    values). By default the burn-in steps are dropped and the population
    mean/std of the rest is returned. ``faithful=True`` reproduces the
    original: only steps with ``i % 10 == 0`` (i counting from the first
    burn-in step) are accumulated, yet the sums are divided by num_batches --
    with 110 equal steps of d seconds that gives mean 0.11*d and
    std sqrt(0.11*d*d - mean*mean).
    """
    durations = [float(d) for d in durations]
    num_batches = len(durations) - num_burn_in
    if num_burn_in < 0 or num_batches <= 0:
        raise ValueError(
            f"timing_stats: expected more durations than num_burn_in={num_burn_in}, "
            f"received {len(durations)}"
        )
    if not faithful:
        measured = np.asarray(durations[num_burn_in:])
        return TimingStats(float(measured.mean()), float(measured.std()))
    total = sum(d for i, d in enumerate(durations) if i % 10 == 0)
    total_squared = sum(d * d for i, d in enumerate(durations) if i % 10 == 0)
    mean = total / num_batches
    variance = total_squared / num_batches - mean * mean
    if variance < 0:
        # The original would die here in math.sqrt (possible when fewer than
        # ~10 measured steps make the sampled count exceed num_batches).
        raise ValueError(
            f"timing_stats: the original's formula gives a negative variance {variance}"
        )
    return TimingStats(mean, math.sqrt(variance))


def benchmark_stats(durations, options: Options = Options()) -> TimingStats:
    """:func:`timing_stats` as ``options`` ask: the original's formula unless ``fix_timing_stats``."""
    return timing_stats(durations, options.num_burn_in, faithful=not options.fix_timing_stats)


def build(options: Options = Options()) -> LegacyModel:
    """VGG16 as a trainable classifier (ours) over the original's variables.

    Call inside ``legacy_tf1.core.graph_scope()``. Creates 'Variable' (the
    random image batch) first, then the original's 32 parameters in order,
    then Adam over those parameters only (beta powers and slots): the image
    batch is never trained.
    """
    size = options.image_size
    images_var = _random_images(options)
    images = tf1.placeholder_with_default(images_var, [None, size, size, 3], name="images")
    keep_prob = tf1.placeholder(tf1.float32)
    predictions, _, fc8, params, end_points = _inference_op(images, keep_prob, options)
    labels = tf1.placeholder(tf1.int64, [None], name="labels")
    loss = tf1.reduce_mean(
        tf1.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=fc8)
    )
    train_op = tf1.train.AdamOptimizer(options.learning_rate).minimize(loss, var_list=params)
    correct = tf1.equal(predictions, labels)
    accuracy = tf1.reduce_mean(tf1.cast(correct, tf1.float32))
    return LegacyModel(
        name="vgg16",
        graph=tf1.get_default_graph(),
        inputs=images,
        labels=labels,
        logits=fc8,
        loss=loss,
        train_op=train_op,
        accuracy=accuracy,
        end_points=end_points,
        train_feed={keep_prob: options.keep_prob},
        eval_feed={keep_prob: 1.0},
        saver_var_list=None,
        options=options,
    )


# ---- data: CIFAR-10 binary, [0,1] floats resized to image_size (ours) ----


def _bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """[out, in] weights of half-pixel-centre bilinear resizing (tf.image.resize's)."""
    scale = in_size / out_size
    centres = (np.arange(out_size) + 0.5) * scale - 0.5
    centres = np.clip(centres, 0.0, in_size - 1)
    lower = np.floor(centres).astype(np.int64)
    upper = np.minimum(lower + 1, in_size - 1)
    frac = centres - lower
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    np.add.at(weights, (np.arange(out_size), lower), 1.0 - frac)
    np.add.at(weights, (np.arange(out_size), upper), frac)
    return weights


def resize_images(images_chw: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 [N,3,32,32] CIFAR images -> float32 [N,S,S,3] in [0,1], bilinear.

    Pure numpy (deterministic, adds nothing to the graph); equals
    ``tf.image.resize(x, [S, S], 'bilinear')`` up to float rounding.
    """
    nhwc = images_chw.transpose(0, 2, 3, 1).astype(np.float64) / 255.0
    rows = _bilinear_matrix(nhwc.shape[1], image_size)
    cols = _bilinear_matrix(nhwc.shape[2], image_size)
    resized = np.einsum("oi,nijc,pj->nopc", rows, nhwc, cols, optimize=True)
    return resized.astype(np.float32)


def _read_split(data_dir: str | None, names, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    # Imported here so that the model graph never needs the data package.
    from formats import cifar, sample

    directory = sample.resolve_data_dir(DATA_KIND, data_dir, split=split)
    parts = [cifar.read_cifar_bin(directory / name) for name in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return images, labels


class ResizedCifarSource:
    """BatchSource over uint8 CIFAR images, resized per batch (50000 at 224^2 would not fit).

    Each epoch is a fresh permutation from a seeded RandomState; a batch that
    crosses an epoch boundary continues into the next epoch (nothing dropped).
    """

    def __init__(self, images, labels, batch_size: int, image_size: int, seed: int | None):
        if seed is None:
            seed = int(np.random.randint(2**31 - 1))
        self._images = images
        self._labels = labels
        self._batch_size = batch_size
        self._image_size = image_size
        self._rng = np.random.RandomState(seed)
        self._order = np.zeros(0, dtype=np.int64)
        self.num_examples = len(labels)

    def _next_indices(self) -> np.ndarray:
        while len(self._order) < self._batch_size:
            self._order = np.concatenate([self._order, self._rng.permutation(self.num_examples)])
        indices, self._order = self._order[: self._batch_size], self._order[self._batch_size :]
        return indices

    def next_batch(self, sess=None) -> tuple[np.ndarray, np.ndarray]:
        """The next (float32 [B,S,S,3], int64 [B]) batch; ``sess`` is unused."""
        indices = self._next_indices()
        return resize_images(self._images[indices], self._image_size), self._labels[indices]


def train_source(options: Options, data_dir: str | None) -> ResizedCifarSource:
    """Shuffled training batches from data_batch_1..5.bin, resized to ``image_size``."""
    images, labels = _read_split(data_dir, TRAIN_FILES)
    return ResizedCifarSource(
        images, labels, options.batch_size, options.image_size, options.data_seed
    )


def test_batches(options: Options, data_dir: str | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """test_batch.bin in order, resized, in chunks of ``batch_size`` (the last may be smaller).

    The network's input has no fixed batch dimension, so the plain mean over
    all test images is the accuracy.
    """
    for _, images, labels in indexed_test_batches(options, data_dir):
        yield images, labels


def indexed_test_batches(
    options: Options, data_dir: str | None, *, batch_size: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(file indices, resized images, labels) from test_batch.bin alone, in file order.

    Chunks of ``batch_size`` (default: the option's, which also shapes the
    checkpoint's random image ``Variable``, so change the chunk here instead).
    """
    images, labels = _read_split(data_dir, (TEST_FILE,), split="test")
    size = batch_size or options.batch_size
    for start in range(0, len(labels), size):
        chunk = slice(start, start + size)
        indices = np.arange(start, min(start + size, len(labels)))
        yield indices, resize_images(images[chunk], options.image_size), labels[chunk]
