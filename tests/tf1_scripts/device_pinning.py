"""Ops pinned to /gpu:0 with a ConfigProto (log_device_placement), as multi-GPU code did."""

import tensorflow as tf

config = tf.ConfigProto(log_device_placement=False)
config.gpu_options.allow_growth = True
with tf.device("/gpu:0"):
    a = tf.constant([1.0, 2.0, 3.0], name="a")
    b = tf.constant([4.0, 5.0, 6.0], name="b")
    c = a * b
with tf.device("/cpu:0"):
    total = tf.reduce_sum(c)
with tf.Session(config=config) as sess:
    value = sess.run(total)
assert value == 32.0, value
print("sum", value)
