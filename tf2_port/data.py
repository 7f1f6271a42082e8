"""``tf.data`` input pipelines over the same files as the legacy side.

Every pipeline reads the files through :mod:`formats` (the embedded sample when
``data_dir`` is None) and yields NHWC float32 images:

* ``mnist`` (resnet_mnist, resnet_mnist_class): ``read_data_sets`` semantics:
  the first 5000 train records are the validation split and are skipped;
  pixels ``uint8 * float32(1 / 255)`` (``numpy.multiply(images, 1.0 / 255.0)``
  in float32, as ``input_data``); one-hot float32 labels; the flat 784 vector
  reshaped to 28x28x1. Batches run across epoch boundaries, as ``next_batch``.
* ``cifar10_distorted`` (cifar10_cnn): ``cifar10_input.distorted_inputs``'s
  distributions for training (random 24x24 crop, random flip, brightness
  delta in [-63, 63), contrast factor in [0.2, 1.8), per-image
  standardization) and ``inputs(eval_data=True)`` for evaluation (central
  24x24 crop, standardization). Sparse int32 labels.
* ``cifar_resized`` (vgg16): ``uint8 / 255`` resized bilinearly (TF2
  ``tf.image.resize``) to ``image_size``; sparse labels (0..9 of 1000 classes).
* ``cifar_python`` (alexnet_cifar10): the python batches, ``data / 127.5 - 1``
  computed in float64 then cast to float32 (the original feeds float64 numpy
  data to a float32 placeholder), CHW -> HWC; each epoch is reshuffled and
  its last partial batch dropped, as ``CifarData.next_batch``.

Training streams are infinite and reproducible: shuffling uses ``seed``, and
augmentation uses stateless ops seeded by ``(seed, step)``, one whole batch at
a time, so ``start_step`` replays the exact stream from a resumed step
(skipping raw batches before any preprocessing). ``deterministic=True`` (tests) turns off
shuffling and augmentation (cifar10 then uses the central crop).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from formats import cifar, idx, sample
from formats.errors import FormatError

AUTOTUNE = tf.data.AUTOTUNE

# input_data.read_data_sets(validation_size=5000) drops these train records.
MNIST_VALIDATION_SIZE = 5000
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_CROP = 24
NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Arrays:
    """Images (NHWC uint8, or flat uint8 for the python batches) and labels."""

    images: np.ndarray
    labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """How one model family reads and preprocesses its data."""

    data_kind: str
    read_train: Callable[[Path], Arrays]
    read_test: Callable[[Path], Arrays]
    # (images, labels, seed or None, image_size) -> (float images, labels), one whole batch
    # at a time; seed None means no augmentation.
    preprocess_train: Callable
    preprocess_eval: Callable
    drop_epoch_remainder: bool = False


# ---- readers -------------------------------------------------------------------------


def _mnist_file(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{directory}: missing {name} (or {name.removesuffix('.gz')})")


def _read_mnist(directory: Path, prefix: str, skip: int) -> Arrays:
    images_path = _mnist_file(directory, f"{prefix}-images-idx3-ubyte.gz")
    images = idx.read_idx(images_path)
    labels = idx.read_idx(_mnist_file(directory, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(labels) != len(images):
        raise FormatError(
            images_path,
            f"expected [N, 28, 28] images and N labels, got {images.shape} and {labels.shape}",
        )
    if len(images) <= skip:
        raise FormatError(
            images_path,
            f"holds {len(images)} records; expected more than the {skip} validation records",
        )
    return Arrays(images[skip:, :, :, None], labels[skip:])


def read_mnist_train(directory: Path) -> Arrays:
    """The train split of ``read_data_sets``: train records after the validation prefix."""
    return _read_mnist(directory, "train", MNIST_VALIDATION_SIZE)


def read_mnist_test(directory: Path) -> Arrays:
    """The 't10k' test records."""
    return _read_mnist(directory, "t10k", 0)


def _read_cifar_bins(directory: Path, names) -> Arrays:
    parts = [cifar.read_cifar_bin(directory / f"{name}.bin") for name in names]
    images = np.concatenate([images for images, _ in parts]).transpose(0, 2, 3, 1)
    labels = np.concatenate([labels for _, labels in parts])
    return Arrays(np.ascontiguousarray(images), labels)


def read_cifar_bin_train(directory: Path) -> Arrays:
    """data_batch_1..5.bin as NHWC uint8."""
    return _read_cifar_bins(directory, CIFAR_TRAIN_BATCHES)


def read_cifar_bin_test(directory: Path) -> Arrays:
    """test_batch.bin as NHWC uint8."""
    return _read_cifar_bins(directory, (CIFAR_TEST_BATCH,))


def _read_cifar_python(directory: Path, names) -> Arrays:
    batches = [cifar.load_batch(directory / name) for name in names]
    data = np.concatenate([batch["data"] for batch in batches])
    labels = np.concatenate([np.asarray(batch["labels"], np.int64) for batch in batches])
    return Arrays(data, labels)


def read_cifar_python_train(directory: Path) -> Arrays:
    """data_batch_1..5 (python pickles, read with the safe unpickler), flat CHW uint8."""
    return _read_cifar_python(directory, CIFAR_TRAIN_BATCHES)


def read_cifar_python_test(directory: Path) -> Arrays:
    """test_batch (python pickle), flat CHW uint8."""
    return _read_cifar_python(directory, (CIFAR_TEST_BATCH,))


# ---- batch preprocessing -------------------------------------------------------------
#
# Every function here maps a whole batch (images [B, ...], labels [B]) at once:
# one op over 128 images instead of 128 ops of one image each. On a 2-core CPU
# the per-op dispatch, not the arithmetic, was the cost of the per-image version
# (issue 7: the distorted CIFAR stream ran ~15 ops per image).


def mnist_batch(images, labels, seed=None, image_size=None):
    """float32 pixels times float32(1/255) and one-hot float32 labels."""
    del seed, image_size
    scaled = tf.cast(images, tf.float32) * tf.constant(1.0 / 255.0, tf.float32)
    return scaled, tf.one_hot(tf.cast(labels, tf.int32), NUM_CLASSES, dtype=tf.float32)


def _random_crops(images, size: int, seed):
    """A ``size`` x ``size`` window of each image at its own uniform offset (exact pixels)."""
    count, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    rows_seed, cols_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    window = tf.range(size)
    top = tf.random.stateless_uniform([count, 1], rows_seed, 0, height - size + 1, tf.int32)
    left = tf.random.stateless_uniform([count, 1], cols_seed, 0, width - size + 1, tf.int32)
    images = tf.gather(images, top + window, axis=1, batch_dims=1)
    return tf.gather(images, left + window, axis=2, batch_dims=1)


def distort_cifar_batch(images, seed):
    """``distorted_inputs``' augmentation of uint8 [B, 32, 32, 3] images, seeded statelessly.

    Per image, as the original: a random 24x24 crop, a left-right flip with
    probability 1/2, a brightness delta in [-63, 63), a contrast factor in
    [0.2, 1.8) around each channel's mean, then per-image standardization.
    """
    crop_seed, flip_seed, brightness_seed, contrast_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=4)
    )
    images = _random_crops(tf.cast(images, tf.float32), CIFAR_CROP, crop_seed)
    per_image = [tf.shape(images)[0], 1, 1, 1]
    flip = tf.random.stateless_uniform(per_image, flip_seed) < 0.5
    images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    images += tf.random.stateless_uniform(per_image, brightness_seed, -63.0, 63.0)
    factor = tf.random.stateless_uniform(per_image, contrast_seed, 0.2, 1.8)
    means = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    images = (images - means) * factor + means
    return tf.image.per_image_standardization(images)


def central_cifar_batch(images):
    """``cifar10_input.inputs``' evaluation preprocessing: central 24x24 crop, standardization."""
    images = tf.cast(images, tf.float32)
    images = tf.image.resize_with_crop_or_pad(images, CIFAR_CROP, CIFAR_CROP)
    return tf.image.per_image_standardization(images)


def cifar10_train_batch(images, labels, seed=None, image_size=None):
    """Distorted crops (or central crops when ``seed`` is None) and int32 labels."""
    del image_size
    processed = central_cifar_batch(images) if seed is None else distort_cifar_batch(images, seed)
    return processed, tf.cast(labels, tf.int32)


def cifar10_eval_batch(images, labels, seed=None, image_size=None):
    """Central crops and int32 labels."""
    del seed, image_size
    return central_cifar_batch(images), tf.cast(labels, tf.int32)


def resized_cifar_batch(images, labels, seed=None, image_size=224):
    """[0, 1] floats resized bilinearly to image_size, and int64 labels."""
    del seed
    images = tf.cast(images, tf.float32) / 255.0
    images = tf.image.resize(images, [image_size, image_size], method="bilinear")
    return images, tf.cast(labels, tf.int64)


def cifar_python_batch(data, labels, seed=None, image_size=None):
    """``data / 127.5 - 1`` in float64, cast to float32, CHW -> HWC; int64 labels."""
    del seed, image_size
    scaled = tf.cast(tf.cast(data, tf.float64) / 127.5 - 1.0, tf.float32)
    images = tf.transpose(tf.reshape(scaled, [-1, 3, 32, 32]), [0, 2, 3, 1])
    return images, tf.cast(labels, tf.int64)


MNIST = Pipeline("mnist", read_mnist_train, read_mnist_test, mnist_batch, mnist_batch)
CIFAR10_DISTORTED = Pipeline(
    "cifar-bin",
    read_cifar_bin_train,
    read_cifar_bin_test,
    cifar10_train_batch,
    cifar10_eval_batch,
)
CIFAR_RESIZED = Pipeline(
    "cifar-bin",
    read_cifar_bin_train,
    read_cifar_bin_test,
    resized_cifar_batch,
    resized_cifar_batch,
)
CIFAR_PYTHON = Pipeline(
    "cifar-py",
    read_cifar_python_train,
    read_cifar_python_test,
    cifar_python_batch,
    cifar_python_batch,
    drop_epoch_remainder=True,
)


# ---- datasets ------------------------------------------------------------------------


def _batch_seed(seed: int, index):
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)])


def train_dataset(
    pipeline: Pipeline,
    *,
    batch_size: int,
    data_dir=None,
    seed: int = 0,
    deterministic: bool = False,
    augment: bool = True,
    start_step: int = 0,
    image_size: int | None = None,
) -> tf.data.Dataset:
    """An infinite stream of (images, labels) batches of ``batch_size``.

    ``start_step`` skips the batches a resumed run has already trained on;
    ``deterministic`` disables shuffling and augmentation.
    """
    arrays = pipeline.read_train(sample.resolve_data_dir(pipeline.data_kind, data_dir))
    count = len(arrays.labels)
    if batch_size > count:
        raise ValueError(f"batch_size {batch_size} is larger than the {count} training examples")
    dataset = tf.data.Dataset.from_tensor_slices((arrays.images, arrays.labels))
    if not deterministic:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    if pipeline.drop_epoch_remainder:
        dataset = dataset.take(count - count % batch_size)
    # Raw uint8 batches are skipped before any preprocessing; the step number
    # seeds the batch's augmentation, so a resumed stream is the same stream.
    dataset = dataset.repeat().batch(batch_size, drop_remainder=True)
    dataset = dataset.enumerate().skip(start_step)
    use_seed = augment and not deterministic

    def preprocess(step, batch):
        images, labels = batch
        batch_seed = _batch_seed(seed, step) if use_seed else None
        return pipeline.preprocess_train(images, labels, batch_seed, image_size)

    return dataset.map(preprocess, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def eval_dataset(
    pipeline: Pipeline, *, batch_size: int, data_dir=None, image_size: int | None = None
) -> tf.data.Dataset:
    """One pass over the test split, in file order, the last batch possibly short.

    Reads only the test files: a ``data_dir`` without the training files works.
    """
    arrays = pipeline.read_test(sample.resolve_data_dir(pipeline.data_kind, data_dir, split="test"))
    dataset = tf.data.Dataset.from_tensor_slices((arrays.images, arrays.labels))

    def preprocess(images, labels):
        return pipeline.preprocess_eval(images, labels, None, image_size)

    dataset = dataset.batch(batch_size).map(preprocess, num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)
