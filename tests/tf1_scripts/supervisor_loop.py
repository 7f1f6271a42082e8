"""tf.train.Supervisor with managed_session and a `while not sv.should_stop()` loop."""

import tensorflow as tf

global_step = tf.Variable(0, trainable=False, name="global_step")
w = tf.Variable(5.0)
loss = tf.square(w)
train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss, global_step=global_step)
sv = tf.train.Supervisor(
    logdir="supervisor_logs", global_step=global_step, save_model_secs=0, save_summaries_secs=0
)
with sv.managed_session() as sess:
    while not sv.should_stop():
        _, step, value = sess.run([train_op, global_step, loss])
        print("step", step, "loss", value)
    sv.saver.save(sess, "supervisor_logs/model.ckpt", global_step=global_step)
print("done")
