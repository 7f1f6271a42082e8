"""``legacy_tf1/examples/mnist_tf_layers.py`` migrated by hand: the runner_overhead baseline.

What a person would write instead of running the example under
``python -m legacy_tf1.run``: ``tensorflow.compat.v1`` with v2 behaviour
disabled, ``tf.layers`` served by tf_keras, and the offline ``input_data``
stand-in imported directly. The graph, the loop and the files written are the
example's; the number of training steps is the first argument (what
``--cap-loops N`` does to the example's ``range(1000)``).

Usage: ``python migrated_mnist_tf_layers.py STEPS`` in a directory holding MNIST_data.
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow.compat.v1 as tf  # noqa: E402

from legacy_tf1.inputs import read_data_sets  # noqa: E402

tf.disable_v2_behavior()
steps = int(sys.argv[1])

mnist = read_data_sets("MNIST_data", one_hot=True)

x = tf.placeholder(tf.float32, [None, 784])
y_ = tf.placeholder(tf.float32, [None, 10])
is_training = tf.placeholder(tf.bool, [])

images = tf.reshape(x, [-1, 28, 28, 1])
conv = tf.layers.conv2d(images, 8, (5, 5), padding="same", activation=tf.nn.relu, name="conv1")
conv = tf.layers.batch_normalization(conv, training=is_training)
pool = tf.layers.max_pooling2d(conv, (2, 2), (2, 2), name="pool1")
flat = tf.layers.flatten(pool)
dim = flat.get_shape()[1]
assert dim == 14 * 14 * 8, dim

w_fc = tf.Variable(tf.truncated_normal([dim, 32], stddev=0.1))
b_fc = tf.Variable(tf.constant(0.1, shape=[32]))
hidden = tf.nn.relu_layer(flat, w_fc, b_fc, name="fc1")
hidden = tf.layers.dropout(hidden, rate=0.5, training=is_training)
logits = tf.layers.dense(hidden, 10, name="logits")

cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=logits))
update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
with tf.control_dependencies(update_ops):
    train_step = tf.train.AdamOptimizer(1e-3).minimize(cross_entropy)
correct = tf.equal(tf.argmax(logits, 1), tf.argmax(y_, 1))
accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))

tf.summary.scalar("cross_entropy", cross_entropy)
tf.summary.histogram("logits", logits)
merged = tf.summary.merge_all()
saver = tf.train.Saver()

with tf.Session() as sess:
    writer = tf.summary.FileWriter("logs_mnist_tf_layers", sess.graph)
    sess.run(tf.global_variables_initializer())
    for step in range(steps):
        batch_xs, batch_ys = mnist.train.next_batch(50)
        feed = {x: batch_xs, y_: batch_ys, is_training: True}
        summary, _ = sess.run([merged, train_step], feed_dict=feed)
        writer.add_summary(summary, step)
    writer.close()
    path = saver.save(sess, os.path.join("ckpt_mnist_tf_layers", "model.ckpt"), global_step=step)
    acc = sess.run(
        accuracy, {x: mnist.test.images[:200], y_: mnist.test.labels[:200], is_training: False}
    )
    print(f"test accuracy {acc:g}")

with tf.Session() as sess:
    saver.restore(sess, tf.train.latest_checkpoint("ckpt_mnist_tf_layers"))
    assert path.endswith(f"model.ckpt-{step}")
    print("restored", path)

assert tf.gfile.Glob(os.path.join("logs_mnist_tf_layers", "events.out.tfevents.*"))
