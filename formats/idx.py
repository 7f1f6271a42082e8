"""MNIST IDX files, raw or gzip-compressed.

An IDX file is a 4-byte magic ``00 00 TT NN`` (``TT`` the element type, ``NN``
the number of dimensions), ``NN`` big-endian uint32 dimension sizes, then the
elements in C order, big-endian. MNIST uses ``0x00000803`` for images
``[N, 28, 28]`` uint8 and ``0x00000801`` for labels ``[N]`` uint8.

Gzip is recognised by its ``1f 8b`` magic, not by the file name, because
copies of MNIST are often decompressed without being renamed (or the reverse).
The reader never trusts the header's sizes for an allocation: raw files are
checked against their size on disk first and gzip streams are read in bounded
chunks, so a file claiming 10**9 images fails fast instead of exhausting memory.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from formats._fileio import write_atomic
from formats.errors import FormatError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

# IDX element-type code -> big-endian numpy dtype.
DTYPE_BY_CODE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODE_BY_KIND: dict[tuple[str, int], int] = {
    (dtype.kind, dtype.itemsize): code for code, dtype in DTYPE_BY_CODE.items()
}
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1 << 20


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a native-endian numpy array.

    Raises :class:`FormatError` naming ``path`` for a bad magic number, an
    unknown element type, a truncated file, trailing bytes, a header that
    claims more data than the file holds, or a corrupt gzip stream.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        if handle.read(2) == GZIP_MAGIC:
            handle.seek(0)
            return _read_gzipped(path, handle)
        handle.seek(0)
        return _read_raw(path, handle)


def _read_raw(path: Path, handle: BinaryIO) -> np.ndarray:
    file_size = os.fstat(handle.fileno()).st_size
    dtype, shape = _read_header(path, handle)
    payload_size = file_size - handle.tell()
    expected = _payload_bytes(dtype, shape)
    _check_payload_size(path, shape, expected, payload_size)
    data = handle.read(expected)
    if len(data) != expected:  # the file shrank while we read it
        raise FormatError(path, f"truncated: expected {expected} data bytes, read {len(data)}")
    return _to_array(data, dtype, shape)


def _read_gzipped(path: Path, handle: BinaryIO) -> np.ndarray:
    try:
        with gzip.GzipFile(fileobj=handle, mode="rb") as stream:
            dtype, shape = _read_header(path, stream)
            expected = _payload_bytes(dtype, shape)
            data = _read_bounded(stream, expected)
            if len(data) < expected:
                _check_payload_size(path, shape, expected, len(data))
            # Reading past the payload also makes gzip verify the CRC.
            if stream.read(1):
                raise FormatError(path, f"trailing bytes after the {expected} data bytes")
    except (OSError, EOFError, zlib.error) as error:
        raise FormatError(path, f"corrupt gzip stream ({error})") from None
    return _to_array(data, dtype, shape)


def _read_bounded(stream: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes in chunks, so memory follows the real data."""
    parts = []
    remaining = size
    while remaining:
        part = stream.read(min(remaining, _CHUNK_BYTES))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _read_header(path: Path, stream: BinaryIO) -> tuple[np.dtype, tuple[int, ...]]:
    magic = stream.read(4)
    if len(magic) < 4:
        raise FormatError(path, f"truncated: {len(magic)} bytes, an IDX header needs at least 4")
    if magic[:2] != b"\x00\x00":
        raise FormatError(
            path, f"bad IDX magic 0x{magic.hex()}: expected 00 00 <type> <ndim> (e.g. 0x00000803)"
        )
    code, ndim = magic[2], magic[3]
    if code not in DTYPE_BY_CODE:
        known = ", ".join(f"0x{c:02X}" for c in DTYPE_BY_CODE)
        raise FormatError(path, f"unknown IDX element type 0x{code:02X}: expected one of {known}")
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise FormatError(path, f"truncated header: {ndim} dimensions need {4 * ndim} bytes")
    dtype, shape = DTYPE_BY_CODE[code], struct.unpack(f">{ndim}I", dims)
    _check_shape_representable(path, dtype, shape)
    return dtype, shape


def _check_shape_representable(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    # A zero dimension makes the payload empty, but numpy still refuses shapes
    # whose other dimensions multiply past its index range: say so here.
    nonzero_bytes = math.prod(d for d in shape if d) * dtype.itemsize
    if nonzero_bytes > np.iinfo(np.intp).max:
        raise FormatError(path, f"header claims shape {list(shape)}: too large for any array")


def _payload_bytes(dtype: np.dtype, shape: tuple[int, ...]) -> int:
    return math.prod(shape) * dtype.itemsize


def _check_payload_size(path: Path, shape: tuple[int, ...], expected: int, actual: int) -> None:
    if actual < expected:
        raise FormatError(
            path,
            f"truncated: header claims shape {list(shape)} ({expected} data bytes) "
            f"but the file holds {actual}",
        )
    if actual > expected:
        raise FormatError(
            path,
            f"{actual - expected} trailing bytes after the {expected} data bytes "
            f"of shape {list(shape)}",
        )


def _to_array(data: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(
    path: str | os.PathLike[str],
    array: np.ndarray,
    *,
    compress: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``array`` as an IDX file, atomically.

    ``compress=None`` gzips when ``path`` ends in ``.gz``. The array's dtype must
    be one IDX can hold (uint8, int8, int16, int32, float32, float64). An
    existing file is only replaced with ``overwrite=True``. Gzip output has a
    zero timestamp, so equal arrays give byte-identical files.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _idx_code(array)
    if compress is None:
        compress = path.suffix == ".gz"
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(DTYPE_BY_CODE[code], copy=False).tobytes(order="C")
    if compress:
        # Level 6 (zlib's default): level 9 is ~15x slower on MNIST for 2% smaller files.
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    return write_atomic(path, payload, overwrite=overwrite)


def _idx_code(array: np.ndarray) -> int:
    code = CODE_BY_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise ValueError(
            f"IDX cannot hold dtype {array.dtype}: expected uint8, int8, int16, int32, "
            "float32 or float64"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions; received shape {array.shape}")
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"IDX dimensions must be below 2**32; received shape {array.shape}")
    return code
