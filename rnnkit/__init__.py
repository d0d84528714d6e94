"""rnnkit: recurrent neural networks in NumPy with explicit backpropagation through time.

Two faces over one core:

* ``rnnkit.nn`` — TensorFlow 1's cell API (``rnn_cell.LSTMCell``, ``dynamic_rnn``, ...);
* ``rnnkit.layers`` / ``rnnkit.Sequential`` / ``rnnkit.Model`` — Keras's model API (``LSTM``, ``Input``,
  functional models, ``compile``, ``fit``, ...).
"""
from . import (callbacks, cells, constraints, contrib, distributed, errors, initializers, io, layers, losses, metrics,
               models, nn, ops, optimizers, preprocessing, regularizers, saving, seq2seq, utils)
from .errors import RnnkitError, RnnkitMemoryError, RnnkitTypeError, RnnkitValueError
from .layers.input_layer import Input
from .models import Model, Sequential, load_model
from ._version import __version__
from .ops.grad_mode import no_grad
from .random import set_random_seed
from .num_threads import get_num_threads, set_num_threads


__all__ = [
    "callbacks", "cells", "constraints", "contrib", "distributed", "errors", "initializers", "io", "layers", "losses",
    "metrics", "models", "nn", "ops", "optimizers", "preprocessing", "regularizers", "saving", "seq2seq", "utils",
    "Input", "Model", "Sequential", "load_model", "RnnkitError", "RnnkitMemoryError", "RnnkitTypeError",
    "RnnkitValueError",
    "no_grad", "set_random_seed", "get_num_threads", "set_num_threads", "__version__",
]
