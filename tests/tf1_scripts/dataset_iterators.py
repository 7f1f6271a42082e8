"""tf.data in TF 1.x style: make_one_shot_iterator and make_initializable_iterator."""

import numpy as np
import tensorflow as tf

features = np.arange(20, dtype=np.float32).reshape(10, 2)
dataset = tf.data.Dataset.from_tensor_slices(features).shuffle(10).batch(3).repeat()
next_batch = dataset.make_one_shot_iterator().get_next()
placeholder = tf.placeholder(tf.float32, [None, 2])
eval_ds = tf.data.Dataset.from_tensor_slices(placeholder).batch(4)
iterator = eval_ds.make_initializable_iterator()
eval_batch = iterator.get_next()
with tf.Session() as sess:
    for step in range(100):
        print("train batch", sess.run(next_batch).shape)
    sess.run(iterator.initializer, {placeholder: features})
    total = 0
    while True:
        try:
            total += len(sess.run(eval_batch))
        except tf.errors.OutOfRangeError:
            break
print("eval rows", total)
