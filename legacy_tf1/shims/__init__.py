"""The compat runner's shims: what ``python -m legacy_tf1.run`` puts around a TF1 script.

Modules:

* ``tf_module``: the recording ``tensorflow`` proxy (tf.compat.v1 + extras);
* ``contrib``: ``tf.contrib`` on tf_slim and TF;
* ``examples_mnist``: ``tensorflow.examples.tutorials.mnist.input_data``, offline;
* ``cifar10_tutorial``: the ``cifar10`` / ``cifar10_input`` tutorial modules, offline;
* ``bridges``: TF1 mode and the tf_slim-on-TF-2.21 patches (process-wide);
* ``importer``: the script's ``__import__`` and the finder for its own modules;
* ``loops``: ``--cap-loops`` (AST rewrite of ``for ... in range(...)`` and ``while``);
* ``numpy_compat``: the numpy 1 names numpy 2 removed, for the script only;
* ``offline``: ``--sample-data`` downloads (dataset URLs served, other network refused);
* ``interrupt``: Ctrl-C / SIGTERM / ``--timeout`` that cannot hang on a blocked ``Session.run``;
* ``failures``: failure classification and traceback trimming;
* ``report`` / ``replacements``: the migration report and its TF2 replacements.

Nothing here is imported by the rest of ``legacy_tf1``: the switches in
``bridges`` are process-wide and belong to the runner's own process.
"""

from legacy_tf1.shims.errors import UnsupportedAPIError, UnsupportedImportError

__all__ = ["UnsupportedAPIError", "UnsupportedImportError"]
