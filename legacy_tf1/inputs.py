"""The originals' TF1 input pipelines, reimplemented over ``formats/``.

Three families, each reproducing the code the originals imported:

* MNIST: the ``tensorflow.examples.tutorials.mnist.input_data`` API used by
  seed000 and seed003 (``read_data_sets``, ``DataSet.next_batch``).
* CIFAR-10 binary: the queue-runner pipelines of the TF models tutorial
  ``tutorials/image/cifar10/cifar10_input.py`` used by seed001
  (``distorted_inputs``, ``inputs``). These build ops in the current graph.
* CIFAR-10 python batches: seed004's own ``CifarData`` class.

Differences from the originals, all on purpose:

* Nothing is ever downloaded. A missing MNIST file raises
  :class:`formats.errors.DataDirError`; a missing CIFAR binary raises
  :class:`CifarFileNotFoundError`, which is both a ``DataDirError`` and the
  ``ValueError('Failed to find file: ...')`` the original raised.
* seed004's batches are read with the restricted unpickler
  (:func:`formats.cifar.load_batch`) instead of ``pickle.load``, so a crafted
  file raises :class:`formats.errors.FormatError` instead of running code.
* Extra behaviour sits behind keyword-only options whose defaults reproduce
  the original (``reseed_numpy``, ``num_threads``,
  ``min_fraction_of_examples_in_queue``, ``examples_per_epoch``, ``seed``).
"""

from __future__ import annotations

import collections
import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from formats import cifar as cifar_format
from formats import idx, sample
from formats.errors import DataDirError, FormatError
from legacy_tf1.core import tf, tf1

# ---------------------------------------------------------------------------
# MNIST: tensorflow.examples.tutorials.mnist.input_data
# ---------------------------------------------------------------------------

# Kept for signature compatibility only: read_data_sets never downloads.
DEFAULT_SOURCE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_NUM_CLASSES = 10
# The four files in the order the original opened them.
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = sample.MNIST_FILES
# What DataSet(fake_data=True) reports, as in the original.
FAKE_NUM_EXAMPLES = 10000

Datasets = collections.namedtuple("Datasets", ["train", "validation", "test"])


def dense_to_one_hot(labels_dense: np.ndarray, num_classes: int) -> np.ndarray:
    """One-hot rows for integer labels, float64 like the original's ``np.zeros``."""
    num_labels = labels_dense.shape[0]
    one_hot = np.zeros((num_labels, num_classes))
    row_starts = np.arange(num_labels) * num_classes
    one_hot.flat[row_starts + labels_dense.ravel()] = 1
    return one_hot


def _seed_from_tf(seed: int | None) -> int | None:
    """The value the original passed to ``np.random.seed``.

    The original ran ``seed1, seed2 = random_seed.get_seed(seed)`` and then
    ``numpy.random.seed(seed1 if seed is None else seed2)``: with no seed
    anywhere that is ``None`` (fresh OS entropy), with only a TF graph seed it
    is that graph seed, and with ``seed`` it is ``seed`` (mod 2**31 - 1).
    """
    seed1, seed2 = tf1.random.get_seed(seed)
    return seed1 if seed is None else seed2


class DataSet:
    """One split of MNIST with the original's ``next_batch`` epoch logic.

    ``images`` are uint8 ``[N, rows, cols]`` (as :func:`formats.idx.read_idx`
    returns them) or ``[N, rows, cols, 1]`` (as the original's reader did).
    ``reshape`` flattens them to ``[N, rows*cols]``; ``dtype`` float32 scales
    them by ``1/255``; uint8 keeps them. ``labels`` are kept as given (the
    original one-hot encoded them in ``read_data_sets``; ``one_hot`` here only
    matters for ``fake_data``, as in the original).

    ``reseed_numpy`` (keyword-only, default True = original): the constructor
    calls ``np.random.seed`` exactly like the original (from ``seed``, else the
    TF graph seed, else OS entropy), and shuffles draw from numpy's global RNG.
    With False the global RNG is left alone: shuffles use a private
    ``np.random.RandomState`` built from ``seed`` (the same sequence the
    original produced for that seed), or, with ``seed=None``, numpy's global
    RNG as it stands, so ``np.random.seed(k)`` beforehand fixes the order.
    """

    def __init__(
        self,
        images: Any,
        labels: Any,
        fake_data: bool = False,
        one_hot: bool = False,
        dtype: Any = tf.float32,
        reshape: bool = True,
        seed: int | None = None,
        *,
        reseed_numpy: bool = True,
    ) -> None:
        self._rng = _dataset_rng(seed, reseed_numpy)
        dtype = tf.as_dtype(dtype).base_dtype
        if dtype not in (tf.uint8, tf.float32):
            raise TypeError(f"Invalid image dtype {dtype!r}, expected uint8 or float32")
        if fake_data:
            self._num_examples = FAKE_NUM_EXAMPLES
            self.one_hot = one_hot
        else:
            images, labels = np.asarray(images), np.asarray(labels)
            if images.shape[0] != labels.shape[0]:
                raise ValueError(
                    f"DataSet: images and labels differ in length: "
                    f"images.shape: {images.shape} labels.shape: {labels.shape}"
                )
            self._num_examples = images.shape[0]
            images = _prepare_images(images, reshape=reshape, scale=dtype == tf.float32)
        self._images = images
        self._labels = labels
        self._epochs_completed = 0
        self._index_in_epoch = 0

    @property
    def images(self) -> np.ndarray:
        """All images, in the current (possibly shuffled) order."""
        return self._images

    @property
    def labels(self) -> np.ndarray:
        """All labels, in the same order as :attr:`images`."""
        return self._labels

    @property
    def num_examples(self) -> int:
        """Number of examples in this split."""
        return self._num_examples

    @property
    def epochs_completed(self) -> int:
        """Epochs finished so far by :meth:`next_batch`."""
        return self._epochs_completed

    def next_batch(
        self, batch_size: int, fake_data: bool = False, shuffle: bool = True
    ) -> tuple[Any, Any]:
        """The next ``batch_size`` examples, exactly as the original served them.

        The whole set is shuffled before the first batch. A batch that runs past
        the end takes the rest of the old epoch, reshuffles, and is filled from
        the start of the new epoch (the two parts concatenated).
        """
        if fake_data:
            return self._fake_batch(batch_size)
        start = self._index_in_epoch
        if self._epochs_completed == 0 and start == 0 and shuffle:
            self._permute()
        if start + batch_size <= self._num_examples:
            self._index_in_epoch += batch_size
            end = self._index_in_epoch
            return self._images[start:end], self._labels[start:end]
        return self._batch_across_epochs(start, batch_size, shuffle)

    def _batch_across_epochs(self, start: int, batch_size: int, shuffle: bool):
        self._epochs_completed += 1
        rest_num_examples = self._num_examples - start
        images_rest_part = self._images[start : self._num_examples]
        labels_rest_part = self._labels[start : self._num_examples]
        if shuffle:
            self._permute()
        self._index_in_epoch = batch_size - rest_num_examples
        end = self._index_in_epoch
        return (
            np.concatenate((images_rest_part, self._images[0:end]), axis=0),
            np.concatenate((labels_rest_part, self._labels[0:end]), axis=0),
        )

    def _permute(self) -> None:
        # arange + shuffle (not permutation) consumes the RNG as the original did.
        perm = np.arange(self._num_examples)
        self._rng.shuffle(perm)
        self._images = self._images[perm]
        self._labels = self._labels[perm]

    def _fake_batch(self, batch_size: int) -> tuple[list, list]:
        fake_image = [1] * 784
        fake_label = [1] + [0] * 9 if self.one_hot else 0
        return [fake_image for _ in range(batch_size)], [fake_label for _ in range(batch_size)]


def _dataset_rng(seed: int | None, reseed_numpy: bool) -> Any:
    """The RNG a DataSet shuffles with (see ``DataSet``'s ``reseed_numpy``)."""
    if reseed_numpy:
        np.random.seed(_seed_from_tf(seed))
        return np.random
    if seed is None:
        return np.random
    return np.random.RandomState(_seed_from_tf(seed))


def _prepare_images(images: np.ndarray, *, reshape: bool, scale: bool) -> np.ndarray:
    """The original's reshape to ``[N, rows*cols]`` and ``[0,255] -> [0,1]`` scaling."""
    if images.ndim == 3:
        # The original's reader produced [N, rows, cols, 1]; read_idx drops the 1.
        images = images[..., np.newaxis]
    if reshape:
        if images.ndim != 4 or images.shape[3] != 1:
            raise ValueError(
                f"DataSet(reshape=True) expects images [N, rows, cols] or [N, rows, cols, 1]; "
                f"got shape {images.shape}"
            )
        images = images.reshape(images.shape[0], images.shape[1] * images.shape[2])
    if scale:
        images = images.astype(np.float32)
        images = np.multiply(images, 1.0 / 255.0)
    return images


def _find_mnist_files(
    train_dir: str | os.PathLike, names: Sequence[str] = sample.MNIST_FILES
) -> list[str]:
    """Paths of the MNIST files ``names`` in ``train_dir``: gzipped names or the raw names."""
    found, missing = [], []
    for name in names:
        candidates = [os.path.join(train_dir, name), os.path.join(train_dir, name[: -len(".gz")])]
        existing = [path for path in candidates if os.path.isfile(path)]
        if existing:
            found.append(existing[0])
        else:
            missing.append(name)
    if missing:
        # The original downloaded missing files; we never do.
        raise DataDirError(train_dir, missing, "mnist")
    return found


def _extract_images(path: str) -> np.ndarray:
    print("Extracting", path)  # the original printed each file it read
    images = idx.read_idx(path)
    if images.ndim != 3:
        raise FormatError(path, f"expected MNIST images [N, rows, cols]; got shape {images.shape}")
    return images


def _extract_labels(path: str, *, one_hot: bool) -> np.ndarray:
    print("Extracting", path)
    labels = idx.read_idx(path)
    if labels.ndim != 1:
        raise FormatError(path, f"expected MNIST labels [N]; got shape {labels.shape}")
    if labels.size and labels.max() >= MNIST_NUM_CLASSES:
        # The original's one-hot encoding would silently spill into the next row.
        raise FormatError(path, f"expected labels 0..9; found {int(labels.max())}")
    return dense_to_one_hot(labels, MNIST_NUM_CLASSES) if one_hot else labels


def _check_counts(images_path: str, images, labels_path: str, labels) -> None:
    # DataSet would raise a bare ValueError later; a data error must name the files.
    if len(images) != len(labels):
        raise FormatError(
            images_path, f"holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )


def read_data_sets(
    train_dir: str | os.PathLike,
    fake_data: bool = False,
    one_hot: bool = False,
    dtype: Any = tf.float32,
    reshape: bool = True,
    validation_size: int = 5000,
    seed: int | None = None,
    source_url: str | None = DEFAULT_SOURCE_URL,
    *,
    reseed_numpy: bool = True,
) -> Datasets:
    """``input_data.read_data_sets``: train/validation/test ``DataSet`` s from ``train_dir``.

    The first ``validation_size`` training records become the validation set.
    ``source_url`` is accepted and ignored: missing files raise
    :class:`formats.errors.DataDirError` instead of being downloaded.
    """
    del source_url  # never downloads
    options = dict(dtype=dtype, reshape=reshape, seed=seed, reseed_numpy=reseed_numpy)
    if fake_data:
        return Datasets(
            *(DataSet([], [], fake_data=True, one_hot=one_hot, **options) for _ in range(3))
        )
    paths = _find_mnist_files(train_dir)
    train_images = _extract_images(paths[0])
    train_labels = _extract_labels(paths[1], one_hot=one_hot)
    test_images = _extract_images(paths[2])
    test_labels = _extract_labels(paths[3], one_hot=one_hot)
    _check_counts(paths[0], train_images, paths[1], train_labels)
    _check_counts(paths[2], test_images, paths[3], test_labels)
    bounds = (
        f"Validation size should be between 0 and {len(train_images)}. Received: {validation_size}."
    )
    if validation_size < 0:
        raise ValueError(bounds)
    if validation_size > len(train_images):
        # Still the original's ValueError (FormatError is one), but naming the file,
        # so that the CLIs report it as a data error instead of a traceback.
        raise _too_few_training_images(paths[0], len(train_images), validation_size, bounds)
    train = DataSet(train_images[validation_size:], train_labels[validation_size:], **options)
    validation = DataSet(train_images[:validation_size], train_labels[:validation_size], **options)
    test = DataSet(test_images, test_labels, **options)
    return Datasets(train=train, validation=validation, test=test)


def _too_few_training_images(
    path: str | os.PathLike, found: int, validation_size: int, detail: str = ""
) -> FormatError:
    message = (
        f"holds {found} training images; expected more than validation_size={validation_size} "
        f"(the first {validation_size} are the validation split, the rest the training set)"
    )
    return FormatError(path, f"{message}. {detail}".rstrip())


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, min_train: int = 1, **kwargs: Any
) -> Datasets:
    """``read_data_sets`` on ``data_dir``, or on the embedded sample when it is None.

    Unlike ``read_data_sets`` it also refuses a directory that leaves fewer
    than ``min_train`` training images after the validation split, with a
    :class:`FormatError` naming the directory: with none, ``next_batch`` serves
    empty batches; with fewer than a batch, it serves short ones, which a graph
    that fixes the batch size (seed003's reshape to 128) cannot take.
    """
    directory = sample.resolve_data_dir("mnist", data_dir)
    datasets = read_data_sets(directory, **kwargs)
    left, held_out = datasets.train.num_examples, datasets.validation.num_examples
    if left == 0:
        raise _too_few_training_images(
            directory, held_out, held_out, "Nothing is left to train on."
        )
    if left < min_train:
        raise FormatError(
            directory,
            f"holds {held_out + left} training images; expected at least {held_out + min_train} "
            f"(the first {held_out} are the validation split, and one training batch takes "
            f"{min_train})",
        )
    return datasets


def load_mnist_test(
    data_dir: str | os.PathLike | None = None, *, one_hot: bool = False, dtype: Any = tf.float32
) -> DataSet:
    """``read_data_sets(...).test`` read from the two t10k files alone.

    Evaluation needs no training file: a directory holding only
    ``t10k-images-idx3-ubyte(.gz)`` and ``t10k-labels-idx1-ubyte(.gz)`` works,
    and the validation-split checks of :func:`load_mnist` do not apply. The
    images and labels are those ``read_data_sets`` returns as ``test``; numpy's
    global RNG is left alone (nothing is shuffled).
    """
    directory = sample.resolve_data_dir("mnist", data_dir, split="test")
    paths = _find_mnist_files(directory, names=(TEST_IMAGES, TEST_LABELS))
    images = _extract_images(paths[0])
    labels = _extract_labels(paths[1], one_hot=one_hot)
    _check_counts(paths[0], images, paths[1], labels)
    return DataSet(images, labels, dtype=dtype, reseed_numpy=False)


# ---------------------------------------------------------------------------
# CIFAR-10 binary: tensorflow/models tutorials/image/cifar10/cifar10_input.py
# ---------------------------------------------------------------------------

# Images are cropped from 32x32 to this size.
IMAGE_SIZE = 24
NUM_CLASSES = 10
NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = 50000
NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = 10000

_LABEL_BYTES = 1
_HEIGHT, _WIDTH, _DEPTH = 32, 32, 3
_NUM_TRAIN_FILES = 5


class CifarFileNotFoundError(DataDirError, ValueError):
    """A CIFAR-10 binary file is missing.

    The original raised ``ValueError('Failed to find file: ...')``; this is
    that ValueError and also the toolkit's ``DataDirError`` (a
    ``FileNotFoundError``), so callers written for either keep working.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        directory = os.path.dirname(self.path) or os.curdir
        super().__init__(directory, [os.path.basename(self.path)], "cifar-bin")

    def __str__(self) -> str:
        # The original's text first, so messages and matches written for it still hold.
        return f"Failed to find file: {self.path} ({super().__str__()})"

    def __reduce__(self):
        return (type(self), (self.path,))


@dataclasses.dataclass
class CIFAR10Record:
    """What ``read_cifar10`` returns: the original's ad-hoc record object."""

    height: int
    width: int
    depth: int
    key: tf.Tensor
    label: tf.Tensor
    uint8image: tf.Tensor


def read_cifar10(filename_queue: Any) -> CIFAR10Record:
    """Read one record (1 label byte + 3072 CHW image bytes) from ``filename_queue``.

    ``label`` is int32 ``[1]``; ``uint8image`` is ``[32, 32, 3]`` (HWC).
    """
    image_bytes = _HEIGHT * _WIDTH * _DEPTH
    reader = tf1.FixedLengthRecordReader(record_bytes=_LABEL_BYTES + image_bytes)
    key, value = reader.read(filename_queue)
    record_bytes = tf1.decode_raw(value, tf.uint8)
    label = tf.cast(tf.strided_slice(record_bytes, [0], [_LABEL_BYTES]), tf.int32)
    depth_major = tf.reshape(
        tf.strided_slice(record_bytes, [_LABEL_BYTES], [_LABEL_BYTES + image_bytes]),
        [_DEPTH, _HEIGHT, _WIDTH],
    )
    return CIFAR10Record(
        height=_HEIGHT,
        width=_WIDTH,
        depth=_DEPTH,
        key=key,
        label=label,
        uint8image=tf.transpose(depth_major, [1, 2, 0]),
    )


def _train_filenames(data_dir: str | os.PathLike) -> list[str]:
    return [os.path.join(data_dir, f"data_batch_{i}.bin") for i in range(1, _NUM_TRAIN_FILES + 1)]


def _require_files(filenames: Sequence[str]) -> None:
    for filename in filenames:
        if not tf.io.gfile.exists(filename):
            raise CifarFileNotFoundError(filename)


def _min_queue_examples(
    default_examples: int, examples_per_epoch: int | None, fraction: float
) -> int:
    """Examples the queue holds before the first batch (the original: 40% of an epoch)."""
    examples = default_examples if examples_per_epoch is None else examples_per_epoch
    return int(examples * fraction)


def _generate_image_and_label_batch(
    image: tf.Tensor,
    label: tf.Tensor,
    min_queue_examples: int,
    batch_size: int,
    *,
    shuffle: bool,
    num_threads: int,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Batch ``image``/``label`` through a (shuffling) queue, as the original did."""
    capacity = min_queue_examples + 3 * batch_size
    if shuffle:
        images, label_batch = tf1.train.shuffle_batch(
            [image, label],
            batch_size=batch_size,
            num_threads=num_threads,
            capacity=capacity,
            min_after_dequeue=min_queue_examples,
        )
    else:
        images, label_batch = tf1.train.batch(
            [image, label], batch_size=batch_size, num_threads=num_threads, capacity=capacity
        )
    tf1.summary.image("images", images)
    return images, tf.reshape(label_batch, [batch_size])


def distorted_inputs(
    data_dir: str | os.PathLike,
    batch_size: int,
    *,
    num_threads: int = 16,
    min_fraction_of_examples_in_queue: float = 0.4,
    examples_per_epoch: int | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Augmented training batches from ``data_batch_1..5.bin`` in ``data_dir``.

    Random 24x24 crop, random left-right flip, random brightness (63) and
    contrast (0.2..1.8), per-image standardization, then a shuffling queue.
    Returns images float32 ``[batch_size, 24, 24, 3]`` and labels int32
    ``[batch_size]``. Call inside a graph; start the queue runners to run it.

    ``examples_per_epoch`` (default None = the original's 50000) sets the
    queue warm-up to ``min_fraction_of_examples_in_queue`` of a smaller data
    set; the original always waited for 20000 images.
    """
    filenames = _train_filenames(data_dir)
    _require_files(filenames)
    filename_queue = tf1.train.string_input_producer(filenames)
    with tf.name_scope("data_augmentation"):
        read_input = read_cifar10(filename_queue)
        reshaped_image = tf.cast(read_input.uint8image, tf.float32)
        distorted_image = tf1.random_crop(reshaped_image, [IMAGE_SIZE, IMAGE_SIZE, 3])
        distorted_image = tf1.image.random_flip_left_right(distorted_image)
        # The original's comment: these ops do not commute; the order is fixed here.
        distorted_image = tf1.image.random_brightness(distorted_image, max_delta=63)
        distorted_image = tf1.image.random_contrast(distorted_image, lower=0.2, upper=1.8)
        float_image = tf1.image.per_image_standardization(distorted_image)
        float_image.set_shape([IMAGE_SIZE, IMAGE_SIZE, 3])
        read_input.label.set_shape([1])
        min_queue_examples = _min_queue_examples(
            NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN, examples_per_epoch, min_fraction_of_examples_in_queue
        )
        print(
            f"Filling queue with {min_queue_examples} CIFAR images before starting to train. "
            "This will take a few minutes."
        )
    return _generate_image_and_label_batch(
        float_image,
        read_input.label,
        min_queue_examples,
        batch_size,
        shuffle=True,
        num_threads=num_threads,
    )


def inputs(
    eval_data: bool,
    data_dir: str | os.PathLike,
    batch_size: int,
    *,
    num_threads: int = 16,
    min_fraction_of_examples_in_queue: float = 0.4,
    examples_per_epoch: int | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Evaluation batches: ``test_batch.bin`` when ``eval_data``, else the 5 train files.

    Central 24x24 crop, per-image standardization, and an unshuffled queue
    (the file list itself is still shuffled by ``string_input_producer``, as in
    the original). ``examples_per_epoch`` None means the original's 10000 for
    the test file and 50000 for the train files.
    """
    if eval_data:
        filenames = [os.path.join(data_dir, "test_batch.bin")]
        default_examples = NUM_EXAMPLES_PER_EPOCH_FOR_EVAL
    else:
        filenames = _train_filenames(data_dir)
        default_examples = NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN
    _require_files(filenames)
    with tf.name_scope("input"):
        filename_queue = tf1.train.string_input_producer(filenames)
        read_input = read_cifar10(filename_queue)
        reshaped_image = tf.cast(read_input.uint8image, tf.float32)
        resized_image = tf1.image.resize_image_with_crop_or_pad(
            reshaped_image, IMAGE_SIZE, IMAGE_SIZE
        )
        float_image = tf1.image.per_image_standardization(resized_image)
        float_image.set_shape([IMAGE_SIZE, IMAGE_SIZE, 3])
        read_input.label.set_shape([1])
        min_queue_examples = _min_queue_examples(
            default_examples, examples_per_epoch, min_fraction_of_examples_in_queue
        )
    return _generate_image_and_label_batch(
        float_image,
        read_input.label,
        min_queue_examples,
        batch_size,
        shuffle=False,
        num_threads=num_threads,
    )


class QueueSource:
    """A ``BatchSource`` over queue-fed batch tensors (e.g. from ``distorted_inputs``).

    The session must have its queue runners started.
    """

    def __init__(self, images: tf.Tensor, labels: tf.Tensor, num_examples: int) -> None:
        self.images = images
        self.labels = labels
        self.num_examples = num_examples

    def next_batch(self, sess: Any) -> tuple[np.ndarray, np.ndarray]:
        """Dequeue one batch by running the two tensors together."""
        images, labels = sess.run([self.images, self.labels])
        return images, labels


# ---------------------------------------------------------------------------
# CIFAR-10 python batches: seed004's CifarData
# ---------------------------------------------------------------------------


class CifarData:
    """seed004's in-memory CIFAR-10 batches, with its exact batching rules.

    Data is ``uint8 / 127.5 - 1`` (float64, as the original), labels an int
    array. ``next_batch`` never crosses an epoch: when the batch would run
    past the end it reshuffles and restarts at 0, DROPPING the remainder; with
    ``need_shuffle=False`` it raises ``Exception("Have no more examples")``.

    The files are read with the restricted unpickler of
    :func:`formats.cifar.load_batch` (the original used ``pickle.load``).
    ``seed`` (keyword-only, default None = original): None shuffles with
    numpy's global RNG; an int uses a private ``np.random.RandomState(seed)``.
    """

    def __init__(
        self, filenames: Sequence[str | os.PathLike], need_shuffle: bool, *, seed: int | None = None
    ) -> None:
        all_data, all_labels = [], []
        for filename in filenames:
            batch = cifar_format.load_batch(filename)
            all_data.append(batch["data"])
            all_labels.append(batch["labels"])
        self._data = np.vstack(all_data) / 127.5 - 1
        self._labels = np.hstack(all_labels)
        self._num_examples = self._data.shape[0]
        self._need_shuffle = need_shuffle
        self._rng = np.random if seed is None else np.random.RandomState(seed)
        self._indicator = 0
        if self._need_shuffle:
            self._shuffle_data()

    @property
    def num_examples(self) -> int:
        """Number of examples loaded from all files."""
        return self._num_examples

    def _shuffle_data(self) -> None:
        perm = self._rng.permutation(self._num_examples)
        self._data = self._data[perm]
        self._labels = self._labels[perm]

    def next_batch(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``batch_size`` examples (see the class docstring for the rules)."""
        end_indicator = self._indicator + batch_size
        if end_indicator > self._num_examples:
            if not self._need_shuffle:
                raise Exception("Have no more examples")  # the original's exception type
            self._shuffle_data()
            self._indicator = 0
            end_indicator = batch_size
        if end_indicator > self._num_examples:
            raise Exception("Batch size is larger than all examples")
        batch_data = self._data[self._indicator : end_indicator]
        batch_labels = self._labels[self._indicator : end_indicator]
        self._indicator = end_indicator
        return batch_data, batch_labels


class CifarDataSource:
    """A ``BatchSource`` serving fixed-size batches from a :class:`CifarData`."""

    def __init__(self, cifar_data: CifarData, batch_size: int) -> None:
        self.cifar_data = cifar_data
        self.batch_size = batch_size
        self.num_examples = cifar_data.num_examples

    def next_batch(self, sess: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The next batch; ``sess`` is unused (the data lives in memory)."""
        del sess
        return self.cifar_data.next_batch(self.batch_size)


class MnistSource:
    """A ``BatchSource`` serving batches from an MNIST :class:`DataSet`.

    ``reshape_to`` (e.g. ``(-1, 28, 28, 1)``) reshapes the images of each
    batch for models whose placeholder is not the flat ``[None, 784]``.
    """

    def __init__(
        self, dataset: DataSet, batch_size: int, *, reshape_to: Sequence[int] | None = None
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.reshape_to = None if reshape_to is None else tuple(reshape_to)
        self.num_examples = dataset.num_examples

    def next_batch(self, sess: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The dataset's next batch; ``sess`` is unused."""
        del sess
        images, labels = self.dataset.next_batch(self.batch_size)
        if self.reshape_to is not None:
            images = np.reshape(images, self.reshape_to)
        return images, labels
