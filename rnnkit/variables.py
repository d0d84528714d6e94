"""Named weight arrays shared by layers, optimizers, callbacks and weight files."""
import numpy as np

from ._validate import describe, rectangular
from .errors import RnnkitValueError


class Variable:
    """A weight: a NumPy array with a Keras-style name, updated in place.

    Attributes:
        name: path-like name, e.g. ``"simple_rnn/kernel"``.
        value: the ndarray itself (layers read it, optimizers write it in place).
        trainable: whether optimizers update it.
        movable: whether an optimizer may move the value into its flat buffer (see below).

    An optimizer keeps the weights of a model end to end in one flat array and makes each
    ``value`` a view into it (:meth:`move_to`), so one vectorised update changes them all. Code
    that reads ``variable.value`` at call time sees the move; code that kept the array elsewhere
    (a cell's ``params`` dict) declares where with :meth:`held_in`, and the move re-points it
    there too. A Variable whose array is kept somewhere undeclared must be ``movable=False``:
    the optimizer then copies its value in and out around each step instead.
    """

    #: Keras 3's ``variable.regularizer`` / ``variable.constraint`` (see :mod:`rnnkit.weight_options`)
    regularizer = None
    constraint = None

    def __init__(self, value, name, trainable=True, movable=True):
        self.value = np.asarray(value)
        self.name = name
        self.trainable = bool(trainable)
        self.movable = bool(movable)
        self._homes = []

    def held_in(self, mapping, key):
        """Declare that ``mapping[key]`` holds this variable's array, so :meth:`move_to` updates it too."""
        self._homes.append((mapping, key))

    def move_to(self, array):
        """Make ``array`` (same shape, dtype of the value) this variable's storage, holding the current
        value; every home declared with :meth:`held_in` that held the old array now holds ``array``."""
        if array.shape != self.value.shape or array.dtype != self.value.dtype:
            raise RnnkitValueError(f"the new storage of {self.name} must be a {self.value.dtype} array of shape "
                                   f"{self.value.shape}, got {describe(array)}")
        old = self.value
        if array is old:
            return
        array[...] = old
        self.value = array
        for mapping, key in self._homes:
            if mapping.get(key) is old:
                mapping[key] = array

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        """A copy of the value."""
        return self.value.copy()

    def __array__(self, dtype=None, copy=None):
        """The value as an array, so NumPy functions take a Variable as they take a Keras variable
        (``np.tanh(v)``, ``x @ v``)."""
        if copy:
            return np.array(self.value, dtype=dtype, copy=True)
        return self.value if dtype is None else self.value.astype(dtype, copy=False)

    def assign(self, value):
        """Overwrite the value in place (keeps every reference to the array valid)."""
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise RnnkitValueError(f"value for {self.name} must have shape {self.value.shape}, got {describe(value)}")
        self.value[...] = value

    def __repr__(self):
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype}>"


def _param_homes(cell):
    """``(dict, key)`` where each array of ``cell.params`` is stored, in ``params`` order, or None
    when that cannot be told. ``params`` is a stored dict for a plain cell; a stack (``cells``) or a
    wrapper core (``inner``) may build it on each access from the dicts of the cells inside."""
    params = cell.params
    if cell.params is params:
        return [(params, name) for name in params]
    if getattr(cell, "cells", None) is not None:
        homes = [_param_homes(sub) for sub in cell.cells]
        return None if any(h is None for h in homes) else [home for h in homes for home in h]
    if getattr(cell, "inner", None) is not None:
        return _param_homes(cell.inner)
    return None


def share_cell_weights(variables, cell):
    """Declare that ``variables`` (one per array of ``cell.params``, in order) share their arrays
    with the cell, so an optimizer that moves them into its flat buffer re-points the cell too; a
    variable whose array cannot be found in the cell is made unmovable (copied in and out instead)."""
    homes = _param_homes(cell)
    arrays = list(cell.params.values())
    if homes is None or len(homes) != len(variables) or \
            any(mapping[key] is not array for (mapping, key), array in zip(homes, arrays)):
        for variable in variables:
            variable.movable = False
        return
    for variable, (mapping, key), array in zip(variables, homes, arrays):
        if variable.value is array:
            variable.held_in(mapping, key)
        else:
            variable.movable = False


def assign_all(owner, targets, values):
    """Write ``values`` into ``targets`` in place, all or nothing: every count, dtype and shape is
    checked before the first array changes.

    Args:
        owner: what the weights belong to, for messages (e.g. ``"layer 'dense'"``).
        targets: list of (name, ndarray) pairs, the arrays to overwrite (layers, cells,
            optimizers and callbacks keep references to them, so they are written in place).
        values: list of array-likes, one per target.
    """
    values = list(values)
    if len(values) != len(targets):
        names = ", ".join(name for name, _ in targets)
        raise RnnkitValueError(
            f"set_weights on {owner} expects {len(targets)} arrays ({names}), got {len(values)}")
    arrays = []
    for (name, target), value in zip(targets, values):
        array = rectangular(f"set_weights on {owner}: weight {name}", value)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
            raise RnnkitValueError(f"set_weights on {owner}: weight {name} must be numbers, got {describe(array)}")
        if array.shape != target.shape:
            raise RnnkitValueError(
                f"set_weights on {owner}: weight {name} has shape {target.shape}, got an array of shape {array.shape}")
        arrays.append(array)
    for (_, target), array in zip(targets, arrays):
        target[...] = array
