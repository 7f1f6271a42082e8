"""``tensorflow.examples.tutorials.mnist.input_data``, offline.

``read_data_sets`` reads the IDX files in ``train_dir`` with
:func:`legacy_tf1.inputs.read_data_sets`. Where the original downloaded
missing files, this writes the embedded sample into an empty or absent
``train_dir`` and says so in one line on stderr; it never touches the
network. A directory holding only some of the files is left alone, so the
reader's error names the missing ones (mixing real and sample files would
silently train on a mix).
"""

from __future__ import annotations

import os
import sys
import types

from legacy_tf1.shims.report import Recorder

MODULE_NAME = "tensorflow.examples.tutorials.mnist.input_data"


def materialise_mnist(train_dir: str | os.PathLike, recorder: Recorder) -> bool:
    """Write the embedded MNIST sample into ``train_dir`` if it holds none of the files.

    Returns True when it wrote the sample.
    """
    from formats import sample

    directory = os.fspath(train_dir)
    if sample.is_complete("mnist", directory):
        return False
    present = [
        name
        for name in sample.MNIST_FILES
        if os.path.exists(os.path.join(directory, name))
        or os.path.exists(os.path.join(directory, name.removesuffix(".gz")))
    ]
    if present:
        return False  # partial copy: let the reader report what is missing
    sample.write_sample("mnist", directory)
    message = (
        f"{directory}: no MNIST files; wrote the embedded sample there instead of downloading "
        "(4000 training + 1000 test digits)"
    )
    print(f"[legacy_tf1.run] {message}", file=sys.stderr, flush=True)
    recorder.note_data(message)
    return True


def build_input_data_module(recorder: Recorder) -> types.ModuleType:
    """A module with the ``input_data`` API whose ``read_data_sets`` never downloads."""
    from legacy_tf1 import inputs

    def read_data_sets(
        train_dir,
        fake_data=False,
        one_hot=False,
        dtype=inputs.tf.float32,
        reshape=True,
        validation_size=5000,
        seed=None,
        source_url=inputs.DEFAULT_SOURCE_URL,
    ):
        """``input_data.read_data_sets``; writes the embedded sample where it would download."""
        if not fake_data:
            materialise_mnist(train_dir, recorder)
        return inputs.read_data_sets(
            train_dir,
            fake_data=fake_data,
            one_hot=one_hot,
            dtype=dtype,
            reshape=reshape,
            validation_size=validation_size,
            seed=seed,
            source_url=source_url,
        )

    module = types.ModuleType(MODULE_NAME, __doc__)
    read_data_sets.__module__ = MODULE_NAME
    module.read_data_sets = read_data_sets
    module.DataSet = inputs.DataSet
    module.dense_to_one_hot = inputs.dense_to_one_hot
    module.DEFAULT_SOURCE_URL = inputs.DEFAULT_SOURCE_URL
    return module
