"""Export a trained port to a ``.keras`` file and to a SavedModel for serving.

Both writers refuse to replace an existing output unless ``overwrite=True``
and write into a temporary sibling first, then rename, so an interrupted
export never leaves a half-written file under the final name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path}: already exists; pass overwrite=True (--overwrite) to replace it"
        )


def export_keras(
    model: keras.Model, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Save ``model`` (architecture, weights, custom layers) as a ``.keras`` archive."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a Keras archive must end in .keras")
    _refuse_existing(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(handle)
    try:
        model.save(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def export_saved_model(
    model: keras.Model, directory: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write a SavedModel whose ``serve`` signature maps images to the model's outputs.

    TF Serving and ``tf.saved_model.load(directory).serve(images)`` can load it.
    """
    directory = Path(directory)
    _refuse_existing(directory, overwrite)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        model.export(str(staging / "model"), format="tf_saved_model", verbose=False)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging / "model", directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory
