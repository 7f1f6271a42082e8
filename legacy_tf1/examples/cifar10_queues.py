"""The CIFAR-10 tutorial's input pipeline with queue runners and a Coordinator.

Run with ``--data_dir DIR`` (default /tmp/cifar10_data, as in the tutorial).
"""

import os

import cifar10
import cifar10_input
import tensorflow as tf

FLAGS = tf.app.flags.FLAGS


def inference(images):
    dim = images.get_shape()[1].value * images.get_shape()[2].value * 3
    flat = tf.reshape(images, [-1, dim])
    weights = tf.get_variable(
        "weights",
        [dim, cifar10.NUM_CLASSES],
        initializer=tf.truncated_normal_initializer(stddev=0.01),
    )
    biases = tf.get_variable("biases", [cifar10.NUM_CLASSES], initializer=tf.zeros_initializer())
    return tf.matmul(flat, weights) + biases


def main(_):
    cifar10.maybe_download_and_extract()
    data_dir = os.path.join(FLAGS.data_dir, "cifar-10-batches-bin")
    with tf.variable_scope("model"):
        images, labels = cifar10.distorted_inputs()
        logits = inference(images)
    with tf.variable_scope("model", reuse=True):
        test_images, test_labels = cifar10_input.inputs(
            eval_data=True, data_dir=data_dir, batch_size=FLAGS.batch_size
        )
        test_logits = inference(test_images)
    loss = tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.int64), logits=logits
        )
    )
    train_op = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    top_1 = tf.nn.in_top_k(test_logits, test_labels, 1)
    saver = tf.train.Saver()

    sess = tf.Session()
    sess.run(tf.global_variables_initializer())
    coord = tf.train.Coordinator()
    threads = tf.train.start_queue_runners(sess=sess, coord=coord)
    try:
        for step in range(50):
            _, loss_value = sess.run([train_op, loss])
            print(f"step {step}, loss {loss_value:.3f}")
        saver.save(sess, os.path.join("ckpt_cifar10_queues", "model.ckpt"), global_step=step)
        correct = sess.run(top_1)
        print(f"eval batch precision {correct.sum() / float(len(correct)):.3f}")
    finally:
        coord.request_stop()
        coord.join(threads, stop_grace_period_secs=5)
        sess.close()


if __name__ == "__main__":
    tf.app.run()
