"""SpatialDropout1D and GaussianNoise (Keras 3): regularization noise applied only while training."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from ..random import make_rng
from .base import Layer
from .dropout import Dropout
from .layer_utils import cached


class SpatialDropout1D(Dropout):
    """Dropout of whole channels: while training ``y[b, t, c] = x[b, t, c] · m[b, c] / (1 - rate)`` with
    one ``m[b, c] ~ Bernoulli(1 - rate)`` for every time step (a :class:`Dropout` with noise shape
    (B, 1, C)); at inference ``y = x``.

    Args:
        rate: fraction of channels dropped, in [0, 1).
        seed: int or None; same seed, same masks.
        name, dtype: see :class:`Layer`.

    Shapes: (B, T, C) -> same.
    """

    input_ndim = 3

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, noise_shape=(None, 1, None), seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]
        return config


class GaussianNoise(Layer):
    """While training ``y = x + ε`` with ``ε ~ N(0, stddev²)`` drawn afresh at every call; at inference
    ``y = x``. Backward passes the gradient through unchanged.

    Args:
        stddev: standard deviation of the noise, in [0, 1] (Keras's range).
        seed: int or None; same seed, same noise.
        name, dtype, input_shape, trainable: see :class:`Layer`.

    Shapes: any -> same; a mask passes through.
    """

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not 0.0 <= stddev <= 1.0:
            raise RnnkitValueError(f"stddev must be a number in [0, 1], got {describe(stddev)}")
        super().__init__(**kwargs)
        self.stddev = float(stddev)
        self.rng = make_rng(seed)
        self.seed = seed
        self._cache = None

    def call(self, inputs, training=False, mask=None):
        self._cache = inputs.shape
        if not training or self.stddev == 0.0:
            return inputs
        return inputs + (self.rng.standard_normal(inputs.shape) * self.stddev).astype(self.dtype)

    def backward(self, d_outputs):
        cached(self)
        self._gradients = []
        return np.asarray(d_outputs, self.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
