"""Trains the CIFAR-10 model with a MonitoredTrainingSession (the models repo's train binary)."""

import time
from datetime import datetime

import cifar10
import tensorflow as tf

FLAGS = tf.app.flags.FLAGS
tf.app.flags.DEFINE_string("train_dir", "/tmp/cifar10_train", """Event logs and checkpoints.""")
tf.app.flags.DEFINE_integer("max_steps", 1000000, """Number of batches to run.""")
tf.app.flags.DEFINE_boolean("log_device_placement", False, """Whether to log placement.""")
tf.app.flags.DEFINE_integer("log_frequency", 1, """How often to log results.""")


def train():
    with tf.Graph().as_default():
        global_step = tf.train.get_or_create_global_step()
        with tf.device("/cpu:0"):
            images, labels = cifar10.distorted_inputs()
        logits = cifar10.inference(images)
        loss = cifar10.loss(logits, labels)
        train_op = cifar10.train(loss, global_step)

        class _LoggerHook(tf.train.SessionRunHook):
            """Logs loss and runtime."""

            def begin(self):
                self._step = -1
                self._start_time = time.time()

            def before_run(self, run_context):
                self._step += 1
                return tf.train.SessionRunArgs(loss)

            def after_run(self, run_context, run_values):
                if self._step % FLAGS.log_frequency == 0:
                    duration = time.time() - self._start_time
                    self._start_time = time.time()
                    examples_per_sec = FLAGS.log_frequency * FLAGS.batch_size / duration
                    print(
                        "%s: step %d, loss = %.2f (%.1f examples/sec)"
                        % (datetime.now(), self._step, run_values.results, examples_per_sec)
                    )

        with tf.train.MonitoredTrainingSession(
            checkpoint_dir=FLAGS.train_dir,
            hooks=[
                tf.train.StopAtStepHook(last_step=FLAGS.max_steps),
                tf.train.NanTensorHook(loss),
                _LoggerHook(),
            ],
            config=tf.ConfigProto(log_device_placement=FLAGS.log_device_placement),
        ) as mon_sess:
            while not mon_sess.should_stop():
                mon_sess.run(train_op)


def main(argv=None):
    cifar10.maybe_download_and_extract()
    if tf.gfile.Exists(FLAGS.train_dir):
        tf.gfile.DeleteRecursively(FLAGS.train_dir)
    tf.gfile.MakeDirs(FLAGS.train_dir)
    train()


if __name__ == "__main__":
    tf.app.run()
