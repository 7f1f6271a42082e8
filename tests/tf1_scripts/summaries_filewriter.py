"""Summaries: scalar/histogram/image, merge_all and a FileWriter with the graph."""

import glob

import numpy as np
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 4], name="x")
with tf.name_scope("model"):
    w = tf.Variable(tf.truncated_normal([4, 2], stddev=0.1), name="w")
    out = tf.nn.softmax(tf.matmul(x, w))
tf.summary.histogram("weights", w)
tf.summary.scalar("mean_out", tf.reduce_mean(out))
tf.summary.image("weights_img", tf.reshape(w, [1, 4, 2, 1]))
merged = tf.summary.merge_all()
with tf.Session() as sess:
    writer = tf.summary.FileWriter("summary_logs", sess.graph)
    sess.run(tf.global_variables_initializer())
    for i in range(1000):
        writer.add_summary(sess.run(merged, {x: np.random.rand(3, 4)}), i)
    writer.close()
assert glob.glob("summary_logs/events.out.tfevents.*"), "no event file"
print("events written")
