"""MGU: the minimal gated unit as a Keras-style layer (the layer half of docs/adding_a_cell.md)."""
from ..cells.mgu import MGUCell
from .recurrent import CellLayer, constructor_arguments


class MGU(CellLayer):
    """Minimal gated unit over a sequence (Zhou et al. 2016; see :class:`~rnnkit.cells.MGUCell`).

        f = σ(x W_f + h U_f + b_f),  h~ = act(x W_h + (f ⊙ h) U_h + b_h),  h_t = (1 - f) ⊙ h + f ⊙ h~

    Weights: kernel (I, 2H), recurrent_kernel (H, 2H), bias (2H,).

    Args:
        units: H.
        activation ("tanh"), recurrent_activation ("sigmoid"), use_bias, kernel_initializer
            ("glorot_uniform"), recurrent_initializer ("orthogonal"), bias_initializer ("zeros").
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint: the cell's weight options (:class:`~rnnkit.cells.base.RecurrentCell`);
            activity_regularizer: see :class:`~rnnkit.layers.RNN`.
        dropout, recurrent_dropout, return_sequences, return_state, go_backwards, stateful, unroll,
            zero_output_for_mask, backprop_segment, seed, name, dtype, input_shape, trainable: see
            :class:`~rnnkit.layers.RNN`.

    Shapes: inputs (B, T, I) -> (B, H) or (B, T, H); state ``[h]``.

    Example (as any Keras recurrent layer, e.g. inside Bidirectional):
        >>> import numpy as np
        >>> from rnnkit.layers import Bidirectional
        >>> both = Bidirectional(MGU(4, return_sequences=True, seed=0))
        >>> both(np.zeros((2, 5, 3), np.float32)).shape, both.count_params()
        ((2, 5, 8), 128)
    """

    cell_class = MGUCell

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 seed=None, dtype="float32", **kwargs):
        super().__init__(**constructor_arguments(locals()))
