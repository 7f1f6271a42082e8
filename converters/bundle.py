"""Finding, reading and writing checkpoint files, and the converters' errors.

A TF1 ``Saver`` writes either a V2 bundle (``PREFIX.index`` + ``PREFIX.data-K-of-N``,
several data files when ``sharded=True``) or, with ``SaverDef.V1``, one file
named ``PREFIX`` itself. ``tf.train.load_checkpoint`` reads both; what it needs
is the prefix, never the ``.data`` file (the "bad magic number" error).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.python.checkpoint import checkpoint_management

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
STATE_FILE = "checkpoint"
_SUFFIX = re.compile(r"(\.index|\.meta|\.data-\d{5}-of-\d{5})$")
_DATA_SHARD = re.compile(r"\.data-\d{5}-of-\d{5}$")
_STEP = re.compile(r"-(\d+)$")
# Above this many bytes, reading and writing report progress.
PROGRESS_BYTES = 100 * 2**20

EXIT_USAGE, EXIT_INPUT, EXIT_MAPPING, EXIT_VERIFY = 2, 3, 4, 5


class ConverterError(Exception):
    """A user-facing error; ``exit_code`` tells the CLI how to exit."""

    exit_code = 1


class UsageError(ConverterError):
    """Bad arguments, or an output that exists without ``--force``."""

    exit_code = EXIT_USAGE


class InputError(ConverterError):
    """A checkpoint that is missing, unreadable or corrupt."""

    exit_code = EXIT_INPUT


class MappingError(ConverterError):
    """Checkpoint keys and model variables that do not correspond."""

    exit_code = EXIT_MAPPING


class VerificationError(ConverterError):
    """Converted weights that do not reproduce the source's outputs."""

    exit_code = EXIT_VERIFY


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


def _newest_in(directory: str) -> str | None:
    """The prefix with the highest global step (then the newest file) in ``directory``."""
    candidates = {_SUFFIX.sub("", p) for p in glob.glob(os.path.join(directory, "*.index"))}
    if not candidates:
        return None
    return max(candidates, key=lambda p: (_global_step(p), os.path.getmtime(p + ".index")))


def _resolve_directory(directory: str) -> Resolved:
    recorded = _read_state(directory)
    if recorded is None:
        newest = _newest_in(directory)
        if newest is None:
            raise InputError(
                f"{directory}: no checkpoint here (expected a 'checkpoint' state file "
                "or PREFIX.index files)"
            )
        note = f"{directory}: no 'checkpoint' state file; using the newest by step: {newest}"
        return Resolved(newest, (note,))
    candidate = recorded if os.path.isabs(recorded) else os.path.join(directory, recorded)
    moved = os.path.join(directory, os.path.basename(recorded))
    if os.path.isabs(recorded) and moved != candidate and _traces_of(moved):
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
            f"{prefix}.index exist; move one of them away"
        )


def resolve(path: str) -> Resolved:
    """A checkpoint prefix from a directory, a prefix, or its ``.index`` / ``.meta`` file.

    A ``.data-K-of-N`` shard is refused (InputError naming the prefix to give).
    A prefix with both a V1 file and a V2 ``.index`` is ambiguous and refused.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        resolved = _resolve_directory(path)
        _refuse_ambiguous(resolved.prefix)
        return resolved
    stripped = _SUFFIX.sub("", path)
    if _DATA_SHARD.search(path):
        # Issue 8's acceptance: a .data shard given as the checkpoint is an error
        # (TF's "bad magic number" confusion); say which path to give instead.
        raise InputError(
            f"{path}: is a data shard, not a checkpoint; expected the checkpoint prefix "
            f"{stripped} (or {stripped}.index, or its directory)"
        )
    if stripped != path:
        if not _exists(stripped):
            raise InputError(f"{path}: no checkpoint prefix {stripped} (no {stripped}.index)")
        _refuse_ambiguous(stripped)
        return Resolved(stripped, (f"{path}: using its checkpoint prefix {stripped}",))
    if _exists(path):
        _refuse_ambiguous(path)
        return Resolved(path)
    raise InputError(
        f"{path}: no such checkpoint (expected a directory, a prefix with PREFIX.index, "
        "or a .index/.meta/.data-* file)"
    )


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
        """The stored value of ``name``."""
        try:
            return self._reader.get_tensor(name)
        except Exception as error:
            raise InputError(
                f"{self.prefix}: cannot read {name!r} ({_first_line(error)})"
            ) from None


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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


TEMP_TAG, OLD_TAG = "tmp", "old"


def _scratch_name(output: str, tag: str) -> str:
    """``.OUT.TAG-PID-`` : our scratch directories beside ``output``, named after their owner."""
    return f".{os.path.basename(output)}.{tag}-{os.getpid()}-"


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_scratch(output: str) -> Iterator[tuple[str, str]]:
    """(tag, path) of our scratch directories beside ``output`` whose process is gone."""
    parent, base = os.path.dirname(output), os.path.basename(output)
    pattern = re.compile(rf"\.{re.escape(base)}\.({TEMP_TAG}|{OLD_TAG})-(\d+)-[\w]+")
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        found = pattern.fullmatch(name)
        path = os.path.join(parent, name)
        if found and os.path.isdir(path) and not _owner_alive(int(found.group(2))):
            yield found.group(1), path


def clean_stale_scratch(output: str, log: TextIO | None = None) -> None:
    """Remove what a killed conversion left beside ``output``; restore a displaced output.

    A ``.OUT.tmp-PID-*`` directory of a dead process is a half-written output:
    removed. A ``.OUT.old-PID-*/previous`` is the user's former output, moved
    aside by ``--force`` just before the kill: put back when ``output`` is
    missing, else removed (the new output had already replaced it).
    Directories of live processes (a concurrent conversion) are left alone.
    """
    output, log = os.path.abspath(output), log or sys.stderr
    for tag, path in _stale_scratch(output):
        previous = os.path.join(path, "previous")
        if tag == OLD_TAG and os.path.isdir(previous) and not os.path.exists(output):
            with contextlib.suppress(OSError):
                os.rename(previous, output)
                print(f"{output}: restored from {path} (a killed --force run)", file=log)
        shutil.rmtree(path, ignore_errors=True)
        print(f"{output}: removed {path} (left by a killed conversion)", file=log)


def _publish(temp: str, output: str, parent: str, force: bool) -> None:
    """Rename ``temp`` to ``output``; with ``force`` an existing ``output`` goes aside first.

    Without ``force`` the rename itself refuses a non-empty ``output``, so a
    conversion that lost a race for the same output raises OSError here
    instead of replacing the winner's.
    """
    if not (force and os.path.exists(output)):
        os.rename(temp, output)
        return
    old = tempfile.mkdtemp(prefix=_scratch_name(output, OLD_TAG), dir=parent)
    os.rename(output, os.path.join(old, "previous"))
    os.rename(temp, output)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(output: str, *, force: bool) -> Iterator[str]:
    """Yield a temporary directory beside ``output``; rename it to ``output`` on success.

    An existing ``output`` is refused unless ``force``; then it is replaced
    only after the new one is complete. Scratch directories of killed earlier
    runs are cleaned first (:func:`clean_stale_scratch`). Two conversions racing
    for the same ``output``: one wins, the other raises UsageError.
    """
    output = os.path.abspath(output)
    parent = os.path.dirname(output)
    clean_stale_scratch(output, sys.stderr)
    if os.path.exists(output) and not force:
        raise UsageError(f"{output}: already exists (use --force to replace it)")
    try:
        os.makedirs(parent, exist_ok=True)
        temp = tempfile.mkdtemp(prefix=_scratch_name(output, TEMP_TAG), dir=parent)
    except OSError as error:
        raise UsageError(f"{output}: cannot create the output here ({error.strerror})") from None
    try:
        yield temp
        try:
            _publish(temp, output, parent, force)
        except OSError as error:
            raise UsageError(
                f"{output}: another conversion wrote this output meanwhile; not replaced "
                f"({error.strerror}); use --force to replace it"
                if os.path.exists(output)
                else f"{output}: cannot move the finished output into place ({error.strerror})"
            ) from None
    finally:
        if os.path.exists(temp):
            shutil.rmtree(temp, ignore_errors=True)
