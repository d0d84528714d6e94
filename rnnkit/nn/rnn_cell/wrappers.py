"""TF1's cell wrappers: ``DropoutWrapper``, ``ResidualWrapper``, ``DeviceWrapper``, with explicit backward.

A wrapper is a TF1 cell around another one (any cell of :mod:`rnnkit.nn.rnn_cell`,
a MultiRNNCell or another wrapper). Its state structure, weights and build are the
wrapped cell's; it changes what goes in and what comes out of each step:

* ``DropoutWrapper``: dropout on the inputs of every step, on the outputs, and on the
  new state passed to the next step (by default every part of the state but the ``c``
  of an ``LSTMStateTuple``), TF1's semantics (``v / keep_prob ⊙ mask``);
* ``ResidualWrapper``: output = inputs + cell output;
* ``DeviceWrapper``: nothing (rnnkit runs where NumPy runs); the device is recorded.

Over a whole sequence (``dynamic_rnn``, ``static_rnn``) a wrapper runs its cell's own
sequence kernel between the input and output maps; only dropout on the state needs the
step loop of :mod:`rnnkit.nn.rnn_cell.step_loop`, because it acts between steps.
"""
import numbers

import numpy as np

from ..._validate import describe, float_array, float_dtype, mask_array
from ...errors import RnnkitTypeError, RnnkitValueError
from ...ops import sequence
from ...ops.grad_mode import is_grad_enabled
from ...random import make_rng
from .base import LSTMStateTuple, RNNCell
from .step_loop import loop_backward, loop_forward, tree_map
from .tf1_args import keep_probability


def _check_wrapped(cell, owner):
    if not isinstance(cell, RNNCell):
        raise RnnkitTypeError(f"{owner} wraps an rnnkit.nn.rnn_cell cell (BasicLSTMCell, LSTMCell, GRUCell, "
                              f"MultiRNNCell, another wrapper, ...), got cell={describe(cell)}")
    return cell


class _WrapperCore:
    """Core of a wrapper: the wrapped core's structure and weights, with maps around its recurrence.

    Subclasses override the hooks; the defaults pass everything through unchanged. Masked
    steps follow :mod:`rnnkit.ops.sequence`: the recurrence runs with zero outputs on them,
    the output map sees those zeros, and the Keras-style repeat (``zero_output_for_mask=False``)
    is applied last.
    """

    def __init__(self, inner):
        self.inner = inner

    # ------------------------------------------------------------------ the wrapped core's structure
    state_size = property(lambda self: self.inner.state_size)
    output_size = property(lambda self: self.inner.output_size)
    built = property(lambda self: self.inner.built)
    input_dim = property(lambda self: self.inner.input_dim)
    params = property(lambda self: self.inner.params)
    weight_names = property(lambda self: self.inner.weight_names)
    name = property(lambda self: self.inner.name)

    @property
    def dtype(self):
        return self.inner.dtype

    @dtype.setter
    def dtype(self, value):
        self.inner.dtype = value

    def build(self, input_dim):
        self.inner.build(input_dim)

    def get_weights(self):
        return self.inner.get_weights()

    def set_weights(self, weights):
        self.inner.set_weights(weights)

    def count_params(self):
        return self.inner.count_params()

    def get_initial_state(self, batch_size, dtype=None):
        return self.inner.get_initial_state(batch_size, dtype)

    def check_state(self, state, batch, name="initial_state"):
        return self.inner.check_state(state, batch, name=name)

    def check_recurrent_mask(self, recurrent_mask, batch):
        return self.inner.check_recurrent_mask(recurrent_mask, batch)

    @property
    def input_dtype(self):
        return self.dtype

    # ------------------------------------------------------------------ hooks
    def _prepare(self, x):
        """Per-call context (random masks, ...) for the maps below."""
        return {}

    def _map_inputs(self, x, ctx):
        return x

    def _map_inputs_backward(self, dx, ctx):
        return dx

    def _recurrence(self, x, state0, mask, recurrent_mask, ctx):
        return self.inner.forward_unchecked(x, state0, mask, recurrent_mask=recurrent_mask, zero_output_for_mask=True)

    def _recurrence_backward(self, d_outputs, d_final_state, cache, ctx):
        return self.inner.backward(d_outputs, d_final_state, cache)

    def _map_outputs(self, outputs, x, mask, ctx):
        """New outputs from the recurrence's (zeros on masked steps, which must stay zeros)."""
        return outputs

    def _map_outputs_backward(self, d_new, ctx):
        """-> (gradient for the recurrence's outputs, gradient reaching the inputs directly or None)."""
        return d_new, None

    # ------------------------------------------------------------------ sequence
    def forward(self, x, initial_state=None, mask=None, *, recurrent_mask=None, zero_output_for_mask=False):
        """Whole sequence, as the core cells' ``forward``: x (B, T, I) -> (outputs, final state, cache)."""
        x = float_array("inputs", x, ndim=3)
        if not self.built:
            self.build(x.shape[2])
        batch, time, _ = x.shape
        return self.forward_unchecked(x.astype(self.dtype, copy=False), self.check_state(initial_state, batch),
                                      mask_array("mask", mask, batch, time),
                                      recurrent_mask=None if recurrent_mask is None
                                      else self.check_recurrent_mask(recurrent_mask, batch),
                                      zero_output_for_mask=zero_output_for_mask)

    def forward_unchecked(self, x, state0, mask=None, *, recurrent_mask=None, zero_output_for_mask=False,
                          backprop_segment=None):
        """:meth:`forward` on checked arguments (x in the cell's dtype, state0 as check_state returns it)."""
        if backprop_segment is not None:
            raise RnnkitValueError(f"checkpointing through time (backprop_segment={backprop_segment!r}) is not "
                                   f"available through a TF1 cell wrapper")
        ctx = self._prepare(x)
        outputs, final, inner_cache = self._recurrence(self._map_inputs(x, ctx), state0, mask, recurrent_mask, ctx)
        outputs = sequence.mask_outputs(np.array(self._map_outputs(outputs, x, mask, ctx)), mask,
                                        zero_output_for_mask)
        if not is_grad_enabled():
            return outputs, final, None
        cache = {"inner": inner_cache, "ctx": ctx, "mask": mask, "zero_output_for_mask": zero_output_for_mask,
                 "shape": outputs.shape, "wrapper": self}
        return outputs, final, cache

    def backward(self, d_outputs, d_final_state, cache):
        """BPTT: -> (dx (B, T, I), d_initial_state, weight gradients list in get_weights order)."""
        if not isinstance(cache, dict) or cache.get("wrapper") is not self:
            raise RnnkitValueError(f"cache must be the third value returned by this wrapper's forward, "
                                   f"got {describe(cache)}")
        d_new = None
        if d_outputs is not None:
            d_new = sequence.output_grads(d_outputs, cache["mask"], cache["zero_output_for_mask"], cache["shape"],
                                          self.dtype)
        d_inner, dx_direct = (None, None) if d_new is None else self._map_outputs_backward(d_new, cache["ctx"])
        dx, d_state0, grads = self._recurrence_backward(d_inner, d_final_state, cache["inner"], cache["ctx"])
        dx = self._map_inputs_backward(dx, cache["ctx"])
        return (dx if dx_direct is None else dx + dx_direct), d_state0, grads

    # ------------------------------------------------------------------ one step
    def step_forward(self, inputs, states):
        """One step with a cache: inputs (B, I) -> (output (B, output_size), new states, cache)."""
        outputs, new_states, cache = self.forward(float_array("inputs", inputs, ndim=2)[:, None, :], states)
        return outputs[:, 0], new_states, cache

    def step_backward(self, d_output, d_new_states, cache):
        """Gradient of one step: -> (d_inputs (B, I), d_states, weight gradients list)."""
        dx, d_states, grads = self.backward(None if d_output is None else np.asarray(d_output)[:, None, :],
                                            d_new_states, cache)
        return dx[:, 0], d_states, grads


def _traverse_filter(visitor, structure):
    """TF1's ``nest.get_traverse_shallow_structure`` expanded to every leaf: a structure of bools.

    ``visitor(sub)`` returns a bool (True: look inside / drop this leaf; False: skip the whole part)
    or a structure of bools one level deep (True: look inside that child).
    """
    decision = visitor(structure)
    is_node = isinstance(structure, tuple)
    if not is_node:
        if not isinstance(decision, (bool, np.bool_)):
            raise RnnkitTypeError(f"dropout_state_filter_visitor must return a bool for a single state array, "
                                  f"got {describe(decision)}")
        return bool(decision)
    if isinstance(decision, (bool, np.bool_)):
        children = [(_traverse_filter(visitor, part) if decision else _all(part, False)) for part in structure]
    else:
        if not isinstance(decision, tuple) or len(decision) != len(structure) or not all(
                isinstance(flag, (bool, np.bool_)) for flag in decision):
            raise RnnkitTypeError(f"dropout_state_filter_visitor must return a bool or a structure of bools like "
                                  f"{describe(structure)}, got {describe(decision)}")
        children = [(_traverse_filter(visitor, part) if flag else _all(part, False))
                    for flag, part in zip(decision, structure)]
    return type(structure)(*children) if hasattr(structure, "_fields") else tuple(children)


def _all(structure, flag):
    if isinstance(structure, tuple):
        parts = [_all(part, flag) for part in structure]
        return type(structure)(*parts) if hasattr(structure, "_fields") else tuple(parts)
    return flag


def default_dropout_state_filter_visitor(substate):
    """TF1's default: drop every part of the state except the ``c`` of an ``LSTMStateTuple``."""
    if isinstance(substate, LSTMStateTuple):
        return LSTMStateTuple(c=False, h=True)
    return True


class _DropoutCore(_WrapperCore):
    def __init__(self, wrapper):
        super().__init__(wrapper.cell._core)
        self.wrapper = wrapper
        self.keep_variational_masks = False
        self._variational = {}

    def _draw(self, rng, keep, shape):
        return ((rng.random(shape) < keep) / keep).astype(self.dtype)

    def _state_masks(self, shape_of_leaf):
        """One dropout mask per state leaf in the TF1 structure, turned into the core's structure."""
        w = self.wrapper
        tf1_zeros = w.cell._from_core(self.inner.get_initial_state(1))
        drop = _traverse_filter(w.dropout_state_filter_visitor, tf1_zeros)
        masks = tree_map(lambda z, d: self._draw(w._rng, w.state_keep_prob, shape_of_leaf(z)) if d
                         else np.ones(shape_of_leaf(z), self.dtype), tf1_zeros, drop)
        return w.cell._to_core(masks)

    def _prepare(self, x):
        w = self.wrapper
        batch, time, features = x.shape
        if w.variational_recurrent:
            if not (self.keep_variational_masks and self._variational):
                self._variational = self._draw_variational(features)
            return dict(self._variational, variational=True)
        ctx = {"variational": False, "input": None, "state": None, "output": None}
        if w.input_keep_prob < 1.0:
            ctx["input"] = self._draw(w._rng, w.input_keep_prob, x.shape)
        if w.state_keep_prob < 1.0:
            ctx["state"] = [self._state_masks(lambda z: (batch, z.shape[1])) for _ in range(time)]
        if w.output_keep_prob < 1.0:
            ctx["output"] = self._draw(w._rng, w.output_keep_prob, (batch, time, self.output_size))
        return ctx

    def _draw_variational(self, features):
        """TF1's variational masks: one (1, size) mask per part, shared by every step and every sequence."""
        w = self.wrapper
        masks = {"input": None, "state": None, "output": None}
        if w.input_keep_prob < 1.0:
            masks["input"] = self._draw(w._rng, w.input_keep_prob, (1, 1, features))
        if w.state_keep_prob < 1.0:
            masks["state"] = self._state_masks(lambda z: (1, z.shape[1]))
        if w.output_keep_prob < 1.0:
            masks["output"] = self._draw(w._rng, w.output_keep_prob, (1, 1, self.output_size))
        return masks

    def _map_inputs(self, x, ctx):
        return x if ctx["input"] is None else x * ctx["input"]

    def _map_inputs_backward(self, dx, ctx):
        return dx if ctx["input"] is None else dx * ctx["input"]

    def _map_outputs(self, outputs, x, mask, ctx):
        return outputs if ctx["output"] is None else outputs * ctx["output"]

    def _map_outputs_backward(self, d_new, ctx):
        return (d_new if ctx["output"] is None else d_new * ctx["output"]), None

    def _step_state_mask(self, ctx, t):
        return ctx["state"] if ctx["variational"] else ctx["state"][t]

    def _recurrence(self, x, state0, mask, recurrent_mask, ctx):
        if ctx["state"] is None:
            return super()._recurrence(x, state0, mask, recurrent_mask, ctx)
        if recurrent_mask is not None:
            raise RnnkitValueError("recurrent_mask cannot be combined with a DropoutWrapper's state dropout")

        def step(x_t, state, t):
            out, new, cache = self.inner.step_forward(x_t, state)
            state_mask = self._step_state_mask(ctx, t)
            return out, tree_map(lambda s, m: s * m, new, state_mask), (cache, state_mask)

        outputs, final, caches = loop_forward(step, x, state0, mask, True, self.output_size)
        return outputs, final, {"steps": caches, "state0": state0, "mask": mask, "x_shape": x.shape}

    def _recurrence_backward(self, d_outputs, d_final_state, cache, ctx):
        if ctx["state"] is None:
            return super()._recurrence_backward(d_outputs, d_final_state, cache, ctx)
        names = list(self.inner.params)

        def step_backward(d_out, d_new, step_cache):
            inner_cache, state_mask = step_cache
            d_raw = tree_map(lambda d, m: d * m, d_new, state_mask)
            dx_t, d_prev, grads = self.inner.step_backward(d_out, d_raw, inner_cache)
            return dx_t, d_prev, dict(zip(names, grads))

        dx, d_state0, grads = loop_backward(step_backward, d_outputs, d_final_state, cache["steps"], cache["state0"],
                                            cache["mask"], True, cache["x_shape"], self.dtype)
        return dx, d_state0, [grads.get(name, np.zeros_like(value)) for name, value in self.inner.params.items()]


class _Wrapper(RNNCell):
    """Base of the TF1 wrappers: the wrapped cell's state structure, weights and build."""

    def __init__(self, cell, name=None):
        super().__init__(name, None)
        self.cell = _check_wrapped(cell, type(self).__name__)

    @property
    def wrapped_cell(self):
        return self.cell

    @property
    def state_size(self):
        return self.cell.state_size

    @property
    def output_size(self):
        return self.cell.output_size

    @property
    def dtype(self):
        return self.cell.dtype

    def _build(self, input_dim, dtype=None):
        self.cell._build(input_dim, dtype)

    def zero_state(self, batch_size, dtype=None):
        return self.cell.zero_state(batch_size, dtype)

    def _to_core(self, state):
        return self.cell._to_core(state)

    def _from_core(self, core_state):
        return self.cell._from_core(core_state)

    def _weight_items(self):
        return self.cell._weight_items()

    @property
    def weights(self):
        return self.cell.weights

    variables = trainable_variables = trainable_weights = weights


class DropoutWrapper(_Wrapper):
    """TF1's ``DropoutWrapper``: dropout on a cell's inputs, outputs and outgoing state.

    At every step: ``x' = x ⊙ m_in / p_in``, ``(y, s) = cell(x', state)``, ``y' = y ⊙ m_out / p_out``,
    ``s' = s ⊙ m_state / p_state`` on the parts of the state the filter selects, with masks
    ``m ~ Bernoulli(p)``. Dropout is always on, as in TF1 (where ``keep_prob`` was usually a
    placeholder fed 1.0 to evaluate): set ``wrapper.output_keep_prob = 1.0`` (etc.) to evaluate.

    Args:
        cell: the TF1 cell to wrap.
        input_keep_prob, output_keep_prob, state_keep_prob: keep probabilities in (0, 1]; 1 means no
            dropout there (and no mask is drawn).
        variational_recurrent: TF1's variational dropout (Gal & Ghahramani): one mask per part of shape
            (1, size), shared by every step and every sequence of the batch. rnnkit draws new masks at
            each whole-sequence call (``dynamic_rnn``, ``static_rnn``: TF1 drew them once per
            ``session.run``) and keeps them across single-step calls until :meth:`reset_dropout_mask`.
        input_size: accepted (TF1 needed it for variational input masks; rnnkit reads the input size
            at build); if given as an int it must match the inputs.
        dtype: accepted and checked (a float dtype); the masks take the wrapped cell's dtype.
        seed: seed of the masks (same seed, same masks).
        dropout_state_filter_visitor: ``visitor(substate) -> bool or a one-level structure of bools``
            choosing the parts of the state to drop; default: all but the ``c`` of every LSTMStateTuple.

    Example:
        >>> import numpy as np
        >>> from rnnkit.nn import rnn_cell, static_rnn
        >>> cell = DropoutWrapper(rnn_cell.BasicLSTMCell(8, seed=0), output_keep_prob=0.5, seed=1)
        >>> outputs, state = static_rnn(cell, [np.ones((2, 3), np.float32)] * 4)
        >>> len(outputs), outputs[0].shape, sorted({float(v) == 0.0 for v in outputs[0].ravel()})
        (4, (2, 8), [False, True])
    """

    _default_name = "dropout_wrapper"

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0,
                 variational_recurrent=False, input_size=None, dtype=None, seed=None,
                 dropout_state_filter_visitor=None, name=None):
        super().__init__(cell, name)
        self.input_keep_prob = input_keep_prob
        self.output_keep_prob = output_keep_prob
        self.state_keep_prob = state_keep_prob
        if not isinstance(variational_recurrent, bool):
            raise RnnkitValueError(f"variational_recurrent must be True or False, "
                                   f"got {describe(variational_recurrent)}")
        self.variational_recurrent = variational_recurrent
        if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, numbers.Integral)
                                       or input_size < 1):
            raise RnnkitValueError(f"input_size must be None or a positive integer, got {describe(input_size)}")
        self.input_size = None if input_size is None else int(input_size)
        if dtype is not None:
            float_dtype("dtype", dtype)
        if dropout_state_filter_visitor is not None and not callable(dropout_state_filter_visitor):
            raise RnnkitTypeError(f"dropout_state_filter_visitor must be callable, "
                                  f"got {describe(dropout_state_filter_visitor)}")
        self.dropout_state_filter_visitor = dropout_state_filter_visitor or default_dropout_state_filter_visitor
        self.seed = seed
        self._rng = make_rng(seed)
        self._core = _DropoutCore(self)

    input_keep_prob = property(lambda self: self._keep["input"],
                               lambda self, value: self._set_keep("input", value))
    output_keep_prob = property(lambda self: self._keep["output"],
                                lambda self, value: self._set_keep("output", value))
    state_keep_prob = property(lambda self: self._keep["state"],
                               lambda self, value: self._set_keep("state", value))

    def _set_keep(self, part, value):
        self.__dict__.setdefault("_keep", {})[part] = keep_probability(f"{part}_keep_prob", value)
        if self._core is not None:
            self._core._variational = {}  # a new probability needs new masks

    def _build(self, input_dim, dtype=None):
        if self.input_size is not None and input_dim != self.input_size:
            raise RnnkitValueError(f"DropoutWrapper was given input_size={self.input_size} but the inputs have "
                                   f"{input_dim} features")
        super()._build(input_dim, dtype)

    def reset_dropout_mask(self):
        """Draw new variational masks at the next step (whole-sequence calls always draw new ones)."""
        self._core._variational = {}

    def __call__(self, inputs, state, scope=None):
        """One step; with ``variational_recurrent`` the masks stay the same from step to step."""
        self._core.keep_variational_masks = True
        try:
            return super().__call__(inputs, state, scope)
        finally:
            self._core.keep_variational_masks = False


class _ResidualCore(_WrapperCore):
    def __init__(self, inner, residual_fn, residual_fn_backward):
        super().__init__(inner)
        self.residual_fn, self.residual_fn_backward = residual_fn, residual_fn_backward

    def _map_outputs(self, outputs, x, mask, ctx):
        if x.shape[2] != outputs.shape[2] and self.residual_fn is None:
            raise RnnkitValueError(f"ResidualWrapper adds the inputs to the outputs: the inputs must have "
                                   f"{outputs.shape[2]} features (the cell's output_size), got {x.shape[2]}")
        if self.residual_fn is None:
            res = x + outputs
        else:
            ctx["x"], ctx["outputs"] = x, outputs
            res = np.asarray(self.residual_fn(x, outputs))
        return res if mask is None else np.where(mask[:, :, None], res, 0.0).astype(res.dtype)

    def _map_outputs_backward(self, d_new, ctx):
        if self.residual_fn is None:
            return d_new, d_new
        if self.residual_fn_backward is None:
            raise RnnkitValueError("ResidualWrapper got a residual_fn without residual_fn_backward: give "
                                   "residual_fn_backward(inputs, outputs, d_result) -> (d_inputs, d_outputs)")
        d_inputs, d_outputs = self.residual_fn_backward(ctx["x"], ctx["outputs"], d_new)
        return d_outputs, d_inputs


class ResidualWrapper(_Wrapper):
    """TF1's ``ResidualWrapper``: ``output = inputs + cell(inputs, state).output`` (state unchanged).

    Args:
        cell: the TF1 cell to wrap; its output_size must equal the input size.
        residual_fn: None (addition) or ``fn(inputs, outputs) -> result`` applied to the whole (B, T, ·)
            arrays of a sequence, or (B, ·) of one step.
        residual_fn_backward: rnnkit addition, needed for the backward pass with a residual_fn:
            ``fn(inputs, outputs, d_result) -> (d_inputs, d_outputs)``.
    """

    _default_name = "residual_wrapper"

    def __init__(self, cell, residual_fn=None, residual_fn_backward=None, name=None):
        super().__init__(cell, name)
        for arg, value in (("residual_fn", residual_fn), ("residual_fn_backward", residual_fn_backward)):
            if value is not None and not callable(value):
                raise RnnkitTypeError(f"{arg} must be callable or None, got {describe(value)}")
        self._core = _ResidualCore(cell._core, residual_fn, residual_fn_backward)


class DeviceWrapper(_Wrapper):
    """TF1's ``DeviceWrapper``: runs the cell unchanged (rnnkit has one device: the CPU NumPy runs on).

    Args:
        cell: the TF1 cell to wrap.
        device: a device string such as "/cpu:0" or "/gpu:0"; recorded in ``self.device``.
    """

    _default_name = "device_wrapper"

    def __init__(self, cell, device, name=None):
        super().__init__(cell, name)
        if not isinstance(device, str):
            raise RnnkitTypeError(f"device must be a string such as '/cpu:0', got {describe(device)}")
        self.device = device
        self._core = cell._core


__all__ = ["DropoutWrapper", "ResidualWrapper", "DeviceWrapper", "default_dropout_state_filter_visitor"]
