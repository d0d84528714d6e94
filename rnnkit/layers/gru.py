"""GRU: Keras's gated recurrent unit layer."""
from ..cells.gru import GRUCell
from .recurrent import CellLayer, constructor_arguments


class GRU(CellLayer):
    """Gated recurrent unit over a sequence (Keras 3 semantics, gate order z, r, h).

        z = σ(x W_z + h U_z + b_z), r = σ(x W_r + h U_r + b_r)
        h~ = act(x W_h + r ⊙ (h U_h + b_rh) + b_h)        (reset_after=True, the default)
        h~ = act(x W_h + (r ⊙ h) U_h + b_h)               (reset_after=False)
        h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h~

    Weights (Keras layout): kernel (I, 3H), recurrent_kernel (H, 3H), bias (2, 3H) with
    reset_after (input bias, recurrent bias) or (3H,) without.

    Args:
        units: H.
        activation ("tanh"), recurrent_activation ("sigmoid"), use_bias, kernel_initializer
            ("glorot_uniform"), recurrent_initializer ("orthogonal"), bias_initializer ("zeros"),
            reset_after (True): Keras 3's defaults.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint: the cell's weight options (:class:`~rnnkit.cells.base.RecurrentCell`);
            activity_regularizer: see :class:`~rnnkit.layers.RNN`.
        dropout, recurrent_dropout, return_sequences, return_state, go_backwards, stateful, unroll,
            zero_output_for_mask, seed, name, dtype, input_shape, trainable: see :class:`~rnnkit.layers.RNN`.

    Shapes: inputs (B, T, I) -> (B, H) or (B, T, H); state ``[h]``.

    Example:
        >>> import numpy as np
        >>> layer = GRU(4, seed=0)
        >>> layer(np.zeros((2, 5, 3), np.float32)).shape, layer.count_params()
        ((2, 4), 108)
    """

    cell_class = GRUCell

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, reset_after=True, seed=None, dtype="float32", **kwargs):
        super().__init__(**constructor_arguments(locals()))
