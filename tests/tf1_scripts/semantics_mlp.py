"""An MLP with keep_prob dropout, xavier/variance-scaling init, l2 regularizer and Adam."""

import numpy as np
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 8])
y = tf.placeholder(tf.int32, [None])
keep_prob = tf.placeholder(tf.float32)
regularizer = tf.contrib.layers.l2_regularizer(scale=1e-3)
w1 = tf.get_variable(
    "w1", [8, 16], initializer=tf.contrib.layers.xavier_initializer(), regularizer=regularizer
)
w2 = tf.get_variable(
    "w2",
    [16, 3],
    initializer=tf.contrib.layers.variance_scaling_initializer(),
    regularizer=regularizer,
)
hidden = tf.nn.dropout(tf.nn.relu(tf.matmul(x, w1)), keep_prob)
logits = tf.matmul(hidden, w2)
loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
loss += tf.add_n(tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES))
train_op = tf.train.AdamOptimizer(learning_rate=1e-3).minimize(loss)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(500):
        feed = {x: np.random.rand(16, 8), y: np.random.randint(0, 3, 16), keep_prob: 0.5}
        _, value = sess.run([train_op, loss], feed)
        print(step, value)
