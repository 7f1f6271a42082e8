"""On-disk data formats shared by the legacy graphs and the TF2 ports.

MNIST IDX files (:mod:`formats.idx`), CIFAR-10 binary records and python
batches read with a restricted unpickler (:mod:`formats.cifar`), and the
embedded sample data laid out as each dataset (:mod:`formats.sample`).
Numpy only: importing this package never imports TensorFlow.
"""

from formats.cifar import (
    RECORD_BYTES,
    load_batch,
    load_meta,
    read_cifar_bin,
    write_batch,
    write_cifar_bin,
    write_meta,
)
from formats.errors import DataDirError, FormatError
from formats.idx import read_idx, write_idx
from formats.sample import (
    CIFAR_BIN_FILES,
    CIFAR_PY_FILES,
    DIR_NAMES,
    KINDS,
    MNIST_FILES,
    SampleSplit,
    is_complete,
    resolve_data_dir,
    sample_digits,
    sample_dir,
    sample_split,
    write_sample,
)

__all__ = [
    "CIFAR_BIN_FILES",
    "CIFAR_PY_FILES",
    "DIR_NAMES",
    "KINDS",
    "MNIST_FILES",
    "RECORD_BYTES",
    "DataDirError",
    "FormatError",
    "SampleSplit",
    "is_complete",
    "load_batch",
    "load_meta",
    "read_cifar_bin",
    "read_idx",
    "resolve_data_dir",
    "sample_digits",
    "sample_dir",
    "sample_split",
    "write_batch",
    "write_cifar_bin",
    "write_idx",
    "write_meta",
    "write_sample",
]
