"""Exceptions raised by the readers and writers in :mod:`formats`."""

from __future__ import annotations

import os
from collections.abc import Sequence


class FormatError(ValueError):
    """A data file is malformed, truncated or hostile.

    ``str(error)`` is ``"{path}: {message}"`` so every message names the file.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = os.fspath(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def __reduce__(self):
        # The default reduce would call FormatError(full_text) and lose a field.
        return (type(self), (self.path, self.message))


class DataDirError(FileNotFoundError):
    """A data directory lacks files a reader needs.

    ``directory`` is the directory looked at and ``missing`` the file names it
    lacks; the message also says how to get usable data.
    """

    def __init__(
        self, directory: str | os.PathLike[str], missing: Sequence[str], kind: str
    ) -> None:
        self.directory = os.fspath(directory)
        self.missing = tuple(missing)
        self.kind = kind
        super().__init__(self._describe())

    def _describe(self) -> str:
        return (
            f"{self.directory}: not a usable {self.kind} data directory; missing "
            f"{', '.join(self.missing)}. Pass --data-dir pointing at a copy of the real "
            f"dataset's files, or omit --data-dir to use the embedded sample."
        )

    def __str__(self) -> str:
        return self._describe()

    def __reduce__(self):
        return (type(self), (self.directory, self.missing, self.kind))
