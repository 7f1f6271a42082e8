"""``cifar10`` and ``cifar10_input``: the TF models CIFAR-10 tutorial modules, offline.

Served only when the script's own directory does not provide them (the
runner checks). ``cifar10`` defines the tutorial's flags (``batch_size``
128, ``data_dir`` ``/tmp/cifar10_data``, ``use_fp16`` False) on import, as
the original did; ``maybe_download_and_extract`` writes the embedded sample
into ``FLAGS.data_dir/cifar-10-batches-bin`` instead of downloading, and the
input functions are the queue-runner pipelines of :mod:`legacy_tf1.inputs`.
The tutorial's model functions (``inference``, ``loss``, ``train``) are not
served: a script that calls them gets an UnsupportedAPIError naming them.
"""

from __future__ import annotations

import os
import sys
import types

from legacy_tf1.shims.report import Recorder

BATCHES_DIR = "cifar-10-batches-bin"
DATA_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"  # kept for reference only
# The tutorial's module constants, as the original defined them.
MODULE_CONSTANTS = {
    "MOVING_AVERAGE_DECAY": 0.9999,
    "NUM_EPOCHS_PER_DECAY": 350.0,
    "LEARNING_RATE_DECAY_FACTOR": 0.1,
    "INITIAL_LEARNING_RATE": 0.1,
    "TOWER_NAME": "tower",
    "DATA_URL": DATA_URL,
}
NOT_SERVED = {
    "inference": "build the model in the script (or use legacy_tf1.cifar10_cnn)",
    "loss": "compute the loss in the script (sparse softmax cross-entropy + weight decay)",
    "train": "build the optimizer step in the script",
}


def _define_flags(flags) -> None:
    # Same names, defaults and help texts as tutorials/image/cifar10/cifar10.py.
    flags.DEFINE_integer("batch_size", 128, "Number of images to process in a batch.")
    flags.DEFINE_string("data_dir", "/tmp/cifar10_data", "Path to the CIFAR-10 data directory.")
    flags.DEFINE_boolean("use_fp16", False, "Train the model using fp16.")


def materialise_cifar_bin(data_dir: str | os.PathLike, recorder: Recorder) -> bool:
    """Write the sample into ``data_dir/cifar-10-batches-bin`` unless that directory exists.

    The original only checked that the extracted directory existed, too.
    """
    from formats import sample

    target = os.path.join(os.fspath(data_dir), BATCHES_DIR)
    if os.path.exists(target):
        return False
    sample.write_sample("cifar-bin", target)
    message = (
        f"{target}: absent; wrote the embedded sample there instead of downloading "
        "(MNIST digits padded to 32x32x3: 4000 train + 1000 test images)"
    )
    print(f"[legacy_tf1.run] {message}", file=sys.stderr, flush=True)
    recorder.note_data(message)
    return True


def build_cifar10_input_module() -> types.ModuleType:
    """``cifar10_input``: the queue pipelines from :mod:`legacy_tf1.inputs`."""
    from legacy_tf1 import inputs

    module = types.ModuleType("cifar10_input", "cifar10_input served by legacy_tf1.run")
    for name in (
        "IMAGE_SIZE",
        "NUM_CLASSES",
        "NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN",
        "NUM_EXAMPLES_PER_EPOCH_FOR_EVAL",
        "read_cifar10",
        "distorted_inputs",
        "inputs",
        "_generate_image_and_label_batch",
    ):
        setattr(module, name, getattr(inputs, name))
    return module


def build_cifar10_module(
    tf: types.ModuleType, cifar10_input: types.ModuleType, recorder: Recorder
) -> types.ModuleType:
    """``cifar10``: flags, constants, the offline download and the two input functions."""
    tf1 = tf.compat.v1
    flags = tf1.app.flags
    _define_flags(flags)
    FLAGS = flags.FLAGS

    def maybe_download_and_extract():
        """Write the embedded sample into FLAGS.data_dir (never downloads)."""
        dest_directory = FLAGS.data_dir
        os.makedirs(dest_directory, exist_ok=True)
        materialise_cifar_bin(dest_directory, recorder)

    def _data_dir() -> str:
        if not FLAGS.data_dir:
            raise ValueError("Please supply a data_dir")
        return os.path.join(FLAGS.data_dir, BATCHES_DIR)

    def _maybe_fp16(images, labels):
        if FLAGS.use_fp16:
            # As the original: both images and labels are cast (labels too, a quirk).
            images = tf.cast(images, tf.float16)
            labels = tf.cast(labels, tf.float16)
        return images, labels

    def distorted_inputs():
        """Augmented training batches of FLAGS.batch_size from FLAGS.data_dir."""
        images, labels = cifar10_input.distorted_inputs(
            data_dir=_data_dir(), batch_size=FLAGS.batch_size
        )
        return _maybe_fp16(images, labels)

    def inputs(eval_data):
        """Evaluation batches of FLAGS.batch_size (test set when ``eval_data``)."""
        images, labels = cifar10_input.inputs(
            eval_data=eval_data, data_dir=_data_dir(), batch_size=FLAGS.batch_size
        )
        return _maybe_fp16(images, labels)

    module = types.ModuleType("cifar10", "cifar10 served by legacy_tf1.run")
    module.FLAGS = FLAGS
    module.IMAGE_SIZE = cifar10_input.IMAGE_SIZE
    module.NUM_CLASSES = cifar10_input.NUM_CLASSES
    module.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN = cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_TRAIN
    module.NUM_EXAMPLES_PER_EPOCH_FOR_EVAL = cifar10_input.NUM_EXAMPLES_PER_EPOCH_FOR_EVAL
    module.cifar10_input = cifar10_input
    for name, value in MODULE_CONSTANTS.items():
        setattr(module, name, value)
    for function in (maybe_download_and_extract, distorted_inputs, inputs):
        function.__module__ = "cifar10"
        setattr(module, function.__name__, function)
    return module
