"""TF1 contrib's block cells (``tf.contrib.rnn.LSTMBlockCell``, ``LSTMBlockFusedCell``, ``GRUBlockCell``)
and ``CoupledInputForgetGateLSTMCell``: the same math as rnnkit's LSTM and GRU cores under TF1's names.

TF1 ran the block cells as one fused op (``LSTMBlockCell``, ``BlockLSTM``, ``GRUBlockCell``); their
math is the LSTM with optional peepholes and cell clipping, and TF1's GRUCell (reset before the
recurrent product). rnnkit runs them through its LSTM and GRU cores, whose compiled path is the fused
one. Weights are in Keras's layout (gates i, f, c, o and z, r, h); TF1's block ops order the LSTM
gates i, c, f, o and the GRU gates r, u, c.
"""
import numbers

import numpy as np

from ..._validate import describe
from ...cells.lstm import LSTMCell as _CoreLSTM
from ...errors import RnnkitValueError
from .base import _tanh_default
from .cells import GRUCell, _LSTMAdapter
from .tf1_args import check_tf1_arguments


def _block_cell_clip(cell_clip):
    """TF1's block cells read None or a value <= 0 (their default -1) as "no clipping"."""
    if cell_clip is None:
        return None
    if isinstance(cell_clip, bool) or not isinstance(cell_clip, numbers.Real) or not np.isfinite(cell_clip):
        raise RnnkitValueError(f"cell_clip must be None or a number (<= 0 means no clipping), "
                               f"got {describe(cell_clip)}")
    return float(cell_clip) if cell_clip > 0 else None


def _core_lstm(num_units, name, dtype, seed, initializer="glorot_uniform", activation=None, **options):
    return _CoreLSTM(num_units, activation=_tanh_default(activation), recurrent_activation="sigmoid",
                     kernel_initializer=initializer, recurrent_initializer=initializer, bias_initializer="zeros",
                     unit_forget_bias=False, seed=seed, dtype=dtype or "float32", name=name, **options)


class LSTMBlockCell(_LSTMAdapter):
    """TF1 contrib's ``LSTMBlockCell``: the LSTM with a forget bias, optional peepholes and cell clipping.

    Math::

        z = x W + h_{t-1} U + b
        i = σ(z_i + p_i ⊙ c_{t-1})    f = σ(z_f + forget_bias + p_f ⊙ c_{t-1})
        c_t = clip(f ⊙ c_{t-1} + i ⊙ tanh(z_c), ±cell_clip)
        o = σ(z_o + p_o ⊙ c_t)        h_t = o ⊙ tanh(c_t)

    Args:
        num_units: H.
        forget_bias: added to the forget pre-activation.
        cell_clip: None or a value <= 0 (no clipping, TF1's default -1), or the bound on |c_t|.
        use_peephole: add the peephole weights p_i, p_f, p_o.
        dtype: None (the first inputs') or a float dtype.  reuse: accepted (see tf1_args).
        name: "lstm_cell" as in TF1.  seed: rnnkit addition; fixes the initial weights.

    State ``LSTMStateTuple(c, h)``; weights kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) and,
    with peepholes, peephole_i, peephole_f, peephole_o (H,).
    """

    _default_name = "lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, cell_clip=None, use_peephole=False, dtype=None, reuse=None,
                 name="lstm_cell", *, seed=None):
        super().__init__(True, name, dtype)
        check_tf1_arguments(type(self).__name__, reuse=reuse)
        self._core = _core_lstm(num_units, self.name, self._fixed_dtype, seed, forget_bias=forget_bias,
                                use_peepholes=bool(use_peephole), cell_clip=_block_cell_clip(cell_clip))


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
        from ..rnn import dynamic_rnn  # late: rnnkit.nn.rnn imports this package

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
        from ..rnn import dynamic_rnn_backward

        if not isinstance(cache, dict) or "dynamic" not in cache:
            raise RnnkitValueError(f"cache must be the third value of cell(..., return_cache=True), got "
                                   f"{describe(cache)}")
        if cache["is_list"] and d_outputs is not None:
            shape = cache["dynamic"]["outputs_shape"]  # batch-major (B, T, H)
            d_outputs = np.stack([np.zeros((shape[0], shape[2])) if d is None else np.asarray(d)
                                  for d in d_outputs])
        dx, d_state0, grads = dynamic_rnn_backward(cache["dynamic"], d_outputs, d_state)
        return (list(dx) if cache["is_list"] else dx), d_state0, grads


class GRUBlockCell(GRUCell):
    """TF1 contrib's ``GRUBlockCell``: TF1's GRUCell math (reset before the recurrent product).

    Args:
        num_units: H (``cell_size`` is TF1's deprecated name for it; give one of them).
        reuse: accepted.  name: "gru_cell" as in TF1.  dtype: None or a float dtype.
        seed: rnnkit addition.

    Biases start as in TF1: 1.0 for the z (TF1's u) and r gates, 0.0 for the candidate.
    """

    def __init__(self, num_units=None, cell_size=None, reuse=None, name="gru_cell", dtype=None, *, seed=None):
        if (num_units is None) == (cell_size is None):
            raise RnnkitValueError(f"GRUBlockCell needs exactly one of num_units and cell_size (its deprecated "
                                   f"name), got num_units={num_units!r}, cell_size={cell_size!r}")
        check_tf1_arguments(type(self).__name__, reuse=reuse)
        super().__init__(num_units if num_units is not None else cell_size, name=name, dtype=dtype, seed=seed)


#: TF 1.15's second name for the same cell (it only renamed the variables).
GRUBlockCellV2 = GRUBlockCell


class CoupledInputForgetGateLSTMCell(_LSTMAdapter):
    """TF1 contrib's ``CoupledInputForgetGateLSTMCell`` (CIFG): the input gate is ``1 - f``.

    Math (gate blocks f, c, o in the fused matrices; TF1 orders them j=c, f, o)::

        z = x W + h_{t-1} U + b
        f = σ(z_f + forget_bias + p_f ⊙ c_{t-1})
        c_t = f ⊙ c_{t-1} + (1 - f) ⊙ act(z_c)
        o = σ(z_o + p_o ⊙ c_t)        m_t = o ⊙ act(c_t)
        h_t = clip(m_t P, ±proj_clip)   (P only with num_proj)

    Args:
        num_units: H.  use_peepholes: add p_f, p_o.  initializer: for every matrix (glorot_uniform).
        num_proj, proj_clip: as :class:`~rnnkit.nn.rnn_cell.LSTMCell`.
        num_unit_shards, num_proj_shards, reuse: accepted (see tf1_args).
        forget_bias: added to the forget pre-activation.  state_is_tuple: as LSTMCell.
        activation: None means tanh.
        layer_norm: only False; TF1's layer-normalised CIFG is not implemented (use
            :class:`~rnnkit.contrib.rnn.LayerNormBasicLSTMCell` for a layer-normalised LSTM).
        norm_gain, norm_shift: accepted with layer_norm=False (TF1 ignores them then).
        name: default "coupled_input_forget_gate_lstm_cell".  dtype, seed: as the other cells.

    Weights: kernel (I, 3H), recurrent_kernel (H or P, 3H), bias (3H,), then peephole_f, peephole_o,
    then projection_kernel (H, P).
    """

    _default_name = "coupled_input_forget_gate_lstm_cell"

    def __init__(self, num_units, use_peepholes=False, initializer=None, num_proj=None, proj_clip=None,
                 num_unit_shards=1, num_proj_shards=1, forget_bias=1.0, state_is_tuple=True, activation=None,
                 reuse=None, layer_norm=False, norm_gain=1.0, norm_shift=0.0, name=None, dtype=None, *, seed=None):
        super().__init__(state_is_tuple, name, dtype)
        check_tf1_arguments(type(self).__name__, reuse=reuse,
                            shards=(("num_unit_shards", num_unit_shards), ("num_proj_shards", num_proj_shards)))
        if layer_norm:
            raise RnnkitValueError("CoupledInputForgetGateLSTMCell(layer_norm=True) is not implemented in rnnkit; "
                                   "LayerNormBasicLSTMCell is the layer-normalised LSTM")
        self._core = _core_lstm(num_units, self.name, self._fixed_dtype, seed, initializer or "glorot_uniform",
                                activation, forget_bias=forget_bias, use_peepholes=bool(use_peepholes),
                                coupled_input_forget=True, num_proj=num_proj, proj_clip=proj_clip)


__all__ = ["LSTMBlockCell", "LSTMBlockFusedCell", "GRUBlockCell", "GRUBlockCellV2", "CoupledInputForgetGateLSTMCell"]
