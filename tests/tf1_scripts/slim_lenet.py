"""A slim LeNet (research/slim nets style): arg_scope, conv2d, max_pool2d, dropout, l2 regularizer."""

import numpy as np
import tensorflow as tf

slim = tf.contrib.slim


def lenet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5, scope="LeNet"):
    end_points = {}
    with tf.variable_scope(scope, "LeNet", [images]):
        net = end_points["conv1"] = slim.conv2d(images, 4, [5, 5], scope="conv1")
        net = end_points["pool1"] = slim.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = end_points["conv2"] = slim.conv2d(net, 8, [5, 5], scope="conv2")
        net = end_points["pool2"] = slim.max_pool2d(net, [2, 2], 2, scope="pool2")
        net = slim.flatten(net)
        net = end_points["fc3"] = slim.fully_connected(net, 32, scope="fc3")
        net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout3")
        logits = slim.fully_connected(net, num_classes, activation_fn=None, scope="fc4")
    return logits, end_points


def lenet_arg_scope(weight_decay=0.0):
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        weights_regularizer=slim.l2_regularizer(weight_decay),
        weights_initializer=tf.truncated_normal_initializer(stddev=0.1),
        activation_fn=tf.nn.relu,
    ) as sc:
        return sc


images = tf.placeholder(tf.float32, [None, 28, 28, 1])
labels = tf.placeholder(tf.int64, [None])
with slim.arg_scope(lenet_arg_scope(weight_decay=4e-5)):
    logits, end_points = lenet(images, is_training=True)
assert end_points["pool2"].get_shape()[1].value == 7
loss = tf.losses.sparse_softmax_cross_entropy(labels, logits) + tf.losses.get_regularization_loss()
train_op = tf.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(100):
        feed = {images: np.random.rand(8, 28, 28, 1), labels: np.random.randint(0, 10, 8)}
        print(step, sess.run([train_op, loss], feed)[1])
