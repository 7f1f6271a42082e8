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
augmentation uses stateless ops seeded by ``(seed, element index)``, so
``start_step`` replays the exact stream from a resumed step (skipping raw
elements before any preprocessing). ``deterministic=True`` (tests) turns off
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
    # (image, label, seed or None, image_size) -> (float image, label); seed None means no augmentation.
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


# ---- per-example preprocessing -------------------------------------------------------


def mnist_example(image, label, seed=None, image_size=None):
    """float32 pixels times float32(1/255) and a one-hot float32 label."""
    del seed, image_size
    scaled = tf.cast(image, tf.float32) * tf.constant(1.0 / 255.0, tf.float32)
    return scaled, tf.one_hot(tf.cast(label, tf.int32), NUM_CLASSES, dtype=tf.float32)


def distort_cifar_image(image, seed):
    """``distorted_inputs``' augmentation of one uint8 32x32x3 image, seeded statelessly."""
    crop_seed, flip_seed, brightness_seed, contrast_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=4)
    )
    image = tf.cast(image, tf.float32)
    image = tf.image.stateless_random_crop(image, [CIFAR_CROP, CIFAR_CROP, 3], seed=crop_seed)
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    image = tf.image.stateless_random_brightness(image, max_delta=63, seed=brightness_seed)
    image = tf.image.stateless_random_contrast(image, lower=0.2, upper=1.8, seed=contrast_seed)
    return tf.image.per_image_standardization(image)


def central_cifar_image(image):
    """``cifar10_input.inputs``' evaluation preprocessing: central 24x24 crop, standardization."""
    image = tf.cast(image, tf.float32)
    image = tf.image.resize_with_crop_or_pad(image, CIFAR_CROP, CIFAR_CROP)
    return tf.image.per_image_standardization(image)


def cifar10_train_example(image, label, seed=None, image_size=None):
    """A distorted crop (or the central crop when ``seed`` is None) and an int32 label."""
    del image_size
    processed = central_cifar_image(image) if seed is None else distort_cifar_image(image, seed)
    return processed, tf.cast(label, tf.int32)


def cifar10_eval_example(image, label, seed=None, image_size=None):
    """The central crop and an int32 label."""
    del seed, image_size
    return central_cifar_image(image), tf.cast(label, tf.int32)


def resized_cifar_example(image, label, seed=None, image_size=224):
    """[0, 1] floats resized bilinearly to image_size, and an int64 label."""
    del seed
    image = tf.cast(image, tf.float32) / 255.0
    image = tf.image.resize(image, [image_size, image_size], method="bilinear")
    return image, tf.cast(label, tf.int64)


def cifar_python_example(data, label, seed=None, image_size=None):
    """``data / 127.5 - 1`` in float64, cast to float32, CHW -> HWC; an int64 label."""
    del seed, image_size
    scaled = tf.cast(tf.cast(data, tf.float64) / 127.5 - 1.0, tf.float32)
    image = tf.transpose(tf.reshape(scaled, [3, 32, 32]), [1, 2, 0])
    return image, tf.cast(label, tf.int64)


MNIST = Pipeline("mnist", read_mnist_train, read_mnist_test, mnist_example, mnist_example)
CIFAR10_DISTORTED = Pipeline(
    "cifar-bin",
    read_cifar_bin_train,
    read_cifar_bin_test,
    cifar10_train_example,
    cifar10_eval_example,
)
CIFAR_RESIZED = Pipeline(
    "cifar-bin",
    read_cifar_bin_train,
    read_cifar_bin_test,
    resized_cifar_example,
    resized_cifar_example,
)
CIFAR_PYTHON = Pipeline(
    "cifar-py",
    read_cifar_python_train,
    read_cifar_python_test,
    cifar_python_example,
    cifar_python_example,
    drop_epoch_remainder=True,
)


# ---- datasets ------------------------------------------------------------------------


def _element_seed(seed: int, index):
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
    dataset = dataset.repeat().enumerate().skip(start_step * batch_size)
    use_seed = augment and not deterministic

    def preprocess(index, example):
        image, label = example
        element_seed = _element_seed(seed, index) if use_seed else None
        return pipeline.preprocess_train(image, label, element_seed, image_size)

    dataset = dataset.map(preprocess, num_parallel_calls=AUTOTUNE)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def eval_dataset(
    pipeline: Pipeline, *, batch_size: int, data_dir=None, image_size: int | None = None
) -> tf.data.Dataset:
    """One pass over the test split, in file order, the last batch possibly short."""
    arrays = pipeline.read_test(sample.resolve_data_dir(pipeline.data_kind, data_dir))
    dataset = tf.data.Dataset.from_tensor_slices((arrays.images, arrays.labels))

    def preprocess(image, label):
        return pipeline.preprocess_eval(image, label, None, image_size)

    dataset = dataset.map(preprocess, num_parallel_calls=AUTOTUNE)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)
