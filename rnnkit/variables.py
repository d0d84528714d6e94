"""Named weight arrays shared by layers, optimizers, callbacks and weight files."""
import numpy as np

from ._validate import describe
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
