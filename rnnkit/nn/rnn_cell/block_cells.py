"""TF1 contrib's block cells (``tf.contrib.rnn.LSTMBlockCell``, ``GRUBlockCell``)
and ``CoupledInputForgetGateLSTMCell``: the same math as rnnkit's LSTM and GRU cores under TF1's names.

TF1 ran the block cells as one fused op (``LSTMBlockCell``, ``BlockLSTM``, ``GRUBlockCell``); their
math is the LSTM with optional peepholes and cell clipping, and TF1's GRUCell (reset before the
recurrent product). rnnkit runs them through its LSTM and GRU cores, whose compiled path is the fused
one (``LSTMBlockFusedCell``, the whole-sequence form, is in :mod:`rnnkit.nn.lstm_block_fused`).
Weights are in Keras's layout (gates i, f, c, o and z, r, h); TF1's block ops order the LSTM
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


__all__ = ["LSTMBlockCell", "GRUBlockCell", "GRUBlockCellV2", "CoupledInputForgetGateLSTMCell"]
