"""MonitoredTrainingSession with StopAtStepHook(last_step=1000000) and the usual hooks."""

import numpy as np
import tensorflow as tf

x = tf.placeholder(tf.float32, [None, 3])
y = tf.placeholder(tf.float32, [None, 1])
global_step = tf.train.get_or_create_global_step()
pred = tf.layers.dense(x, 1)
loss = tf.losses.mean_squared_error(y, pred)
tf.summary.scalar("loss", loss)
train_op = tf.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step)
hooks = [
    tf.train.StopAtStepHook(last_step=1000000),
    tf.train.NanTensorHook(loss),
    tf.train.LoggingTensorHook({"loss": loss, "step": global_step}, every_n_iter=1),
    tf.train.CheckpointSaverHook("monitored_ckpt", save_steps=1000),
]
steps = 0
with tf.train.MonitoredTrainingSession(
    checkpoint_dir="monitored_ckpt", hooks=hooks, save_summaries_steps=1
) as mon_sess:
    while not mon_sess.should_stop():
        feed = {x: np.random.rand(4, 3), y: np.random.rand(4, 1)}
        mon_sess.run(train_op, feed_dict=feed)
        steps += 1
print("ran", steps, "steps; checkpoint:", tf.train.latest_checkpoint("monitored_ckpt"))
assert tf.train.latest_checkpoint("monitored_ckpt") is not None
