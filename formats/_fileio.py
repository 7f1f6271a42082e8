"""Atomic, no-clobber file writes shared by the writers in :mod:`formats`."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

Chunk = bytes | bytearray | memoryview


def write_atomic(
    path: str | os.PathLike[str], chunks: Chunk | Iterable[Chunk], *, overwrite: bool = False
) -> Path:
    """Write ``chunks`` to ``path`` so readers never see a half-written file.

    The data goes to a temporary file in the same directory, is flushed to disk
    and then moved into place. Without ``overwrite`` an existing ``path`` is
    never replaced: the final step is a hard link, which fails atomically if
    another writer got there first.
    """
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: directory does not exist (cannot write {path.name})")
    if not overwrite and os.path.lexists(path):
        raise _exists_error(path)
    if isinstance(chunks, Chunk):
        chunks = (chunks,)
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        _write_new_file(tmp, chunks)
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_clobber(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def _write_new_file(path: Path, chunks: Iterable[Chunk]) -> None:
    # 0o666 lets the user's umask decide the permissions, as open() would.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())


def _link_no_clobber(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _exists_error(path) from None
    except OSError:
        # Some file systems have no hard links; fall back to a checked replace.
        if os.path.lexists(path):
            raise _exists_error(path) from None
        os.replace(tmp, path)


def _exists_error(path: Path) -> FileExistsError:
    return FileExistsError(f"{path}: already exists; pass overwrite=True to replace it")
