"""TF1's ``MultiRNNCell``: cells stacked, one state per cell."""

import numbers

import numpy as np

from ..._validate import describe
from ...cells.stacked import StackedRNNCells
from ...errors import RnnkitTypeError, RnnkitValueError
from .base import RNNCell, flat_size


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
