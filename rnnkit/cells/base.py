"""The base of every recurrent cell: parameters in Keras's layout plus whole-sequence ops.

A cell knows one step of the recurrence and nothing of time-step counters. It
owns its weights (``params``, a dict in Keras's order and shapes), hands the time
loop to the pure ops it names (``reference_ops``, from :mod:`rnnkit.ops`; see
:mod:`rnnkit.cells.dispatch` for their compiled twins), and offers three views of it:

* ``forward(x, initial_state, mask) -> (outputs, final_state, cache)`` and
  ``backward(d_outputs, d_final_state, cache) -> (dx, d_initial_state, grads)``
  over a whole (B, T, I) sequence: the BPTT core. ``forward`` checks its arguments;
  ``forward_unchecked`` is the same on arguments its caller has checked (the layers do);
* ``cell(inputs, states) -> (output, new_states)``: one step, Keras's cell contract;
* ``step_forward`` / ``step_backward``: one step that keeps a cache, so a loop of
  single steps can be backpropagated and checked against the sequence op.

States are tuples in Keras's order: ``(h,)`` for SimpleRNN and GRU, ``(h, c)``
for LSTM. Gradient checkpointing through time (``backprop_segment=S``, see
:mod:`rnnkit.ops.checkpointing`) is one mechanism here, for every cell and stack.
"""
import numpy as np

from .. import initializers
from .._validate import describe, float_array, float_dtype, mask_array, positive_int, state_arrays
from ..errors import RnnkitValueError
from ..ops import checkpointing
from ..ops.grad_mode import is_grad_enabled
from ..random import make_rng
from ..variables import assign_all
from ..weight_options import set_weight_options, weight_options_config
from . import dispatch

_CELL_CLASSES = {}
RECURRENT_WEIGHTS = ("kernel", "recurrent", "bias")  # prefixes of the regularizer/constraint options


def register_cell(cls):
    """Make ``cls`` known by its class name to configs (``RNN(cell)``, ``StackedRNNCells``, saved models).

    Every subclass of :class:`SequenceCell` is registered where it is defined (unless a class of the
    same name from another module came first); this is for any other cell class, and replaces.
    """
    _CELL_CLASSES[cls.__name__] = cls
    return cls


def cell_class(class_name, custom_objects=None):
    """The cell class called ``class_name``: from ``custom_objects`` (a dict), else a registered one."""
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    if class_name not in _CELL_CLASSES:
        raise RnnkitValueError(
            f"config names an unknown cell class {class_name!r}; known: {sorted(_CELL_CLASSES)}; "
            f"pass it in custom_objects={{{class_name!r}: cls}}"
        )
    return _CELL_CLASSES[class_name]


def cell_classes():
    """Every registered cell class by name (a copy)."""
    return dict(_CELL_CLASSES)


def is_ops_cache(cache):
    """Whether ``cache`` is what a sequence op's forward returns (a dict or object holding ``params``)."""
    return (isinstance(cache, dict) and "params" in cache) or hasattr(cache, "params")


class SequenceCell:
    """What every cell shares, a stack of cells included: the whole-sequence forward (checked and
    unchecked, with gradient checkpointing through time), backward, and one step with a cache.

    Subclasses implement ``run(x, state0, mask, recurrent_mask, zero_output_for_mask)`` and
    ``run_backward(d_outputs, d_final_state, cache)`` (one plain pass each, grads as a list in
    ``get_weights`` order), ``check_state``, ``check_recurrent_mask`` and ``build``, and have
    ``name``, ``dtype``, ``built``, ``input_dim``.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # registered where defined; a same-named class from another module needs custom_objects
        existing = _CELL_CLASSES.get(cls.__name__)
        if existing is None or existing.__module__ == cls.__module__:
            register_cell(cls)

    @property
    def input_dtype(self):
        """The dtype inputs are cast to: the cell's own (a stack's first cell's)."""
        return self.dtype

    def check_inputs(self, x, initial_state, mask, ndim=3):
        """Check and cast the arguments of :meth:`forward` (``ndim=2``: of one step); build on first use.

        Returns ``(x, state0, mask)``: x cast to the cell's dtype, the state as a tuple, the mask as
        (B, T) bool or None.
        """
        x = float_array("inputs", x, ndim=ndim)
        if x.dtype != self.input_dtype:
            x = x.astype(self.input_dtype)
        batch, features = x.shape[0], x.shape[-1]
        if not self.built:
            self.build(features)
        elif features != self.input_dim:
            raise RnnkitValueError(
                f"inputs must have {self.input_dim} features (last axis) to match the built weights "
                f"of {self.name}, got {describe(x)}"
            )
        time = x.shape[1] if ndim == 3 else 1
        return x, self.check_state(initial_state, batch), mask_array("mask", mask, batch, time)

    def forward(self, x, initial_state=None, mask=None, *, recurrent_mask=None, zero_output_for_mask=False,
                backprop_segment=None):
        """Run the whole sequence.

        Args:
            x: (B, T, I) floats.
            initial_state: None (zeros) or states with shapes ``(B, s)`` for s in ``state_size``.
            mask: None or (B, T) bool; False skips a step (state carried, output repeated).
            recurrent_mask: None or the (B, H_in) multiplier on the previous output (recurrent dropout).
            zero_output_for_mask: masked steps output zeros.
            backprop_segment: None, or S > 0 for gradient checkpointing through time: the cache keeps
                only the state every S steps and :meth:`backward` recomputes one segment at a time
                (same results, less memory, one extra forward; see :mod:`rnnkit.ops.checkpointing`).

        Returns:
            outputs (B, T, output_size), final state tuple, cache for :meth:`backward` (None under
            :func:`rnnkit.ops.no_grad`).
        """
        x, state0, mask = self.check_inputs(x, initial_state, mask)
        recurrent_mask = self.check_recurrent_mask(recurrent_mask, len(x))
        backprop_segment = positive_int("backprop_segment", backprop_segment, allow_none=True)
        return self.forward_unchecked(x, state0, mask, recurrent_mask=recurrent_mask, backprop_segment=backprop_segment,
                                      zero_output_for_mask=bool(zero_output_for_mask))

    def forward_unchecked(self, x, state0, mask=None, *, recurrent_mask=None, zero_output_for_mask=False,
                          backprop_segment=None):
        """:meth:`forward` on arguments its caller has checked: x (B, T, I) in the cell's dtype, the cell
        built for I; state0 a tuple as :meth:`check_state` returns it; mask None or (B, T) bool;
        recurrent_mask as :meth:`check_recurrent_mask` returns it; backprop_segment None or an int > 0."""
        if not is_grad_enabled():  # inference keeps no cache, so there is nothing to checkpoint
            outputs, final, _ = self.run(x, state0, mask, recurrent_mask, zero_output_for_mask)
            return outputs, final, None
        if backprop_segment is None:
            return self.run(x, state0, mask, recurrent_mask, zero_output_for_mask)

        def run_segment(x_segment, state, mask_segment, zero_output):
            return self.run(x_segment, state, mask_segment, recurrent_mask, zero_output)

        return checkpointing.segmented_forward(run_segment, self.run_backward, x, state0, mask,
                                               backprop_segment=backprop_segment,
                                               zero_output_for_mask=zero_output_for_mask)

    def backward(self, d_outputs, d_final_state, cache):
        """BPTT: returns dx (B, T, I), the gradient of the initial state (tuple) and the
        weight gradients as a list in :meth:`get_weights` order."""
        if isinstance(cache, checkpointing.SegmentedCache):
            return checkpointing.segmented_backward(d_outputs, d_final_state, cache)
        if cache is None:
            raise RnnkitValueError(f"{self.name}.backward got cache None: the forward ran under rnnkit.ops.no_grad() "
                                   "(as predict and evaluate do), which keeps nothing to backpropagate through")
        return self.run_backward(d_outputs, d_final_state, cache)

    def step_forward(self, inputs, states):
        """One step: inputs (B, I), states as in ``state_size`` -> (output (B, output_size), new states, cache)."""
        x, state0, _ = self.check_inputs(inputs, states, None, ndim=2)
        outputs, new_states, cache = self.forward_unchecked(x[:, None, :], state0)
        return outputs[:, 0], new_states, cache

    def step_backward(self, d_output, d_new_states, cache):
        """Gradient of one step: -> (d_inputs (B, I), d_states, weight grads list)."""
        d_outputs = None if d_output is None else np.asarray(d_output)[:, None, :]
        dx, d_states, grads = self.backward(d_outputs, d_new_states, cache)
        return dx[:, 0], d_states, grads


class RecurrentCell(SequenceCell):
    """Abstract cell. Subclasses set ``reference_ops`` and implement ``weight_shapes``,
    ``state_size``, ``op_options`` and optionally ``initial_weight``.

    Args:
        units: number of hidden units H (> 0).
        use_bias: whether the cell has a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer: names or Initializers.
        seed: int or None; fixes the initial weights.
        dtype: "float32" (default) or "float64".
        kernel_regularizer, recurrent_regularizer, bias_regularizer: penalties on kernel,
            recurrent_kernel and bias (:mod:`rnnkit.regularizers`), added to a model's loss.
        kernel_constraint, recurrent_constraint, bias_constraint: projections applied to them after
            each optimizer step (:mod:`rnnkit.constraints`). An option for the bias with
            ``use_bias=False`` is a named error.
    """

    #: ``(forward, backward)``: the cell's whole-sequence math in :mod:`rnnkit.ops` (the NumPy reference;
    #: :mod:`rnnkit.cells.dispatch` may run its compiled twin instead)
    reference_ops = None

    def __init__(self, units, *, use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 seed=None, dtype="float32", name=None, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None):
        self.units = positive_int("units", units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed
        make_rng(seed)  # validates the seed now rather than at build time
        self.dtype = float_dtype("dtype", dtype)
        self.name = name or type(self).__name__
        set_weight_options(self, RECURRENT_WEIGHTS, {
            "kernel_regularizer": kernel_regularizer, "recurrent_regularizer": recurrent_regularizer,
            "bias_regularizer": bias_regularizer, "kernel_constraint": kernel_constraint,
            "recurrent_constraint": recurrent_constraint, "bias_constraint": bias_constraint},
            missing=None if self.use_bias else {"bias": "use_bias=False"}, where=f"cell {self.name!r}")
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
        """Ordered list of ``(name, shape)`` in Keras's ``get_weights`` order."""
        raise NotImplementedError

    def op_options(self):
        """Keyword arguments of the reference ops beyond the arrays (activations, switches)."""
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
        # row-major, as the compiled path reads them (the orthogonal initializer can return Fortran order)
        self.params = {name: np.ascontiguousarray(self.initial_weight(name, shape, rng))
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
    def check_state(self, state, batch, name="initial_state"):
        """Validate a state given as an array (single-state cells) or a sequence of arrays; None means zeros."""
        if state is None:
            return tuple(np.zeros((batch, size), self.dtype) for size in self.state_size)
        return state_arrays(name, state, self.state_size, batch, self.dtype, f" for {self.name}")

    def check_recurrent_mask(self, recurrent_mask, batch):
        """Validate a recurrent dropout mask: None or (B, H_in) floats, H_in the size of the fed-back output."""
        if recurrent_mask is None:
            return None
        recurrent_mask = float_array("recurrent_mask", recurrent_mask, ndim=2, dtype=self.dtype)
        if recurrent_mask.shape != (batch, self.state_size[0]):
            raise RnnkitValueError(
                f"recurrent_mask must have shape {(batch, self.state_size[0])}, got {describe(recurrent_mask)}")
        return recurrent_mask

    def run(self, x, state0, mask, recurrent_mask, zero_output_for_mask):
        """One plain pass of the cell's forward op (compiled twin or reference) over checked arguments."""
        forward, _ = dispatch.active(self.reference_ops)
        return forward(x, state0, self.params, mask, recurrent_mask, zero_output_for_mask=zero_output_for_mask,
                       **self.op_options())

    def run_backward(self, d_outputs, d_final_state, cache):
        """The backward op of :meth:`run`'s cache, with the weight gradients as a list."""
        if not is_ops_cache(cache):
            raise RnnkitValueError(f"cache must be the third value returned by {self.name}.forward, "
                                   f"got {describe(cache)}")
        _, backward = dispatch.active(self.reference_ops)
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
            **weight_options_config(self, RECURRENT_WEIGHTS),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(units={self.units})"
