"""Resolve stage: finding, reading and writing checkpoint files.

A TF1 ``Saver`` writes either a V2 bundle (``PREFIX.index`` + ``PREFIX.data-K-of-N``,
several data files when ``sharded=True``) or, with ``SaverDef.V1``, one file
named ``PREFIX`` itself. ``tf.train.load_checkpoint`` reads both; what it needs
is the prefix, never the ``.data`` file (the "bad magic number" error), so every
file of a checkpoint resolves to its prefix here.
"""

from __future__ import annotations

import dataclasses
import glob
import ntpath
import os
import re
import sys
from typing import TextIO

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.python.checkpoint import checkpoint_management

# The errors and the publish stage live in their own modules; every converter
# imported them from here, so they stay importable from here.
from converters.errors import (  # noqa: F401
    EXIT_INPUT,
    EXIT_MAPPING,
    EXIT_USAGE,
    EXIT_VERIFY,
    ConverterError,
    InputError,
    MappingError,
    UsageError,
    VerificationError,
)
from converters.publish import atomic_directory, clean_stale_scratch  # noqa: F401

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
STATE_FILE = "checkpoint"
_SUFFIX = re.compile(r"(\.index|\.meta|\.data-\d{5}-of-\d{5})$")
_DATA_SHARD = re.compile(r"\.data-\d{5}-of-\d{5}$")
_STEP = re.compile(r"-(\d+)$")
# Last 8 bytes of a TF table file (a V1 checkpoint, a V2 .index): kTableMagicNumber.
TABLE_MAGIC = bytes.fromhex("57fb808b247547db")
# What a Git LFS pointer file starts with (a clone without `git lfs pull`).
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
# Files in a checkpoint directory that are never a V1 checkpoint.
_NOT_V1 = re.compile(
    r"(\.index|\.meta|\.data-\d{5}-of-\d{5}|\.tempstate\d*|\.json|\.txt|\.pb(txt)?)$"
)
# Above this many bytes, reading and writing report progress.
PROGRESS_BYTES = 100 * 2**20


@dataclasses.dataclass(frozen=True)
class Resolved:
    """A checkpoint prefix and the notes explaining how it was found."""

    prefix: str
    notes: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        """'V2' for an index + data bundle, 'V1' for the old single file."""
        return "V2" if os.path.exists(self.prefix + ".index") else "V1"


def _exists(prefix: str) -> bool:
    return os.path.exists(prefix + ".index") or os.path.isfile(prefix)


def _traces_of(prefix: str) -> bool:
    """Any file of checkpoint ``prefix``, even a broken one (dangling link, lone shard)."""
    return (
        os.path.lexists(prefix + ".index")
        or os.path.lexists(prefix)
        or bool(glob.glob(glob.escape(prefix) + ".data-*"))
    )


def _global_step(prefix: str) -> int:
    match = _STEP.search(prefix)
    return int(match.group(1)) if match else -1


def _read_state(directory: str) -> str | None:
    """``model_checkpoint_path`` of the directory's state file, or None without one."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.isfile(path):
        return None
    state = checkpoint_management.CheckpointState()
    try:
        with open(path) as stream:
            text_format.Merge(stream.read(), state)
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not a checkpoint state file ({error})") from None
    return state.model_checkpoint_path or None


def is_lfs_pointer(path: str) -> bool:
    """True for a small text file that Git LFS left in place of the real data."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > 1024:
            return False
        with open(path, "rb") as stream:
            return stream.read(len(LFS_POINTER)) == LFS_POINTER
    except OSError:
        return False


def _is_v1_file(path: str) -> bool:
    """A file that ends in the table magic and is not part of a V2 bundle: a V1 checkpoint."""
    name = os.path.basename(path)
    if name == STATE_FILE or _NOT_V1.search(name) or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            if stream.tell() < len(TABLE_MAGIC):
                return False
            stream.seek(-len(TABLE_MAGIC), os.SEEK_END)
            return stream.read() == TABLE_MAGIC
    except OSError:
        return False


def _candidates(directory: str) -> tuple[set[str], set[str]]:
    """(V2 prefixes, V1 files) in ``directory``."""
    v2 = {_SUFFIX.sub("", p) for p in glob.glob(os.path.join(glob.escape(directory), "*.index"))}
    names = os.listdir(directory)
    v1 = {os.path.join(directory, n) for n in names if _is_v1_file(os.path.join(directory, n))}
    return v2, v1


def _newest(prefixes: set[str]) -> str:
    def mtime(prefix: str) -> float:
        path = prefix + ".index" if os.path.lexists(prefix + ".index") else prefix
        return os.lstat(path).st_mtime

    return max(prefixes, key=lambda p: (_global_step(p), mtime(p)))


def _no_checkpoint_here(directory: str) -> InputError:
    pointers = sorted(
        n for n in os.listdir(directory) if is_lfs_pointer(os.path.join(directory, n))
    )
    if pointers:
        return _lfs_error(os.path.join(directory, pointers[0]))
    return InputError(
        f"{directory}: no checkpoint here (expected a 'checkpoint' state file, "
        "PREFIX.index files or V1 checkpoint files)"
    )


def _newest_in(directory: str) -> Resolved:
    """The newest checkpoint by step (then file time) in a directory without a state file.

    V1 files and V2 bundles side by side cannot be told apart by intent: refused,
    naming the files to pass instead.
    """
    v2, v1 = _candidates(directory)
    if not v2 and not v1:
        raise _no_checkpoint_here(directory)
    if v2 and v1:
        raise InputError(
            f"{directory}: ambiguous: it holds V2 bundles ({_listed(p + '.index' for p in v2)}) "
            f"and V1 files ({_listed(v1)}); pass the one you mean: PREFIX.index for a V2 "
            "bundle, the file itself for a V1 checkpoint"
        )
    newest = _newest(v2 or v1)
    kind = "V2" if v2 else "V1"
    note = f"{directory}: no 'checkpoint' state file; using the newest {kind} by step: {newest}"
    return Resolved(newest, (note,))


def _listed(paths, limit: int = 3) -> str:
    names = sorted(os.path.basename(p) for p in paths)
    return ", ".join(names[:limit]) + (
        f" and {len(names) - limit} more" if len(names) > limit else ""
    )


def _split_recorded(recorded: str) -> tuple[bool, str, str]:
    """(absolute?, path with this OS's separators, basename) of a state file's path.

    State files written on Windows hold ``C:\\...\\model.ckpt-N`` paths, which
    ``os.path`` does not split on Linux.
    """
    windows = "\\" in recorded or ntpath.splitdrive(recorded)[0] != ""
    if windows and os.sep == "/":
        absolute = ntpath.isabs(recorded) or bool(ntpath.splitdrive(recorded)[0])
        local = recorded.replace("\\", "/")
        return absolute, local, ntpath.basename(recorded)
    return os.path.isabs(recorded), recorded, os.path.basename(recorded)


def _resolve_directory(directory: str) -> Resolved:
    recorded = _read_state(directory)
    if recorded is None:
        return _newest_in(directory)
    absolute, local, basename = _split_recorded(recorded)
    candidate = local if absolute else os.path.join(directory, local)
    if absolute and local != recorded:
        candidate = recorded  # a Windows absolute path never exists here
    moved = os.path.join(directory, basename)
    if absolute and moved != candidate and _traces_of(moved):
        # A copied directory's state file still names the original's absolute path:
        # the checkpoint in the given directory is the one meant, never the other.
        where = "another directory" if _exists(candidate) else "a path which does not exist"
        note = (
            f"{directory}/checkpoint points to {recorded} ({where}); "
            f"using {moved} (same name in the given directory)"
        )
        return Resolved(moved, (note,))
    if _exists(candidate):
        return Resolved(candidate)
    # The state file often holds absolute paths from the machine that trained.
    if _exists(moved):
        note = (
            f"{directory}/checkpoint points to {recorded}, which does not exist; "
            f"using {moved} (same name in the given directory)"
        )
        return Resolved(moved, (note,))
    raise InputError(f"{directory}/checkpoint names {recorded}, but neither it nor {moved} exists")


def _refuse_ambiguous(prefix: str) -> None:
    """A V1 single file and a V2 bundle under one prefix: which one is meant cannot be known."""
    if os.path.isfile(prefix) and os.path.exists(prefix + ".index"):
        raise InputError(
            f"{prefix}: ambiguous checkpoint: both a V1 file {prefix} and a V2 bundle "
            f"{prefix}.index exist; pass {prefix}.index for the V2 bundle, or move the "
            "bundle away to read the V1 file"
        )


def _lfs_error(path: str) -> InputError:
    return InputError(
        f"{path}: is a Git LFS pointer, not the data: run git lfs pull "
        "(in the repository it came from) and try again"
    )


def _refuse_lfs(prefix: str) -> None:
    """Any file of ``prefix`` that is a Git LFS pointer: TF would call it corrupt."""
    files = [prefix, prefix + ".index", *glob.glob(glob.escape(prefix) + ".data-*")]
    for path in sorted(files):
        if is_lfs_pointer(path):
            raise _lfs_error(path)


def _resolve_file(path: str) -> Resolved:
    """A prefix from a prefix or one of its files (``.index``, ``.meta``, ``.data-K-of-N``)."""
    stripped = _SUFFIX.sub("", path)
    if stripped != path:
        if not _exists(stripped):
            if is_lfs_pointer(path):
                raise _lfs_error(path)
            raise InputError(f"{path}: no checkpoint prefix {stripped} (no {stripped}.index)")
        # Naming the .index (or a data shard) says "the V2 bundle": no ambiguity with
        # a V1 file of the same prefix, which TF's reader would not read anyway.
        if not path.endswith((".index",)) and not _DATA_SHARD.search(path):
            _refuse_ambiguous(stripped)
        return Resolved(stripped, (f"{path}: using its checkpoint prefix {stripped}",))
    if _exists(path):
        _refuse_ambiguous(path)
        return Resolved(path)
    if is_lfs_pointer(path):
        raise _lfs_error(path)
    raise InputError(
        f"{path}: no such checkpoint (expected a directory, a prefix with PREFIX.index, "
        "a V1 checkpoint file, or a .index/.meta/.data-* file)"
    )


def resolve(path: str) -> Resolved:
    """A checkpoint prefix from a directory, a prefix, or its ``.index``/``.meta``/``.data-*`` file.

    A prefix with both a V1 file and a V2 ``.index`` is ambiguous and refused
    unless the ``.index`` (or a data shard) is given, which means the V2 bundle.
    Git LFS pointers in place of the files are named as such.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        resolved = _resolve_directory(path)
        _refuse_ambiguous(resolved.prefix)
    else:
        resolved = _resolve_file(path)
    _refuse_lfs(resolved.prefix)
    return resolved


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One stored tensor's description."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        size = tf.as_dtype(self.dtype).size if self.dtype != "string" else 0
        return int(np.prod(self.shape, dtype=np.int64)) * size


class Reader:
    """Read access to one checkpoint; raises :class:`InputError` on unreadable files."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        try:
            self._reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        except Exception as error:  # TF raises several types for bad files
            raise InputError(f"{prefix}: cannot read checkpoint ({_first_line(error)})") from None
        shapes = self._reader.get_variable_to_shape_map()
        dtypes = self._reader.get_variable_to_dtype_map()
        self.infos = {
            name: TensorInfo(name, dtypes[name].name, tuple(shapes[name]))
            for name in sorted(shapes)
        }

    @property
    def object_based(self) -> bool:
        """True for ``tf.train.Checkpoint`` (TF2) files, False for name-based Saver files."""
        return OBJECT_GRAPH_KEY in self.infos

    def tensor_names(self) -> list[str]:
        """Stored tensor names, without the object graph."""
        return [name for name in self.infos if name != OBJECT_GRAPH_KEY]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Name to shape for every stored tensor except the object graph."""
        return {name: self.infos[name].shape for name in self.tensor_names()}

    def get(self, name: str) -> np.ndarray:
        """The stored value of ``name``; a partitioned variable's slices are assembled."""
        try:
            return self._reader.get_tensor(name)
        except (tf.errors.UnimplementedError, NotImplementedError):
            # "Sliced checkpoints are not supported": a partitioned variable
            # (fixed_size_partitioner...) stored as slices; the restore op joins them.
            return self._assembled(name)
        except Exception as error:
            raise InputError(
                f"{self.prefix}: cannot read {name!r} ({_first_line(error)})"
            ) from None

    def _assembled(self, name: str) -> np.ndarray:
        try:
            (tensor,) = tf.raw_ops.RestoreV2(
                prefix=self.prefix,
                tensor_names=[name],
                shape_and_slices=[""],
                dtypes=[tf.as_dtype(self.infos[name].dtype)],
            )
        except Exception as error:
            raise InputError(
                f"{self.prefix}: cannot read partitioned {name!r} ({_first_line(error)})"
            ) from None
        return tensor.numpy()


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_tf1(path: str, log) -> tuple[Resolved, Reader]:
    """Resolve ``path``, print its resolution notes to ``log`` and open it as a TF1 checkpoint.

    An object-based (TF2) checkpoint is an InputError: the converters read TF1 ones.
    """
    resolved = resolve(path)
    for note in resolved.notes:
        print(note, file=log)
    reader = Reader(resolved.prefix)
    if reader.object_based:
        raise InputError(f"{resolved.prefix}: is an object-based (TF2) checkpoint, not a TF1 one")
    return resolved, reader


class Progress:
    """Byte-count progress lines on stderr, only for big checkpoints."""

    def __init__(self, total_bytes: int, label: str, stream: TextIO | None = None):
        self.total, self.label, self.done = total_bytes, label, 0
        self.stream = stream or sys.stderr
        self.enabled = total_bytes >= PROGRESS_BYTES
        self.next_report = total_bytes // 10

    def add(self, nbytes: int) -> None:
        """Count ``nbytes`` more; print about every 10 %."""
        self.done += nbytes
        if self.enabled and (self.done >= self.next_report or self.done == self.total):
            percent = 100 * self.done // max(self.total, 1)
            mib = self.done / 2**20
            print(f"{self.label}: {percent}% ({mib:.0f} MiB)", file=self.stream, flush=True)
            self.next_report = self.done + self.total // 10


def write_name_based(prefix: str, tensors: dict[str, np.ndarray]) -> None:
    """A V2 bundle holding exactly ``tensors`` under their names, as a Saver writes it."""
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[name]) for name in names],
    )


def write_state_file(directory: str, prefix: str) -> None:
    """A ``checkpoint`` state file naming ``prefix`` relative to ``directory``.

    Relative paths keep working when the directory is moved.
    """
    relative = os.path.relpath(prefix, directory)
    state = checkpoint_management.generate_checkpoint_state_proto(
        directory, relative, all_model_checkpoint_paths=[relative]
    )
    with open(os.path.join(directory, STATE_FILE), "w") as stream:
        stream.write(text_format.MessageToString(state))
