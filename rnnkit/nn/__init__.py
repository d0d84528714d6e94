"""TensorFlow 1's functional RNN face: ``rnnkit.nn.rnn_cell`` cells, ``dynamic_rnn`` and ``static_rnn``.

Code written for ``tf.nn.rnn_cell`` / ``tf.nn.dynamic_rnn`` ports by changing the
import; because rnnkit has no autodiff, the ``*_backward`` functions give the
gradients that TensorFlow would have derived.
"""
from . import rnn_cell
from .rnn import bidirectional_dynamic_rnn, bidirectional_dynamic_rnn_backward, dynamic_rnn, dynamic_rnn_backward
from .rnn_cell.tf1_args import AUTO_REUSE
from .static import static_bidirectional_rnn, static_bidirectional_rnn_backward, static_rnn, static_rnn_backward

__all__ = ["rnn_cell", "dynamic_rnn", "dynamic_rnn_backward", "bidirectional_dynamic_rnn",
           "bidirectional_dynamic_rnn_backward", "static_rnn", "static_rnn_backward", "static_bidirectional_rnn",
           "static_bidirectional_rnn_backward", "AUTO_REUSE"]
