"""Streaming conversion: the output bundle is assembled from byte ranges, not tensors.

A converted checkpoint holds the source's tensors unchanged (every built-in
table row is the identity), under new keys, next to a few small generated ones
(object graph, Adam ``iterations``, ``step``, ``save_counter``). So instead of
materialising the port and its Adam at full size, :func:`skeleton_layout`
saves a *skeleton* port (same objects, tensors shrunk by the model's
``ModelMap.skeleton_overrides``) whose variables hold distinct marker values:
reading one element of each saved tensor tells which port variable each TF2
key belongs to. :func:`write_bundle` then copies each mapped tensor's byte
range from the source data file(s) into one new data file
(``os.copy_file_range``, falling back to ``sendfile`` / buffered copies) and
writes a new index (:mod:`converters.tablefile`) with the source entries'
dtype, shape and crc32c at their new offsets.

Anything this cannot express (V1 files, sliced or big-endian bundles, a
transform that changes bytes, a skeleton key it cannot identify) raises
:class:`Unsupported` and the caller falls back to the materialising path.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import errno
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.protobuf import tensor_bundle_pb2

from converters import fastcrc, maps, tablefile
from converters.tablefile import TableError

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
# Transforms that leave a tensor's bytes as they are (beta powers become a generated scalar).
BYTE_PRESERVING = frozenset({"identity", "beta_power"})
ITERATIONS = "optimizer/iterations"
_MARKER_BASE = 1000  # far from 0/1, the values a fresh save_counter or step would hold
_COPY_CHUNK = 1 << 30


class Unsupported(Exception):
    """The fast path cannot convert this checkpoint; the reason says why."""


# ---- the source bundle ------------------------------------------------------------------------


def data_path(prefix: str, shard: int, shards: int) -> str:
    """The data file of ``shard`` in a bundle of ``shards`` files."""
    return f"{prefix}.data-{shard:05d}-of-{shards:05d}"


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A V2 bundle's index: its header and entries by tensor name."""

    prefix: str
    header: tensor_bundle_pb2.BundleHeaderProto
    entries: dict[str, tensor_bundle_pb2.BundleEntryProto]

    def data_file(self, entry: tensor_bundle_pb2.BundleEntryProto) -> str:
        return data_path(self.prefix, entry.shard_id, max(self.header.num_shards, 1))


def read_source(prefix: str) -> Bundle:
    """The source bundle, or Unsupported when only TF's reader can handle it."""
    if not os.path.isfile(prefix + ".index"):
        raise Unsupported("not a V2 bundle (no .index)")
    try:
        header, entries = tablefile.read_bundle_index(prefix + ".index")
    except (OSError, TableError) as error:
        raise Unsupported(f"index not readable here ({error})") from None
    if header.endianness != tensor_bundle_pb2.BundleHeaderProto.LITTLE:
        raise Unsupported("big-endian bundle")
    sliced = [name for name, entry in entries.items() if entry.slices]
    if sliced:
        raise Unsupported(f"partitioned (sliced) variables, e.g. {sliced[0]}")
    return Bundle(prefix, header, entries)


# ---- the skeleton: which TF2 key holds which port variable -----------------------------------


@dataclasses.dataclass(frozen=True)
class Slot:
    """One tensor of the TF2 checkpoint: the port variable behind it."""

    key: str
    variable: str  # map target name, ITERATIONS, "optimizer:<path>", or "" (not a variable)
    dtype: str
    skeleton_shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Layout:
    """The skeleton's save: its bundle, and every key's port variable."""

    bundle: Bundle
    slots: dict[str, Slot]
    initial: dict[str, np.ndarray]  # small variables' initial values, by variable name

    def key_of(self, variable: str) -> str | None:
        return next((s.key for s in self.slots.values() if s.variable == variable), None)


def port_variables(state) -> dict[str, tf.Variable]:
    """Every variable of a port state (PortState) by map target name, plus the optimizer's own."""
    named: dict[str, tf.Variable] = {maps.STEP: state.step}
    for path in state.variables:
        named[path] = state.target(path)
    for path in sorted(state.trainable_paths):
        named[maps.M_SLOT + path] = state.target(maps.M_SLOT + path)
        named[maps.V_SLOT + path] = state.target(maps.V_SLOT + path)
    named[ITERATIONS] = state.optimizer.iterations
    taken = {id(v) for v in named.values()}
    for variable in state.optimizer.variables:
        if id(variable) not in taken:
            named[f"optimizer:{variable.path}"] = variable
    return named


def _mark(variables: dict[str, tf.Variable]) -> dict[int, str]:
    """Fill each variable with its own marker value; marker -> variable name."""
    markers = {}
    for index, (name, variable) in enumerate(variables.items()):
        marker = _MARKER_BASE + index
        if int(np.prod(variable.shape)) == 0:
            raise Unsupported(f"{name} is empty in the skeleton: no room for a marker")
        variable.assign(tf.fill(variable.shape, tf.cast(marker, variable.dtype)))
        markers[marker] = name
    return markers


def _first_value(path: str, entry) -> float | None:
    dtype = tf.as_dtype(entry.dtype)
    if dtype == tf.string or not (dtype.is_floating or dtype.is_integer):
        return None
    with open(path, "rb") as stream:
        stream.seek(entry.offset)
        raw = stream.read(dtype.size)
    if len(raw) < dtype.size:
        return None
    return float(np.frombuffer(raw, dtype=dtype.as_numpy_dtype, count=1)[0])


def skeleton_layout(state, directory: str, step: int, save: Callable[[Any, str, int], str]):
    """Save the skeleton ``state`` with markers into ``directory`` (as ``save`` does); map its keys.

    Scalars keep their initial values in :attr:`Layout.initial` (learning rate,
    a fresh ``iterations``), read before the markers overwrite them.
    """
    variables = port_variables(state)
    initial = {n: v.numpy() for n, v in variables.items() if len(v.shape) == 0}
    markers = _mark(variables)
    prefix = save(state, directory, step)
    header, entries = tablefile.read_bundle_index(prefix + ".index")
    bundle = Bundle(prefix, header, entries)
    slots = {}
    for key, entry in entries.items():
        value = None if key == OBJECT_GRAPH_KEY else _first_value(bundle.data_file(entry), entry)
        name = markers.get(int(value)) if value is not None and value == int(value) else None
        shape = tuple(d.size for d in entry.shape.dim)
        if name is None and shape:
            raise Unsupported(f"skeleton key {key} holds no marker")
        dtype = tf.as_dtype(entry.dtype).name
        slots[key] = Slot(key, name or "", dtype, shape)
    return Layout(bundle, slots, initial)


# ---- assembling a bundle from byte ranges -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Part:
    """One output tensor: ``size`` bytes at ``offset`` of ``path``, or zeros when path is None."""

    key: str
    entry: tensor_bundle_pb2.BundleEntryProto  # dtype, shape, size, crc32c
    path: str | None
    offset: int


def copied(key: str, bundle: Bundle, name: str) -> Part:
    """The source tensor ``name`` of ``bundle``, stored as ``key``."""
    entry = bundle.entries[name]
    return Part(key, entry, bundle.data_file(entry), entry.offset)


def zeros(key: str, dtype: str, shape: tuple[int, ...]) -> Part:
    """A zero-filled tensor (a fresh Adam slot), crc32c computed without touching bytes."""
    size = int(np.prod(shape, dtype=np.int64)) * tf.as_dtype(dtype).size
    entry = tensor_bundle_pb2.BundleEntryProto(
        dtype=tf.as_dtype(dtype).as_datatype_enum,
        shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]
        ),
        size=size,
        crc32c=tablefile.mask(tablefile.crc32c_zeros(size)),
    )
    return Part(key, entry, None, 0)


class ShortCopy(Exception):
    """A source file ended before a tensor's bytes did."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _copy_range(source: int, target: int, offset: int, size: int, at: int) -> int:
    """Copy ``size`` bytes at ``offset`` of fd ``source`` to ``at`` of fd ``target``; bytes copied."""
    done = 0
    while done < size:
        count = min(size - done, _COPY_CHUNK)
        try:
            moved = os.copy_file_range(source, target, count, offset + done, at + done)
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            moved = _buffered(source, target, offset + done, count, at + done)
        if moved == 0:
            break
        done += moved
    return done


def _buffered(source: int, target: int, offset: int, count: int, at: int) -> int:
    """Plain pread/pwrite in 8 MiB pieces (filesystems without copy_file_range)."""
    done = 0
    while done < count:
        chunk = os.pread(source, min(count - done, 8 << 20), offset + done)
        if not chunk:
            break
        os.pwrite(target, chunk, at + done)
        done += len(chunk)
    return done


def _runs(parts: list[Part], offsets: dict[str, int]) -> Iterable[tuple[str, int, int, int, list]]:
    """Maximal (path, source offset, size, output offset, keys) runs of adjacent copies."""
    run = None
    for part in parts:
        if part.path is None:
            continue
        at = offsets[part.key]
        if run and run[0] == part.path and run[1] + run[2] == part.offset and run[3] + run[2] == at:
            run[2] += part.entry.size
            run[4].append(part.key)
            continue
        if run:
            yield tuple(run)
        run = [part.path, part.offset, part.entry.size, at, [part.key]]
    if run:
        yield tuple(run)


class BadChecksum(Exception):
    """A copied tensor's bytes do not match the crc32c its entry records."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def write_bundle(
    prefix: str,
    parts: list[Part],
    header: tensor_bundle_pb2.BundleHeaderProto,
    progress: Callable[[int], None] = lambda nbytes: None,
    *,
    check: bool = False,
) -> None:
    """A one-shard bundle at ``prefix`` holding ``parts``; replaces files already there.

    Copies are laid out in source order, so a run of neighbouring source
    tensors is one copy_file_range call. ``check=True`` instead copies through
    a small buffer and computes each numeric tensor's crc32c on the way
    (:func:`converters.fastcrc.extender` must be available), raising
    :class:`BadChecksum` for the first that differs from its entry's: one
    pass over the bytes, where copying and then reading back takes two.
    """
    ordered = sorted(parts, key=lambda p: (p.path is None, p.path or "", p.offset, p.key))
    offsets, position = {}, 0
    for part in ordered:
        offsets[part.key] = position
        position += part.entry.size
    data = data_path(prefix, 0, 1)
    temp = data + ".tmp"
    try:
        if check:
            _copy_checked(ordered, offsets, temp, position, progress)
        else:
            _copy_all(ordered, offsets, temp, position, progress)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise
    entries = {}
    for part in ordered:
        entry = tensor_bundle_pb2.BundleEntryProto()
        entry.CopyFrom(part.entry)
        entry.shard_id = 0
        entry.offset = offsets[part.key]
        entries[part.key] = entry
    one_shard = tensor_bundle_pb2.BundleHeaderProto()
    one_shard.CopyFrom(header)
    one_shard.num_shards = 1
    # Renaming over an existing file makes ext4 (auto_da_alloc) write the new
    # one's blocks out first: seconds for gigabytes. Removing it first avoids that.
    with contextlib.suppress(FileNotFoundError):
        os.remove(data)
    os.rename(temp, data)
    tablefile.write_bundle_index(prefix + ".index", one_shard, entries)


def _copy_all(ordered, offsets, temp, size, progress) -> None:
    """copy_file_range every run of source bytes into ``temp``."""
    handles: dict[str, int] = {}
    target = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        # Zero parts stay holes of the file: they read back as zeros.
        os.ftruncate(target, size)
        for path, offset, length, at, keys in _runs(ordered, offsets):
            if path not in handles:
                handles[path] = os.open(path, os.O_RDONLY)
            done = _copy_range(handles[path], target, offset, length, at)
            if done < length:
                raise ShortCopy(_short_key(keys, ordered, offset + done, path))
            progress(length)
    finally:
        os.close(target)
        for handle in handles.values():
            os.close(handle)


def is_string(part: Part) -> bool:
    """A string tensor: its entry's crc32c also covers the element lengths, stored apart."""
    return part.entry.dtype == tf.string.as_datatype_enum


_PIECE = 64 << 20  # big tensors are copied in pieces, spread over the cores
_BUFFER = 4 << 20  # per thread: stays in cache between the read, the crc and the write


@dataclasses.dataclass(frozen=True)
class _Piece:
    part: Part
    start: int  # within the tensor
    length: int


def _pieces(ordered: list[Part]) -> list[_Piece]:
    return [
        _Piece(part, start, min(_PIECE, part.entry.size - start))
        for part in ordered
        if part.path is not None
        for start in range(0, max(part.entry.size, 1), _PIECE)
    ]


def _copy_checked(ordered, offsets, temp, size, progress) -> None:
    """Copy every source part into ``temp`` through a buffer, checking numeric parts' crc32c."""
    extend = fastcrc.extender()
    if extend is None:
        raise RuntimeError("no fast crc32c in this TensorFlow build")
    pieces = _pieces(ordered)
    handles: dict[str, int] = {}
    local = threading.local()
    target = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(target, size)  # zero parts stay holes of the file
        for path in sorted({piece.part.path for piece in pieces}):
            handles[path] = os.open(path, os.O_RDONLY)

        def copy(piece: _Piece) -> int:
            if not hasattr(local, "buffer"):
                local.buffer = np.empty(_BUFFER, dtype=np.uint8)
            source = piece.part.offset + piece.start
            at = offsets[piece.part.key] + piece.start
            return _copy_piece(
                extend, local.buffer, handles[piece.part.path], target, source, at, piece
            )

        workers = min(os.cpu_count() or 1, 4)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            crcs = list(pool.map(copy, pieces))
    finally:
        os.close(target)
        for handle in handles.values():
            os.close(handle)
    bad = _first_mismatch(pieces, crcs)
    if bad is not None:
        raise BadChecksum(bad)
    progress(sum(piece.length for piece in pieces))


def _copy_piece(extend, buffer, source, target, offset, at, piece) -> int:
    """Copy ``piece`` from fd ``source`` at ``offset`` to fd ``target`` at ``at``; its crc32c."""
    crc, done, address = 0, 0, buffer.ctypes.data
    view = memoryview(buffer)
    while done < piece.length:
        count = os.preadv(source, [view[: min(_BUFFER, piece.length - done)]], offset + done)
        if count == 0:
            raise ShortCopy(piece.part.key)
        crc = extend(crc, address, count)
        written = 0
        while written < count:
            written += os.pwrite(target, view[written:count], at + done + written)
        done += count
    return crc


def _first_mismatch(pieces: list[_Piece], crcs: list[int]) -> str | None:
    """The first numeric part whose pieces' combined crc32c differs from its entry's."""
    whole: dict[str, int] = {}
    for piece, crc in zip(pieces, crcs, strict=True):
        key = piece.part.key
        whole[key] = (
            tablefile.crc32c_combine(whole[key], crc, piece.length) if key in whole else crc
        )
    for piece in pieces:
        part = piece.part
        if not is_string(part) and tablefile.mask(whole[part.key]) != part.entry.crc32c:
            return part.key
    return None


def _short_key(keys: list[str], parts: list[Part], end: int, path: str) -> str:
    """The first key of a run whose bytes reach past ``end`` of ``path``."""
    by_key = {p.key: p for p in parts}
    for key in keys:
        part = by_key[key]
        if part.path == path and part.offset + part.entry.size > end:
            return key
    return keys[-1]


def remove_bundle(prefix: str) -> None:
    """Delete a bundle's index and data files (a scratch bundle)."""
    directory = os.path.dirname(prefix)
    base = os.path.basename(prefix)
    for name in os.listdir(directory):
        if name == base + ".index" or name.startswith(base + ".data-"):
            os.remove(os.path.join(directory, name))


def scratch_bundle(directory: str, tensors: dict[str, np.ndarray]) -> Bundle:
    """Small generated tensors written by TF's SaveV2 into ``directory``; its parsed index."""
    from converters.bundle import write_name_based

    os.makedirs(directory, exist_ok=True)
    prefix = os.path.join(directory, "generated")
    write_name_based(prefix, tensors)
    header, entries = tablefile.read_bundle_index(prefix + ".index")
    return Bundle(prefix, header, entries)


def discard(directory: str) -> None:
    """Remove a scratch directory."""
    shutil.rmtree(directory, ignore_errors=True)


# ---- checking what was written ----------------------------------------------------------------


def object_graph_keys(prefix: str) -> set[str]:
    """Every checkpoint key the object graph stored at ``prefix`` refers to."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
        reader.get_tensor(OBJECT_GRAPH_KEY)
    )
    return {attribute.checkpoint_key for node in graph.nodes for attribute in node.attributes}


def structural_problems(prefix: str, expected: dict[str, tuple[str, tuple[int, ...]]]) -> list[str]:
    """Differences between the written bundle at ``prefix`` and ``expected`` (key -> dtype, shape).

    Every key the object graph names must be in the index with the expected
    dtype and shape, and the index must hold nothing else.
    """
    _, entries = tablefile.read_bundle_index(prefix + ".index")
    stored = {
        key: (tf.as_dtype(e.dtype).name, tuple(d.size for d in e.shape.dim))
        for key, e in entries.items()
        if key != OBJECT_GRAPH_KEY
    }
    problems = [
        f"{key}: not in the index" for key in sorted(object_graph_keys(prefix) - set(stored))
    ]
    problems += [f"{key}: not in the object graph" for key in sorted(set(stored) - set(expected))]
    for key, (dtype, shape) in sorted(expected.items()):
        if key not in stored:
            problems.append(f"{key}: missing")
        elif stored[key] != (dtype, shape):
            problems.append(f"{key}: {stored[key]} written, {(dtype, shape)} expected")
    return problems


def unreadable_tensors(prefix: str, keys: Iterable[str]) -> tuple[str, str] | None:
    """(key, error) of the first of ``keys`` TF's reader refuses (crc32c, short file), else None.

    TF checks each tensor's stored crc32c as it reads it; reading one tensor at
    a time keeps memory at the largest tensor.
    """
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    for key in keys:
        try:
            reader.get_tensor(key)
        except Exception as error:  # TF raises DataLossError, OutOfRangeError...
            text = str(error).strip()
            return key, text.splitlines()[0] if text else type(error).__name__
    return None
