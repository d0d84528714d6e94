"""A small version of the classic TensorFlow 1 script "recurrent_network.py" (TensorFlow-Examples,
3_NeuralNetworks): an LSTM classifier reading each image row by row with ``tf.contrib.rnn``'s
``BasicLSTMCell`` and ``static_rnn``.

The cell and static_rnn code is the script's, line for line, with ``from tensorflow.contrib import
rnn`` swapped for ``from rnnkit.contrib import rnn``. The rest of the TF1 script is graph mode
(placeholders, ``tf.unstack``/``tf.matmul`` on symbolic tensors, ``optimizer.minimize`` and a
Session), which has no counterpart in a library without autodiff: each such line is replaced by
its NumPy twin, with the TF1 line quoted beside it (``# TF1: ...``), and the training step runs
through the explicit backward, ``rnn.static_rnn_backward``. MNIST (a download) is replaced by the
8x8 digits bundled with rnnkit (8 time steps of 8 pixels instead of 28 of 28).
tests/test_keras_io_ports.py checks that the TF1 lines are here verbatim, then runs it.
"""
from __future__ import print_function

import gzip
import os

import numpy as np

import rnnkit
from rnnkit.contrib import rnn  # TF1: from tensorflow.contrib import rnn
from rnnkit.optimizers import SGD  # TF1: tf.train.GradientDescentOptimizer
from rnnkit.variables import Variable  # TF1: tf.Variable

np.random.seed(0)

'''
To classify images using a recurrent neural network, we consider every image
row as a sequence of pixels. Because the digits here are 8*8px, we will then
handle 8 sequences of 8 steps for every sample.
'''

# Training Parameters
learning_rate = 0.5
training_steps = 150
batch_size = 128
display_step = 50

# Network Parameters
num_input = 8  # data input (img shape: 8*8)
timesteps = 8  # timesteps
num_hidden = 32  # hidden layer num of features
num_classes = 10  # total classes (0-9 digits)

with gzip.open(os.path.join(os.path.dirname(rnnkit.__file__), "data", "digits.csv.gz"), "rt") as handle:
    table = np.loadtxt(handle, delimiter=",")
images, labels = (table[:, :64] / 16.0).astype(np.float32), np.eye(num_classes, dtype=np.float32)[table[:, 64].astype(int)]
train_images, train_labels, test_images, test_labels = images[:1500], labels[:1500], images[1500:], labels[1500:]

# Define weights
weights = {
    'out': Variable(np.random.normal(size=(num_hidden, num_classes)).astype(np.float32), "out/w")  # TF1: tf.Variable(tf.random_normal([num_hidden, num_classes]))
}
biases = {
    'out': Variable(np.random.normal(size=num_classes).astype(np.float32), "out/b")  # TF1: tf.Variable(tf.random_normal([num_classes]))
}

# Define a lstm cell with tensorflow
lstm_cell = rnn.BasicLSTMCell(num_hidden, forget_bias=1.0)


def RNN(x, weights, biases):

    # Prepare data shape to match `rnn` function requirements
    # Current data input shape: (batch_size, timesteps, n_input)
    # Required shape: 'timesteps' tensors list of shape (batch_size, n_input)

    # Unstack to get a list of 'timesteps' tensors of shape (batch_size, n_input)
    x = [x[:, t] for t in range(timesteps)]  # TF1: x = tf.unstack(x, timesteps, 1)

    # Get lstm cell output
    outputs, states, cache = rnn.static_rnn(lstm_cell, x, dtype=np.float32, return_cache=True)  # TF1: outputs, states = rnn.static_rnn(lstm_cell, x, dtype=tf.float32)

    # Linear activation, using rnn inner loop last output
    return np.matmul(outputs[-1], weights['out'].value) + biases['out'].value, (outputs[-1], cache)  # TF1: return tf.matmul(outputs[-1], weights['out']) + biases['out']


def softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def train_step(batch_x, batch_y):
    """TF1: sess.run(train_op, feed_dict={X: batch_x, Y: batch_y}), with
    loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y)) and
    train_op = optimizer.minimize(loss_op): the gradients come from static_rnn_backward."""
    logits, (last, cache) = RNN(batch_x, weights, biases)
    prediction = softmax(logits)
    loss = float(np.mean(-np.sum(batch_y * np.log(prediction + 1e-12), axis=1)))
    d_logits = (prediction - batch_y) / len(batch_y)
    _, _, cell_grads = rnn.static_rnn_backward(cache, [None] * (timesteps - 1) + [d_logits @ weights['out'].value.T])
    grads = cell_grads + [last.T @ d_logits, d_logits.sum(axis=0)]
    params = lstm_cell.weights + [weights['out'], biases['out']]
    optimizer.apply_gradients(zip(grads, params))
    return loss


def accuracy(batch_x, batch_y):
    # TF1: correct_pred = tf.equal(tf.argmax(prediction, 1), tf.argmax(Y, 1))
    logits, _ = RNN(batch_x, weights, biases)
    return float(np.mean(np.argmax(logits, 1) == np.argmax(batch_y, 1)))


optimizer = SGD(learning_rate=learning_rate)  # TF1: tf.train.GradientDescentOptimizer(learning_rate=learning_rate)

losses = []
for step in range(1, training_steps + 1):
    start = (step - 1) * batch_size % (len(train_images) - batch_size)
    batch_x, batch_y = train_images[start:start + batch_size], train_labels[start:start + batch_size]
    # Reshape data to get 8 seq of 8 elements
    batch_x = batch_x.reshape((batch_size, timesteps, num_input))
    losses.append(train_step(batch_x, batch_y))
    if step % display_step == 0 or step == 1:
        print("Step " + str(step) + ", Minibatch Loss= " + "{:.4f}".format(losses[-1]) +
              ", Training Accuracy= " + "{:.3f}".format(accuracy(batch_x, batch_y)))

print("Optimization Finished!")

test_data = test_images.reshape((-1, timesteps, num_input))
print("Testing Accuracy:", accuracy(test_data, test_labels))
print("losses", losses[0], losses[-1])
