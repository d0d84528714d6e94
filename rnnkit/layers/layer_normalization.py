"""LayerNormalization (Keras 3.15): normalize each sample over some axes, then scale and shift."""
import numbers
import warnings

import numpy as np

from .. import initializers
from .._validate import describe, optional_positive_float
from ..errors import RnnkitTypeError, RnnkitValueError
from ..random import make_rng
from .base import Layer
from ..weight_options import weight_options_config
from .layer_utils import SCALE_OFFSET_WEIGHTS, cached, normalize_axis, set_scale_offset_options


class LayerNormalization(Layer):
    """Per sample, over ``axis`` (A = the normalized axes, N = their total size):

        μ = mean_A(x),  σ² = mean_A((x - μ)²),  x̂ = (x - μ) / sqrt(σ² + ε),  y = γ ⊙ x̂ + β

    With ``rms_scaling=True`` (deprecated in Keras 3.15, kept for its numbers): ``y = γ ⊙ x / sqrt(σ² + ε)``,
    no centering and no β (σ² is still the variance, as Keras computes it).

    Args:
        axis: int or list of ints (may be negative): the axes normalized together; default -1.
        epsilon: ε, default 1e-3.
        center: learn β (``beta``, initialised by ``beta_initializer``, default zeros).
        scale: learn γ (``gamma``, ``gamma_initializer``, default ones).
        rms_scaling: see above; warns as Keras does.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: see
            :mod:`rnnkit.regularizers` and :mod:`rnnkit.constraints`.
        name, dtype, trainable, input_shape: see :class:`Layer`.

    Weights (Keras layout): gamma then beta, each of the shape of the input's normalized axes.
    Shapes: any -> same. A mask passes through unchanged (it does not change the statistics, as Keras).

    Example:
        >>> import numpy as np
        >>> y = LayerNormalization()(np.arange(6, dtype=np.float32).reshape(2, 3))
        >>> np.round(y[0], 3).tolist()
        [-1.224, 0.0, 1.224]
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", rms_scaling=False, beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        if isinstance(axis, (list, tuple)):
            if not axis or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axis):
                raise RnnkitTypeError(f"axis must be an int or a list of ints, got {describe(axis)}")
            axis = [int(a) for a in axis]
        elif isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise RnnkitTypeError(f"axis must be an int or a list of ints, got {describe(axis)}")
        else:
            axis = int(axis)
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = optional_positive_float("epsilon", epsilon)
        if self.epsilon is None:
            raise RnnkitValueError("epsilon must be a positive number, got None")
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn("rms_scaling=True is deprecated (as in Keras 3.15): it scales the input by the variance, "
                          "not the root mean square", stacklevel=2)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        no_beta = "rms_scaling=True" if self.rms_scaling else (None if self.center else "center=False")
        set_scale_offset_options(self, beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
                                 no_beta=no_beta, no_gamma=None if self.scale else "scale=False")
        self._axes = None
        self._cache = None

    def build(self, input_shape):
        if self.built:
            return
        ndim = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        self._axes = tuple(sorted({normalize_axis("axis", a, ndim) for a in axes}))
        shape = tuple(input_shape[a] for a in self._axes)
        if any(d is None for d in shape):
            raise RnnkitValueError(f"the normalized axes {self.axis} of layer {self.name!r} must have known sizes, "
                                   f"got input shape {tuple(input_shape)}")
        self._ndim = ndim
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", self.gamma_initializer(shape, self.dtype, make_rng()))
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", self.beta_initializer(shape, self.dtype, make_rng()))
        self.built = True

    def _broadcast(self, weight):
        """A gamma/beta array reshaped to broadcast against the input."""
        shape = [1] * self._ndim
        for a, d in zip(self._axes, weight.shape):
            shape[a] = d
        return weight.reshape(shape)

    def _reduce_to_weight(self, values):
        """Sum over every axis that is not normalized: the shape of gamma/beta."""
        return values.sum(axis=tuple(a for a in range(self._ndim) if a not in self._axes))

    def call(self, inputs, training=False, mask=None):
        expected = tuple(self.weights[0].shape) if self.weights else None
        if inputs.ndim != self._ndim or (expected is not None and
                                         tuple(inputs.shape[a] for a in self._axes) != expected):
            raise RnnkitValueError(
                f"inputs of layer {self.name!r} must have rank {self._ndim} and sizes {expected} on axes "
                f"{self._axes} as when it was built, got {describe(inputs)}")
        axes = self._axes
        centered = inputs - inputs.mean(axis=axes, keepdims=True)
        inv = 1.0 / np.sqrt((centered * centered).mean(axis=axes, keepdims=True) + self.epsilon)
        normalized = (inputs if self.rms_scaling else centered) * inv
        y = normalized
        if self.scale or self.rms_scaling:
            y = y * self._broadcast(self.gamma.value)
        if self.center and not self.rms_scaling:
            y = y + self._broadcast(self.beta.value)
        self._cache = (inputs, centered, inv, normalized)
        return y

    def backward(self, d_outputs):
        """dL/dinputs from dL/doutputs; fills the gamma and beta gradients."""
        inputs, centered, inv, normalized = cached(self)
        dy = np.asarray(d_outputs, self.dtype)
        axes = self._axes
        grads = []
        g = dy
        if self.scale or self.rms_scaling:
            grads.append(self._reduce_to_weight(dy * normalized))
            g = dy * self._broadcast(self.gamma.value)
        if self.center and not self.rms_scaling:
            grads.append(self._reduce_to_weight(dy))
        self._gradients = grads
        if self.rms_scaling:
            # y = x · inv with inv = (σ² + ε)^-1/2 and σ² = mean((x - μ)²): dσ²/dx = 2 (x - μ) / N
            d_var = -0.5 * inv ** 3 * np.sum(g * inputs, axis=axes, keepdims=True)
            return g * inv + d_var * 2.0 * centered / (inputs.size / inv.size)
        return inv * (g - g.mean(axis=axes, keepdims=True)
                      - normalized * (g * normalized).mean(axis=axes, keepdims=True))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": self.beta_initializer.serialize(),
                "gamma_initializer": self.gamma_initializer.serialize(),
                **weight_options_config(self, SCALE_OFFSET_WEIGHTS)}
