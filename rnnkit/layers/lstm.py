"""LSTM: Keras's long short-term memory layer, with TF1's variants as switches."""
from ..cells.lstm import LSTMCell
from .recurrent import CellLayer, constructor_arguments


class LSTM(CellLayer):
    """Long short-term memory over a sequence (Keras 3 semantics, gate order i, f, c, o).

        i = σ(x W_i + h U_i + b_i), f = σ(x W_f + h U_f + b_f + forget_bias),
        c~ = act(x W_c + h U_c + b_c), o = σ(x W_o + h U_o + b_o)
        c_t = f ⊙ c_{t-1} + i ⊙ c~ ;  h_t = o ⊙ act(c_t)

    Weights (Keras layout): kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,); then
    peephole_i/f/o (H,) with ``use_peepholes`` and projection_kernel (H, P) with ``num_proj``.
    Parameters: 4·H·(H + I + 1), e.g. LSTM(64) on 126 features has 48,896.

    Args:
        units: H.
        activation ("tanh"), recurrent_activation ("sigmoid"), use_bias, kernel_initializer
            ("glorot_uniform"), recurrent_initializer ("orthogonal"), bias_initializer ("zeros"),
            unit_forget_bias (True: the forget block of the bias starts at 1): Keras 3's defaults.
        forget_bias: constant added to the forget pre-activation (TF1; 0.0 here).
        use_peepholes: gates i, f read c_{t-1} and o reads c_t through diagonal weights.
        coupled_input_forget: i = 1 - f (3 fused blocks f, c, o).
        num_proj: P; h_t = (o ⊙ act(c_t)) · projection_kernel, states become (h (B, P), c (B, H)).
        cell_clip, proj_clip: clip c_t / the projected h_t to ±value.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint: the cell's weight options (:class:`~rnnkit.cells.base.RecurrentCell`);
            activity_regularizer: see :class:`~rnnkit.layers.RNN`.
        dropout, recurrent_dropout, return_sequences, return_state, go_backwards, stateful, unroll,
            zero_output_for_mask, seed, name, dtype, input_shape, trainable: see :class:`~rnnkit.layers.RNN`.

    Shapes: inputs (B, T, I) -> (B, H) or (B, T, H) (P instead of H with num_proj); states ``[h, c]``.

    Example:
        >>> import numpy as np
        >>> layer = LSTM(12, seed=0)
        >>> layer(np.zeros((2, 5, 80), np.float32)).shape, layer.count_params()
        ((2, 12), 4464)
    """

    cell_class = LSTMCell

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, forget_bias=0.0,
                 use_peepholes=False, coupled_input_forget=False, num_proj=None, cell_clip=None, proj_clip=None,
                 seed=None, dtype="float32", **kwargs):
        super().__init__(**constructor_arguments(locals()))
