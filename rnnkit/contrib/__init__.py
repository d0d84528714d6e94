"""TensorFlow 1's ``tf.contrib`` names that RNN scripts use: :mod:`rnnkit.contrib.rnn`."""
from . import rnn

__all__ = ["rnn"]
