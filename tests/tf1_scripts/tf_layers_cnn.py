"""A tf.layers CNN on MNIST (the layers tutorial style, graph mode)."""

import tensorflow as tf
from tensorflow.examples.tutorials.mnist import input_data

mnist = input_data.read_data_sets("MNIST_data", one_hot=False)
x = tf.placeholder(tf.float32, [None, 784])
y = tf.placeholder(tf.int64, [None])
training = tf.placeholder_with_default(False, [])
net = tf.reshape(x, [-1, 28, 28, 1])
net = tf.layers.conv2d(net, 4, 5, padding="same", activation=tf.nn.relu)
net = tf.layers.max_pooling2d(net, 2, 2)
net = tf.layers.flatten(net)
net = tf.layers.dense(net, 32, activation=tf.nn.relu)
net = tf.layers.dropout(net, rate=0.4, training=training)
logits = tf.layers.dense(net, 10)
loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)
accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), y), tf.float32))
train_op = tf.train.AdamOptimizer(1e-3).minimize(loss)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for i in range(20000):
        xs, ys = mnist.train.next_batch(32)
        sess.run(train_op, {x: xs, y: ys, training: True})
    acc = sess.run(accuracy, {x: mnist.test.images[:100], y: mnist.test.labels[:100]})
    print("test accuracy %g" % acc)
