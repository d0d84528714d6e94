"""SimpleRNN: Keras's fully connected recurrent layer."""
from ..cells.simple_rnn import SimpleRNNCell
from .recurrent import CellLayer, constructor_arguments


class SimpleRNN(CellLayer):
    """``h_t = activation(x_t · kernel + h_{t-1} · recurrent_kernel + bias)`` over a sequence.

    Weights (Keras layout): kernel (I, units), recurrent_kernel (units, units), bias (units,);
    SimpleRNN(3) on 5 features has 27 parameters.

    Args:
        units: H.
        activation: "tanh" (default), "relu", "sigmoid", ... .
        use_bias, kernel_initializer ("glorot_uniform"), recurrent_initializer ("orthogonal"),
            bias_initializer ("zeros"): Keras 3's defaults.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint: the cell's weight options (:class:`~rnnkit.cells.base.RecurrentCell`);
            activity_regularizer: see :class:`~rnnkit.layers.RNN`.
        dropout, recurrent_dropout, return_sequences, return_state, go_backwards, stateful, unroll,
            zero_output_for_mask, seed, name, dtype, input_shape, trainable: see :class:`~rnnkit.layers.RNN`.

    Shapes: inputs (B, T, I) -> (B, units), or (B, T, units) with return_sequences; state ``[h]``.

    Example:
        >>> import numpy as np
        >>> layer = SimpleRNN(3, seed=0)
        >>> layer(np.zeros((2, 4, 5), np.float32)).shape, layer.count_params()
        ((2, 3), 27)
    """

    cell_class = SimpleRNNCell

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, seed=None, dtype="float32", **kwargs):
        super().__init__(**constructor_arguments(locals()))
