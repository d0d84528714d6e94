"""Reshape (Keras 3): give each sample a new shape with the same number of entries."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .base import Layer
from .layer_utils import cached


def _resolve(sample_shape, target_shape):
    """``target_shape`` with its -1 (if any) filled in from ``sample_shape`` (None dims stay unknown)."""
    if -1 not in target_shape:
        return tuple(target_shape)
    if any(d is None for d in sample_shape):
        return tuple(None if d == -1 else d for d in target_shape)
    known = int(np.prod([d for d in target_shape if d != -1]))
    size = int(np.prod(sample_shape))
    if size % known:
        raise RnnkitValueError(f"target_shape {tuple(target_shape)} cannot hold samples of shape {tuple(sample_shape)}")
    return tuple(size // known if d == -1 else d for d in target_shape)


class Reshape(Layer):
    """(B, *s) -> (B, *target_shape), with ``prod(s) == prod(target_shape)``; one entry may be -1.

    Args:
        target_shape: the new shape of one sample (batch axis excluded), positive ints and at most one -1.

    Example:
        >>> import numpy as np
        >>> Reshape((3, -1))(np.zeros((2, 12), np.float32)).shape
        (2, 3, 4)
    """

    def __init__(self, target_shape, **kwargs):
        try:
            target_shape = tuple(target_shape)
        except TypeError:
            raise RnnkitTypeError(f"target_shape must be a tuple of ints, got {describe(target_shape)}") from None
        if (any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or (d <= 0 and d != -1)
                for d in target_shape) or target_shape.count(-1) > 1):
            raise RnnkitValueError(
                f"target_shape must hold positive ints and at most one -1, got {describe(target_shape)}")
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        self._cache = None

    def call(self, inputs, training=False, mask=None):
        target = _resolve(inputs.shape[1:], self.target_shape)
        if int(np.prod(target)) != int(np.prod(inputs.shape[1:])):
            raise RnnkitValueError(
                f"inputs of layer {self.name!r} (Reshape to {self.target_shape}) must have "
                f"{int(np.prod(target))} entries per sample, got {describe(inputs)}")
        self._cache = inputs.shape
        return inputs.reshape((inputs.shape[0],) + target)

    def backward(self, d_outputs):
        shape = cached(self)
        self._gradients = []
        return np.asarray(d_outputs, self.dtype).reshape(shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + _resolve(tuple(input_shape[1:]), self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}
