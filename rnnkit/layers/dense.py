"""Dense: an affine map on the last axis followed by an activation."""
import numpy as np

from .._validate import positive_int
from ..cells.dispatch import active_function
from ..ops import grad_sinks, products
from ..random import make_rng
from .base import Layer
from .layer_utils import activation_backward, apply_activation, cached, kernel_options_config, set_kernel_options


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
        kernel_regularizer, bias_regularizer: penalties on the weights (:mod:`rnnkit.regularizers`),
            added to the training loss; activity_regularizer: a penalty on the output / batch size.
        kernel_constraint, bias_constraint: projections applied after each optimizer step
            (:mod:`rnnkit.constraints`).
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
                 bias_initializer="zeros", seed=None, kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer, seed,
                           kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint)
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
        z = products.matmul(inputs, self.kernel.value, product=active_function(products.matmul2d))
        if self.use_bias:
            z = z + self.bias.value
        y = apply_activation(self.activation, z)
        self._cache = (inputs, z, y)
        return y

    def backward(self, d_outputs):
        """dL/dinputs from ``d_outputs`` = dL/doutputs (..., units); fills kernel and bias gradients."""
        x, z, y = cached(self)
        dz = activation_backward(self.activation, z, y, np.asarray(d_outputs, self.dtype))
        flat_dz = dz.reshape(-1, self.units)
        # into the training loop's gradient buffers where it keeps them (rnnkit.ops.grad_sinks)
        kernel = self.kernel.value
        product = active_function(products.matmul2d)
        grads = [product(x.reshape(-1, x.shape[-1]).T, flat_dz, grad_sinks.take(kernel, kernel.shape, dz.dtype))]
        if self.use_bias:
            grads.append(flat_dz.sum(axis=0, out=grad_sinks.take(self.bias.value, (self.units,), dz.dtype)))
        self._gradients = grads
        return products.matmul(dz, self.kernel.value.T, product=product)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, **kernel_options_config(self)}

