"""The simple (Elman) RNN cell: h_t = f(x_t W + h_{t-1} U + b)."""
from ..ops.activations import get_activation, serialize_activation
from ..ops.simple_rnn import simple_rnn_backward, simple_rnn_forward
from .base import RecurrentCell


class SimpleRNNCell(RecurrentCell):
    """Fully connected recurrent cell, Keras's ``SimpleRNNCell``.

    Math: ``h_t = activation(x_t · kernel + h_{t-1} · recurrent_kernel + bias)``.

    Weights (Keras layout): kernel (I, H), recurrent_kernel (H, H), bias (H,).
    State: ``(h,)`` with h (B, H). Output: h_t.

    Args:
        units: H.
        activation: "tanh" (default), "relu", "sigmoid", "linear" or any registered name.
        Other arguments: see :class:`RecurrentCell`.

    Example:
        >>> import numpy as np
        >>> cell = SimpleRNNCell(3, seed=0)
        >>> out, states = cell(np.ones((2, 5), np.float32), cell.get_initial_state(2))
        >>> out.shape
        (2, 3)
    """

    reference_ops = (simple_rnn_forward, simple_rnn_backward)

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = get_activation(activation)

    @property
    def state_size(self):
        return (self.units,)

    def weight_shapes(self, input_dim):
        shapes = [("kernel", (input_dim, self.units)), ("recurrent_kernel", (self.units, self.units))]
        if self.use_bias:
            shapes.append(("bias", (self.units,)))
        return shapes

    def op_options(self):
        return {"activation": self.activation}

    def get_config(self):
        return {**super().get_config(), "activation": serialize_activation(self.activation)}
