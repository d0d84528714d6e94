"""Dropout: zero a random fraction of the inputs while training (inverted dropout)."""
import numpy as np

from .._validate import rate as check_rate
from ..random import make_rng
from .base import Layer


class Dropout(Layer):
    """While training, ``y = x ⊙ m / (1 - rate)`` with ``m ~ Bernoulli(1 - rate)``; at inference ``y = x``.

    Args:
        rate: fraction of inputs to drop, in [0, 1).
        noise_shape: shape of the mask, broadcast against the input (None: the input's shape);
            e.g. ``(None, 1, F)`` drops the same features at every time step.
        seed: int or None; same seed, same masks.

    Shapes: any -> same.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self.rng = make_rng(seed)
        self._cache = None

    def call(self, inputs, training=False, mask=None):
        if not training or self.rate == 0.0:
            self._cache = None
            return inputs
        shape = inputs.shape if self.noise_shape is None else tuple(
            d if d is not None else s for d, s in zip(self.noise_shape, inputs.shape))
        keep = self.rng.random(shape) >= self.rate
        self._cache = keep.astype(inputs.dtype) / (1.0 - self.rate)
        return inputs * self._cache

    def backward(self, d_outputs):
        self._gradients = []
        d_outputs = np.asarray(d_outputs)
        return d_outputs if self._cache is None else d_outputs * self._cache

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}
