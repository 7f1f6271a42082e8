"""tf.app.flags and tf.app.run(main), tf.logging and tf.gfile."""

import os

import tensorflow as tf

flags = tf.app.flags
flags.DEFINE_integer("max_steps", 2000, "Number of steps to run trainer.")
flags.DEFINE_float("learning_rate", 0.01, "Initial learning rate.")
flags.DEFINE_string("summaries_dir", "flags_logs", "Directory for logs.")
flags.DEFINE_boolean("fake_data", False, "Use fake data.")
FLAGS = flags.FLAGS


def main(_):
    tf.logging.set_verbosity(tf.logging.INFO)
    if tf.gfile.Exists(FLAGS.summaries_dir):
        tf.gfile.DeleteRecursively(FLAGS.summaries_dir)
    tf.gfile.MakeDirs(FLAGS.summaries_dir)
    w = tf.Variable(1.0)
    train = tf.train.GradientDescentOptimizer(FLAGS.learning_rate).minimize(tf.square(w))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(FLAGS.max_steps):
            sess.run(train)
            tf.logging.info("step %d w %f", step, sess.run(w))
    with tf.gfile.GFile(os.path.join(FLAGS.summaries_dir, "done.txt"), "w") as f:
        f.write("lr=%g" % FLAGS.learning_rate)
    assert FLAGS.learning_rate == 0.05


if __name__ == "__main__":
    tf.app.run()
