"""Faithful graph of ``seed001_cifar10_cnn.py``: the TF cifar10 tutorial CNN as the blog wrote it.

What the original builds, in order: the ``distorted_inputs`` training queue
(see :func:`train_source`), then fixed-size placeholders ``image_holder``
``[128, 24, 24, 3]`` and int32 ``label_holder`` ``[128]``; conv 5x5x64 (bias 0),
max-pool 3x3/2, LRN (depth_radius 4); conv 5x5x64 (bias 0.1), LRN (default
depth_radius 5), max-pool 3x3/2; reshape ``[batch_size, -1]`` (2304); FC 384 and
FC 192 (ReLU, bias 0.1); FC 10 logits (bias 0). Each weight comes from
``variable_with_weight_loss``, which adds ``wl * l2_loss(w)`` to the ``losses``
collection whenever ``wl is not None`` -- so the two conv layers add zero-weighted
terms. The loss is ``add_n(losses)`` with the mean sparse cross-entropy, then
``AdamOptimizer(1e-3).minimize`` and ``in_top_k(logits, labels, 1)``. The
original's Saver covers only the ten model variables (``saver_var_list``).

Options (defaults reproduce the original run under Python 3):

- ``steps`` (1000), ``batch_size`` (128), ``learning_rate`` (1e-3).
- ``python2_division``: ``1/192`` and ``num_examples / batch_size`` with Python 2
  integer division, where the tutorial code came from: weight5 is initialised
  with stddev 0 (all zeros), the eval runs 78 batches instead of 79 and
  :func:`precision` floors to 0 unless every prediction is right.
- ``fix_norm2_depth_radius``: LRN depth_radius 4 on norm2 too, as on norm1 and
  in the TF tutorial (the blog leaves norm2 at the default 5).
- ``skip_zero_weight_losses``: add no L2 term for ``wl == 0.0`` (numerically
  the same loss, two fewer ``weight_loss`` ops in the ``losses`` collection).
- ``dynamic_batch``: ``[None, ...]`` placeholders and ``reshape [-1, 2304]``
  instead of the fixed batch of 128.
- ``exact_eval``: :func:`test_batches` covers each test image once (last chunk
  partial; needs ``dynamic_batch``) instead of wrapping around the queue.
- ``eval_num_examples`` (10000): the original hard-codes the test-set size.
- ``queue_examples_per_epoch`` (None = 50000): sizes the training queue's
  warm-up (40 % of it), for data sets smaller than CIFAR-10.

Evaluation (``test_batches``): the original's ``cifar10_input.inputs(eval_data=True)``
preprocessing is reproduced in numpy: cast to float32, central 24x24 crop
(offset 4, what ``resize_image_with_crop_or_pad`` does on 32x32), then
``per_image_standardization``. The original runs ``num_iter =
ceil(10000 / 128) = 79`` batches of 128 from a queue that cycles the test file,
so the last batch wraps around to the first 112 images, and divides the number
correct by ``79 * 128 = 10112``; :func:`precision` gives that formula.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from formats.cifar import read_cifar_bin
from formats.sample import resolve_data_dir
from legacy_tf1.core import BatchSource, LegacyModel, OptionError, tf1
from legacy_tf1.inputs import NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN, QueueSource, distorted_inputs

ORIGINAL = "seed001_cifar10_cnn.py"
DATA_KIND = "cifar-bin"
# Its placeholders fix the batch size, so predict() rebuilds it for the input batch.
FIXED_BATCH = True

IMAGE_SIZE = 24
NUM_CLASSES = 10
TEST_FILE = "test_batch.bin"


@dataclasses.dataclass(frozen=True)
class Options:
    """Hyperparameters and defect switches; the defaults reproduce the original."""

    # max_steps = 1000, batch_size = 128, AdamOptimizer(1e-3).
    steps: int = 1000
    batch_size: int = 128
    learning_rate: float = 1e-3
    # The original writes stddev=1/192 for weight5 and num_examples / batch_size for
    # the eval; the tutorial code it came from was Python 2, where both are integer
    # divisions (1/192 == 0: weight5 starts all zero; 10000/128 == 78 eval batches;
    # true_count / total_sample_count floors to 0).
    # False keeps Python 3 semantics (stddev 0.005208..., 79 batches).
    python2_division: bool = False
    # The original's norm2 omits depth_radius (default 5) while norm1 passes 4; the
    # TF tutorial uses 4 for both. True passes 4 to norm2.
    fix_norm2_depth_radius: bool = False
    # The original adds `0.0 * l2_loss(w)` for both conv weights (wl=0.0 is not None).
    # True skips those terms; the loss value and gradients are unchanged.
    skip_zero_weight_losses: bool = False
    # The original fixes the batch dimension ([128, 24, 24, 3] placeholders and
    # reshape [batch_size, -1]). True uses None / -1 so any batch size feeds.
    dynamic_batch: bool = False
    # The original's eval wraps around the test queue to fill whole batches.
    # True yields every test image exactly once (requires dynamic_batch).
    exact_eval: bool = False
    # The original hard-codes num_examples = 10000 whatever the data holds.
    eval_num_examples: int = 10000
    # distorted_inputs fills its shuffle queue with 40% of 50000 = 20000 images
    # before the first batch. An int sizes that warm-up for a smaller data set.
    queue_examples_per_epoch: int | None = None


def variable_with_weight_loss(shape: list[int], stddev: float, wl: float | None, options: Options):
    """The original's helper: truncated-normal weight, L2 term added to 'losses'."""
    var = tf1.Variable(tf1.truncated_normal(shape, stddev=stddev))
    add_term = wl is not None and not (options.skip_zero_weight_losses and wl == 0.0)
    if add_term:
        weight_loss = tf1.multiply(tf1.nn.l2_loss(var), wl, name="weight_loss")
        tf1.add_to_collection("losses", weight_loss)
    return var


def _weight5_stddev(options: Options) -> float:
    return 1 // 192 if options.python2_division else 1 / 192


def inference(images, *, options: Options) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Logits and ordered end_points for ``[batch, 24, 24, 3]`` float images."""
    end_points: dict[str, tf.Tensor] = {}
    weight1 = variable_with_weight_loss([5, 5, 3, 64], stddev=5e-2, wl=0.0, options=options)
    kernel1 = tf1.nn.conv2d(images, weight1, [1, 1, 1, 1], padding="SAME")
    bias1 = tf1.Variable(tf1.constant(0.0, shape=[64]))
    end_points["conv1"] = conv1 = tf1.nn.relu(tf1.nn.bias_add(kernel1, bias1))
    end_points["pool1"] = pool1 = tf1.nn.max_pool(
        conv1, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME"
    )
    end_points["norm1"] = norm1 = tf1.nn.lrn(pool1, 4, bias=1.0, alpha=0.001 / 9.0, beta=0.75)

    weight2 = variable_with_weight_loss([5, 5, 64, 64], stddev=5e-2, wl=0.0, options=options)
    kernel2 = tf1.nn.conv2d(norm1, weight2, [1, 1, 1, 1], padding="SAME")
    bias2 = tf1.Variable(tf1.constant(0.1, shape=[64]))
    end_points["conv2"] = conv2 = tf1.nn.relu(tf1.nn.bias_add(kernel2, bias2))
    # Unlike block 1, block 2 normalises before pooling (as the TF tutorial does).
    norm2_radius = {"depth_radius": 4} if options.fix_norm2_depth_radius else {}
    end_points["norm2"] = norm2 = tf1.nn.lrn(
        conv2, **norm2_radius, bias=1.0, alpha=0.001 / 9.0, beta=0.75
    )
    end_points["pool2"] = pool2 = tf1.nn.max_pool(
        norm2, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME"
    )

    if options.dynamic_batch:
        # Two unknown dimensions cannot be reshaped, so flatten the static feature size.
        end_points["reshape"] = reshape = tf1.reshape(pool2, [-1, pool2.shape[1:].num_elements()])
    else:
        end_points["reshape"] = reshape = tf1.reshape(pool2, [options.batch_size, -1])
    # The original's `reshape.get_shape()[1].value` (TF1 Dimension); an int in TF2.
    dim = tf1.dimension_value(reshape.get_shape()[1])
    weight3 = variable_with_weight_loss([dim, 384], stddev=0.04, wl=0.004, options=options)
    bias3 = tf1.Variable(tf1.constant(0.1, shape=[384]))
    end_points["local3"] = local3 = tf1.nn.relu(tf1.matmul(reshape, weight3) + bias3)

    weight4 = variable_with_weight_loss([384, 192], stddev=0.04, wl=0.004, options=options)
    bias4 = tf1.Variable(tf1.constant(0.1, shape=[192]))
    end_points["local4"] = local4 = tf1.nn.relu(tf1.matmul(local3, weight4) + bias4)

    weight5 = variable_with_weight_loss(
        [192, NUM_CLASSES], stddev=_weight5_stddev(options), wl=0.004, options=options
    )
    bias5 = tf1.Variable(tf1.constant(0.0, shape=[NUM_CLASSES]))
    end_points["logits"] = logits = tf1.add(tf1.matmul(local4, weight5), bias5)
    return logits, end_points


def total_loss(logits, labels):
    """The original's `loss()`: mean sparse cross-entropy plus every 'losses' term."""
    labels = tf1.cast(labels, tf.int64)
    cross_entropy = tf1.nn.sparse_softmax_cross_entropy_with_logits(
        logits=logits, labels=labels, name="cross_entropy_per_examples"
    )
    cross_entropy_mean = tf1.reduce_mean(cross_entropy, name="cross_entropy")
    tf1.add_to_collection("losses", cross_entropy_mean)
    return tf1.add_n(tf1.get_collection("losses"), name="total_loss")


def _saver_order(created: list[tf.Variable]) -> list[tf.Variable]:
    """The original's Saver list [weight1..weight5, bias1..bias5] from creation order w1 b1 w2 b2 ..."""
    return created[0::2] + created[1::2]


def build(options: Options = Options()) -> LegacyModel:
    """The original's graph; call inside graph_scope(), after :func:`train_source`."""
    batch = None if options.dynamic_batch else options.batch_size
    image_holder = tf1.placeholder(tf.float32, [batch, IMAGE_SIZE, IMAGE_SIZE, 3])
    label_holder = tf1.placeholder(tf.int32, [batch])
    known = len(tf1.global_variables())
    logits, end_points = inference(image_holder, options=options)
    model_variables = tf1.global_variables()[known:]
    real_loss = total_loss(logits, label_holder)
    train_op = tf1.train.AdamOptimizer(options.learning_rate).minimize(real_loss)
    top_k_op = tf1.nn.in_top_k(logits, label_holder, 1)
    # The original only sums top_k_op; the mean is its per-batch precision.
    accuracy = tf1.reduce_mean(tf1.cast(top_k_op, tf.float32))
    return LegacyModel(
        name="cifar10_cnn",
        graph=image_holder.graph,
        inputs=image_holder,
        labels=label_holder,
        logits=logits,
        loss=real_loss,
        train_op=train_op,
        accuracy=accuracy,
        end_points=end_points,
        saver_var_list=_saver_order(model_variables),
        options=options,
    )


def _data_dir(data_dir: str | None):
    return resolve_data_dir(DATA_KIND, data_dir)


def train_source(options: Options, data_dir: str | None) -> BatchSource:
    """`cifar10_input.distorted_inputs(data_dir, batch_size)` as a queue-backed source.

    Builds the queue pipeline in the current graph (the original builds it before its
    placeholders); the caller starts the queue runners.
    """
    images, labels = distorted_inputs(
        _data_dir(data_dir), options.batch_size, examples_per_epoch=options.queue_examples_per_epoch
    )
    return QueueSource(images, labels, NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN)


def eval_num_iter(options: Options) -> int:
    """The original's `num_iter = int(math.ceil(num_examples / batch_size))`."""
    if options.python2_division:
        return int(math.ceil(options.eval_num_examples // options.batch_size))
    return int(math.ceil(options.eval_num_examples / options.batch_size))


def precision(true_count: int, options: Options) -> float:
    """The original's `true_count / (num_iter * batch_size)` (wrapped-around images included).

    Under ``python2_division`` that is integer division too (numpy int / int floors
    in Python 2), so anything short of a perfect score prints 0.
    """
    total_sample_count = eval_num_iter(options) * options.batch_size
    if options.python2_division:
        return float(true_count // total_sample_count)
    return true_count / total_sample_count


def preprocess_eval(images_nchw: np.ndarray) -> np.ndarray:
    """`inputs(eval_data=True)` preprocessing in numpy: NHWC float32, central 24x24, standardised."""
    images = np.transpose(images_nchw, (0, 2, 3, 1)).astype(np.float32)
    offset_h = (images.shape[1] - IMAGE_SIZE) // 2
    offset_w = (images.shape[2] - IMAGE_SIZE) // 2
    crop = images[:, offset_h : offset_h + IMAGE_SIZE, offset_w : offset_w + IMAGE_SIZE, :]
    flat = crop.reshape(len(crop), -1)
    mean = flat.mean(axis=1, keepdims=True)
    # per_image_standardization divides by max(stddev, 1/sqrt(N)) to avoid dividing by 0.
    adjusted = np.maximum(flat.std(axis=1, keepdims=True), 1.0 / np.sqrt(flat.shape[1]))
    return ((flat - mean) / adjusted).reshape(crop.shape).astype(np.float32)


def test_batches(options: Options, data_dir: str | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The eval batches the original feeds: eval_num_iter(options) batches of batch_size.

    Images are read in file order and cycled, as the single-file test queue does once
    it reaches the end (the tutorial's 16 batching threads may reorder examples
    slightly; the set of wrapped-around images is the same up to that). With
    ``exact_eval`` each test image is yielded once instead.
    """
    for _, images, labels in indexed_test_batches(options, data_dir):
        yield images, labels


def indexed_test_batches(
    options: Options, data_dir: str | None, *, batch_size: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`test_batches` with each example's index in test_batch.bin (read alone) first.

    Wrapped-around batches repeat indices. ``batch_size`` (images per run) may
    only differ from the option's with ``exact_eval``: otherwise the batch is
    part of the original's figure (:func:`precision`), so set the
    ``batch_size`` option instead.
    """
    _check_eval_batch_size(options, batch_size)
    raw, labels = read_cifar_bin(resolve_data_dir(DATA_KIND, data_dir, split="test") / TEST_FILE)
    images = preprocess_eval(np.asarray(raw))
    labels = np.asarray(labels, dtype=np.int32)
    if options.exact_eval:
        yield from _exact_chunks(images, labels, options, batch_size or options.batch_size)
        return
    total = eval_num_iter(options) * options.batch_size
    order = np.arange(total) % len(images)
    for start in range(0, total, options.batch_size):
        index = order[start : start + options.batch_size]
        yield index, images[index], labels[index]


def _check_eval_batch_size(options: Options, batch_size: int | None) -> None:
    if batch_size in (None, options.batch_size) or options.exact_eval:
        return
    raise OptionError(
        f"cifar10_cnn: an eval batch size of {batch_size} would change the original's figure "
        f"(it counts eval_num_iter * batch_size = {eval_num_iter(options)} * "
        f"{options.batch_size} predictions); set the batch_size option instead, or "
        "exact_eval=True with dynamic_batch=True"
    )


def _exact_chunks(images, labels, options: Options, size: int):
    if not options.dynamic_batch:
        raise ValueError(
            "cifar10_cnn: exact_eval=True yields a partial last batch, which the fixed "
            f"[{options.batch_size}, 24, 24, 3] placeholder cannot take; set dynamic_batch=True too"
        )
    for start in range(0, len(images), size):
        indices = np.arange(start, min(start + size, len(images)))
        yield indices, images[start : start + size], labels[start : start + size]
