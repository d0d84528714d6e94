"""BatchNormalization (Keras 3.15): normalize each feature over the batch (and time) axes."""
import numbers

import numpy as np

from .. import initializers
from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from ..random import make_rng
from .base import Layer
from ..weight_options import weight_options_config
from .layer_utils import SCALE_OFFSET_WEIGHTS, cached, normalize_axis, set_scale_offset_options

_MASK_EPSILON = 1e-7  # Keras adds backend.epsilon() to the count of unmasked entries
_RENORM_KEYS = ("rmax", "rmin", "dmax")


def _number(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < low or \
            (high is not None and value > high):
        want = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise RnnkitValueError(f"{name} must be a number {want}, got {describe(value)}")
    return float(value)


class BatchNormalization(Layer):
    """Per feature c of ``axis`` (R = every other axis):

    training (and ``trainable``):  μ_c, σ²_c = mean and variance of x over R (over the unmasked
        entries when a mask is given, dividing by their count + 1e-7 as Keras);
        moving_mean ← momentum · moving_mean + (1 - momentum) · μ, same for moving_variance;
    inference:  μ = moving_mean, σ² = moving_variance;
    then ``y = γ (x - μ) / sqrt(σ² + ε) + β`` at every position (masked ones too).

    Batch renormalization (``renorm=True``, Keras's ``renorm_clipping`` with keys rmax, rmin, dmax)
    replaces γ, β in training by ``r γ`` and ``d γ + β`` with r = σ / σ_renorm and
    d = (μ - μ_renorm) / σ_renorm clipped and held constant in backward, as Keras.

    Args:
        axis: the feature axis (int, default -1).
        momentum: default 0.99; epsilon: ε, default 1e-3.
        center, scale: learn β / γ.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer:
            Keras defaults zeros, ones, zeros, ones.
        renorm, renorm_clipping, renorm_momentum: batch renormalization as above.
        synchronized: only False (there is no cross-device batch here).
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: see
            :mod:`rnnkit.regularizers` and :mod:`rnnkit.constraints`.
        name, dtype, trainable, input_shape: see :class:`Layer`.

    Weights (Keras order): gamma, beta (trainable), moving_mean, moving_variance (non-trainable),
    then with renorm moving_stddev, renorm_mean, renorm_stddev; each (C,).
    ``backward`` fills a gradient for each: in training the moving statistics get zeros (they do not
    enter the output), in inference their true gradients.

    Shapes: any -> same; a mask (the input's shape less the last axis) passes through.
    """

    supports_masking = True
    min_ndim = 2

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise RnnkitTypeError(f"axis must be an int, got {describe(axis)}")
        if synchronized:
            raise RnnkitValueError("synchronized=True needs a cross-device batch; rnnkit's BatchNormalization "
                                   "takes only synchronized=False")
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.momentum = _number("momentum", momentum, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)
        if self.epsilon <= 0:
            raise RnnkitValueError(f"epsilon must be a positive number, got {epsilon!r}")
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        set_scale_offset_options(self, beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
                                 no_beta=None if self.center else "center=False",
                                 no_gamma=None if self.scale else "scale=False")
        self.renorm = bool(renorm)
        if renorm_clipping is not None:
            if not isinstance(renorm_clipping, dict) or set(renorm_clipping) - set(_RENORM_KEYS):
                raise RnnkitValueError(f"renorm_clipping must be None or a dict with keys among {_RENORM_KEYS}, "
                                       f"got {describe(renorm_clipping)}")
            renorm_clipping = {k: _number(f"renorm_clipping[{k!r}]", v, 0.0) for k, v in renorm_clipping.items()
                               if v is not None}
            if renorm_clipping.get("rmax", np.inf) < renorm_clipping.get("rmin", 0.0):
                raise RnnkitValueError(f"renorm_clipping needs rmax >= rmin, got {renorm_clipping}")
        self.renorm_clipping = (renorm_clipping or {}) if self.renorm else renorm_clipping
        self.renorm_momentum = _number("renorm_momentum", renorm_momentum, 0.0, 1.0)
        self.synchronized = False
        self._cache = None

    def build(self, input_shape):
        if self.built:
            return
        self._ndim = len(input_shape)
        self._channel_axis = normalize_axis("axis", self.axis, self._ndim)
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise RnnkitValueError(f"axis {self.axis} of layer {self.name!r} must have a known size, "
                                   f"got input shape {tuple(input_shape)}")
        shape = (int(channels),)
        rng = make_rng()
        if self.scale:
            self.gamma = self.add_weight("gamma", self.gamma_initializer(shape, self.dtype, rng))
        if self.center:
            self.beta = self.add_weight("beta", self.beta_initializer(shape, self.dtype, rng))
        self.moving_mean = self.add_weight("moving_mean", self.moving_mean_initializer(shape, self.dtype, rng),
                                           trainable=False)
        self.moving_variance = self.add_weight(
            "moving_variance", self.moving_variance_initializer(shape, self.dtype, rng), trainable=False)
        if self.renorm:
            stddev = np.sqrt(self.moving_variance_initializer(shape, self.dtype, rng))
            self.moving_stddev = self.add_weight("moving_stddev", stddev, trainable=False)
            self.renorm_mean = self.add_weight("renorm_mean", self.moving_mean_initializer(shape, self.dtype, rng),
                                               trainable=False)
            self.renorm_stddev = self.add_weight("renorm_stddev", stddev.copy(), trainable=False)
        self._reduction = tuple(a for a in range(self._ndim) if a != self._channel_axis)
        self.built = True

    def _shaped(self, vector):
        """A (C,) vector reshaped to broadcast along the feature axis."""
        shape = [1] * self._ndim
        shape[self._channel_axis] = vector.shape[0]
        return vector.reshape(shape)

    def _moments(self, inputs, mask):
        """(μ, σ², weights w, divisor D) with μ = Σ w x / D and σ² = Σ w (x - μ)² / D over the reduced axes
        (kept); without a mask w = 1 and D = their size, with one w = the mask and D = its count + 1e-7."""
        red = self._reduction
        if mask is None:
            weights, divisor = 1.0, inputs.size // inputs.shape[self._channel_axis]
        else:
            weights = np.broadcast_to(mask[..., None], inputs.shape).astype(self.dtype)
            divisor = weights.sum(axis=red, keepdims=True) + _MASK_EPSILON
        mean = (weights * inputs).sum(axis=red, keepdims=True) / divisor
        centered = weights * (inputs - mean)
        return mean, (centered * centered).sum(axis=red, keepdims=True) / divisor, weights, divisor

    def _renorm_correction(self, mean, variance):
        """Keras's r, d (constants for backward) and the updates of the renorm statistics."""
        stddev = np.sqrt(variance + self.epsilon)
        renorm_stddev = np.maximum(self.renorm_stddev.value, np.sqrt(self.epsilon))
        r = stddev / renorm_stddev
        d = (mean - self.renorm_mean.value) / renorm_stddev
        clipping = self.renorm_clipping or {}
        if "rmin" in clipping:
            r = np.maximum(r, clipping["rmin"])
        if "rmax" in clipping:
            r = np.minimum(r, clipping["rmax"])
        if "dmax" in clipping:
            d = np.clip(d, -clipping["dmax"], clipping["dmax"])
        m, rm = self.renorm_momentum, self.momentum
        self.renorm_mean.value[...] = self.renorm_mean.value * m + mean * (1.0 - m)
        self.renorm_stddev.value[...] = self.renorm_stddev.value * m + stddev * (1.0 - m)
        self.moving_mean.value[...] = self.moving_mean.value * rm + mean * (1.0 - rm)
        new_stddev = self.moving_stddev.value * rm + stddev * (1.0 - rm)
        self.moving_stddev.value[...] = new_stddev
        self.moving_variance.value[...] = np.maximum(new_stddev * new_stddev - self.epsilon, 0.0)
        return r.astype(self.dtype), d.astype(self.dtype)

    def call(self, inputs, training=False, mask=None):
        if inputs.ndim != self._ndim or inputs.shape[self._channel_axis] != self.moving_mean.shape[0]:
            raise RnnkitValueError(
                f"inputs of layer {self.name!r} must have rank {self._ndim} and {self.moving_mean.shape[0]} "
                f"features on axis {self.axis} as when it was built, got {describe(inputs)}")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != inputs.shape[:-1]:
                raise RnnkitValueError(f"mask of layer {self.name!r} must have the inputs' shape less the last axis, "
                                       f"{inputs.shape[:-1]}, got {describe(mask)}")
            mask = mask.astype(bool)
        gamma = self.gamma.value if self.scale else np.ones(self.moving_mean.shape, self.dtype)
        beta = self.beta.value if self.center else np.zeros(self.moving_mean.shape, self.dtype)
        train = bool(training) and self.trainable
        r = d = None
        if train:
            mean, variance, weights, divisor = self._moments(inputs, mask)
            flat_mean, flat_var = mean.reshape(-1), variance.reshape(-1)
            if self.renorm:
                r, d = self._renorm_correction(flat_mean, flat_var)
                gamma, beta = r * gamma, d * gamma + beta
            else:
                m = self.momentum
                self.moving_mean.value[...] = self.moving_mean.value * m + flat_mean * (1.0 - m)
                self.moving_variance.value[...] = self.moving_variance.value * m + flat_var * (1.0 - m)
        else:
            mean, variance, weights, divisor = self._shaped(self.moving_mean.value), \
                self._shaped(self.moving_variance.value), None, None
        centered = inputs - mean
        inv = 1.0 / np.sqrt(variance + self.epsilon)
        normalized = centered * inv
        self._cache = (train, centered, inv, normalized, weights, divisor, r, d, gamma)
        return normalized * self._shaped(gamma) + self._shaped(beta)

    def backward(self, d_outputs):
        """dL/dinputs from dL/doutputs; fills the gradients of every weight (see the class docstring)."""
        train, centered, inv, normalized, weights, divisor, r, d, gamma = cached(self)
        dy = np.asarray(d_outputs, self.dtype)
        red = self._reduction
        g = dy * self._shaped(gamma)
        d_scale = (dy * normalized).sum(axis=red)
        d_shift = dy.sum(axis=red)
        grads = []
        if self.scale:
            grads.append(d_scale if r is None else d_scale * r + d_shift * d)
        if self.center:
            grads.append(d_shift)
        d_inv = (g * centered).sum(axis=red, keepdims=True)
        d_var = -0.5 * inv ** 3 * d_inv
        if not train:
            grads += [-(g * inv).sum(axis=red), d_var.reshape(-1)]
            grads += [np.zeros_like(v.value) for v in self.weights[len(grads):]]
            self._gradients = grads
            return g * inv
        grads += [np.zeros_like(v.value) for v in self.weights[len(grads):]]
        self._gradients = grads
        # μ = Σ w x / D and σ² = Σ w (x - μ)² / D (see _moments)
        d_mean = -(g * inv).sum(axis=red, keepdims=True) - d_var * 2.0 * (weights * centered).sum(
            axis=red, keepdims=True) / divisor
        return g * inv + d_var * 2.0 * weights * centered / divisor + d_mean * weights / divisor

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": self.beta_initializer.serialize(),
                "gamma_initializer": self.gamma_initializer.serialize(),
                "moving_mean_initializer": self.moving_mean_initializer.serialize(),
                "moving_variance_initializer": self.moving_variance_initializer.serialize(),
                "synchronized": self.synchronized, "renorm": self.renorm,
                "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum,
                **weight_options_config(self, SCALE_OFFSET_WEIGHTS)}
