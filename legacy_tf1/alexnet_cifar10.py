"""Faithful ``tf.compat.v1`` version of seed004, the AlexNet-style CIFAR-10 net with batch norm.

The original (``seed004_alexnet_cifar10_bn.py``) feeds flat CHW CIFAR-10 rows
(``data / 127.5 - 1``) through conv1 (ReLU) -> LRN -> pool1 -> conv2 ->
``tf.layers.batch_normalization`` -> ReLU -> pool2 -> conv3 -> conv4 -> conv5
(ReLU) -> ``tf.layers.batch_normalization`` -> ReLU -> a second pool also named
'pool2' -> flatten -> dense 1024 -> hand-written ``batch_normal`` -> ReLU ->
dense 1024 -> ``batch_normal`` -> ReLU -> dense 10, with sparse softmax cross
entropy, a float64 accuracy, and Adam 1e-3 under ``name_scope('train_op')``
with the ``UPDATE_OPS`` as control dependencies. Built with ``tf1.layers``
(tf_keras legacy layers; ``legacy_tf1.core`` sets ``TF_USE_LEGACY_KERAS``).

Options (defaults reproduce the original):

* ``fix_batch_normal_inference`` -- the hand-written ``batch_normal`` ignores
  ``is_training``: it always normalises with the batch's own statistics
  (also at test time, so a test prediction depends on the rest of its batch)
  and runs the EMA update on every run, so the shadow variables change even
  during evaluation but are never read. True uses the EMA averages (and skips
  the update) when ``is_training`` is False.
* ``fix_conv5_relu_before_bn`` -- conv5 keeps ``activation=relu`` although a
  batch norm and another ReLU follow (conv2 had its activation removed when
  LRN was replaced by BN); True makes conv5 linear like conv2.
* ``drop_bias_before_bn`` -- conv2, dense and dense_1 keep a bias that the
  following batch norm cancels (redundant parameters); True builds them
  without bias (changes the variable list).
* ``fix_pool_names`` -- both pooling layers after the BNs are named 'pool2'
  (the second becomes op 'pool2_1'; harmless); True names the second 'pool5'.
* ``full_test_set`` -- the original evaluates only the first
  ``test_steps * batch_size`` = 2000 test images, unshuffled; True evaluates
  the whole test split.
* ``steps`` 10000, ``batch_size`` 20, ``learning_rate`` 1e-3,
  ``test_steps`` 100, ``eval_every`` 5000 and ``log_every`` 500 (the
  original's loop constants); ``data_seed`` None uses numpy's global RNG for
  ``CifarData``'s shuffles, as the original did.

The original's ``pickle.load`` is replaced by ``formats.cifar.load_batch``'s
safe unpickler (inside ``legacy_tf1.inputs.CifarData``): a documented
security deviation, not an option.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from legacy_tf1.core import LegacyModel, OptionError, tf1

ORIGINAL = "seed004_alexnet_cifar10_bn.py"
DATA_KIND = "cifar-py"

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
# predict feeds the caller's whole input in one run by default: the faithful
# batch_normal normalises with the batch's own statistics, so an image's
# logits depend on the rest of its batch.
PREDICT_BATCH_SIZE = None


@dataclasses.dataclass(frozen=True)
class Options:
    """Hyperparameters and defect switches of seed004; the defaults are the original's."""

    steps: int = 10000
    batch_size: int = 20
    learning_rate: float = 1e-3
    # The original evaluates test_steps batches of batch_size every eval_every
    # steps and prints training loss/accuracy every log_every steps.
    test_steps: int = 100
    eval_every: int = 5000
    log_every: int = 500
    # Seed for CifarData's shuffles; None = numpy's global RNG (the original).
    data_seed: int | None = None
    # The original's batch_normal always uses batch statistics and updates its
    # EMA on every run; True reads the EMA when is_training is False.
    fix_batch_normal_inference: bool = False
    # The original's conv5 is ReLU'd before its batch norm (and ReLU'd again
    # after); True makes conv5 linear, as conv2 is.
    fix_conv5_relu_before_bn: bool = False
    # The original's conv2/dense/dense_1 carry a bias that the following batch
    # norm cancels; True drops those biases (and their variables).
    drop_bias_before_bn: bool = False
    # The original names the second post-BN pool 'pool2' again (op 'pool2_1');
    # True names it 'pool5'.
    fix_pool_names: bool = False
    # The original tests on the first test_steps*batch_size test images only;
    # True evaluates the whole test split.
    full_test_set: bool = False


def batch_normal(xs, out_size: int, *, is_training=None, use_ema_at_inference: bool = False):
    """The original's hand-written batch norm: ``Variable``/``Variable_N`` scale and shift.

    By default (faithful) ``is_training`` is ignored: batch statistics are
    always used, and the EMA (decay 0.9) of them is updated on every run but
    never read. With ``use_ema_at_inference`` the EMA averages are used when
    ``is_training`` is False.
    """
    axis = list(range(len(xs.get_shape()) - 1))
    n_mean, n_var = tf1.nn.moments(xs, axes=axis)
    scale = tf1.Variable(tf1.ones([out_size]))
    shift = tf1.Variable(tf1.zeros([out_size]))
    epsilon = 0.001
    ema = tf1.train.ExponentialMovingAverage(decay=0.9)

    def mean_var_with_update():
        ema_apply_op = ema.apply([n_mean, n_var])
        with tf1.control_dependencies([ema_apply_op]):
            return tf1.identity(n_mean), tf1.identity(n_var)

    if use_ema_at_inference:
        mean, var = tf1.cond(
            is_training,
            mean_var_with_update,
            lambda: (ema.average(n_mean).read_value(), ema.average(n_var).read_value()),
        )
    else:
        mean, var = mean_var_with_update()
    return tf1.nn.batch_normalization(xs, mean, var, shift, scale, epsilon)


def _conv(inputs, filters: int, name: str, *, relu: bool = True, use_bias: bool = True):
    return tf1.layers.conv2d(
        inputs,
        filters,
        (3, 3),
        padding="same",
        activation=tf1.nn.relu if relu else None,
        use_bias=use_bias,
        name=name,
    )


def _pool(inputs, name: str):
    return tf1.layers.max_pooling2d(inputs, (2, 2), (2, 2), name=name)


def inference(images, *, options: Options, is_training) -> tuple:
    """Logits (dense_2, pre-softmax) of flat CHW ``images`` [N,3072], and ordered end_points.

    end_points: x_image, conv1, lrn1, pool1, conv2, batch_normalization,
    conv2_relu, pool2, conv3, conv4, conv5, batch_normalization_1, conv5_relu,
    pool5 (the layer the original also names 'pool2'), flatten, dense, bn6,
    fc1, dense_1, bn7, fc2, logits.
    """
    end_points: dict = {}
    bias_before_bn = not options.drop_bias_before_bn
    x_image = tf1.reshape(images, [-1, 3, 32, 32])
    x_image = end_points["x_image"] = tf1.transpose(x_image, perm=[0, 2, 3, 1])
    net = end_points["conv1"] = _conv(x_image, 48, "conv1")
    net = end_points["lrn1"] = tf1.nn.lrn(
        net, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75
    )
    net = end_points["pool1"] = _pool(net, "pool1")
    net = end_points["conv2"] = _conv(net, 96, "conv2", relu=False, use_bias=bias_before_bn)
    net = end_points["batch_normalization"] = tf1.layers.batch_normalization(
        net, training=is_training
    )
    net = end_points["conv2_relu"] = tf1.nn.relu(net)
    net = end_points["pool2"] = _pool(net, "pool2")
    net = end_points["conv3"] = _conv(net, 192, "conv3")
    net = end_points["conv4"] = _conv(net, 192, "conv4")
    net = end_points["conv5"] = _conv(net, 96, "conv5", relu=not options.fix_conv5_relu_before_bn)
    net = end_points["batch_normalization_1"] = tf1.layers.batch_normalization(
        net, training=is_training
    )
    net = end_points["conv5_relu"] = tf1.nn.relu(net)
    net = end_points["pool5"] = _pool(net, "pool5" if options.fix_pool_names else "pool2")
    net = end_points["flatten"] = tf1.layers.flatten(net)
    for dense_name, bn_name, fc_name in (("dense", "bn6", "fc1"), ("dense_1", "bn7", "fc2")):
        net = end_points[dense_name] = tf1.layers.dense(net, 1024, use_bias=bias_before_bn)
        net = end_points[bn_name] = batch_normal(
            net,
            1024,
            is_training=is_training,
            use_ema_at_inference=options.fix_batch_normal_inference,
        )
        net = end_points[fc_name] = tf1.nn.relu(net)
    logits = end_points["logits"] = tf1.layers.dense(net, 10)
    return logits, end_points


def build(options: Options = Options()) -> LegacyModel:
    """The original's graph: placeholders, network, loss, float64 accuracy, train_op.

    Call inside ``legacy_tf1.core.graph_scope()``.
    """
    x = tf1.placeholder(tf1.float32, [None, 3072])
    y = tf1.placeholder(tf1.int64, [None])
    is_training = tf1.placeholder(tf1.bool, [])
    logits, end_points = inference(x, options=options, is_training=is_training)
    loss = tf1.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)
    predict = tf1.argmax(logits, 1)
    correct_prediction = tf1.equal(predict, y)
    accuracy = tf1.reduce_mean(tf1.cast(correct_prediction, tf1.float64))
    with tf1.name_scope("train_op"):
        # The tf.layers batch norms' moving-average updates run with each step.
        update_ops = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
        with tf1.control_dependencies(update_ops):
            train_op = tf1.train.AdamOptimizer(options.learning_rate).minimize(loss)
    return LegacyModel(
        name="alexnet_cifar10",
        graph=tf1.get_default_graph(),
        inputs=x,
        labels=y,
        logits=logits,
        loss=loss,
        train_op=train_op,
        accuracy=accuracy,
        end_points=end_points,
        train_feed={is_training: True},
        eval_feed={is_training: False},
        saver_var_list=None,
        options=options,
    )


def _data_paths(data_dir: str | None, names, split: str = "all") -> list[str]:
    # Imported here so that the model graph never needs the data package.
    from formats import sample

    directory = sample.resolve_data_dir(DATA_KIND, data_dir, split=split)
    return [str(directory / name) for name in names]


def train_source(options: Options, data_dir: str | None):
    """``CifarData(data_batch_1..5, need_shuffle=True)`` batches of ``batch_size``, as the original."""
    from legacy_tf1 import inputs

    data = inputs.CifarData(_data_paths(data_dir, TRAIN_FILES), True, seed=options.data_seed)
    return inputs.CifarDataSource(data, options.batch_size)


def test_batches(options: Options, data_dir: str | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The original's test loop: ``test_steps`` unshuffled batches of ``batch_size``.

    That is the first 2000 test images by default. Batches must keep
    ``batch_size`` because the faithful ``batch_normal`` normalises each
    batch with its own statistics. A test split smaller than
    ``test_steps * batch_size`` (the embedded sample has 1000) yields only
    its full batches, where the original raised "Have no more examples".
    With ``full_test_set`` every test image is yielded (a last partial batch
    included). The original's figure is the mean of the per-batch accuracies,
    which equals the overall accuracy over equal-sized batches.
    """
    for _, images, labels in indexed_test_batches(options, data_dir):
        yield images, labels


def indexed_test_batches(
    options: Options, data_dir: str | None, *, batch_size: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`test_batches` with each example's index in ``test_batch`` (read alone) first.

    ``batch_size`` (images per run) may only differ from the option's when
    the batch does not matter: with ``fix_batch_normal_inference`` (no batch
    statistics at test time) and ``full_test_set`` (the images covered do
    not depend on it).
    """
    from legacy_tf1 import inputs

    size = _eval_batch_size(options, batch_size)
    data = inputs.CifarData(_data_paths(data_dir, (TEST_FILE,), split="test"), False)
    full_batches = data.num_examples // size
    steps = full_batches if options.full_test_set else min(options.test_steps, full_batches)
    sizes = [size] * steps
    remainder = data.num_examples - full_batches * size
    if options.full_test_set and remainder:
        sizes.append(remainder)
    start = 0
    for size in sizes:
        batch_data, batch_labels = data.next_batch(size)
        yield np.arange(start, start + size), batch_data, np.asarray(batch_labels, dtype=np.int64)
        start += size


def _eval_batch_size(options: Options, batch_size: int | None) -> int:
    if batch_size in (None, options.batch_size):
        return options.batch_size
    if options.fix_batch_normal_inference and options.full_test_set:
        return batch_size
    raise OptionError(
        f"alexnet_cifar10: an eval batch size of {batch_size} would change the original's "
        f"figure (its batch_normal normalises each batch of {options.batch_size} with the "
        "batch's own statistics, and it tests test_steps batches); set the batch_size option "
        "instead, or fix_batch_normal_inference=True with full_test_set=True"
    )
