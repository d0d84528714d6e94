"""A stack of recurrent cells that acts as one cell: Keras's ``StackedRNNCells``.

Layer k reads the outputs of layer k-1 (layer 0 reads the inputs) and the
output of the stack is the output of its last layer:

    h^0_t = x_t
    (h^k_t, s^k_t) = cell_k(h^{k-1}_t, s^k_{t-1})      k = 1..K
    out_t = h^K_t

Because no layer depends on a later one, the whole sequence can run one layer
at a time (each layer's time loop inside its own kernel), and BPTT runs the
layers in reverse: the gradient of layer k's inputs is the gradient of layer
k-1's outputs. This is exactly what a step-by-step loop over the stacked cell
computes, including masking: a masked step keeps every layer's state, and the
output repeats (or zeroes) at the top exactly as it would for one cell.

States nest one level: ``state_size`` is ``(cell_0.state_size, ...)``, e.g.
``((H1,), (H2, H2))`` for a SimpleRNN under an LSTM, and every state argument is a
tuple with one entry (itself a tuple of arrays) per cell.
"""
import importlib

import numpy as np

from .._validate import describe, float_array, mask_array, positive_int, rectangular
from ..errors import RnnkitTypeError, RnnkitValueError
from ..ops.grad_mode import is_grad_enabled
from .base import SingleStep

_CELL_METHODS = ("forward", "backward", "build", "get_weights", "set_weights", "check_state")


class StackedRNNCells(SingleStep):
    """Several cells run as one, bottom to top.

    Args:
        cells: non-empty list of cells (objects with the :class:`~rnnkit.cells.base.RecurrentCell`
            contract; another StackedRNNCells also works). Their weights are shared, not copied.
        name: optional name.

    Weights: the cells' weights in cell order, each named ``cell_<k>/<weight name>``.

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
        """Load a flat list: the first cell's arrays, then the second's, ..."""
        weights = list(weights)
        counts = [len(cell.params) for cell in self.cells]
        if len(weights) != sum(counts):
            raise RnnkitValueError(
                f"weights for {self.name} must be a list of {sum(counts)} arrays "
                f"({', '.join(self.weight_names)}), got {len(weights)}"
            )
        start = 0
        # Check every shape before writing any, so a bad list leaves the stack unchanged.
        for cell, count in zip(self.cells, counts):
            for (name, current), value in zip(cell.params.items(), weights[start:start + count]):
                value = rectangular(f"weight {self.name}/{cell.name}/{name}", value)
                if value.shape != current.shape:
                    raise RnnkitValueError(
                        f"weight {self.name}/{cell.name}/{name} must have shape {current.shape}, "
                        f"got {describe(value)}"
                    )
            start += count
        start = 0
        for cell, count in zip(self.cells, counts):
            cell.set_weights(weights[start:start + count])
            start += count

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

    # ------------------------------------------------------------------ sequence
    def forward(self, x, initial_state=None, mask=None, *, recurrent_mask=None, zero_output_for_mask=False):
        """Run the whole sequence through every layer.

        Args:
            x: (B, T, I) floats.
            initial_state: None (zeros) or one state per cell, each as that cell accepts it.
            mask: None or (B, T) bool, given to every layer (False skips the step everywhere).
            recurrent_mask: None or a list with one entry per cell (None or that cell's
                (B, H_in) recurrent-dropout multiplier).
            zero_output_for_mask: masked steps output zeros (in every layer).

        Returns:
            outputs (B, T, output_size), final states (one tuple per cell), cache for :meth:`backward`.
        """
        x = float_array("inputs", x, ndim=3)
        batch, time, features = x.shape
        if not self.built:
            self.build(features)
        elif features != self.input_dim:
            raise RnnkitValueError(
                f"inputs must have {self.input_dim} features (last axis) to match the built weights "
                f"of {self.name}, got {describe(x)}"
            )
        states = self.check_state(initial_state, batch)
        mask = mask_array("mask", mask, batch, time)
        recurrent_masks = self._per_cell("recurrent_mask", recurrent_mask)
        outputs, finals, caches = x, [], []
        for cell, state, rmask in zip(self.cells, states, recurrent_masks):
            outputs, final, cache = cell.forward(outputs, state, mask, recurrent_mask=rmask,
                                                 zero_output_for_mask=zero_output_for_mask)
            finals.append(tuple(final))
            caches.append(cache)
        return outputs, tuple(finals), ({"caches": caches} if is_grad_enabled() else None)

    def backward(self, d_outputs, d_final_state, cache):
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
        (a dict name -> class), then in :mod:`rnnkit.cells`."""
        cells = [_cell_class(entry["class_name"], custom_objects).from_config(entry["config"])
                 for entry in config["cells"]]
        return cls(cells, name=config.get("name"))

    def __repr__(self):
        return f"StackedRNNCells([{', '.join(repr(cell) for cell in self.cells)}])"


_CELL_MODULES = (".simple_rnn", ".lstm", ".gru", ".stacked")


def _cell_class(class_name, custom_objects=None):
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    package = __name__.rsplit(".", 1)[0]
    for module_name in _CELL_MODULES:
        try:
            module = importlib.import_module(module_name, package)
        except ImportError:  # a cell kind that is not part of this build
            continue
        if hasattr(module, class_name):
            return getattr(module, class_name)
    raise RnnkitValueError(
        f"config names an unknown cell class {class_name!r}; pass it in custom_objects={{{class_name!r}: cls}}"
    )
