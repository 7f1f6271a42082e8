"""Queue runners: slice_input_producer + tf.train.batch, a Coordinator and a should_stop() loop."""

import numpy as np
import tensorflow as tf

data = np.arange(100, dtype=np.float32).reshape(50, 2)
targets = np.arange(50, dtype=np.int32)
example, target = tf.train.slice_input_producer([data, targets], shuffle=True)
batch_x, batch_y = tf.train.batch([example, target], batch_size=4, num_threads=1, capacity=32)
w = tf.Variable(tf.zeros([2, 1]))
loss = tf.reduce_mean(tf.square(tf.matmul(batch_x, w) - tf.cast(batch_y[:, None], tf.float32)))
train_op = tf.train.GradientDescentOptimizer(1e-4).minimize(loss)
sess = tf.Session()
sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
coord = tf.train.Coordinator()
threads = tf.train.start_queue_runners(sess=sess, coord=coord)
step = 0
try:
    while not coord.should_stop():
        _, value = sess.run([train_op, loss])
        step += 1
        print("step", step, "loss", value)
except tf.errors.OutOfRangeError:
    print("Done training -- epoch limit reached")
finally:
    coord.request_stop()
coord.join(threads)
sess.close()
print("trained", step, "steps")
