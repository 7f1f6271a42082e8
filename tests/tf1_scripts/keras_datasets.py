"""tf.keras.datasets.mnist.load_data() and tf.keras.utils.get_file in a TF1 script."""

import numpy as np
import tensorflow as tf

(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()
assert x_train.shape[1:] == (28, 28) and len(x_test) == len(y_test)
path = tf.keras.utils.get_file(
    "cifar-10-batches-bin", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", untar=True
)
record = np.fromfile(path + "/data_batch_1.bin", dtype=np.uint8)[: 1 + 32 * 32 * 3]
assert record[0] <= 9
x = tf.placeholder(tf.float32, [None, 784])
logits = tf.layers.dense(x, 10)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    out = sess.run(logits, {x: x_train[:4].reshape(4, 784) / 255.0})
print("logits", out.shape, "train", x_train.shape, "cifar dir", path)
