"""RepeatVector (Keras 3): repeat a vector n times along a new time axis."""
import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .base import Layer
from .layer_utils import cached


class RepeatVector(Layer):
    """``y[b, t] = x[b]`` for t < n: (B, F) -> (B, n, F); the seq2seq bridge from an encoder's last
    state to a decoder's inputs. Backward sums the n copies' gradients.

    Args:
        n: how many times to repeat (a positive int).

    Example:
        >>> import numpy as np
        >>> RepeatVector(3)(np.zeros((2, 4), np.float32)).shape
        (2, 3, 4)
    """

    input_ndim = 2

    def __init__(self, n, **kwargs):
        if isinstance(n, bool) or not isinstance(n, int):
            raise RnnkitTypeError(f"n must be an int, got {describe(n)}")
        if n <= 0:
            raise RnnkitValueError(f"n must be a positive integer, got {n}")
        super().__init__(**kwargs)
        self.n = n
        self._cache = None

    def call(self, inputs, training=False, mask=None):
        self._cache = inputs.shape
        return np.repeat(inputs[:, None, :], self.n, axis=1)

    def backward(self, d_outputs):
        cached(self)
        self._gradients = []
        return np.asarray(d_outputs, self.dtype).sum(axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}
