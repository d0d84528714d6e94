"""TF1 contrib's ``LSTMBlockFusedCell``: the LSTMBlockCell over a whole time-major sequence per call.

TF1 ran it as one fused op (``BlockLSTM``); rnnkit runs it with ``dynamic_rnn`` on an
:class:`~rnnkit.nn.rnn_cell.LSTMBlockCell` (whose LSTM core has the compiled path), and
gives its backward pass as :meth:`LSTMBlockFusedCell.backward`.
"""
import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from .rnn import dynamic_rnn, dynamic_rnn_backward
from .rnn_cell.block_cells import LSTMBlockCell


class LSTMBlockFusedCell:
    """TF1 contrib's ``LSTMBlockFusedCell``: the LSTMBlockCell run over a whole time-major sequence per call.

    ``outputs, state = cell(inputs, initial_state=None, dtype=None, sequence_length=None)`` with inputs
    (T, B, I) (or a list of T arrays (B, I), giving a list of outputs), outputs (T, B, H) zero past each
    sequence's length, and the final ``LSTMStateTuple(c, h)`` at each sequence's length. The backward
    pass is :meth:`backward`. Arguments as :class:`LSTMBlockCell`; name "lstm_fused_cell".

    Example:
        >>> import numpy as np
        >>> cell = LSTMBlockFusedCell(4, seed=0)
        >>> outputs, state, cache = cell(np.ones((5, 2, 3), np.float32), return_cache=True)
        >>> d_inputs, d_state0, grads = cell.backward(cache, np.ones_like(outputs))
        >>> outputs.shape, state.h.shape, d_inputs.shape, len(grads)
        ((5, 2, 4), (2, 4), (5, 2, 3), 3)
    """

    def __init__(self, num_units, forget_bias=1.0, cell_clip=None, use_peephole=False, reuse=None, dtype=None,
                 name="lstm_fused_cell", *, seed=None):
        self.cell = LSTMBlockCell(num_units, forget_bias, cell_clip, use_peephole, dtype, reuse, name, seed=seed)
        self.num_units = self.cell.output_size

    name = property(lambda self: self.cell.name)
    state_size = property(lambda self: self.cell.state_size)
    output_size = property(lambda self: self.cell.output_size)
    weights = variables = trainable_variables = trainable_weights = property(lambda self: self.cell.weights)

    def get_weights(self):
        return self.cell.get_weights()

    def set_weights(self, weights):
        self.cell.set_weights(weights)

    def __call__(self, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None,
                 return_cache=False):
        """Run the whole sequence; ``return_cache=True`` also returns the cache for :meth:`backward`."""
        is_list = isinstance(inputs, list)
        x = np.stack([np.asarray(step) for step in inputs]) if is_list else inputs
        outputs, state, *cache = dynamic_rnn(self.cell, x, sequence_length, initial_state, dtype, time_major=True,
                                             return_cache=True)
        if is_list:
            outputs = list(outputs)
        cache = {"dynamic": cache[0], "is_list": is_list}
        return (outputs, state, cache) if return_cache else (outputs, state)

    def backward(self, cache, d_outputs=None, d_state=None):
        """Gradients of one call: ``(d_inputs, d_initial_state, grads)`` (d_inputs a list when inputs were).

        ``d_outputs`` is shaped like the outputs (a list of arrays, entries may be None) or None;
        ``d_state`` an ``LSTMStateTuple`` (None leaves allowed) or None.
        """
        if not isinstance(cache, dict) or "dynamic" not in cache:
            raise RnnkitValueError(f"cache must be the third value of cell(..., return_cache=True), got "
                                   f"{describe(cache)}")
        if cache["is_list"] and d_outputs is not None:
            shape = cache["dynamic"]["outputs_shape"]  # batch-major (B, T, H)
            d_outputs = np.stack([np.zeros((shape[0], shape[2])) if d is None else np.asarray(d)
                                  for d in d_outputs])
        dx, d_state0, grads = dynamic_rnn_backward(cache["dynamic"], d_outputs, d_state)
        return (list(dx) if cache["is_list"] else dx), d_state0, grads


__all__ = ["LSTMBlockFusedCell"]
