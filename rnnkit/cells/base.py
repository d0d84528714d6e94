"""The base of every recurrent cell: parameters in Keras's layout plus whole-sequence kernels.

A cell knows one step of the recurrence and nothing of time-step counters. It
owns its weights (``params``, a dict in Keras's order and shapes), delegates the
time loop to a pure kernel in :mod:`rnnkit.ops`, and offers three views of it:

* ``forward(x, initial_state, mask) -> (outputs, final_state, cache)`` and
  ``backward(d_outputs, d_final_state, cache) -> (dx, d_initial_state, grads)``
  over a whole (B, T, I) sequence: the BPTT core the layers use;
* ``cell(inputs, states) -> (output, new_states)``: one step, Keras's cell contract;
* ``step_forward`` / ``step_backward``: one step that keeps a cache, so a loop of
  single steps can be backpropagated and checked against the sequence kernel.

States are tuples in Keras's order: ``(h,)`` for SimpleRNN and GRU, ``(h, c)``
for LSTM.
"""
import numpy as np

from .. import initializers
from .._validate import describe, float_array, float_dtype, mask_array, positive_int
from ..errors import RnnkitValueError
from ..ops.grad_mode import is_grad_enabled
from ..random import make_rng
from ..variables import assign_all


class SingleStep:
    """One step of a sequence cell with a cache, built on its whole-sequence ``forward``/``backward``
    (a sequence of length 1), so a loop of single steps can be backpropagated and checked."""

    def step_forward(self, inputs, states):
        """One step: inputs (B, I), states as in ``state_size`` -> (output (B, output_size), new states, cache)."""
        inputs = float_array("inputs", inputs, ndim=2)
        outputs, new_states, cache = self.forward(inputs[:, None, :], states)
        return outputs[:, 0], new_states, cache

    def step_backward(self, d_output, d_new_states, cache):
        """Gradient of one step: -> (d_inputs (B, I), d_states, weight grads list)."""
        d_outputs = None if d_output is None else np.asarray(d_output)[:, None, :]
        dx, d_states, grads = self.backward(d_outputs, d_new_states, cache)
        return dx[:, 0], d_states, grads


class RecurrentCell(SingleStep):
    """Abstract cell. Subclasses set ``kernel_name`` and implement ``weight_shapes``,
    ``state_size``, ``kernel_config`` and optionally ``initial_weight``.

    Args:
        units: number of hidden units H (> 0).
        use_bias: whether the cell has a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer: names or Initializers.
        seed: int or None; fixes the initial weights.
        dtype: "float32" (default) or "float64".
    """

    #: name of the kernels in :mod:`rnnkit.ops` (``<kernel_name>_forward``/``_backward``)
    kernel_name = None

    def __init__(self, units, *, use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 seed=None, dtype="float32", name=None):
        self.units = positive_int("units", units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed
        make_rng(seed)  # validates the seed now rather than at build time
        self.dtype = float_dtype("dtype", dtype)
        self.name = name or type(self).__name__
        self.params = {}
        self.input_dim = None

    # ------------------------------------------------------------------ structure
    @property
    def state_size(self):
        """Sizes of the state tensors, in Keras order (ints)."""
        raise NotImplementedError

    @property
    def output_size(self):
        return self.units

    def weight_shapes(self, input_dim):
        """Ordered dict-like list of ``(name, shape)`` in Keras's ``get_weights`` order."""
        raise NotImplementedError

    def kernel_config(self):
        """Keyword arguments for the ops kernels (activations, switches)."""
        raise NotImplementedError

    def initial_weight(self, name, shape, rng):
        """Draw the initial value of weight ``name``; subclasses special-case biases."""
        if name == "kernel":
            init = self.kernel_initializer
        elif name == "recurrent_kernel":
            init = self.recurrent_initializer
        elif name == "bias":
            init = self.bias_initializer
        else:
            init = initializers.GlorotUniform() if len(shape) == 2 else initializers.Zeros()
        return init(shape, self.dtype, rng)

    @property
    def built(self):
        return self.input_dim is not None

    def build(self, input_dim):
        """Create the weights for inputs of ``input_dim`` features."""
        input_dim = positive_int("input_dim", input_dim)
        rng = make_rng(self.seed)
        self.params = {name: self.initial_weight(name, shape, rng)
                       for name, shape in self.weight_shapes(input_dim)}
        self.input_dim = input_dim

    @property
    def weight_names(self):
        return list(self.params)

    def get_weights(self):
        return [value.copy() for value in self.params.values()]

    def set_weights(self, weights):
        """Load arrays in Keras's order and shapes (what the same Keras layer's get_weights returns);
        all or nothing: every shape is checked before the first array changes."""
        # in place: layers and optimizers hold references to these arrays
        assign_all(f"cell {self.name}", list(self.params.items()), weights)

    def count_params(self):
        return int(sum(value.size for value in self.params.values()))

    def get_initial_state(self, batch_size, dtype=None):
        """Zero states, one (batch_size, size) array per entry of ``state_size``."""
        batch_size = positive_int("batch_size", batch_size)
        dtype = self.dtype if dtype is None else float_dtype("dtype", dtype)
        return tuple(np.zeros((batch_size, size), dtype) for size in self.state_size)

    # ------------------------------------------------------------------ sequence
    def _kernels(self):
        from .. import ops  # late import: ops picks the fast path if one is compiled
        return ops.get_kernels(self.kernel_name)

    def check_inputs(self, x, initial_state, mask, name="inputs"):
        """Validate and cast the arguments of :meth:`forward`; build on first use."""
        x = float_array(name, x, ndim=3)
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        batch, time, features = x.shape
        if not self.built:
            self.build(features)
        elif features != self.input_dim:
            raise RnnkitValueError(
                f"{name} must have {self.input_dim} features (last axis) to match the built weights "
                f"of {self.name}, got {describe(x)}"
            )
        state = self.check_state(initial_state, batch)
        return x, state, mask_array("mask", mask, batch, time)

    def check_state(self, state, batch, name="initial_state"):
        """Validate a state given as an array (single-state cells) or a sequence of arrays."""
        if state is None:
            return self.get_initial_state(batch) if batch else tuple(
                np.zeros((0, size), self.dtype) for size in self.state_size)
        if isinstance(state, np.ndarray) and len(self.state_size) == 1:
            state = (state,)
        if not isinstance(state, (list, tuple)) or len(state) != len(self.state_size):
            raise RnnkitValueError(
                f"{name} for {self.name} must be a list of {len(self.state_size)} arrays with shapes "
                f"{[(batch, s) for s in self.state_size]}, got {describe(state)}"
            )
        checked = []
        for i, (value, size) in enumerate(zip(state, self.state_size)):
            value = float_array(f"{name}[{i}]", value, ndim=2, dtype=self.dtype)
            if value.shape != (batch, size):
                raise RnnkitValueError(f"{name}[{i}] must have shape {(batch, size)}, got {describe(value)}")
            checked.append(value)
        return tuple(checked)

    def forward(self, x, initial_state=None, mask=None, *, recurrent_mask=None, zero_output_for_mask=False,
                segment_length=None):
        """Run the whole sequence.

        Args:
            x: (B, T, I) floats.
            initial_state: None (zeros) or states with shapes ``(B, s)`` for s in ``state_size``.
            mask: None or (B, T) bool; False skips a step (state carried, output repeated).
            recurrent_mask: None or (B, H_in) multiplier on the previous output (recurrent dropout).
            zero_output_for_mask: masked steps output zeros.
            segment_length: None, or S > 0 for gradient checkpointing through time: the cache keeps
                only the state every S steps and :meth:`backward` recomputes one segment at a time
                (same results, less memory, one extra forward; see :mod:`rnnkit.ops.checkpointing`).

        Returns:
            outputs (B, T, output_size), final state tuple, cache for :meth:`backward` (None under
            :func:`rnnkit.ops.no_grad`).
        """
        x, state0, mask = self.check_inputs(x, initial_state, mask)
        recurrent_mask = self.check_recurrent_mask(recurrent_mask, x.shape[0])
        forward, backward = self._kernels()
        if not is_grad_enabled():  # inference: no cache to keep, so no segments either
            outputs, final, _ = forward(x, state0, self.params, mask, recurrent_mask,
                                        zero_output_for_mask=zero_output_for_mask, **self.kernel_config())
            return outputs, final, None
        if segment_length is not None:
            from ..ops import checkpointing

            run, backward = checkpointing.bind_kernels(forward, backward, self.params, recurrent_mask,
                                                       **self.kernel_config())
            return checkpointing.segmented_forward(run, backward, x, state0, mask, segment_length=segment_length,
                                                   zero_output_for_mask=zero_output_for_mask)
        return forward(x, state0, self.params, mask, recurrent_mask,
                       zero_output_for_mask=zero_output_for_mask, **self.kernel_config())

    def check_recurrent_mask(self, recurrent_mask, batch):
        """Validate a recurrent dropout mask: None or (B, H_in) floats, H_in the size of the fed-back output."""
        if recurrent_mask is None:
            return None
        recurrent_mask = float_array("recurrent_mask", recurrent_mask, ndim=2, dtype=self.dtype)
        if recurrent_mask.shape != (batch, self.state_size[0]):
            raise RnnkitValueError(
                f"recurrent_mask must have shape {(batch, self.state_size[0])}, got {describe(recurrent_mask)}")
        return recurrent_mask

    def backward(self, d_outputs, d_final_state, cache):
        """BPTT: returns dx (B, T, I), the gradient of the initial state (tuple) and the
        weight gradients as a list in :meth:`get_weights` order."""
        from ..ops import checkpointing

        if isinstance(cache, checkpointing.SegmentedCache):
            backward = checkpointing.segmented_backward
        elif isinstance(cache, dict) and "params" in cache:
            _, backward = self._kernels()
        elif cache is None:
            raise RnnkitValueError(f"{self.name}.backward got cache None: the forward ran under rnnkit.ops.no_grad() "
                                   "(as predict and evaluate do), which keeps nothing to backpropagate through")
        else:
            raise RnnkitValueError(f"cache must be the third value returned by {self.name}.forward, "
                                   f"got {describe(cache)}")
        dx, d_state0, grads = backward(d_outputs, d_final_state, cache)
        return dx, d_state0, [grads[name] for name in self.params]

    # ------------------------------------------------------------------ one step
    def __call__(self, inputs, states, training=False):
        """Keras cell contract: ``output, new_states = cell(inputs, states)``."""
        output, new_states, _ = self.step_forward(inputs, states)
        return output, list(new_states)

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer.serialize(),
            "recurrent_initializer": self.recurrent_initializer.serialize(),
            "bias_initializer": self.bias_initializer.serialize(),
            "seed": self.seed,
            "dtype": self.dtype.name,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(units={self.units})"
