"""tf.train.Saver: save, then restore into a fresh graph and check the values."""

import numpy as np
import tensorflow as tf

with tf.Graph().as_default():
    v1 = tf.get_variable("v1", shape=[3], initializer=tf.random_normal_initializer())
    v2 = tf.get_variable("v2", shape=[2, 2], initializer=tf.zeros_initializer())
    inc = v2.assign(v2 + 1)
    saver = tf.train.Saver(max_to_keep=2)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(5):
            sess.run(inc)
            path = saver.save(sess, "saver_ckpt/model.ckpt", global_step=step)
        saved = sess.run([v1, v2])

with tf.Graph().as_default():
    v1 = tf.get_variable("v1", shape=[3])
    v2 = tf.get_variable("v2", shape=[2, 2])
    saver = tf.train.Saver()
    with tf.Session() as sess:
        saver.restore(sess, tf.train.latest_checkpoint("saver_ckpt"))
        restored = sess.run([v1, v2])
np.testing.assert_array_equal(saved[0], restored[0])
np.testing.assert_array_equal(saved[1], restored[1])
print("restored", path)
