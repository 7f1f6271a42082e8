"""Original-style TF1 example scripts, run unmodified by ``python -m legacy_tf1.run``.

They are written the way TF 1.x tutorials were (``import tensorflow as tf``,
placeholders, sessions, ``tf.contrib``) and together touch every shim of the
runner. Each checks its own results with ``assert`` and stays small enough to
finish in seconds with ``--cap-loops 2``:

* ``flags_logging_gfile.py``: ``tf.app.flags``/``tf.flags``, ``tf.app.run``,
  ``tf.logging``, ``tf.gfile``;
* ``mnist_tf_layers.py``: ``input_data``, ``tf.layers`` (incl.
  ``batch_normalization`` + ``UPDATE_OPS``), ``tf.nn.relu_layer``,
  ``Dimension.value``, ``tf.train.Saver``, ``tf.summary`` + ``FileWriter``;
* ``contrib_slim.py``: ``tf.contrib.layers`` initializers, regularizers and
  layers incl. ``batch_norm``, ``tf.contrib.slim``, ``tf.contrib.framework``,
  ``tf.contrib.deprecated`` summaries;
* ``cifar10_queues.py``: ``cifar10`` / ``cifar10_input``, queue runners with
  a ``Coordinator``, ``tf.train.Saver``.

These are scripts, not importable modules: run them with the runner.
"""

EXAMPLES = (
    "flags_logging_gfile.py",
    "mnist_tf_layers.py",
    "contrib_slim.py",
    "cifar10_queues.py",
)
