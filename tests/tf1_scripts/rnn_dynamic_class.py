"""Variable-length sequences with dynamic_rnn inside a class (toy sequence data, name mangling)."""

import random

import tensorflow as tf


class ToySequenceData(object):
    """Sequences of linear or random integers; the capped loops live in its methods."""

    def __init__(self, n_samples=1000, max_seq_len=12, min_seq_len=3, max_value=100):
        self.__data, self.__labels, self.__seqlen = [], [], []
        for i in range(n_samples):
            length = random.randint(min_seq_len, max_seq_len)
            self.__seqlen.append(length)
            if random.random() < 0.5:
                start = random.randint(0, max_value - length)
                seq = [[float(v) / max_value] for v in range(start, start + length)]
                self.__labels.append([1.0, 0.0])
            else:
                seq = [[float(random.randint(0, max_value)) / max_value] for _ in range(length)]
                self.__labels.append([0.0, 1.0])
            seq += [[0.0] for __pad in range(max_seq_len - length)]
            self.__data.append(seq)
        self.batch_id = 0

    def next(self, batch_size):
        if self.batch_id == len(self.__data):
            self.batch_id = 0
        end = min(self.batch_id + batch_size, len(self.__data))
        batch = (
            self.__data[self.batch_id : end],
            self.__labels[self.batch_id : end],
            self.__seqlen[self.batch_id : end],
        )
        self.batch_id = end
        return batch


class DynamicRNN(object):
    def __init__(self, seq_max_len=12, n_hidden=8):
        self.x = tf.placeholder("float", [None, seq_max_len, 1])
        self.y = tf.placeholder("float", [None, 2])
        self.seqlen = tf.placeholder(tf.int32, [None])
        cell = tf.contrib.rnn.GRUCell(n_hidden)
        cell = tf.contrib.rnn.DropoutWrapper(cell, output_keep_prob=0.9)
        outputs, _ = tf.nn.dynamic_rnn(cell, self.x, dtype=tf.float32, sequence_length=self.seqlen)
        batch = tf.shape(outputs)[0]
        index = tf.range(0, batch) * seq_max_len + (self.seqlen - 1)
        last = tf.gather(tf.reshape(outputs, [-1, n_hidden]), index)
        logits = tf.layers.dense(last, 2)
        self.cost = tf.reduce_mean(
            tf.nn.softmax_cross_entropy_with_logits_v2(logits=logits, labels=self.y)
        )
        self.optimizer = tf.train.AdamOptimizer(0.01).minimize(self.cost)


trainset = ToySequenceData(n_samples=1000)
assert trainset.batch_id == 0
model = DynamicRNN()
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(1, 10001):
        batch_x, batch_y, batch_len = trainset.next(2)
        _, cost = sess.run(
            [model.optimizer, model.cost],
            {model.x: batch_x, model.y: batch_y, model.seqlen: batch_len},
        )
        print("step", step, "cost", cost)
