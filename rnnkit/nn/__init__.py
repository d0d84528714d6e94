"""TensorFlow 1's functional RNN face: ``rnnkit.nn.rnn_cell`` cells and ``dynamic_rnn``.

Code written for ``tf.nn.rnn_cell`` / ``tf.nn.dynamic_rnn`` ports by changing the
import; because rnnkit has no autodiff, the ``*_backward`` functions give the
gradients that TensorFlow would have derived.
"""
from . import rnn_cell
from .rnn import bidirectional_dynamic_rnn, bidirectional_dynamic_rnn_backward, dynamic_rnn, dynamic_rnn_backward

__all__ = ["rnn_cell", "dynamic_rnn", "dynamic_rnn_backward", "bidirectional_dynamic_rnn",
           "bidirectional_dynamic_rnn_backward"]
