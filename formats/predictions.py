"""Per-image predictions files: ``index,label,prediction`` CSV, one row per test image.

Both evaluation CLIs (``python -m legacy_tf1 eval`` and ``python -m tf2_port
eval``) write this format with ``--predictions FILE``, so two checkpoints can
be compared image by image (for example with McNemar's test). ``index`` is
the image's position in the test file (0-based), rows are in file order and
each image appears once; ``label`` and ``prediction`` are class ids.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np

from formats._fileio import write_atomic
from formats.errors import FormatError

HEADER = ("index", "label", "prediction")


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
    """One row per test image: file index, true class id, predicted class id (int64 arrays)."""

    index: np.ndarray
    label: np.ndarray
    prediction: np.ndarray

    @property
    def accuracy(self) -> float:
        """Fraction of rows whose prediction equals the label."""
        return float(np.mean(self.label == self.prediction)) if len(self.index) else 0.0


def collect(indices, labels, predictions) -> Predictions:
    """Per-image rows from per-example arrays, in file order, each image once.

    An image evaluated more than once (seed001's eval wraps around its test
    queue) keeps its first row; the legacy graphs give it the same prediction
    each time.
    """
    indices, labels, predictions = (
        np.asarray(a, dtype=np.int64).reshape(-1) for a in (indices, labels, predictions)
    )
    unique, first = np.unique(indices, return_index=True)
    return Predictions(unique, labels[first], predictions[first])


def check_destination(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Fail before a long evaluation if ``path`` cannot be written.

    Raises FileExistsError for an existing file (unless ``overwrite``) and
    FileNotFoundError when its directory does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: directory {path.parent} does not exist")
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path}: already exists; not overwriting it")
    return path


def write(
    path: str | os.PathLike[str], predictions: Predictions, *, overwrite: bool = False
) -> Path:
    """Write ``predictions`` as CSV atomically; an existing file is kept unless ``overwrite``."""
    buffer = io.StringIO()
    buffer.write(",".join(HEADER) + "\n")
    rows = np.stack([predictions.index, predictions.label, predictions.prediction], axis=1)
    np.savetxt(buffer, rows, fmt="%d", delimiter=",")
    return write_atomic(path, buffer.getvalue().encode("ascii"), overwrite=overwrite)


def read(path: str | os.PathLike[str]) -> Predictions:
    """Read a predictions file; FormatError names the file when it is not one."""
    text = Path(path).read_text(encoding="ascii", errors="replace")
    lines = text.splitlines()
    if not lines or tuple(lines[0].split(",")) != HEADER:
        raise FormatError(path, f"expected the header {','.join(HEADER)!r} on the first line")
    try:
        table = np.loadtxt(lines[1:], delimiter=",", dtype=np.int64, ndmin=2).reshape(-1, 3)
    except ValueError as error:
        raise FormatError(path, f"expected rows of three integers ({error})") from None
    return Predictions(table[:, 0], table[:, 1], table[:, 2])
