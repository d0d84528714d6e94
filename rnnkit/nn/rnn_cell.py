"""TensorFlow 1's ``tf.nn.rnn_cell`` names and defaults, as thin adapters over the core cells.

Each class here owns one core cell (:mod:`rnnkit.cells`) and only translates:
TF1's constructor arguments into the core's, TF1's state structures into the
core's tuples and back, and TF1's lazy build (weights appear on the first call,
sized from the inputs' last axis). The weights stay in the core's Keras layout;
there is no second layout.

State structures (TF1's), for batch B:

* ``BasicRNNCell``, ``GRUCell``: one array (B, num_units).
* ``BasicLSTMCell``, ``LSTMCell``: ``LSTMStateTuple(c, h)`` — TF1's order, the core keeps
  ``(h, c)`` — or, with ``state_is_tuple=False``, one array ``[c, h]`` concatenated on axis 1.
* ``MultiRNNCell``: a tuple with one state per cell (or their concatenation with
  ``state_is_tuple=False``).

Initialisation differs from TF1 in one documented way: TF1 draws one
glorot_uniform matrix for the concatenated ``[inputs, state]`` kernel, rnnkit
draws ``kernel`` and ``recurrent_kernel`` separately with glorot_uniform (so
their limits use each matrix's own fan). Biases follow TF1 exactly.
"""
import collections
import numbers

import numpy as np

from .._validate import describe, float_array, float_dtype, positive_int
from ..cells.gru import GRUCell as _CoreGRU
from ..cells.lstm import LSTMCell as _CoreLSTM
from ..cells.simple_rnn import SimpleRNNCell as _CoreSimpleRNN
from ..cells.stacked import StackedRNNCells
from ..errors import RnnkitTypeError, RnnkitValueError
from ..variables import Variable


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """TF1's LSTM state: ``c`` the cell state (B, num_units), ``h`` the output (B, num_proj or num_units).

    A plain namedtuple (so ``c, h = state`` unpacks in TF1's order) with TF1's ``dtype``.
    """

    __slots__ = ()

    @property
    def dtype(self):
        c, h = self
        if np.asarray(c).dtype != np.asarray(h).dtype:
            raise RnnkitTypeError(f"LSTMStateTuple has inconsistent dtypes: c {np.asarray(c).dtype}, "
                                  f"h {np.asarray(h).dtype}")
        return np.asarray(c).dtype


def _tanh_default(activation):
    # TF1's cells read activation=None as tanh; the core registry reads None as linear.
    return "tanh" if activation is None else activation


def check_state_structure(state, size, batch, dtype, name):
    """Validate ``state`` against a TF1 ``state_size`` structure and cast it to ``dtype``.

    ``size`` is an int (one (batch, size) array), an LSTMStateTuple of sizes, or a tuple of
    such structures. Errors name the position, e.g. ``initial_state[1].c``.
    """
    if isinstance(size, numbers.Integral):
        if isinstance(state, tuple):
            raise RnnkitValueError(
                f"{name} must be one array of shape {(batch, size)}, got a tuple of {len(state)} entries"
            )
        value = float_array(name, state, ndim=2, dtype=dtype)
        if value.shape != (batch, size):
            raise RnnkitValueError(f"{name} must have shape {(batch, size)}, got {describe(value)}")
        return value
    expected = "LSTMStateTuple(c, h)" if isinstance(size, LSTMStateTuple) else f"a tuple of {len(size)} states"
    if not isinstance(state, (list, tuple)) or len(state) != len(size):
        raise RnnkitValueError(
            f"{name} must be {expected} with state sizes {size} for batch {batch}, got {describe(state)}"
        )
    if isinstance(size, LSTMStateTuple):
        return LSTMStateTuple(*(check_state_structure(s, n, batch, dtype, f"{name}.{field}")
                                for field, s, n in zip(size._fields, state, size)))
    return tuple(check_state_structure(s, n, batch, dtype, f"{name}[{k}]")
                 for k, (s, n) in enumerate(zip(state, size)))


def flat_size(size):
    """Total width of a state structure when concatenated on axis 1."""
    if isinstance(size, numbers.Integral):
        return int(size)
    return sum(flat_size(s) for s in size)


class RNNCell:
    """Base of the TF1 cells: lazy build, TF1 state structures, TF1 weight access.

    Subclasses set ``self._core`` (a core cell) and implement ``state_size``,
    ``_to_core(state)`` and ``_from_core(core_state)`` (pure re-arrangements, so the
    same two maps also carry state *gradients* between the structures).
    """

    _default_name = "rnn_cell"

    def __init__(self, name=None, dtype=None):
        if name is not None and not isinstance(name, str):
            raise RnnkitTypeError(f"name must be a string or None, got {describe(name)}")
        self.name = name or self._default_name
        # None means "the dtype of the first inputs" (TF1); the core then waits until build.
        self._fixed_dtype = None if dtype is None else float_dtype("dtype", dtype)
        self._core = None
        self._variables = None

    # ------------------------------------------------------------------ structure
    @property
    def state_size(self):
        raise NotImplementedError

    @property
    def output_size(self):
        return self._core.output_size

    @property
    def dtype(self):
        """The dtype of the weights and states (float32 until a build with other inputs fixes it)."""
        return self._core.dtype

    @property
    def built(self):
        return self._core.built

    @property
    def input_dim(self):
        return self._core.input_dim

    def build(self, inputs_shape, dtype=None):
        """Create the weights for inputs whose last axis is ``inputs_shape[-1]`` (or an int)."""
        if isinstance(inputs_shape, numbers.Integral):
            input_dim = inputs_shape
        elif isinstance(inputs_shape, (list, tuple)) and inputs_shape:
            input_dim = inputs_shape[-1]
        else:
            raise RnnkitValueError(f"inputs_shape must be an int or a shape tuple, got {describe(inputs_shape)}")
        self._build(positive_int("inputs_shape[-1]", input_dim), dtype)

    def _build(self, input_dim, dtype=None):
        if self.built:
            if input_dim != self.input_dim:
                raise RnnkitValueError(
                    f"inputs must have {self.input_dim} features (last axis) to match the built weights "
                    f"of {self.name}, got {input_dim}"
                )
            return
        if self._fixed_dtype is None and dtype is not None:
            self._core.dtype = float_dtype("dtype", dtype)
        self._core.build(input_dim)
        self._after_build()

    def _after_build(self):
        """Hook for TF1 initial values the core's initializers cannot express."""

    def zero_state(self, batch_size, dtype=None):
        """Zeros in this cell's TF1 state structure, each (batch_size, size)."""
        batch_size = positive_int("batch_size", batch_size)
        dtype = self.dtype if dtype is None else float_dtype("dtype", dtype)
        return self._from_core(self._core.get_initial_state(batch_size, dtype))

    def check_state(self, state, batch, name="state"):
        """Validate a TF1-structured state for ``batch`` sequences and cast it to the cell's dtype."""
        return check_state_structure(state, self.state_size, batch, self.dtype, name)

    def _to_core(self, state):
        raise NotImplementedError

    def _from_core(self, core_state):
        raise NotImplementedError

    # ------------------------------------------------------------------ one step
    def __call__(self, inputs, state, scope=None):
        """One step: ``output, new_state = cell(inputs, state)``.

        Args:
            inputs: (B, I) floats; the first call builds the weights for I features.
            state: this cell's TF1 state structure for batch B (see :attr:`state_size`).
            scope: accepted for TF1 compatibility and ignored (rnnkit has no variable scopes).

        Returns:
            output (B, output_size) and the new state in the same structure as ``state``.
        """
        inputs = float_array("inputs", inputs, ndim=2)
        self._build(inputs.shape[1], inputs.dtype)
        state = self.check_state(state, inputs.shape[0])
        output, new_state, _ = self._core.step_forward(inputs, self._to_core(state))
        return output, self._from_core(new_state)

    def call(self, inputs, state):
        """Same as calling the cell (TF1 code sometimes calls ``cell.call`` directly)."""
        return self(inputs, state)

    # ------------------------------------------------------------------ weights
    def _weight_items(self):
        """``(TF1-style name, array)`` pairs in get_weights order."""
        return [(f"{self.name}/{name}", value) for name, value in self._core.params.items()]

    @property
    def weights(self):
        """The weights as :class:`~rnnkit.variables.Variable` objects sharing the arrays (empty before build)."""
        if not self.built:
            return []
        if self._variables is None:
            self._variables = [Variable(value, name) for name, value in self._weight_items()]
        return list(self._variables)

    variables = weights
    trainable_variables = weights
    trainable_weights = weights

    def get_weights(self):
        """Copies of the weights in Keras's layout and order (empty before build)."""
        return self._core.get_weights() if self.built else []

    def set_weights(self, weights):
        """Load arrays in :meth:`get_weights` order and shapes (in place)."""
        if not self.built:
            raise RnnkitValueError(
                f"{self.name} has no weights yet: call it once or call build(inputs_shape) before set_weights"
            )
        self._core.set_weights(weights)

    def count_params(self):
        return self._core.count_params() if self.built else 0

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, state_size={self.state_size!r})"


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

    def __init__(self, num_units, activation=None, name=None, dtype=None, *, seed=None):
        super().__init__(name, dtype)
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

    def __init__(self, num_units, activation=None, kernel_initializer=None, bias_initializer=None,
                 name=None, dtype=None, *, seed=None):
        super().__init__(name, dtype)
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

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None, name=None,
                 dtype=None, *, seed=None):
        super().__init__(state_is_tuple, name, dtype)
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
                 proj_clip=None, forget_bias=1.0, state_is_tuple=True, activation=None, name=None,
                 dtype=None, *, seed=None):
        super().__init__(state_is_tuple, name, dtype)
        initializer = initializer or "glorot_uniform"
        self._core = _CoreLSTM(
            num_units, activation=_tanh_default(activation), recurrent_activation="sigmoid",
            kernel_initializer=initializer, recurrent_initializer=initializer, bias_initializer="zeros",
            unit_forget_bias=False, forget_bias=forget_bias, use_peepholes=use_peepholes,
            num_proj=num_proj, cell_clip=cell_clip, proj_clip=proj_clip, seed=seed,
            dtype=self._fixed_dtype or "float32", name=self.name)


class MultiRNNCell(RNNCell):
    """TF1's ``MultiRNNCell``: cells stacked so each reads the outputs of the one below.

    The core is a :class:`~rnnkit.cells.stacked.StackedRNNCells` over the cells' own cores,
    so the weights are shared with the cells passed in.

    Args:
        cells: non-empty list of TF1 cells (any mix of the classes in this module).
        state_is_tuple: True: the state is a tuple with one entry per cell; False: the cells'
            states concatenated on axis 1 (every cell must then have a one-array state).

    Weights: each cell's weights in order, named ``multi_rnn_cell/cell_<k>/<cell name>/<weight>``.
    """

    _default_name = "multi_rnn_cell"

    def __init__(self, cells, state_is_tuple=True, name=None):
        super().__init__(name, None)
        if isinstance(cells, (str, bytes)) or not isinstance(cells, (list, tuple)) or not cells:
            raise RnnkitValueError(f"cells must be a non-empty list of RNN cells, got {describe(cells)}")
        for k, cell in enumerate(cells):
            if not isinstance(cell, RNNCell):
                raise RnnkitTypeError(
                    f"cells[{k}] must be an rnnkit.nn.rnn_cell cell (BasicRNNCell, BasicLSTMCell, LSTMCell, "
                    f"GRUCell or MultiRNNCell), got {describe(cell)}"
                )
        if not isinstance(state_is_tuple, bool):
            raise RnnkitValueError(f"state_is_tuple must be True or False, got {describe(state_is_tuple)}")
        if not state_is_tuple:
            for k, cell in enumerate(cells):
                if not isinstance(cell.state_size, numbers.Integral):
                    raise RnnkitValueError(
                        f"MultiRNNCell(state_is_tuple=False) concatenates one-array states, but cells[{k}] "
                        f"({cell.name}) has state_size {cell.state_size}; build it with state_is_tuple=False"
                    )
        self.cells = list(cells)
        self.state_is_tuple = state_is_tuple
        self._core = StackedRNNCells([cell._core for cell in self.cells], name=self.name)

    @property
    def state_size(self):
        sizes = tuple(cell.state_size for cell in self.cells)
        return sizes if self.state_is_tuple else sum(sizes)

    @property
    def dtype(self):
        return self.cells[-1].dtype

    def _build(self, input_dim, dtype=None):
        for k, cell in enumerate(self.cells):
            if k and cell.built and cell.input_dim != input_dim:
                raise RnnkitValueError(
                    f"cells[{k}] ({cell.name}) was built for {cell.input_dim} input features but the "
                    f"cell below it gives {input_dim}"
                )
            cell._build(input_dim, dtype)
            input_dim = cell.output_size

    def zero_state(self, batch_size, dtype=None):
        states = tuple(cell.zero_state(batch_size, dtype) for cell in self.cells)
        return states if self.state_is_tuple else np.concatenate(states, axis=1)

    def _split(self, state):
        widths = np.cumsum([flat_size(cell.state_size) for cell in self.cells])[:-1]
        return np.split(state, widths, axis=1)

    def _to_core(self, state):
        parts = state if self.state_is_tuple else self._split(state)
        return tuple(cell._to_core(part) for cell, part in zip(self.cells, parts))

    def _from_core(self, core_state):
        states = tuple(cell._from_core(part) for cell, part in zip(self.cells, core_state))
        return states if self.state_is_tuple else np.concatenate(states, axis=1)

    def _weight_items(self):
        return [(f"{self.name}/cell_{k}/{name}", value)
                for k, cell in enumerate(self.cells) for name, value in cell._weight_items()]


__all__ = ["RNNCell", "BasicRNNCell", "BasicLSTMCell", "LSTMCell", "GRUCell", "MultiRNNCell", "LSTMStateTuple"]
