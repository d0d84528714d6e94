"""Masking: skip the time steps whose features all equal ``mask_value``."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError
from .base import Layer


class Masking(Layer):
    """Marks step t of sample b as padding when ``all(x[b, t] == mask_value)``.

    The output is the input with padded steps zeroed, and its mask ``any(x != mask_value, axis=-1)``
    flows to the following recurrent layers (which then skip those steps).

    Shapes: (B, T, F) -> (B, T, F); mask (B, T).
    """

    input_ndim = 3
    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise RnnkitTypeError(f"mask_value must be a number such as 0.0, got {describe(mask_value)}")
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)
        self._cache = None

    def compute_mask(self, inputs, mask=None):
        keep = np.any(np.asarray(inputs) != self.mask_value, axis=-1)
        return keep if mask is None else keep & mask

    def call(self, inputs, training=False, mask=None):
        self._cache = self.compute_mask(inputs)[..., None]
        return inputs * self._cache

    def backward(self, d_outputs):
        self._gradients = []
        return np.asarray(d_outputs) * self._cache

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
