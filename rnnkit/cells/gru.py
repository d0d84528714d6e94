"""The gated recurrent unit cell (Cho et al. 2014), in both of Keras's reset conventions."""
from .._validate import describe, float_array
from ..errors import RnnkitValueError
from ..ops.gru import gru_backward, gru_forward
from .gated import GatedCell


class GRUCell(GatedCell):
    """Gated recurrent unit, Keras 3's ``GRUCell``.

    Math (gate order z, r, h in the fused matrices; σ = recurrent_activation, f = activation)::

        reset_after=True:   z = σ(x W_z + b_iz + h U_z + b_rz)
                            r = σ(x W_r + b_ir + h U_r + b_rr)
                            h~ = f(x W_h + b_ih + r ⊙ (h U_h + b_rh))
        reset_after=False:  z = σ(x W_z + h U_z + b_z),  r = σ(x W_r + h U_r + b_r)
                            h~ = f(x W_h + (r ⊙ h) U_h + b_h)
        h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h~

    Weights (Keras layout): kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) rows
    (input bias, recurrent bias) when ``reset_after`` else (3H,). State: ``(h,)`` with
    h (B, H). Output: h_t. PyTorch's ``nn.GRU`` is the reset_after form (see
    :func:`rnnkit.io.torch.from_state_dict`); TF1's ``GRUCell`` is reset_after=False.

    Args:
        units: H.
        activation: f, "tanh" by default.
        recurrent_activation: σ, "sigmoid" by default ("hard_sigmoid" was Keras 2's).
        reset_after: where the reset gate acts (see above); True by default as in Keras 3.
        Other arguments: see :class:`RecurrentCell`.

    Example:
        >>> import numpy as np
        >>> cell = GRUCell(3, seed=0)
        >>> out, states = cell(np.ones((2, 5), np.float32), cell.get_initial_state(2))
        >>> out.shape, cell.count_params()
        ((2, 3), 90)
    """

    reference_ops = (gru_forward, gru_backward)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, seed=None, dtype="float32", name=None,
                 **weight_options):
        super().__init__(units, activation, recurrent_activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, seed=seed, dtype=dtype, name=name,
                         **weight_options)
        if not isinstance(reset_after, bool):
            raise RnnkitValueError(f"reset_after must be True or False, got {describe(reset_after)}")
        self.reset_after = reset_after

    @property
    def state_size(self):
        return (self.units,)

    def weight_shapes(self, input_dim):
        gates = 3 * self.units
        shapes = [("kernel", (input_dim, gates)), ("recurrent_kernel", (self.units, gates))]
        if self.use_bias:
            shapes.append(("bias", (2, gates) if self.reset_after else (gates,)))
        return shapes

    def op_options(self):
        return {**super().op_options(), "reset_after": self.reset_after}

    def check_recurrent_mask(self, recurrent_mask, batch):
        """Validate a recurrent dropout mask: (B, H) shared by the gates or (B, 3H) one per gate.

        It multiplies h_{t-1} where it enters the recurrent matmuls only (never the z ⊙ h_{t-1}
        blend), as Keras 3's GRUCell applies recurrent dropout.
        """
        if recurrent_mask is None:
            return None
        recurrent_mask = float_array("recurrent_mask", recurrent_mask, ndim=2, dtype=self.dtype)
        if recurrent_mask.shape not in ((batch, self.units), (batch, 3 * self.units)):
            raise RnnkitValueError(
                f"recurrent_mask must have shape {(batch, self.units)} (shared by the z, r, h gates) or "
                f"{(batch, 3 * self.units)} (one mask per gate), got {describe(recurrent_mask)}"
            )
        return recurrent_mask

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}

    def __repr__(self):
        return f"GRUCell(units={self.units}, reset_after={self.reset_after})"
