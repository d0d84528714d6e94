"""TF1's single cells: ``BasicRNNCell``, ``GRUCell``, ``BasicLSTMCell``, ``LSTMCell``.

Each takes TF1's full signature, positions included: ``reuse`` (and LSTMCell's
``num_unit_shards`` / ``num_proj_shards``) and TF1's base-layer ``**kwargs`` are
checked and then ignored (see :mod:`rnnkit.nn.rnn_cell.tf1_args`).
"""

import numpy as np

from ..._validate import describe
from ...cells.gru import GRUCell as _CoreGRU
from ...cells.lstm import LSTMCell as _CoreLSTM
from ...cells.simple_rnn import SimpleRNNCell as _CoreSimpleRNN
from ...errors import RnnkitValueError
from .base import LSTMStateTuple, RNNCell, _tanh_default
from .tf1_args import check_tf1_arguments


class _SingleStateCell(RNNCell):
    """A cell whose TF1 state is one (B, num_units) array and whose core state is ``(h,)``."""

    @property
    def state_size(self):
        return self._core.units

    def _to_core(self, state):
        return (state,)

    def _from_core(self, core_state):
        return core_state[0]


class BasicRNNCell(_SingleStateCell):
    """TF1's ``BasicRNNCell``: ``output = new_state = act(x_t · kernel + h_{t-1} · recurrent_kernel + bias)``.

    Args:
        num_units: H.
        activation: name or Activation; None means tanh (TF1's default).
        name: default "basic_rnn_cell".
        dtype: None (the first inputs' dtype), "float32" or "float64".
        seed: rnnkit addition; fixes the initial weights.

    Weights: kernel (I, H), recurrent_kernel (H, H), bias (H,) zeros — Keras's SimpleRNN layout.

    Example:
        >>> import numpy as np
        >>> cell = BasicRNNCell(num_units=128)
        >>> h0 = cell.zero_state(32, np.float32)
        >>> output, h1 = cell.call(np.ones((32, 100), np.float32), h0)
        >>> h1.shape
        (32, 128)
    """

    _default_name = "basic_rnn_cell"

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None, *, seed=None, **kwargs):
        super().__init__(name, dtype)
        check_tf1_arguments(type(self).__name__, reuse=reuse, kwargs=kwargs)
        self._core = _CoreSimpleRNN(
            num_units, activation=_tanh_default(activation), kernel_initializer="glorot_uniform",
            recurrent_initializer="glorot_uniform", bias_initializer="zeros", seed=seed,
            dtype=self._fixed_dtype or "float32", name=self.name)


class GRUCell(_SingleStateCell):
    """TF1's ``GRUCell`` (reset before the recurrent product, Keras's ``reset_after=False``).

    Math (gate order z, r, h in the Keras layout)::

        z = σ(x W_z + h U_z + b_z)      r = σ(x W_r + h U_r + b_r)
        h~ = act(x W_h + (r ⊙ h) U_h + b_h)
        h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h~

    TF1 calls z the update gate ``u``; its formula ``u ⊙ h + (1 - u) ⊙ c`` is the same.

    Args:
        num_units: H.
        activation: name or Activation; None means tanh.
        kernel_initializer: for kernel and recurrent_kernel; None means glorot_uniform.
        bias_initializer: for the whole bias; None means TF1's default: 1.0 for the z and r
            gates (so the cell starts by keeping its state), 0.0 for the candidate.
        name: default "gru_cell".  dtype: None (the first inputs' dtype), "float32" or "float64".
        seed: rnnkit addition; fixes the initial weights.

    Weights: kernel (I, 3H), recurrent_kernel (H, 3H), bias (3H,).
    """

    _default_name = "gru_cell"

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None, bias_initializer=None,
                 name=None, dtype=None, *, seed=None, **kwargs):
        super().__init__(name, dtype)
        check_tf1_arguments(type(self).__name__, reuse=reuse, kwargs=kwargs)
        kernel_initializer = kernel_initializer or "glorot_uniform"
        self._tf1_gate_bias = bias_initializer is None
        self._core = _CoreGRU(
            num_units, activation=_tanh_default(activation), recurrent_activation="sigmoid",
            kernel_initializer=kernel_initializer, recurrent_initializer=kernel_initializer,
            bias_initializer=bias_initializer or "zeros", reset_after=False, seed=seed,
            dtype=self._fixed_dtype or "float32", name=self.name)

    def _after_build(self):
        if self._tf1_gate_bias:
            self._core.params["bias"][:2 * self._core.units] = 1.0


class _LSTMAdapter(RNNCell):
    """Shared state handling of BasicLSTMCell and LSTMCell: TF1 (c, h) against the core's (h, c)."""

    def __init__(self, state_is_tuple, name, dtype):
        super().__init__(name, dtype)
        if not isinstance(state_is_tuple, bool):
            raise RnnkitValueError(f"state_is_tuple must be True or False, got {describe(state_is_tuple)}")
        self.state_is_tuple = state_is_tuple

    @property
    def state_size(self):
        h_size, c_size = self._core.state_size
        return LSTMStateTuple(c_size, h_size) if self.state_is_tuple else c_size + h_size

    def _to_core(self, state):
        if self.state_is_tuple:
            return (state[1], state[0])
        c_size = self._core.units
        return (state[:, c_size:], state[:, :c_size])

    def _from_core(self, core_state):
        h, c = core_state
        if self.state_is_tuple:
            return LSTMStateTuple(c=c, h=h)
        return np.concatenate([c, h], axis=1)


class BasicLSTMCell(_LSTMAdapter):
    """TF1's ``BasicLSTMCell``: the plain LSTM with a constant forget bias.

    Math (gate order i, f, c, o in the Keras layout)::

        i = σ(z_i)   f = σ(z_f + forget_bias)   o = σ(z_o)     z = x W + h_{t-1} U + b
        c_t = f ⊙ c_{t-1} + i ⊙ act(z_c)        h_t = o ⊙ act(c_t)

    Args:
        num_units: H.
        forget_bias: added to the forget pre-activation (not a weight; the bias starts at zeros).
        state_is_tuple: True: ``LSTMStateTuple(c, h)``; False: one array ``[c, h]`` (B, 2H).
        activation: name or Activation; None means tanh.
        name: default "basic_lstm_cell".  dtype: None (the first inputs' dtype) or a float dtype.
        seed: rnnkit addition; fixes the initial weights.

    Weights: kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) — Keras's LSTM layout.
    """

    _default_name = "basic_lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None,
                 dtype=None, *, seed=None, **kwargs):
        super().__init__(state_is_tuple, name, dtype)
        check_tf1_arguments(type(self).__name__, reuse=reuse, kwargs=kwargs)
        self._core = _CoreLSTM(
            num_units, activation=_tanh_default(activation), recurrent_activation="sigmoid",
            kernel_initializer="glorot_uniform", recurrent_initializer="glorot_uniform",
            bias_initializer="zeros", unit_forget_bias=False, forget_bias=forget_bias, seed=seed,
            dtype=self._fixed_dtype or "float32", name=self.name)


class LSTMCell(_LSTMAdapter):
    """TF1's ``LSTMCell``: LSTM with optional peepholes, cell clipping and an output projection.

    Math::

        z = x W + h_{t-1} U + b
        i = σ(z_i + p_i ⊙ c_{t-1})     f = σ(z_f + forget_bias + p_f ⊙ c_{t-1})
        c_t = clip(f ⊙ c_{t-1} + i ⊙ act(z_c), ±cell_clip)
        o = σ(z_o + p_o ⊙ c_t)         h_t = clip((o ⊙ act(c_t)) P, ±proj_clip)

    (peephole terms only with ``use_peepholes``; P only with ``num_proj``.)

    Args:
        num_units: H, the cell-state size.
        use_peepholes: add the diagonal peephole weights p_i, p_f, p_o (H,).
        cell_clip: None or a positive bound on the cell state.
        initializer: for kernel, recurrent_kernel, peepholes and projection; None means glorot_uniform.
        num_proj: None or P; h_t (the output and the ``h`` state) then has P features.
        proj_clip: None or a positive bound on the projected output; needs num_proj (TF1 ignores it
            silently without one; rnnkit says so instead).
        forget_bias: added to the forget pre-activation; the bias weight starts at zeros.
        state_is_tuple: True: ``LSTMStateTuple(c, h)``; False: one array ``[c, h]`` (B, H + P).
        activation: name or Activation; None means tanh.
        name: default "lstm_cell".  dtype: None (the first inputs' dtype) or a float dtype.
        seed: rnnkit addition; fixes the initial weights.

    Weights (Keras layout): kernel (I, 4H), recurrent_kernel (P or H, 4H), bias (4H,), then
    peephole_i, peephole_f, peephole_o (H,), then projection_kernel (H, P).

    Example:
        >>> import numpy as np
        >>> cell = LSTMCell(num_units=128)
        >>> output, s1 = cell(np.ones((4, 48), np.float32), cell.zero_state(4, np.float32))
        >>> output.shape, s1.h.shape, s1.c.shape
        ((4, 128), (4, 128), (4, 128))
    """

    _default_name = "lstm_cell"

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None, num_proj=None,
                 proj_clip=None, num_unit_shards=None, num_proj_shards=None, forget_bias=1.0, state_is_tuple=True,
                 activation=None, reuse=None, name=None, dtype=None, *, seed=None, **kwargs):
        super().__init__(state_is_tuple, name, dtype)
        check_tf1_arguments(type(self).__name__, reuse=reuse, kwargs=kwargs,
                            shards=(("num_unit_shards", num_unit_shards), ("num_proj_shards", num_proj_shards)))
        initializer = initializer or "glorot_uniform"
        self._core = _CoreLSTM(
            num_units, activation=_tanh_default(activation), recurrent_activation="sigmoid",
            kernel_initializer=initializer, recurrent_initializer=initializer, bias_initializer="zeros",
            unit_forget_bias=False, forget_bias=forget_bias, use_peepholes=use_peepholes,
            num_proj=num_proj, cell_clip=cell_clip, proj_clip=proj_clip, seed=seed,
            dtype=self._fixed_dtype or "float32", name=self.name)
