"""Dense: an affine map on the last axis followed by an activation."""
import numpy as np

from .. import initializers
from .._validate import positive_int
from ..ops import softmax as softmax_ops
from ..ops.activations import get_activation, serialize_activation
from ..errors import RnnkitValueError
from ..random import make_rng
from .base import Layer

# Activations that mix the last axis, so they are not elementwise Activations.
_AXIS_ACTIVATIONS = ("softmax", "log_softmax")


class Dense(Layer):
    """``y = activation(x · kernel + bias)`` on the last axis of an input of any rank ≥ 2.

    Weights (Keras layout): kernel (I, units), bias (units,).

    Args:
        units: output size.
        activation: None (linear), any registered elementwise name ("relu", "tanh", ...),
            "softmax" or "log_softmax" (over the last axis, computed stably).
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: names or Initializers (Keras defaults).
        seed: int or None; fixes the initial weights.
        name, dtype, input_shape, trainable: see :class:`Layer`.

    Shapes: inputs (..., I) -> outputs (..., units).

    Example:
        >>> import numpy as np
        >>> layer = Dense(5, activation="softmax", seed=0)
        >>> layer(np.zeros((2, 3), np.float32)).shape, layer.count_params()
        ((2, 5), 20)
    """

    supports_masking = True
    min_ndim = 2

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        if activation in _AXIS_ACTIVATIONS:
            self.activation = activation
        else:
            self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        make_rng(seed)  # validates now rather than at build time
        self.seed = seed
        self._cache = None

    def build(self, input_shape):
        if self.built:  # weights exist already; __call__ checks the feature size
            return
        features = positive_int("input_shape[-1]", input_shape[-1])
        rng = make_rng(self.seed)
        self.kernel = self.add_weight("kernel", self.kernel_initializer((features, self.units), self.dtype, rng))
        if self.use_bias:
            self.bias = self.add_weight("bias", self.bias_initializer((self.units,), self.dtype, rng))
        self.input_features = features
        self.built = True

    def call(self, inputs, training=False, mask=None):
        z = inputs @ self.kernel.value
        if self.use_bias:
            z = z + self.bias.value
        if self.activation == "softmax":
            y = softmax_ops.softmax(z)
        elif self.activation == "log_softmax":
            y = softmax_ops.log_softmax(z)
        else:
            y = self.activation(z)
        self._cache = (inputs, z, y)
        return y

    def backward(self, d_outputs):
        """dL/dinputs from ``d_outputs`` = dL/doutputs (..., units); fills kernel and bias gradients."""
        if self._cache is None:
            raise RnnkitValueError(f"backward on layer {self.name!r} needs a forward call first")
        x, z, y = self._cache
        dy = np.asarray(d_outputs, self.dtype)
        if self.activation == "softmax":
            dz = softmax_ops.softmax_backward(y, dy)
        elif self.activation == "log_softmax":
            dz = softmax_ops.log_softmax_backward(y, dy)
        else:
            dz = dy * self.activation.derivative(z, y)
        flat_dz = dz.reshape(-1, self.units)
        grads = [x.reshape(-1, x.shape[-1]).T @ flat_dz]
        if self.use_bias:
            grads.append(flat_dz.sum(axis=0))
        self._gradients = grads
        return dz @ self.kernel.value.T

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        activation = self.activation if isinstance(self.activation, str) else serialize_activation(self.activation)
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activation,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer.serialize(),
            "bias_initializer": self.bias_initializer.serialize(),
            "seed": self.seed,
        }
