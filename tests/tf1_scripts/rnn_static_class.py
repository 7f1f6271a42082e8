"""Static LSTM over MNIST rows, model in a class (contrib.rnn, the classic RNN example)."""

import numpy as np
import tensorflow as tf
from tensorflow.contrib import rnn
from tensorflow.examples.tutorials.mnist import input_data

mnist = input_data.read_data_sets("MNIST_data/", one_hot=True)
timesteps, num_input, num_hidden, num_classes = 28, 28, 16, 10


class RNNModel(object):
    def __init__(self):
        self.X = tf.placeholder("float", [None, timesteps, num_input])
        self.Y = tf.placeholder("float", [None, num_classes])
        self.weights = tf.Variable(tf.random_normal([num_hidden, num_classes]))
        self.biases = tf.Variable(tf.random_normal([num_classes]))
        x = tf.unstack(self.X, timesteps, 1)
        lstm_cell = rnn.BasicLSTMCell(num_hidden, forget_bias=1.0)
        outputs, states = rnn.static_rnn(lstm_cell, x, dtype=tf.float32)
        self.logits = tf.matmul(outputs[-1], self.weights) + self.biases
        self.loss = tf.reduce_mean(
            tf.nn.softmax_cross_entropy_with_logits(logits=self.logits, labels=self.Y)
        )
        self.train_op = tf.train.GradientDescentOptimizer(0.1).minimize(self.loss)


model = RNNModel()
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(1, 1001):
        batch_x, batch_y = mnist.train.next_batch(16)
        batch_x = batch_x.reshape((16, timesteps, num_input))
        _, loss = sess.run([model.train_op, model.loss], {model.X: batch_x, model.Y: batch_y})
        assert np.isfinite(loss)
        print("Step " + str(step) + ", Minibatch Loss= " + "{:.4f}".format(loss))
print("Optimization Finished!")
