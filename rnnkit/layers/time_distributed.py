"""TimeDistributed: apply one layer to every time step."""
import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError
from .base import Layer, deserialize_layer, serialize_layer


class TimeDistributed(Layer):
    """``y[:, t] = layer(x[:, t])`` for every t, with one set of weights shared over time.

    The time axis is folded into the batch: (B, T, ...) -> (B·T, ...) -> layer -> (B, T, ...),
    so backward is the inner layer's backward on the folded gradient.

    Args:
        layer: the layer to apply, e.g. ``Dense(5)``.

    Shapes: (B, T, ...) -> (B, T, ...layer output).
    """

    min_ndim = 3
    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise RnnkitTypeError(f"layer must be an rnnkit layer, got {describe(layer)}")
        self.layer = layer
        self._cache = None

    def build(self, input_shape):
        self.layer.build((None, *tuple(input_shape)[2:]))
        self.layer.built = True
        self.built = True

    @property
    def weights(self):
        return self.layer.weights

    def call(self, inputs, training=False, mask=None):
        batch, time = inputs.shape[:2]
        self._cache = (batch, time)
        folded = self.layer(inputs.reshape(batch * time, *inputs.shape[2:]), training=training)
        return folded.reshape(batch, time, *folded.shape[1:])

    def backward(self, d_outputs):
        batch, time = self._cache
        d_outputs = np.asarray(d_outputs)
        dx = self.layer.backward(d_outputs.reshape(batch * time, *d_outputs.shape[2:]))
        self._gradients = self.layer.get_gradients()
        return None if dx is None else dx.reshape(batch, time, *dx.shape[1:])

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *tuple(input_shape)[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])

    def get_config(self):
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(deserialize_layer(config.pop("layer")), **config)
