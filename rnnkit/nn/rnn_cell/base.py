"""TF1's cell base: ``RNNCell`` (zero_state, lazy build, one step, the core cell behind it),
``LSTMStateTuple`` and the state-structure checks shared by every TF1 cell.
"""

import collections
import numbers

import numpy as np

from ..._validate import describe, float_array, float_dtype, positive_int
from ...errors import RnnkitTypeError, RnnkitValueError
from ...variables import Variable, share_cell_weights


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

    # ------------------------------------------------------------------ sequence
    def forward_unchecked(self, x, state, mask=None):
        """The whole sequence as ``dynamic_rnn`` runs it, on arguments it has checked.

        Args:
            x: (B, T, I) in the cell's dtype, the cell built for I features.
            state: this cell's TF1 state structure as :meth:`check_state` returns it, or None (zeros).
            mask: None or (B, T) bool; a masked step outputs zeros and keeps the state (TF1).

        Returns:
            outputs (B, T, output_size), the final state in the TF1 structure, and the cache for
            :meth:`backward_unchecked` (None under :func:`rnnkit.no_grad`).
        """
        core_state = self._core.check_state(None, len(x)) if state is None else self._to_core(state)
        outputs, final, cache = self._core.forward_unchecked(x, core_state, mask, zero_output_for_mask=True)
        return outputs, self._from_core(final), cache

    def backward_unchecked(self, d_outputs, d_state, cache):
        """Backward of :meth:`forward_unchecked`: d_outputs (B, T, output_size) or None, d_state the
        final state's gradient in the TF1 structure (checked, no None leaves) or None. Returns dx
        (B, T, I), the initial state's gradient in the TF1 structure and the weight gradients as a
        list in :meth:`get_weights` order."""
        core_d_state = None if d_state is None else self._to_core(d_state)
        dx, d_state0, grads = self._core.backward(d_outputs, core_d_state, cache)
        return dx, self._from_core(d_state0), list(grads)

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
        x = inputs[:, None, :].astype(self.dtype, copy=False)
        outputs, new_state, _ = self.forward_unchecked(x, state)
        return outputs[:, 0], new_state

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
            share_cell_weights(self._variables, self._core)  # an optimizer's flat buffer re-points the core
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
