"""Softmax regression on MNIST fetched by a helper module from yann.lecun.com."""

import numpy as np
import tensorflow as tf

import mnist_download_helper as helper

train_images = helper.extract_images(
    helper.maybe_download("train-images-idx3-ubyte.gz", "raw_mnist")
)
train_labels = helper.extract_labels(
    helper.maybe_download("train-labels-idx1-ubyte.gz", "raw_mnist")
)
test_images = helper.extract_images(helper.maybe_download("t10k-images-idx3-ubyte.gz", "raw_mnist"))
helper.maybe_download("t10k-labels-idx1-ubyte.gz", "raw_mnist")
assert train_images.shape[1:] == (28, 28, 1) and len(train_images) == len(train_labels)
print("train", train_images.shape, "test", test_images.shape)

x = tf.placeholder(tf.float32, [None, 784])
y_ = tf.placeholder(tf.int64, [None])
W = tf.Variable(tf.zeros([784, 10]))
b = tf.Variable(tf.zeros([10]))
y = tf.matmul(x, W) + b
loss = tf.losses.sparse_softmax_cross_entropy(labels=y_, logits=y)
train_step = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
flat = train_images.reshape(-1, 784).astype(np.float32) / 255.0
with tf.Session() as sess:
    tf.global_variables_initializer().run()
    for i in range(1000):
        start = (i * 100) % len(flat)
        sess.run(train_step, {x: flat[start : start + 100], y_: train_labels[start : start + 100]})
print("trained")
