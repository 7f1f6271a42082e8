"""TensorFlow's checkpoint ``.index`` files: the table format, read and written in Python.

A V2 bundle's index is an immutable sorted table in the LevelDB layout that
TF's ``lib/io/table`` writes:

* data blocks of entries ``varint32 shared | varint32 unshared | varint32
  value_size | key[shared:] | value``, keys prefix-compressed against the
  previous key and stored whole at every restart point; the block ends with
  the restart offsets (``uint32`` each) and their count;
* after each block a 5-byte trailer: the compression byte (0, none) and the
  masked crc32c of block contents plus that byte;
* an (empty) metaindex block, then the index block: one entry per data block,
  keyed by a short separator between it and the next block, valued by the
  block's handle ``varint64 offset | varint64 size``;
* a 48-byte footer: metaindex and index handles, zero padded to 40 bytes, and
  the 64-bit table magic.

The values are serialized ``BundleEntryProto`` messages; the empty key holds the
``BundleHeaderProto``. :func:`read_bundle_index` / :func:`write_bundle_index`
work at that level. Everything here is pure Python over a few kilobytes:
tensor payloads are never read (their crc32c come from their entries).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator

from tensorflow.core.protobuf import tensor_bundle_pb2

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
HANDLE_AREA = 40  # two handles of at most 2 x 10 varint bytes each
BLOCK_TRAILER_SIZE = 5
NO_COMPRESSION = 0
# TF's table::Options defaults, as its BundleWriter uses them.
BLOCK_SIZE = 262144
RESTART_INTERVAL = 16
HEADER_KEY = b""

_CASTAGNOLI = 0x82F63B78  # crc32c polynomial, bit-reflected
_MASK_DELTA = 0xA282EAD8


class TableError(ValueError):
    """A file that is not a well-formed table (bad magic, crc, truncated block)."""


# ---- crc32c ---------------------------------------------------------------------------------


def _byte_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (_CASTAGNOLI if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


_TABLE = _byte_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """crc32c (Castagnoli) of ``data``, continuing from the crc of preceding bytes."""
    state = crc ^ 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        state = table[(state ^ byte) & 0xFF] ^ (state >> 8)
    return state ^ 0xFFFFFFFF


def _matrix_times(matrix: list[int], vector: int) -> int:
    result, column = 0, 0
    while vector:
        if vector & 1:
            result ^= matrix[column]
        vector >>= 1
        column += 1
    return result


def _matrix_square(matrix: list[int]) -> list[int]:
    return [_matrix_times(matrix, column) for column in matrix]


def crc32c_zeros(count: int, crc: int = 0) -> int:
    """crc32c continued over ``count`` zero bytes, in O(log count) steps.

    A CRC register fed zeros evolves linearly, so ``count`` bytes are one
    32x32 GF(2) matrix power (zlib's crc32_combine idea): gigabytes of zeros
    cost microseconds instead of a pass over them.
    """
    state = crc ^ 0xFFFFFFFF
    # Operator for one zero bit, as columns: bit i of the register maps to column i.
    operator = [_CASTAGNOLI] + [1 << (i - 1) for i in range(1, 32)]
    operator = _matrix_square(_matrix_square(_matrix_square(operator)))  # one byte
    while count:
        if count & 1:
            state = _matrix_times(operator, state)
        count >>= 1
        if count:
            operator = _matrix_square(operator)
    return state ^ 0xFFFFFFFF


@functools.lru_cache(maxsize=64)
def _zeros_operator(count: int) -> tuple[int, ...]:
    """The 32x32 GF(2) operator that feeds ``count`` zero bytes through a raw crc register."""
    operator = [_CASTAGNOLI] + [1 << (i - 1) for i in range(1, 32)]
    operator = _matrix_square(_matrix_square(_matrix_square(operator)))  # one byte
    result = [1 << i for i in range(32)]  # identity
    while count:
        if count & 1:
            result = [_matrix_times(operator, column) for column in result]
        count >>= 1
        if count:
            operator = _matrix_square(operator)
    return tuple(result)


def crc32c_combine(first: int, second: int, second_length: int) -> int:
    """crc32c of ``A + B`` from ``crc32c(A)``, ``crc32c(B)`` and ``len(B)``.

    The crc is affine in its input: ``crc(A+B) = Z(crc(A)) ^ crc(B) ^ Z(0)``
    with ``Z`` the operator of ``len(B)`` zero bytes (pre- and post-inversion
    cancel out of the difference). Operators are cached by length, so pieces
    of equal size combine in microseconds.
    """
    operator = list(_zeros_operator(second_length))
    shifted = _matrix_times(operator, first ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
    zeros = _matrix_times(operator, 0xFFFFFFFF) ^ 0xFFFFFFFF
    return shifted ^ second ^ zeros


def mask(crc: int) -> int:
    """TF's masked crc (stored crcs are masked so that crcs of crcs stay well spread)."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    """Inverse of :func:`mask`."""
    rotated = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


# ---- varints and handles -----------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, position: int, limit: int) -> tuple[int, int]:
    value, shift = 0, 0
    while position < limit and shift <= 63:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    raise TableError("bad varint")


@dataclasses.dataclass(frozen=True)
class BlockHandle:
    """Where a block lies in the file (contents only, without its trailer)."""

    offset: int
    size: int

    def encode(self) -> bytes:
        return _varint(self.offset) + _varint(self.size)

    @classmethod
    def decode(cls, data: bytes, position: int = 0) -> tuple[BlockHandle, int]:
        offset, position = _read_varint(data, position, len(data))
        size, position = _read_varint(data, position, len(data))
        return cls(offset, size), position


# ---- reading ----------------------------------------------------------------------------------


def _block_contents(data: bytes, handle: BlockHandle) -> bytes:
    end = handle.offset + handle.size
    if end + BLOCK_TRAILER_SIZE > len(data):
        raise TableError(f"block at {handle.offset} runs past the end of the file")
    contents = data[handle.offset : end]
    kind = data[end]
    (stored,) = struct.unpack_from("<I", data, end + 1)
    if unmask(stored) != crc32c(bytes([kind]), crc32c(contents)):
        raise TableError(f"block at {handle.offset}: crc32c mismatch")
    if kind != NO_COMPRESSION:
        raise TableError(f"block at {handle.offset}: compression type {kind} is not supported")
    return contents


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise TableError("block too short for its restart count")
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * restarts
    if limit < 0:
        raise TableError("block restart array runs past its start")
    position, key = 0, b""
    while position < limit:
        shared, position = _read_varint(block, position, limit)
        unshared, position = _read_varint(block, position, limit)
        size, position = _read_varint(block, position, limit)
        if shared > len(key) or position + unshared + size > limit:
            raise TableError("block entry runs past its block")
        key = key[:shared] + block[position : position + unshared]
        position += unshared
        yield key, block[position : position + size]
        position += size


def read_table(path: str) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of the table file ``path``, in order; TableError on damage."""
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        return list(_table_items(data))
    except TableError as error:
        raise TableError(f"{path}: not a valid checkpoint index ({error})") from None


def _table_items(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    if len(data) < FOOTER_SIZE:
        raise TableError(f"{len(data)} bytes, shorter than the {FOOTER_SIZE}-byte footer")
    footer = data[-FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, HANDLE_AREA)
    if magic != TABLE_MAGIC:
        raise TableError("bad table magic number")
    _, position = BlockHandle.decode(footer)  # metaindex: TF writes none we need
    index_handle, _ = BlockHandle.decode(footer, position)
    for _, encoded in _block_entries(_block_contents(data, index_handle)):
        handle, _ = BlockHandle.decode(encoded)
        yield from _block_entries(_block_contents(data, handle))


# ---- writing ----------------------------------------------------------------------------------


class _BlockBuilder:
    """Entries with prefix compression and a restart point every ``interval`` entries."""

    def __init__(self, interval: int):
        self.interval = interval
        self.buffer = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last_key = b""

    @property
    def empty(self) -> bool:
        return not self.buffer

    def size_estimate(self) -> int:
        return len(self.buffer) + 4 * len(self.restarts) + 4

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.counter < self.interval:
            limit = min(len(key), len(self.last_key))
            while shared < limit and key[shared] == self.last_key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buffer))
            self.counter = 0
        self.buffer += _varint(shared) + _varint(len(key) - shared) + _varint(len(value))
        self.buffer += key[shared:] + value
        self.last_key = key
        self.counter += 1

    def finish(self) -> bytes:
        tail = b"".join(struct.pack("<I", r) for r in self.restarts)
        return bytes(self.buffer) + tail + struct.pack("<I", len(self.restarts))


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key ``k`` with ``start <= k < limit`` (TF's bytewise comparator's choice)."""
    common = 0
    while common < min(len(start), len(limit)) and start[common] == limit[common]:
        common += 1
    if common >= min(len(start), len(limit)):
        return start  # one is a prefix of the other: not shortened
    byte = start[common]
    if byte < 0xFF and byte + 1 < limit[common]:
        return start[:common] + bytes([byte + 1])
    return start


def short_successor(key: bytes) -> bytes:
    """A short key ``>= key``: the first byte that can grow grows, the rest is cut."""
    for index, byte in enumerate(key):
        if byte != 0xFF:
            return key[:index] + bytes([byte + 1])
    return key


class _TableWriter:
    def __init__(self, stream, block_size: int, restart_interval: int):
        self.stream, self.offset = stream, 0
        self.block_size = block_size
        self.data = _BlockBuilder(restart_interval)
        self.index = _BlockBuilder(1)
        self.pending: BlockHandle | None = None
        self.last_key: bytes | None = None

    def _write_block(self, contents: bytes) -> BlockHandle:
        handle = BlockHandle(self.offset, len(contents))
        trailer = bytes([NO_COMPRESSION])
        checksum = mask(crc32c(trailer, crc32c(contents)))
        self.stream.write(contents + trailer + struct.pack("<I", checksum))
        self.offset += len(contents) + BLOCK_TRAILER_SIZE
        return handle

    def add(self, key: bytes, value: bytes) -> None:
        if self.last_key is not None and key <= self.last_key:
            raise ValueError(f"table keys must be added in strictly increasing order: {key!r}")
        if self.pending is not None:
            self.index.add(shortest_separator(self.last_key, key), self.pending.encode())
            self.pending = None
        self.data.add(key, value)
        self.last_key = key
        if self.data.size_estimate() >= self.block_size:
            self._flush()

    def _flush(self) -> None:
        if self.data.empty:
            return
        self.pending = self._write_block(self.data.finish())
        self.data = _BlockBuilder(self.data.interval)

    def finish(self) -> None:
        self._flush()
        metaindex = self._write_block(_BlockBuilder(RESTART_INTERVAL).finish())
        if self.pending is not None:
            self.index.add(short_successor(self.last_key), self.pending.encode())
        index = self._write_block(self.index.finish())
        handles = metaindex.encode() + index.encode()
        self.stream.write(handles.ljust(HANDLE_AREA, b"\0") + struct.pack("<Q", TABLE_MAGIC))


def write_table(
    path: str,
    items: Iterable[tuple[bytes, bytes]],
    *,
    block_size: int = BLOCK_SIZE,
    restart_interval: int = RESTART_INTERVAL,
) -> None:
    """Write sorted (key, value) ``items`` as a table at ``path``, atomically.

    The file appears complete or not at all (temp file beside it, then os.replace).
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".index", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            writer = _TableWriter(stream, block_size, restart_interval)
            for key, value in items:
                writer.add(key, value)
            writer.finish()
        os.chmod(temp, 0o644)  # mkstemp's 0600 would differ from the data files TF writes
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


# ---- bundle level ------------------------------------------------------------------------------


def read_bundle_index(
    path: str,
) -> tuple[tensor_bundle_pb2.BundleHeaderProto, dict[str, tensor_bundle_pb2.BundleEntryProto]]:
    """(header, entries by tensor name) of the bundle index ``path``."""
    header, entries = None, {}
    for key, value in read_table(path):
        if key == HEADER_KEY:
            header = tensor_bundle_pb2.BundleHeaderProto.FromString(value)
        else:
            entries[key.decode("utf-8")] = tensor_bundle_pb2.BundleEntryProto.FromString(value)
    if header is None:
        raise TableError(f"{path}: no bundle header (the empty key)")
    return header, entries


def write_bundle_index(
    path: str,
    header: tensor_bundle_pb2.BundleHeaderProto,
    entries: dict[str, tensor_bundle_pb2.BundleEntryProto],
) -> None:
    """The index of a bundle holding ``entries`` (name -> entry), header first."""
    items = [(HEADER_KEY, header.SerializeToString(deterministic=True))]
    items += sorted(
        (name.encode("utf-8"), entry.SerializeToString(deterministic=True))
        for name, entry in entries.items()
    )
    write_table(path, items)
