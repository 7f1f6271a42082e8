"""A script whose plotting import is not installed here: the failure points at its import line."""

import numpy as np
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 2])
import tf1_era_plotting_helpers as plotting  # noqa: E402

plotting.show(np.zeros(2))
