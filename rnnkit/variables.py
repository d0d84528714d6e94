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
    """

    def __init__(self, value, name, trainable=True):
        self.value = np.asarray(value)
        self.name = name
        self.trainable = bool(trainable)

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        """A copy of the value."""
        return self.value.copy()

    def assign(self, value):
        """Overwrite the value in place (keeps every reference to the array valid)."""
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise RnnkitValueError(f"value for {self.name} must have shape {self.value.shape}, got {describe(value)}")
        self.value[...] = value

    def __repr__(self):
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype}>"


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
