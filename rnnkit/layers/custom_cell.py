"""A user-written cell in ``RNN(cell)``: Keras's cell contract plus an explicit backward step.

The contract (see docs/custom_cells.md for a worked example)::

    class MyCell(rnnkit.layers.Layer):
        state_size                      int or list of ints: the sizes of the states (B, size)
        output_size                     int (optional; default state_size[0])
        build(input_shape)              create the weights with self.add_weight(...); input_shape (None, I)
        call(inputs, states)            -> (output, new_states) or (output, new_states, cache)
                                           inputs (B, I), states / new_states lists of (B, size),
                                           output (B, output_size)
        backward_step(d_output, d_new_states, cache)
                                        -> (d_inputs, d_states, d_weights)
                                           d_output (B, output_size) (zeros where no loss), d_new_states
                                           the gradients of new_states; returns the gradients of
                                           inputs, of states (a list) and of every weight, in
                                           ``self.weights`` order. ``cache`` is what call returned
                                           third, else a StepCache(inputs, states, output, new_states).
        get_config()                    to be saved (register the class to load it by name)

:class:`CustomCell` runs such a cell step by step through the generic loop
(:mod:`rnnkit.nn.rnn_cell.step_loop`), masks included, and BPTT through the user's
``backward_step``; gradient checkpointing (``backprop_segment``) works as for every cell.
``rnnkit.testing.check_cell`` compares a cell's ``backward_step`` with finite differences.
"""
import collections

import numpy as np

from .._validate import describe, float_dtype, positive_int, state_arrays
from ..cells.base import SequenceCell
from ..errors import RnnkitTypeError, RnnkitValueError
from ..nn.rnn_cell.step_loop import loop_backward, loop_forward

#: what ``backward_step`` gets as ``cache`` when ``call`` returned no cache of its own
StepCache = collections.namedtuple("StepCache", ["inputs", "states", "output", "new_states"])

REQUIRED = ("state_size", "build", "call", "backward_step")


def is_custom_cell(cell):
    """Whether ``cell`` is a user's Keras-style cell (a Layer, or an object with a step ``call``) rather than
    a cell with rnnkit's whole-sequence ``forward``/``backward``."""
    if isinstance(cell, SequenceCell):
        return False
    from .base import Layer  # the base of Keras-style cells, which has a forward of another kind
    sequence_cell = all(hasattr(cell, name) for name in ("forward", "backward", "build", "state_size"))
    return isinstance(cell, Layer) or (hasattr(cell, "call") and not sequence_cell)


def check_custom_cell(cell):
    """A named error listing what a Keras-style cell lacks for rnnkit."""
    missing = [name for name in REQUIRED if not hasattr(cell, name)]
    if not missing:
        return
    why = ""
    if "backward_step" in missing:
        why = (" rnnkit has no automatic differentiation, so a custom cell must give the gradient of its step: "
               "backward_step(d_output, d_new_states, cache) -> (d_inputs, d_states, d_weights).")
    raise RnnkitTypeError(f"cell {type(cell).__name__} cannot run in rnnkit's RNN: it has no "
                          f"{', '.join(missing)}.{why} See docs/custom_cells.md for the contract and an example")


def _sizes(cell):
    sizes = cell.state_size
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
    if not sizes:
        raise RnnkitValueError(f"state_size of cell {type(cell).__name__} must be an int or a non-empty list of "
                               f"ints, got {describe(cell.state_size)}")
    return tuple(positive_int(f"state_size of cell {type(cell).__name__}", s) for s in sizes)


class CustomCell(SequenceCell):
    """Runs a user's cell (see the module docstring) as an rnnkit sequence cell."""

    def __init__(self, cell):
        check_custom_cell(cell)
        self.user_cell = cell
        self.name = getattr(cell, "name", type(cell).__name__)
        self.dtype = float_dtype(f"dtype of cell {type(cell).__name__}", getattr(cell, "dtype", "float32"))
        self.state_size = _sizes(cell)
        self.input_dim = None
        output_size = getattr(cell, "output_size", None)
        self.output_size = self.state_size[0] if output_size is None else positive_int(
            f"output_size of cell {type(cell).__name__}", output_size)

    # ------------------------------------------------------------------ weights
    @property
    def built(self):
        return self.input_dim is not None

    def build(self, input_dim):
        input_dim = positive_int("input_dim", input_dim)
        cell = self.user_cell
        if not getattr(cell, "built", False) or not getattr(cell, "weights", None):
            cell.build((None, input_dim))
            cell.built = True
        self.input_dim = input_dim

    @property
    def variables(self):
        """The user cell's own Variables, in its ``weights`` order."""
        return list(getattr(self.user_cell, "weights", []))

    @property
    def params(self):
        return {variable.name: variable.value for variable in self.variables}

    def get_weights(self):
        return [v.value.copy() for v in self.variables]

    def set_weights(self, weights):
        self.user_cell.set_weights(weights)

    def count_params(self):
        return int(sum(v.value.size for v in self.variables))

    def get_config(self):
        return self.user_cell.get_config()

    # ------------------------------------------------------------------ checks
    def check_state(self, state, batch, name="initial_state"):
        if state is None:
            return tuple(np.zeros((batch, size), self.dtype) for size in self.state_size)
        return state_arrays(name, state, self.state_size, batch, self.dtype, f" for {self.name}")

    def check_recurrent_mask(self, recurrent_mask, batch):
        """Custom cells take no recurrent dropout mask: a named error for one."""
        if recurrent_mask is not None:
            raise RnnkitValueError(f"recurrent_dropout needs one of rnnkit's cells; the custom cell {self.name!r} "
                                   "would have to apply the mask itself (use dropout= on the inputs instead)")
        return None

    # ------------------------------------------------------------------ one step
    def _step(self, x_t, state, t):
        cell = self.user_cell
        result = cell.call(x_t, list(state))
        if not isinstance(result, (tuple, list)) or len(result) not in (2, 3):
            raise RnnkitTypeError(f"{type(cell).__name__}.call must return (output, new_states) or (output, "
                                  f"new_states, cache), got {describe(result)}")
        output, new_states = np.asarray(result[0]), result[1]
        new_states = [new_states] if isinstance(new_states, np.ndarray) else list(new_states)
        batch = x_t.shape[0]
        if output.shape != (batch, self.output_size):
            raise RnnkitValueError(f"{type(cell).__name__}.call returned an output of shape {output.shape}, "
                                   f"expected {(batch, self.output_size)} (batch, output_size)")
        new_states = state_arrays(f"the new_states {type(cell).__name__}.call returned", new_states,
                                  self.state_size, batch, self.dtype, "")
        cache = result[2] if len(result) == 3 else StepCache(x_t, list(state), output, list(new_states))
        return output.astype(self.dtype, copy=False), tuple(new_states), cache

    def _step_backward(self, d_out, d_new, cache):
        cell = self.user_cell
        batch = len(d_new[0])
        if d_out is None:
            d_out = np.zeros((batch, self.output_size), self.dtype)
        result = cell.backward_step(d_out, list(d_new), cache)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            raise RnnkitTypeError(f"{type(cell).__name__}.backward_step must return (d_inputs, d_states, d_weights), "
                                  f"got {describe(result)}")
        d_inputs, d_states, d_weights = result
        d_inputs = np.asarray(d_inputs, self.dtype)
        if d_inputs.shape != (batch, self.input_dim):
            raise RnnkitValueError(f"{type(cell).__name__}.backward_step returned d_inputs of shape {d_inputs.shape}, "
                                   f"expected {(batch, self.input_dim)}")
        d_states = [d_states] if isinstance(d_states, np.ndarray) else list(d_states)
        d_states = state_arrays(f"the d_states {type(cell).__name__}.backward_step returned", d_states,
                                self.state_size, batch, self.dtype, "")
        variables = self.variables
        d_weights = list(d_weights)
        if len(d_weights) != len(variables):
            raise RnnkitValueError(
                f"{type(cell).__name__}.backward_step returned {len(d_weights)} weight gradients, expected "
                f"{len(variables)} (one per weight, in cell.weights order: {[v.name for v in variables]})")
        grads = {}
        for index, (variable, grad) in enumerate(zip(variables, d_weights)):
            grad = np.asarray(grad, self.dtype)
            if grad.shape != variable.shape:
                raise RnnkitValueError(f"{type(cell).__name__}.backward_step returned a gradient of shape "
                                       f"{grad.shape} for weight {variable.name}, expected {variable.shape}")
            grads[index] = grad
        return d_inputs, tuple(d_states), grads

    # ------------------------------------------------------------------ sequence
    def run(self, x, state0, mask, recurrent_mask, zero_output_for_mask):
        self.check_recurrent_mask(recurrent_mask, len(x))
        outputs, final, steps = loop_forward(self._step, x, tuple(state0), mask, zero_output_for_mask,
                                             self.output_size)
        cache = {"steps": steps, "state0": tuple(state0), "mask": mask, "zero_output_for_mask": zero_output_for_mask,
                 "x_shape": x.shape}
        return outputs, final, cache

    def run_backward(self, d_outputs, d_final_state, cache):
        dx, d_state0, grads = loop_backward(self._step_backward, d_outputs, d_final_state, cache["steps"],
                                            cache["state0"], cache["mask"], cache["zero_output_for_mask"],
                                            cache["x_shape"], self.dtype)
        return dx, d_state0, [grads.get(i, np.zeros_like(v.value)) for i, v in enumerate(self.variables)]

    def __repr__(self):
        return f"CustomCell({type(self.user_cell).__name__})"
