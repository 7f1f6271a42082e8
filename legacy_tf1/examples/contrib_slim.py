"""tf.contrib in TF1 style: contrib.layers, slim, framework and the deprecated summaries."""

import numpy as np
import tensorflow as tf

slim = tf.contrib.slim

images = tf.placeholder(tf.float32, [None, 16, 16, 3])
labels = tf.placeholder(tf.int64, [None])
is_training = tf.placeholder(tf.bool, [])
global_step = tf.contrib.framework.get_or_create_global_step()

with slim.arg_scope(
    [slim.conv2d, slim.fully_connected],
    weights_regularizer=tf.contrib.layers.l2_regularizer(1e-4),
):
    net = tf.contrib.layers.conv2d(
        images,
        8,
        [3, 3],
        weights_initializer=tf.contrib.layers.xavier_initializer_conv2d(),
        normalizer_fn=tf.contrib.layers.batch_norm,
        normalizer_params={"is_training": is_training},
        scope="conv1",
    )
    net = slim.max_pool2d(net, [2, 2], scope="pool1")
    net = tf.contrib.layers.flatten(net)
    net = tf.contrib.layers.fully_connected(
        net,
        32,
        weights_initializer=tf.contrib.layers.variance_scaling_initializer(),
        scope="fc1",
    )
    # A non-fused batch_norm on a 2-D input with a tensor is_training
    net = tf.contrib.layers.batch_norm(net, is_training=is_training, fused=False, scope="bn_fc1")
    logits = tf.contrib.layers.fully_connected(
        net,
        10,
        activation_fn=None,
        weights_initializer=tf.contrib.layers.xavier_initializer(),
        scope="logits",
    )

loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
total_loss = loss + tf.add_n(tf.losses.get_regularization_losses())
update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
assert len(update_ops) == 4, update_ops  # moving mean + variance of two batch norms
with tf.control_dependencies(update_ops):
    train_op = tf.train.GradientDescentOptimizer(0.1).minimize(total_loss, global_step=global_step)

tf.contrib.deprecated.scalar_summary(["loss", "total_loss"], tf.stack([loss, total_loss]))
tf.contrib.deprecated.histogram_summary("logits", logits)
summaries = tf.contrib.deprecated.merge_all_summaries()

rng = np.random.RandomState(0)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(100):  # noqa: B007 - step is checked after the loop
        feed = {
            images: rng.rand(8, 16, 16, 3).astype(np.float32),
            labels: rng.randint(0, 10, size=8),
            is_training: True,
        }
        summary_bytes, loss_value, _ = sess.run([summaries, total_loss, train_op], feed)
    summary = tf.Summary.FromString(summary_bytes)
    assert sorted(v.tag for v in summary.value) == ["logits", "loss", "total_loss"]
    assert sess.run(global_step) == step + 1
    print(f"global step {sess.run(global_step)}, loss {loss_value:.3f}")
