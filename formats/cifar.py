"""CIFAR-10 on disk: the binary records and the Python pickle batches.

Binary version (``cifar-10-batches-bin``): each record is one label byte then
3072 pixel bytes in CHW order (1024 red, 1024 green, 1024 blue, each 32x32
row-major), so a file is a whole number of 3073-byte records.

Python version (``cifar-10-batches-py``): each batch is a pickled dict with
``data`` (uint8 ``[N, 3072]``, same CHW layout), ``labels`` (list of ints),
``batch_label`` and ``filenames``. The real batches are Python 2 pickles, read
in Python 3 with ``pickle.load(f, encoding='latin1')``. Plain ``pickle.load``
runs whatever callables a file names, so :func:`load_batch` and
:func:`load_meta` use an unpickler that resolves only the few numpy globals an
array needs, each wrapped to accept only the arguments numpy itself writes.
The file is read into memory and its opcodes are scanned before unpickling,
so length fields and memo indices cannot make the unpickler allocate more
than the file's own size suggests.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from formats._fileio import write_atomic
from formats.errors import FormatError

try:  # numpy >= 2 moved the pickle helpers; old pickles still name numpy.core.
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct
    from numpy.core.multiarray import scalar as _np_scalar

IMAGE_SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32
RECORD_BYTES = 1 + IMAGE_BYTES
NUM_CLASSES = 10
PICKLE_PROTOCOL = 2


# ---------------------------------------------------------------- binary ---


def read_cifar_bin(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a CIFAR-10 binary batch: ``(images uint8 [N,3,32,32], labels uint8 [N])``.

    Raises :class:`FormatError` naming ``path`` when the file is empty, is not
    a whole number of 3073-byte records, or holds a label above 9.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        _check_record_size(path, size)
        raw = bytearray(handle.read(size))  # bytearray: the arrays stay writable
    _check_record_size(path, len(raw))
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    _check_labels(path, labels)
    images = records[:, 1:].reshape((-1, *IMAGE_SHAPE)).copy()
    return images, labels


def _check_record_size(path: Path, size: int) -> None:
    if size == 0:
        raise FormatError(path, "empty file: expected 3073-byte CIFAR-10 records")
    if size % RECORD_BYTES:
        raise FormatError(
            path,
            f"size {size} is not a multiple of the {RECORD_BYTES}-byte CIFAR-10 record "
            f"(1 label byte + {IMAGE_BYTES} pixel bytes); {size % RECORD_BYTES} bytes left over",
        )


def write_cifar_bin(
    path: str | os.PathLike[str],
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    overwrite: bool = False,
) -> Path:
    """Write uint8 ``images`` ([N,3,32,32] or [N,3072]) and ``labels`` as a binary batch."""
    flat = _flat_images(images)
    label_array = _label_array(labels, len(flat))
    records = np.concatenate([label_array[:, None], flat], axis=1)
    return write_atomic(path, records.tobytes(), overwrite=overwrite)


# ---------------------------------------------------------------- pickle ---


def load_batch(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Safely read a CIFAR-10 python batch.

    Returns ``{'data': uint8 [N,3072], 'labels': list[int], 'batch_label': str,
    'filenames': list[str]}``. Keys stored as bytes are turned into str. A
    missing ``batch_label`` reads as ``''`` and missing ``filenames`` as ``[]``.
    Raises :class:`FormatError` naming ``path`` for a malformed file, a wrong
    shape or dtype, labels outside 0..9, or any global other than numpy's array
    helpers (nothing a refused file names is ever called).
    """
    path = Path(path)
    batch = _text_keys(path, _safe_unpickle(path))
    for key in ("data", "labels"):
        if key not in batch:
            raise FormatError(path, f"batch has no {key!r} entry; keys are {sorted(batch)}")
    data = _batch_data(path, batch["data"])
    labels = _batch_labels(path, batch["labels"], len(data))
    return {
        "data": data,
        "labels": labels,
        "batch_label": _text(path, "batch_label", batch.get("batch_label", "")),
        "filenames": _filenames(path, batch.get("filenames", []), len(data)),
    }


def load_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Safely read ``batches.meta``: a dict with ``label_names`` (list[str]) and the rest.

    String keys and values stored as bytes are turned into str.
    """
    path = Path(path)
    meta = _text_keys(path, _safe_unpickle(path))
    if "label_names" not in meta:
        raise FormatError(path, f"meta has no 'label_names' entry; keys are {sorted(meta)}")
    meta = {key: _decoded(value) for key, value in meta.items()}
    names = meta["label_names"]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise FormatError(path, "'label_names' must be a list of strings")
    return meta


def write_batch(
    path: str | os.PathLike[str],
    data: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    batch_label: str,
    filenames: Sequence[str],
    overwrite: bool = False,
) -> Path:
    """Write a python batch that both :func:`load_batch` and the originals' plain
    ``pickle.load(f, encoding='latin1')`` read.

    ``data`` is uint8 [N,3072] or [N,3,32,32]. Protocol 2 and the real batches'
    key order; pickling is deterministic, so equal inputs give equal bytes.
    """
    flat = _flat_images(data)
    label_list = [int(label) for label in _label_array(labels, len(flat))]
    if len(filenames) != len(flat):
        raise ValueError(f"expected {len(flat)} filenames, received {len(filenames)}")
    batch = {
        "batch_label": str(batch_label),
        "labels": label_list,
        "data": np.ascontiguousarray(flat),
        "filenames": [str(name) for name in filenames],
    }
    return write_atomic(path, pickle.dumps(batch, protocol=PICKLE_PROTOCOL), overwrite=overwrite)


def write_meta(
    path: str | os.PathLike[str],
    label_names: Sequence[str],
    *,
    num_cases_per_batch: int,
    num_vis: int = IMAGE_BYTES,
    overwrite: bool = False,
) -> Path:
    """Write ``batches.meta`` with the real file's three keys."""
    meta = {
        "num_cases_per_batch": int(num_cases_per_batch),
        "label_names": [str(name) for name in label_names],
        "num_vis": int(num_vis),
    }
    return write_atomic(path, pickle.dumps(meta, protocol=PICKLE_PROTOCOL), overwrite=overwrite)


# ------------------------------------------------------ safe unpickling ---


class _NdarrayMarker:
    """Stands in for ``numpy.ndarray`` inside a pickle: usable as an argument, not callable."""


_NDARRAY = _NdarrayMarker()
_SIMPLE_DTYPES = frozenset(f"{kind}{size}" for kind in "iu" for size in (1, 2, 4, 8)) | frozenset(
    {"b1", "f2", "f4", "f8"}
)


def _reconstruct(subtype: object, shape: object, typecode: object) -> np.ndarray:
    # numpy always pickles arrays as _reconstruct(ndarray, (0,), b'b') + setstate.
    if subtype is not _NDARRAY or tuple(shape) != (0,) or typecode not in ("b", b"b"):  # type: ignore[arg-type]
        raise ValueError("refused _reconstruct call with arguments numpy never writes")
    return _np_reconstruct(np.ndarray, (0,), b"b")


def _dtype(spec: object, align: object = False, copy: object = True) -> np.dtype:
    if isinstance(spec, bytes):
        spec = spec.decode("latin1")
    if spec not in _SIMPLE_DTYPES:
        raise ValueError(f"refused dtype {spec!r}: only plain numeric dtypes are allowed")
    # Always a fresh copy: the BUILD that follows must not touch numpy's shared dtypes.
    return np.dtype(spec, align=False, copy=True)


def _scalar(dtype: object, data: object) -> object:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes | str):
        raise ValueError("refused numpy scalar with a non-numeric dtype or payload")
    return _np_scalar(dtype, data)


def _encode(text: object, encoding: object = "latin1") -> bytes:
    # Python 3 protocol-2 pickles store bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ValueError("refused _codecs.encode call other than str -> latin1 bytes")
    return text.encode("latin1")


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in ``_ALLOWED_GLOBALS``; anything else is a FormatError."""

    def __init__(self, file: io.BytesIO, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise FormatError(
                self._path,
                f"refused to load global {module}.{name}: a CIFAR-10 batch may only "
                "reference numpy's array-rebuilding helpers",
            ) from None

    def persistent_load(self, pid: object) -> object:
        raise FormatError(self._path, "refused persistent id: CIFAR-10 batches use none")


def _safe_unpickle(path: Path) -> object:
    data = path.read_bytes()
    if not data:
        raise FormatError(path, "empty file: expected a pickled CIFAR-10 batch")
    _scan_opcodes(path, data)
    try:
        return _RestrictedUnpickler(io.BytesIO(data), path).load()
    except FormatError:
        raise
    except Exception as error:  # any failure inside pickle means a malformed file
        raise FormatError(
            path, f"not a valid CIFAR-10 pickle ({type(error).__name__}: {error})"
        ) from None


def _scan_opcodes(path: Path, data: bytes) -> None:
    """Walk the opcodes without executing them.

    This proves every length field fits inside the file and that memo indices
    are handed out in order, as picklers do; a huge memo index would otherwise
    make the C unpickler allocate a huge memo table.
    """
    puts = 0
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                if not isinstance(arg, int) or arg > puts:
                    raise FormatError(path, f"memo index {arg} out of order (expected <= {puts})")
                puts += 1
    except FormatError:
        raise
    except Exception as error:
        raise FormatError(path, f"not a valid pickle ({type(error).__name__}: {error})") from None


# ------------------------------------------------------------ validation ---


def _text_keys(path: Path, obj: object) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise FormatError(path, f"expected a pickled dict, found {type(obj).__name__}")
    return {_decoded(key): value for key, value in obj.items()}


def _decoded(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("latin1")
    if isinstance(value, list):  # one level only: real files nest no deeper
        return [item.decode("latin1") if isinstance(item, bytes) else item for item in value]
    return value


def _batch_data(path: Path, data: object) -> np.ndarray:
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise FormatError(path, f"'data' must be a uint8 array [N, 3072]; found {_describe(data)}")
    if data.shape[1] != IMAGE_BYTES or data.shape[0] == 0:
        raise FormatError(path, f"'data' must have shape [N>0, 3072]; found {list(data.shape)}")
    return np.require(data, dtype=np.uint8, requirements=["C", "W", "O"])


def _batch_labels(path: Path, labels: object, count: int) -> list[int]:
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu":
        labels = labels.tolist()
    if not isinstance(labels, list | tuple) or not all(_is_int(label) for label in labels):
        raise FormatError(path, f"'labels' must be a list of ints; found {_describe(labels)}")
    if len(labels) != count:
        raise FormatError(path, f"{len(labels)} labels for {count} images")
    result = [int(label) for label in labels]
    _check_labels(path, np.asarray(result))
    return result


def _filenames(path: Path, names: object, count: int) -> list[str]:
    names = _decoded(names)
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise FormatError(path, f"'filenames' must be a list of strings; found {_describe(names)}")
    if names and len(names) != count:
        raise FormatError(path, f"{len(names)} filenames for {count} images")
    return names


def _text(path: Path, key: str, value: object) -> str:
    value = _decoded(value)
    if not isinstance(value, str):
        raise FormatError(path, f"{key!r} must be a string; found {_describe(value)}")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {list(value.shape)}"
    return type(value).__name__


def _check_labels(path: Path, labels: np.ndarray) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if bad.size:
        raise FormatError(
            path,
            f"label {int(labels[bad[0]])} at record {int(bad[0])} is outside 0..{NUM_CLASSES - 1}",
        )


def _flat_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8; received dtype {images.dtype}")
    if images.ndim == 4 and images.shape[1:] == IMAGE_SHAPE:
        return images.reshape(len(images), IMAGE_BYTES)
    if images.ndim == 2 and images.shape[1] == IMAGE_BYTES:
        return images
    raise ValueError(f"images must be [N, 3, 32, 32] or [N, 3072]; received shape {images.shape}")


def _label_array(labels: Sequence[int] | np.ndarray, count: int) -> np.ndarray:
    values = np.asarray(labels)
    if values.ndim != 1 or len(values) != count or (values.size and values.dtype.kind not in "iu"):
        raise ValueError(f"expected {count} integer labels; received {values.dtype} {values.shape}")
    if values.size and (values.min() < 0 or values.max() >= NUM_CLASSES):
        raise ValueError(
            f"labels must lie in 0..{NUM_CLASSES - 1}; received {values.min()}..{values.max()}"
        )
    return values.astype(np.uint8)
