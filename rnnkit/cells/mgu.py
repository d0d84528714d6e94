"""The minimal gated unit cell (Zhou et al. 2016): a GRU with one gate. The worked example of
docs/adding_a_cell.md."""
from ..ops.mgu import mgu_backward, mgu_forward
from .gated import GatedCell


class MGUCell(GatedCell):
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
        Other arguments: see :class:`~rnnkit.cells.base.RecurrentCell`; the two activations are
        handled by :class:`~rnnkit.cells.gated.GatedCell`.

    Example (a whole sequence, then its gradients):
        >>> import numpy as np
        >>> cell = MGUCell(3, seed=0)
        >>> outputs, (h,), cache = cell.forward(np.ones((2, 4, 5), np.float32))
        >>> dx, (dh0,), grads = cell.backward(np.ones_like(outputs), None, cache)
        >>> dx.shape, [g.shape for g in grads], cell.count_params()
        ((2, 4, 5), [(5, 6), (3, 6), (6,)], 54)
    """

    reference_ops = (mgu_forward, mgu_backward)

    @property
    def state_size(self):
        return (self.units,)

    def weight_shapes(self, input_dim):
        shapes = [("kernel", (input_dim, 2 * self.units)), ("recurrent_kernel", (self.units, 2 * self.units))]
        if self.use_bias:
            shapes.append(("bias", (2 * self.units,)))
        return shapes
