"""LeNet on MNIST with tf.contrib.slim, TF1 style: the model docs/migrate.md migrates.

The network is TF-Slim's LeNet (the models repository's ``nets/lenet.py``):
conv1 32 5x5, pool 2x2, conv2 64 5x5, pool 2x2, fc3 1024, dropout, fc4 10
logits, under the ``LeNet`` variable scope with slim's names
(``LeNet/conv1/weights``, ``LeNet/conv1/biases``, ...). It trains with Adam
and saves a Saver checkpoint, with its ``.meta`` graph, to ``lenet_train/``.
"""

import os

import tensorflow as tf
from tensorflow.examples.tutorials.mnist import input_data

slim = tf.contrib.slim

STEPS = 2000
BATCH_SIZE = 50
TRAIN_DIR = "lenet_train"


def lenet(images, num_classes=10, is_training=False, dropout_keep_prob=0.5, scope="LeNet"):
    """Slim's LeNet: logits and the end points by name."""
    end_points = {}
    with tf.variable_scope(scope, "LeNet", [images]):
        net = end_points["conv1"] = slim.conv2d(images, 32, [5, 5], scope="conv1")
        net = end_points["pool1"] = slim.max_pool2d(net, [2, 2], 2, scope="pool1")
        net = end_points["conv2"] = slim.conv2d(net, 64, [5, 5], scope="conv2")
        net = end_points["pool2"] = slim.max_pool2d(net, [2, 2], 2, scope="pool2")
        net = slim.flatten(net)
        net = end_points["fc3"] = slim.fully_connected(net, 1024, scope="fc3")
        net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout3")
        logits = end_points["Logits"] = slim.fully_connected(
            net, num_classes, activation_fn=None, scope="fc4"
        )
    return logits, end_points


mnist = input_data.read_data_sets("MNIST_data", one_hot=False)

x = tf.placeholder(tf.float32, [None, 784], name="x")
labels = tf.placeholder(tf.int64, [None], name="labels")
is_training = tf.placeholder(tf.bool, [], name="is_training")

with slim.arg_scope(
    [slim.conv2d, slim.fully_connected],
    weights_initializer=tf.truncated_normal_initializer(stddev=0.1),
    activation_fn=tf.nn.relu,
):
    logits, end_points = lenet(tf.reshape(x, [-1, 28, 28, 1]), is_training=is_training)

loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
global_step = tf.train.get_or_create_global_step()
train_op = tf.train.AdamOptimizer(1e-4).minimize(loss, global_step=global_step)
predictions = tf.argmax(logits, 1, name="predictions")
accuracy = tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))
saver = tf.train.Saver()

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(STEPS):
        images, digits = mnist.train.next_batch(BATCH_SIZE)
        _, loss_value = sess.run([train_op, loss], {x: images, labels: digits, is_training: True})
        if step % 100 == 0:
            print(f"step {step}: loss {loss_value:.3f}")
    path = saver.save(sess, os.path.join(TRAIN_DIR, "model.ckpt"), global_step=global_step)
    test = {x: mnist.test.images[:500], labels: mnist.test.labels[:500], is_training: False}
    print(f"saved {path}; test accuracy {sess.run(accuracy, test):.3f}")
