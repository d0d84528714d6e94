"""Layers that only reshape or apply a fixed function: Flatten and Activation."""
import numpy as np

from ..ops import softmax as softmax_ops
from ..ops.activations import get_activation, serialize_activation
from .base import Layer


class Flatten(Layer):
    """(B, d1, d2, ...) -> (B, d1·d2·...)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._cache = None

    def call(self, inputs, training=False, mask=None):
        self._cache = inputs.shape
        return inputs.reshape(inputs.shape[0], -1)

    def backward(self, d_outputs):
        self._gradients = []
        return np.asarray(d_outputs).reshape(self._cache)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest))
        return (input_shape[0], size)


class Activation(Layer):
    """``y = activation(x)``: any registered elementwise activation, or "softmax" over the last axis."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = "softmax" if activation == "softmax" else get_activation(activation)
        self._cache = None

    def call(self, inputs, training=False, mask=None):
        y = softmax_ops.softmax(inputs) if self.activation == "softmax" else self.activation(inputs)
        self._cache = (inputs, y)
        return y

    def backward(self, d_outputs):
        z, y = self._cache
        self._gradients = []
        d_outputs = np.asarray(d_outputs)
        if self.activation == "softmax":
            return softmax_ops.softmax_backward(y, d_outputs)
        return d_outputs * self.activation.derivative(z, y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        name = "softmax" if self.activation == "softmax" else serialize_activation(self.activation)
        return {**super().get_config(), "activation": name}
