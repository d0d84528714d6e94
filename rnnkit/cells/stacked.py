"""A stack of recurrent cells that acts as one cell: Keras's ``StackedRNNCells``.

Layer k reads the outputs of layer k-1 (layer 0 reads the inputs) and the
output of the stack is the output of its last layer:

    h^0_t = x_t
    (h^k_t, s^k_t) = cell_k(h^{k-1}_t, s^k_{t-1})      k = 1..K
    out_t = h^K_t

Because no layer depends on a later one, the whole sequence can run one layer
at a time (each layer's time loop inside its own op), and BPTT runs the
layers in reverse: the gradient of layer k's inputs is the gradient of layer
k-1's outputs. This is exactly what a step-by-step loop over the stacked cell
computes, including masking: a masked step keeps every layer's state, and the
output repeats (or zeroes) at the top exactly as it would for one cell.

States nest one level: ``state_size`` is ``(cell_0.state_size, ...)``, e.g.
``((H1,), (H2, H2))`` for a SimpleRNN under an LSTM, and every state argument is a
tuple with one entry (itself a tuple of arrays) per cell.
"""
from .._validate import describe, positive_int
from ..variables import assign_all
from ..errors import RnnkitTypeError, RnnkitValueError
from ..ops.grad_mode import is_grad_enabled
from .base import SequenceCell, cell_class

_CELL_METHODS = ("forward", "forward_unchecked", "backward", "build", "get_weights", "set_weights", "check_state",
                 "check_recurrent_mask")


class StackedRNNCells(SequenceCell):
    """Several cells run as one, bottom to top.

    Args:
        cells: non-empty list of cells (objects with the :class:`~rnnkit.cells.base.RecurrentCell`
            contract; another StackedRNNCells also works). Their weights are shared, not copied.
        name: optional name.

    Weights: the cells' weights in cell order, each named ``cell_<k>/<weight name>``.

    ``forward`` and ``backward`` are those of every cell (:class:`~rnnkit.cells.base.SequenceCell`),
    with nested states (one per cell), the mask given to every layer, ``recurrent_mask`` None or a
    list with one entry per cell, ``d_final_state`` None or one entry per cell, and the weight
    gradients as one flat list.

    Example:
        >>> import numpy as np
        >>> from rnnkit.cells import SimpleRNNCell
        >>> stack = StackedRNNCells([SimpleRNNCell(4, seed=0), SimpleRNNCell(3, seed=1)])
        >>> outputs, (s1, s2), cache = stack.forward(np.ones((2, 5, 6), np.float32))
        >>> outputs.shape, s1[0].shape, s2[0].shape
        ((2, 5, 3), (2, 4), (2, 3))
    """

    def __init__(self, cells, name=None):
        if isinstance(cells, (str, bytes)) or not isinstance(cells, (list, tuple)) or not cells:
            raise RnnkitValueError(f"cells must be a non-empty list of recurrent cells, got {describe(cells)}")
        for i, cell in enumerate(cells):
            missing = [m for m in _CELL_METHODS if not callable(getattr(cell, m, None))]
            if missing:
                raise RnnkitTypeError(
                    f"cells[{i}] must be a recurrent cell with {', '.join(_CELL_METHODS)}, "
                    f"got {describe(cell)} (missing {', '.join(missing)})"
                )
        self.cells = list(cells)
        self.name = name or "stacked_rnn_cells"

    # ------------------------------------------------------------------ structure
    @property
    def state_size(self):
        """One entry per cell: that cell's ``state_size`` (a tuple of ints)."""
        return tuple(cell.state_size for cell in self.cells)

    @property
    def output_size(self):
        return self.cells[-1].output_size

    @property
    def dtype(self):
        return self.cells[-1].dtype

    @property
    def input_dtype(self):
        return self.cells[0].dtype

    @property
    def input_dim(self):
        return self.cells[0].input_dim

    @property
    def built(self):
        return all(cell.built for cell in self.cells)

    def build(self, input_dim):
        """Build every cell in turn: cell k gets the output size of cell k-1 as its input size."""
        dim = positive_int("input_dim", input_dim)
        for i, cell in enumerate(self.cells):
            if not cell.built:
                cell.build(dim)
            elif cell.input_dim != dim:
                raise RnnkitValueError(
                    f"cells[{i}] ({cell.name}) was built for {cell.input_dim} input features but the "
                    f"layer below it gives {dim}"
                )
            dim = cell.output_size

    @property
    def params(self):
        """Every cell's weights (the same arrays, not copies), keyed ``cell_<k>/<name>``."""
        return {f"cell_{k}/{name}": value
                for k, cell in enumerate(self.cells) for name, value in cell.params.items()}

    @property
    def weight_names(self):
        return list(self.params)

    def get_weights(self):
        return [w for cell in self.cells for w in cell.get_weights()]

    def set_weights(self, weights):
        """Load a flat list: the first cell's arrays, then the second's, ... (all checked before any is written)."""
        assign_all(f"cell {self.name}", list(self.params.items()), weights)  # params are the cells' own arrays

    def count_params(self):
        return int(sum(cell.count_params() for cell in self.cells))

    def get_initial_state(self, batch_size, dtype=None):
        """Zero states: one tuple per cell."""
        return tuple(cell.get_initial_state(batch_size, dtype) for cell in self.cells)

    def check_state(self, state, batch, name="initial_state"):
        """Validate a nested state: a list with one entry per cell, each checked by that cell
        (errors name the position, e.g. ``initial_state[1][0]``)."""
        if state is None:
            return tuple(cell.check_state(None, batch, name=f"{name}[{k}]") for k, cell in enumerate(self.cells))
        if not isinstance(state, (list, tuple)) or len(state) != len(self.cells):
            raise RnnkitValueError(
                f"{name} for {self.name} must be a list with one state per cell ({len(self.cells)} entries, "
                f"state sizes {self.state_size}), got {describe(state)}"
            )
        return tuple(cell.check_state(s, batch, name=f"{name}[{k}]")
                     for k, (cell, s) in enumerate(zip(self.cells, state)))

    def _per_cell(self, name, value):
        """Spread an optional per-cell argument (None, or a list with one entry per cell)."""
        if value is None:
            return [None] * len(self.cells)
        if not isinstance(value, (list, tuple)) or len(value) != len(self.cells):
            raise RnnkitValueError(
                f"{name} for {self.name} must be None or a list with one entry per cell "
                f"({len(self.cells)}), got {describe(value)}"
            )
        return list(value)

    def check_recurrent_mask(self, recurrent_mask, batch):
        """None, or a list with one entry per cell: None or that cell's recurrent-dropout multiplier."""
        return tuple(None if mask is None else cell.check_recurrent_mask(mask, batch)
                     for cell, mask in zip(self.cells, self._per_cell("recurrent_mask", recurrent_mask)))

    # ------------------------------------------------------------------ sequence
    def run(self, x, state0, mask, recurrent_mask, zero_output_for_mask):
        """One plain pass through every layer, bottom first, on checked arguments (see
        :meth:`~rnnkit.cells.base.SequenceCell.forward`: ``initial_state`` one state per cell,
        ``recurrent_mask`` None or one entry per cell, the mask given to every layer).

        Returns outputs (B, T, output_size), final states (one tuple per cell) and the cache for
        :meth:`run_backward`."""
        recurrent_masks = (None,) * len(self.cells) if recurrent_mask is None else recurrent_mask
        outputs, finals, caches = x, [], []
        for cell, state, rmask in zip(self.cells, state0, recurrent_masks):
            if outputs.dtype != cell.dtype:  # a stack may mix float32 and float64 cells
                outputs = outputs.astype(cell.dtype)
            outputs, final, cache = cell.forward_unchecked(outputs, state, mask, recurrent_mask=rmask,
                                                           zero_output_for_mask=zero_output_for_mask)
            finals.append(tuple(final))
            caches.append(cache)
        return outputs, tuple(finals), ({"caches": caches} if is_grad_enabled() else None)

    def run_backward(self, d_outputs, d_final_state, cache):
        """BPTT through the stack, top layer first.

        Args:
            d_outputs: (B, T, output_size) gradient of the top outputs, or None.
            d_final_state: None, or one entry per cell (None or that cell's state gradient tuple).
            cache: from :meth:`forward`.

        Returns:
            dx (B, T, I), the initial-state gradients (one tuple per cell), and the weight
            gradients as one flat list in :meth:`get_weights` order.
        """
        d_finals = self._per_cell("d_final_state", d_final_state)
        d_states, grads = [None] * len(self.cells), [None] * len(self.cells)
        d = d_outputs
        for k in range(len(self.cells) - 1, -1, -1):
            d, d_states[k], grads[k] = self.cells[k].backward(d, d_finals[k], cache["caches"][k])
            d_states[k] = tuple(d_states[k])
        return d, tuple(d_states), [g for cell_grads in grads for g in cell_grads]

    # ------------------------------------------------------------------ one step
    def __call__(self, inputs, states, training=False):
        """Keras cell contract: ``output, new_states = stack(inputs, states)``, states nested per cell."""
        output, new_states, _ = self.step_forward(inputs, states)
        return output, [list(s) for s in new_states]

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {
            "cells": [{"class_name": type(cell).__name__, "config": cell.get_config()} for cell in self.cells],
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from :meth:`get_config`; cell classes are looked up in ``custom_objects``
        (a dict name -> class), then among the registered cells (:func:`rnnkit.cells.base.cell_class`)."""
        cells = [cell_class(entry["class_name"], custom_objects).from_config(entry["config"])
                 for entry in config["cells"]]
        return cls(cells, name=config.get("name"))

    def __repr__(self):
        return f"StackedRNNCells([{', '.join(repr(cell) for cell in self.cells)}])"
