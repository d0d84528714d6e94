"""Permute (Keras 3): reorder the non-batch axes."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from .base import Layer
from .layer_utils import cached


class Permute(Layer):
    """``y = transpose(x, (0,) + dims)``; e.g. ``Permute((2, 1))`` swaps time and features.

    Args:
        dims: a permutation of 1..rank-1 (the batch axis 0 stays first).

    Example:
        >>> import numpy as np
        >>> Permute((2, 1))(np.zeros((2, 5, 3), np.float32)).shape
        (2, 3, 5)
    """

    def __init__(self, dims, **kwargs):
        try:
            perm = tuple(dims)
        except TypeError:
            perm = None
        if (perm is None or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in perm)
                or sorted(perm) != list(range(1, len(perm) + 1))):
            raise RnnkitValueError(
                f"dims must be a permutation of 1, 2, ..., n (axis 0 is the batch), got {describe(dims)}")
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in perm)
        self.input_ndim = len(self.dims) + 1
        self._cache = None

    def call(self, inputs, training=False, mask=None):
        self._cache = inputs.shape
        return np.transpose(inputs, (0,) + self.dims)

    def backward(self, d_outputs):
        cached(self)
        self._gradients = []
        return np.transpose(np.asarray(d_outputs, self.dtype), np.argsort((0,) + self.dims))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}
