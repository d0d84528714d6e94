"""The minimal gated unit cell (Zhou et al. 2016): a GRU with one gate. The worked example of
docs/adding_a_cell.md."""
from ..ops.activations import get_activation, serialize_activation
from ..ops.mgu import mgu_backward, mgu_forward
from .base import RecurrentCell


class MGUCell(RecurrentCell):
    """Minimal gated unit: one gate f both forgets the old state and writes the candidate.

    Math (gate blocks f, h in the fused matrices; see :mod:`rnnkit.ops.mgu`)::

        f   = σ(x W_f + h_{t-1} U_f + b_f)
        h~  = act(x W_h + (f ⊙ h_{t-1}) U_h + b_h)
        h_t = (1 - f) ⊙ h_{t-1} + f ⊙ h~

    Weights (Keras-style layout, ``get_weights`` order): kernel (I, 2H), recurrent_kernel (H, 2H),
    bias (2H,). State: ``(h,)`` with h (B, H). Output: h_t. 2·H·(I + H + 1) parameters.

    Args:
        units: H.
        activation: act, "tanh" by default.
        recurrent_activation: σ, "sigmoid" by default.
        Other arguments: see :class:`~rnnkit.cells.base.RecurrentCell`.

    Example:
        >>> import numpy as np
        >>> cell = MGUCell(3, seed=0)
        >>> out, states = cell(np.ones((2, 5), np.float32), cell.get_initial_state(2))
        >>> out.shape, cell.count_params()
        ((2, 3), 54)
    """

    reference_ops = (mgu_forward, mgu_backward)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = get_activation(activation)
        self.recurrent_activation = get_activation(recurrent_activation)

    @property
    def state_size(self):
        return (self.units,)

    def weight_shapes(self, input_dim):
        shapes = [("kernel", (input_dim, 2 * self.units)), ("recurrent_kernel", (self.units, 2 * self.units))]
        if self.use_bias:
            shapes.append(("bias", (2 * self.units,)))
        return shapes

    def op_options(self):
        return {"activation": self.activation, "recurrent_activation": self.recurrent_activation}

    def get_config(self):
        return {**super().get_config(), "activation": serialize_activation(self.activation),
                "recurrent_activation": serialize_activation(self.recurrent_activation)}
