"""Tests for legacy_tf1.inputs: the originals' MNIST, cifar10_input and CifarData pipelines.

Data files are tiny and built in tmp_path with the formats writers (CIFAR
binaries with a few lines of numpy, so the pipeline is checked against an
independent writer). Expected batch orders are derived here from numpy's
RandomState, independently of the code under test.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from formats import cifar as cifar_format
from formats import idx
from formats.errors import DataDirError, FormatError
from legacy_tf1 import inputs
from legacy_tf1.core import graph_scope, tf, tf1

MNIST_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def indexed_images(count: int) -> np.ndarray:
    """uint8 [count, 28, 28] where every pixel of image i is i (so order is visible)."""
    return np.repeat(np.arange(count, dtype=np.uint8), 28 * 28).reshape(count, 28, 28)


def write_mnist(directory, train_images, train_labels, test_images, test_labels, *, gz=True):
    arrays = (train_images, train_labels, test_images, test_labels)
    for name, array in zip(MNIST_NAMES, arrays, strict=True):
        idx.write_idx(directory / (name if gz else name[: -len(".gz")]), array)
    return directory


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    train_labels = (np.arange(30) % 10).astype(np.uint8)
    test_labels = (np.arange(10)[::-1] % 10).astype(np.uint8)
    write_mnist(tmp_path, train, train_labels, test, test_labels)
    return tmp_path, train, train_labels, test, test_labels


def served_indices(dataset: inputs.DataSet, batch_size: int, batches: int) -> list[int]:
    """The image indices (pixel values) served by ``batches`` calls of next_batch."""
    served = []
    for _ in range(batches):
        images, _labels = dataset.next_batch(batch_size)
        served.extend(int(image[0]) for image in images)
    return served


def expected_order(num_examples: int, seed: int, epochs: int) -> list[int]:
    """The original's order: shuffle once, then at each epoch end shuffle the shuffled set."""
    rng = np.random.RandomState(seed)
    order = np.arange(num_examples)
    served = []
    for _ in range(epochs):
        perm = np.arange(num_examples)
        rng.shuffle(perm)
        order = order[perm]
        served.extend(order.tolist())
    return served


# ---------------------------------------------------------------------------
# MNIST DataSet.next_batch
# ---------------------------------------------------------------------------


def test_every_example_once_per_epoch_with_boundary_batches():
    dataset = inputs.DataSet(indexed_images(10), np.arange(10), dtype=tf.uint8, seed=1)
    served = served_indices(dataset, batch_size=3, batches=10)  # 30 examples = 3 epochs
    for epoch in range(3):
        assert sorted(served[epoch * 10 : (epoch + 1) * 10]) == list(range(10))
    assert dataset.epochs_completed == 2  # the third epoch ended exactly at index 30
    dataset.next_batch(1)
    assert dataset.epochs_completed == 3


def test_boundary_batch_concatenates_rest_of_old_and_start_of_new_epoch():
    dataset = inputs.DataSet(indexed_images(10), np.arange(10), dtype=tf.uint8, seed=7)
    order = expected_order(10, seed=7, epochs=2)
    for start in (0, 4):
        images, labels = dataset.next_batch(4)
        assert [int(i[0]) for i in images] == order[start : start + 4]
        np.testing.assert_array_equal(labels, order[start : start + 4])
    assert dataset.epochs_completed == 0
    images, labels = dataset.next_batch(4)  # 2 from epoch 1, then 2 from the reshuffled epoch 2
    assert [int(i[0]) for i in images] == order[8:12]
    np.testing.assert_array_equal(labels, order[8:12])
    assert dataset.epochs_completed == 1


def test_labels_stay_aligned_with_images_after_shuffles():
    dataset = inputs.DataSet(indexed_images(7), np.arange(7) + 100, dtype=tf.uint8, seed=3)
    for _ in range(12):
        images, labels = dataset.next_batch(5)
        np.testing.assert_array_equal(images[:, 0].astype(int) + 100, labels)


def test_shuffle_false_serves_file_order():
    dataset = inputs.DataSet(indexed_images(5), np.arange(5), dtype=tf.uint8, seed=0)
    images, _ = dataset.next_batch(3, shuffle=False)
    more, _ = dataset.next_batch(3, shuffle=False)
    assert [int(i[0]) for i in np.concatenate([images, more])] == [0, 1, 2, 3, 4, 0]


def test_seed_makes_order_deterministic_and_equals_private_rng_mode():
    def run(**kwargs):
        dataset = inputs.DataSet(indexed_images(9), np.arange(9), dtype=tf.uint8, **kwargs)
        return served_indices(dataset, batch_size=4, batches=7)

    assert run(seed=11) == run(seed=11) == expected_order(9, 11, 4)[:28]
    assert run(seed=11, reseed_numpy=False) == run(seed=11)
    assert run(seed=11) != run(seed=12)


def test_original_reseeds_numpy_global_rng():
    np.random.seed(0)
    with tf.Graph().as_default():  # no graph seed: the original seeded from OS entropy
        inputs.DataSet(indexed_images(3), np.arange(3), dtype=tf.uint8)
    assert np.random.random() != np.random.RandomState(0).random()

    inputs.DataSet(indexed_images(3), np.arange(3), dtype=tf.uint8, seed=5)
    assert np.random.random() == np.random.RandomState(5).random()


def test_graph_seed_drives_order_when_seed_is_none():
    def run():
        with graph_scope(seed=42):
            dataset = inputs.DataSet(indexed_images(8), np.arange(8), dtype=tf.uint8)
        return served_indices(dataset, batch_size=3, batches=6)

    assert run() == run() == expected_order(8, 42, 3)[:18]


def test_reseed_numpy_false_uses_global_rng_as_it_stands():
    def run():
        np.random.seed(9)
        dataset = inputs.DataSet(
            indexed_images(8), np.arange(8), dtype=tf.uint8, reseed_numpy=False
        )
        return served_indices(dataset, batch_size=3, batches=6)

    assert run() == run() == expected_order(8, 9, 3)[:18]


def test_private_rng_leaves_global_state_alone():
    np.random.seed(1)
    before = np.random.get_state()[1].copy()
    dataset = inputs.DataSet(
        indexed_images(6), np.arange(6), dtype=tf.uint8, seed=4, reseed_numpy=False
    )
    served_indices(dataset, batch_size=4, batches=5)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_images_scaled_to_unit_interval_and_reshaped():
    raw = np.random.default_rng(2).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    flat = inputs.DataSet(raw, np.zeros(4), seed=0)
    assert flat.images.shape == (4, 784) and flat.images.dtype == np.float32
    np.testing.assert_allclose(flat.images, raw.reshape(4, 784) / 255.0, rtol=1e-6)
    assert flat.images.min() >= 0.0 and flat.images.max() <= 1.0

    unflat = inputs.DataSet(raw, np.zeros(4), reshape=False, seed=0)
    assert unflat.images.shape == (4, 28, 28, 1)  # the original reader's layout
    kept = inputs.DataSet(raw, np.zeros(4), dtype=tf.uint8, seed=0)
    np.testing.assert_array_equal(kept.images, raw.reshape(4, 784))


def test_dataset_rejects_bad_dtype_and_mismatched_lengths():
    with pytest.raises(TypeError, match="expected uint8 or float32"):
        inputs.DataSet(indexed_images(2), np.arange(2), dtype=tf.float64)
    with pytest.raises(ValueError, match="differ in length"):
        inputs.DataSet(indexed_images(3), np.arange(2))


def test_dense_to_one_hot_is_float64():
    one_hot = inputs.dense_to_one_hot(np.array([3, 0, 9], dtype=np.uint8), 10)
    assert one_hot.dtype == np.float64
    np.testing.assert_array_equal(one_hot, np.eye(10)[[3, 0, 9]])


def test_fake_data_matches_original():
    data = inputs.read_data_sets("unused", fake_data=True, one_hot=True)
    assert data.train.num_examples == 10000
    images, labels = data.train.next_batch(2, fake_data=True)
    assert images == [[1] * 784] * 2 and labels == [[1] + [0] * 9] * 2


# ---------------------------------------------------------------------------
# MNIST read_data_sets / load_mnist / MnistSource
# ---------------------------------------------------------------------------


def test_read_data_sets_splits_validation_prefix(mnist_dir):
    directory, train, train_labels, test, test_labels = mnist_dir
    data = inputs.read_data_sets(str(directory), validation_size=12, dtype=tf.uint8, seed=0)
    assert isinstance(data, inputs.Datasets)
    assert (data.train.num_examples, data.validation.num_examples, data.test.num_examples) == (
        18,
        12,
        10,
    )
    # Before any next_batch the arrays are in file order.
    np.testing.assert_array_equal(data.validation.images, train[:12].reshape(12, 784))
    np.testing.assert_array_equal(data.train.images, train[12:].reshape(18, 784))
    np.testing.assert_array_equal(data.train.labels, train_labels[12:])
    np.testing.assert_array_equal(data.test.images, test.reshape(10, 784))
    np.testing.assert_array_equal(data.test.labels, test_labels)


@pytest.mark.parametrize("validation_size", [0, 30])
def test_validation_size_bounds_are_inclusive(mnist_dir, validation_size):
    data = inputs.read_data_sets(mnist_dir[0], validation_size=validation_size, seed=0)
    assert data.validation.num_examples == validation_size
    assert data.train.num_examples == 30 - validation_size


@pytest.mark.parametrize("validation_size", [-1, 31])
def test_validation_size_out_of_range_raises(mnist_dir, validation_size):
    expected = f"between 0 and 30. Received: {validation_size}"
    with pytest.raises(ValueError, match=expected):
        inputs.read_data_sets(mnist_dir[0], validation_size=validation_size)


def test_one_hot_labels(mnist_dir):
    directory, _train, train_labels, _test, _ = mnist_dir
    data = inputs.read_data_sets(directory, one_hot=True, validation_size=5, seed=0)
    assert data.train.labels.shape == (25, 10) and data.train.labels.dtype == np.float64
    np.testing.assert_array_equal(data.train.labels.argmax(axis=1), train_labels[5:])
    np.testing.assert_array_equal(data.train.labels.sum(axis=1), np.ones(25))


def test_raw_unzipped_file_names_are_accepted(tmp_path):
    images = indexed_images(6)
    write_mnist(
        tmp_path, images, np.arange(6, dtype=np.uint8), images[:2], np.zeros(2, np.uint8), gz=False
    )
    data = inputs.read_data_sets(tmp_path, validation_size=2, dtype=tf.uint8)
    assert data.train.num_examples == 4 and data.test.num_examples == 2


def test_missing_mnist_files_raise_data_dir_error(tmp_path):
    idx.write_idx(tmp_path / MNIST_NAMES[0], indexed_images(2))
    with pytest.raises(DataDirError) as caught:
        inputs.read_data_sets(tmp_path)
    assert isinstance(caught.value, FileNotFoundError)
    message = str(caught.value)
    assert str(tmp_path) in message
    for name in MNIST_NAMES[1:]:
        assert name in message
    assert MNIST_NAMES[0] not in message


def test_label_file_with_out_of_range_label_raises_format_error(tmp_path):
    images = indexed_images(3)
    write_mnist(tmp_path, images, np.array([1, 2, 12], np.uint8), images, np.zeros(3, np.uint8))
    with pytest.raises(FormatError, match="expected labels 0..9"):
        inputs.read_data_sets(tmp_path, validation_size=0, one_hot=True)


def test_load_mnist_with_data_dir_equals_read_data_sets(mnist_dir):
    directory = mnist_dir[0]
    loaded = inputs.load_mnist(directory, validation_size=4, seed=0)
    direct = inputs.read_data_sets(directory, validation_size=4, seed=0)
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(loaded, split).images, getattr(direct, split).images)


def test_load_mnist_defaults_to_embedded_sample():
    # conftest points the sample cache at a per-session temp directory.
    data = inputs.load_mnist(one_hot=True, seed=0)
    sizes = (data.train.num_examples, data.validation.num_examples, data.test.num_examples)
    assert sizes == (4000, 5000, 1000)
    assert data.train.images.shape == (4000, 784) and data.test.labels.shape == (1000, 10)


def test_mnist_source_reshapes_batches(mnist_dir):
    data = inputs.read_data_sets(mnist_dir[0], one_hot=True, validation_size=0, seed=0)
    source = inputs.MnistSource(data.train, 8, reshape_to=(-1, 28, 28, 1))
    images, labels = source.next_batch(None)
    assert images.shape == (8, 28, 28, 1) and labels.shape == (8, 10)
    assert source.num_examples == 30


# ---------------------------------------------------------------------------
# cifar10_input queue pipelines
# ---------------------------------------------------------------------------

RECORDS_PER_FILE = 12


def write_cifar_bin(path, images_chw: np.ndarray, labels: np.ndarray) -> None:
    """The CIFAR-10 binary layout, written independently of formats: label byte + CHW bytes."""
    records = np.concatenate(
        [labels.astype(np.uint8)[:, None], images_chw.reshape(len(labels), -1)], axis=1
    )
    path.write_bytes(records.tobytes())


@pytest.fixture(scope="module")
def cifar_bin_dir(tmp_path_factory):
    """5 train files and a test file of random images; returns (dir, {name: (images, labels)})."""
    directory = tmp_path_factory.mktemp("cifar-10-batches-bin")
    rng = np.random.default_rng(5)
    contents = {}
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in names:
        images = rng.integers(0, 256, (RECORDS_PER_FILE, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, RECORDS_PER_FILE).astype(np.uint8)
        write_cifar_bin(directory / name, images, labels)
        contents[name] = (images.transpose(0, 2, 3, 1), labels)  # HWC, as the pipeline yields
    return directory, contents


def standardize(image: np.ndarray) -> np.ndarray:
    """tf.image.per_image_standardization, in numpy float64."""
    image = image.astype(np.float64)
    adjusted_std = max(image.std(), 1.0 / np.sqrt(image.size))
    return (image - image.mean()) / adjusted_std


def run_batches(build, count: int, *, seed: int | None = None):
    """Build the pipeline in a fresh graph, run ``count`` batches, always stop the threads."""
    with graph_scope(seed=seed) as graph:
        images, labels = build()
        with tf1.Session(graph=graph) as sess:
            coord = tf1.train.Coordinator()
            threads = tf1.train.start_queue_runners(sess, coord=coord)
            try:
                return [sess.run([images, labels]) for _ in range(count)]
            finally:
                coord.request_stop()
                coord.join(threads, stop_grace_period_secs=10)


def channel_standardize(image: np.ndarray) -> np.ndarray:
    image = image.astype(np.float64)
    return (image - image.mean(axis=(0, 1))) / image.std(axis=(0, 1))


def matches_some_window(image: np.ndarray, label: int, sources) -> bool:
    """Whether ``image`` is a distorted 24x24 crop (maybe flipped) of a source with ``label``.

    Brightness adds one offset, contrast scales each channel about its own
    mean by one factor, and per-image standardization is affine too, so each
    channel of the output is an increasing affine map of the same channel of
    the crop: standardizing each channel on both sides must give equal images.
    """
    target = channel_standardize(image)
    for source, source_label in sources:
        if source_label != label:
            continue
        for flip in (False, True):
            src = source[:, ::-1] if flip else source
            for top in range(9):
                for left in range(9):
                    window = channel_standardize(src[top : top + 24, left : left + 24])
                    if np.allclose(target, window, atol=2e-3):
                        return True
    return False


def test_distorted_inputs_shapes_and_statistics(cifar_bin_dir):
    directory, contents = cifar_bin_dir
    batches = run_batches(
        lambda: inputs.distorted_inputs(str(directory), 6, examples_per_epoch=20), 3
    )
    sources = [
        (img, int(lbl))
        for name in contents
        if name != "test_batch.bin"
        for img, lbl in zip(*contents[name], strict=True)
    ]
    for images, labels in batches:
        assert images.shape == (6, 24, 24, 3) and images.dtype == np.float32
        assert labels.shape == (6,) and labels.dtype == np.int32
        assert labels.min() >= 0 and labels.max() < 10
        np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
        np.testing.assert_allclose(images.std(axis=(1, 2, 3)), 1.0, atol=1e-3)
    images, labels = batches[0]
    for image, label in zip(images[:2], labels[:2], strict=True):
        assert matches_some_window(image, int(label), sources)


def test_distorted_images_differ_between_runs(cifar_bin_dir):
    def first_batch():
        build = lambda: inputs.distorted_inputs(cifar_bin_dir[0], 8, examples_per_epoch=20)  # noqa: E731
        return run_batches(build, 1)[0][0]

    assert not np.allclose(first_batch(), first_batch())


def test_inputs_eval_is_central_crop_in_file_order(cifar_bin_dir):
    directory, contents = cifar_bin_dir
    images_hwc, file_labels = contents["test_batch.bin"]
    build = lambda: inputs.inputs(  # noqa: E731
        eval_data=True, data_dir=directory, batch_size=5, num_threads=1, examples_per_epoch=10
    )
    batches = run_batches(build, 3)
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    order = np.arange(15) % RECORDS_PER_FILE  # one file: the queue cycles through it in order
    expected = np.stack([standardize(images_hwc[i, 4:28, 4:28]) for i in order])
    np.testing.assert_allclose(images, expected, atol=1e-4)
    np.testing.assert_array_equal(labels, file_labels[order])


def test_inputs_with_default_threads_serves_only_file_records(cifar_bin_dir):
    directory, contents = cifar_bin_dir
    images_hwc, file_labels = contents["test_batch.bin"]
    crops = np.stack([standardize(img[4:28, 4:28]) for img in images_hwc])
    build = lambda: inputs.inputs(True, directory, 4, examples_per_epoch=10)  # noqa: E731
    images, labels = run_batches(build, 1)[0]
    for image, label in zip(images, labels, strict=True):
        distances = np.abs(crops - image).max(axis=(1, 2, 3))
        assert distances.min() < 1e-4
        assert file_labels[distances.argmin()] == label


def test_inputs_train_files(cifar_bin_dir):
    build = lambda: inputs.inputs(False, cifar_bin_dir[0], 7, examples_per_epoch=20)  # noqa: E731
    images, labels = run_batches(build, 1)[0]
    assert images.shape == (7, 24, 24, 3) and labels.shape == (7,)


def queue_settings(graph) -> dict[str, dict]:
    """capacity / min_after_dequeue / enqueue threads of the batching queue(s), by op type."""
    settings = {}
    runners = graph.get_collection(tf1.GraphKeys.QUEUE_RUNNERS)
    for op in graph.get_operations():
        if op.type in ("RandomShuffleQueueV2", "FIFOQueueV2") and "input_producer" not in op.name:
            attrs = {"capacity": op.get_attr("capacity")}
            if op.type == "RandomShuffleQueueV2":
                attrs["min_after_dequeue"] = op.get_attr("min_after_dequeue")
            runner = next(r for r in runners if r.queue.queue_ref.op is op)
            attrs["threads"] = len(runner.enqueue_ops)
            settings[op.type] = attrs
    return settings


def test_original_queue_constants_by_default(cifar_bin_dir):
    with graph_scope() as graph:
        inputs.distorted_inputs(cifar_bin_dir[0], 128)
        inputs.inputs(eval_data=True, data_dir=cifar_bin_dir[0], batch_size=128)
    settings = queue_settings(graph)
    assert settings["RandomShuffleQueueV2"] == {
        "capacity": 20000 + 3 * 128,
        "min_after_dequeue": 20000,
        "threads": 16,
    }
    assert settings["FIFOQueueV2"] == {"capacity": 4000 + 3 * 128, "threads": 16}
    summaries = [op.name for op in graph.get_operations() if op.type == "ImageSummary"]
    assert len(summaries) == 2


def test_queue_options_scale_warm_up(cifar_bin_dir):
    with graph_scope() as graph:
        inputs.distorted_inputs(
            cifar_bin_dir[0],
            8,
            num_threads=2,
            examples_per_epoch=100,
            min_fraction_of_examples_in_queue=0.5,
        )
    assert queue_settings(graph)["RandomShuffleQueueV2"] == {
        "capacity": 50 + 24,
        "min_after_dequeue": 50,
        "threads": 2,
    }


def test_missing_cifar_file_raises_both_error_types(tmp_path, cifar_bin_dir):
    source_dir, _ = cifar_bin_dir
    for name in ("data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"):
        (tmp_path / name).write_bytes((source_dir / name).read_bytes())
    missing = os.path.join(tmp_path, "data_batch_3.bin")
    with graph_scope(), pytest.raises(inputs.CifarFileNotFoundError) as caught:
        inputs.distorted_inputs(tmp_path, 4)
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, DataDirError)
    assert str(error).startswith(f"Failed to find file: {missing}")
    assert pickle.loads(pickle.dumps(error)).path == missing
    with graph_scope(), pytest.raises(ValueError, match="Failed to find file"):
        inputs.inputs(False, tmp_path, 4)
    (tmp_path / "test_batch.bin").unlink()
    with graph_scope(), pytest.raises(DataDirError, match="test_batch.bin"):
        inputs.inputs(True, tmp_path, 4)


def test_queue_source_runs_both_tensors(cifar_bin_dir):
    with graph_scope() as graph:
        images, labels = inputs.inputs(
            True, cifar_bin_dir[0], 3, num_threads=1, examples_per_epoch=5
        )
        source = inputs.QueueSource(images, labels, num_examples=RECORDS_PER_FILE)
        with tf1.Session(graph=graph) as sess:
            coord = tf1.train.Coordinator()
            threads = tf1.train.start_queue_runners(sess, coord=coord)
            try:
                batch_images, batch_labels = source.next_batch(sess)
            finally:
                coord.request_stop()
                coord.join(threads, stop_grace_period_secs=10)
    assert batch_images.shape == (3, 24, 24, 3) and batch_labels.shape == (3,)
    np.testing.assert_array_equal(batch_labels, cifar_bin_dir[1]["test_batch.bin"][1][:3])


def test_read_cifar10_record(cifar_bin_dir):
    directory, contents = cifar_bin_dir
    with graph_scope() as graph:
        queue = tf1.train.string_input_producer([str(directory / "test_batch.bin")], shuffle=False)
        record = inputs.read_cifar10(queue)
        with tf1.Session(graph=graph) as sess:
            coord = tf1.train.Coordinator()
            threads = tf1.train.start_queue_runners(sess, coord=coord)
            try:
                label, image = sess.run([record.label, record.uint8image])
            finally:
                coord.request_stop()
                coord.join(threads, stop_grace_period_secs=10)
    assert (record.height, record.width, record.depth) == (32, 32, 3)
    assert label.dtype == np.int32 and label.shape == (1,)
    images_hwc, labels = contents["test_batch.bin"]
    assert label[0] == labels[0]
    np.testing.assert_array_equal(image, images_hwc[0])


# ---------------------------------------------------------------------------
# seed004 CifarData
# ---------------------------------------------------------------------------


@pytest.fixture
def cifar_py_files(tmp_path):
    """Two python batches of 6 and 4 records whose first byte is the record index."""
    paths, sizes = [], (6, 4)
    start = 0
    for number, size in enumerate(sizes, 1):
        data = np.random.default_rng(number).integers(0, 256, (size, 3072), dtype=np.uint8)
        data[:, 0] = np.arange(start, start + size)
        labels = [(start + i) % 10 for i in range(size)]
        path = tmp_path / f"data_batch_{number}"
        names = [f"img_{start + i}.png" for i in range(size)]
        cifar_format.write_batch(path, data, labels, batch_label=f"b{number}", filenames=names)
        paths.append(str(path))
        start += size
    return paths


def record_ids(data: np.ndarray) -> list[int]:
    return [round((row[0] + 1) * 127.5) for row in data]


def test_cifar_data_normalises_like_original(cifar_py_files):
    data = inputs.CifarData(cifar_py_files, need_shuffle=False)
    raw = np.vstack([cifar_format.load_batch(p)["data"] for p in cifar_py_files])
    batch, labels = data.next_batch(10)
    assert batch.dtype == np.float64 and batch.shape == (10, 3072)
    np.testing.assert_array_equal(batch, raw / 127.5 - 1)
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    np.testing.assert_array_equal(labels, np.arange(10) % 10)
    assert data.num_examples == 10


def test_cifar_data_without_shuffle_raises_when_exhausted(cifar_py_files):
    data = inputs.CifarData(cifar_py_files, need_shuffle=False)
    assert record_ids(data.next_batch(4)[0]) == [0, 1, 2, 3]
    assert record_ids(data.next_batch(4)[0]) == [4, 5, 6, 7]
    with pytest.raises(Exception, match="Have no more examples"):
        data.next_batch(4)


def test_cifar_data_drops_remainder_when_reshuffling(cifar_py_files):
    data = inputs.CifarData(cifar_py_files, need_shuffle=True, seed=3)
    rng = np.random.RandomState(3)
    first = rng.permutation(10)
    second = first[rng.permutation(10)]
    served = [record_ids(data.next_batch(4)[0]) for _ in range(3)]
    assert served[0] == first[:4].tolist() and served[1] == first[4:8].tolist()
    assert served[2] == second[:4].tolist()  # first[8:10] were never served


def test_cifar_data_seed_none_uses_global_rng(cifar_py_files):
    np.random.seed(8)
    data = inputs.CifarData(cifar_py_files, need_shuffle=True)
    assert record_ids(data.next_batch(10)[0]) == np.random.RandomState(8).permutation(10).tolist()


def test_cifar_data_batch_larger_than_data(cifar_py_files):
    data = inputs.CifarData(cifar_py_files, need_shuffle=True, seed=0)
    with pytest.raises(Exception, match="Batch size is larger than all examples"):
        data.next_batch(11)


class _Hostile:
    """Unpickling this would create a directory: the classic pickle code-execution payload."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_cifar_data_refuses_hostile_pickle(tmp_path, cifar_py_files):
    marker = tmp_path / "pwned"
    hostile = tmp_path / "data_batch_evil"
    hostile.write_bytes(pickle.dumps({"data": _Hostile(str(marker)), "labels": []}, protocol=2))
    with pytest.raises(FormatError) as caught:
        inputs.CifarData([cifar_py_files[0], str(hostile)], need_shuffle=True)
    assert str(hostile) in str(caught.value)
    assert not marker.exists()


def test_cifar_data_source_serves_fixed_batches(cifar_py_files):
    source = inputs.CifarDataSource(inputs.CifarData(cifar_py_files, True, seed=1), 3)
    assert source.num_examples == 10
    for _ in range(5):
        images, labels = source.next_batch(None)
        assert images.shape == (3, 3072) and labels.shape == (3,)
