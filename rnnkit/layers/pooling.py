"""MaxPooling1D and AveragePooling1D (Keras 3): pool windows along time."""
import numpy as np

from .._validate import choice
from . import windows
from .base import Layer
from .layer_utils import cached, int_tuple
from .layer_utils import data_format as standardize_data_format


class _Pooling1D(Layer):
    """Windows of ``pool_size`` steps every ``strides`` steps (default: ``pool_size``), each channel apart.
    "same" padding follows TensorFlow: ceil(L / strides) outputs, and padded steps never count (a max
    ignores them, an average divides by the number of real steps in its window)."""

    input_ndim = 3

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int_tuple("pool_size", pool_size, 1)
        self.strides = self.pool_size if strides is None else int_tuple("strides", strides, 1)
        self.padding = choice("padding", padding.lower() if isinstance(padding, str) else padding, ("valid", "same"))
        self.data_format = standardize_data_format(data_format)
        self._cache = None

    def call(self, inputs, training=False, mask=None):
        x = inputs if self.data_format == "channels_last" else np.swapaxes(inputs, 1, 2)
        size, stride = self.pool_size[0], self.strides[0]
        count = windows.output_length(self.padding, x.shape[1], size, stride)
        left, right = windows.padding_amounts(self.padding, x.shape[1], size, stride)
        y, extra = self._pool(x, left, right, size, stride, count)
        self._cache = (x.shape, left, x.shape[1] + left + right, extra)
        return y if self.data_format == "channels_last" else np.swapaxes(y, 1, 2)

    def backward(self, d_outputs):
        """dL/dinputs from dL/doutputs (no weights)."""
        x_shape, left, padded_length, extra = cached(self)
        dy = np.asarray(d_outputs, self.dtype)
        if self.data_format == "channels_first":
            dy = np.swapaxes(dy, 1, 2)
        self._gradients = []
        d_windows = self._pool_backward(dy, extra)
        dx = windows.scatter(d_windows, padded_length, self.strides[0], 1)[:, left:left + x_shape[1]]
        return dx if self.data_format == "channels_last" else np.swapaxes(dx, 1, 2)

    def compute_output_shape(self, input_shape):
        length_axis = 1 if self.data_format == "channels_last" else 2
        count = windows.output_length(self.padding, input_shape[length_axis], self.pool_size[0], self.strides[0])
        shape = list(input_shape)
        shape[length_axis] = count
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling1D(_Pooling1D):
    """``y[b, t, c] = max_j x[b, t·s + j, c]`` over a window of ``pool_size`` steps; the gradient goes to
    the first maximum of each window.

    Args:
        pool_size: window length (default 2); strides: step between windows (None: pool_size);
        padding: "valid" or "same"; data_format: "channels_last" (B, L, C) or "channels_first" (B, C, L).

    Example:
        >>> import numpy as np
        >>> MaxPooling1D()(np.arange(8, dtype=np.float32).reshape(1, 4, 2))[0].tolist()
        [[2.0, 3.0], [6.0, 7.0]]
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides=strides, padding=padding, data_format=data_format, **kwargs)

    def _pool(self, x, left, right, size, stride, count):
        padded = np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=-np.inf)
        patches = windows.gather(padded, size, stride, 1, count)
        winner = patches.argmax(axis=2)[:, :, None, :]
        return np.take_along_axis(patches, winner, axis=2)[:, :, 0, :], (winner, patches.shape)

    def _pool_backward(self, dy, extra):
        winner, shape = extra
        d_windows = np.zeros(shape, dy.dtype)
        np.put_along_axis(d_windows, winner, dy[:, :, None, :], axis=2)
        return d_windows


class AveragePooling1D(_Pooling1D):
    """``y[b, t, c] = mean of x[b, t·s + j, c]`` over the real (unpadded) steps of each window.

    Args: as :class:`MaxPooling1D`, but ``pool_size`` is required (as in Keras 3).
    """

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(pool_size, strides=strides, padding=padding, data_format=data_format, **kwargs)

    def _pool(self, x, left, right, size, stride, count):
        padded = np.pad(x, ((0, 0), (left, right), (0, 0)))
        real = np.pad(np.ones((1, x.shape[1], 1), x.dtype), ((0, 0), (left, right), (0, 0)))
        counts = windows.gather(real, size, stride, 1, count).sum(axis=2)  # (1, count, 1)
        return windows.gather(padded, size, stride, 1, count).sum(axis=2) / counts, (counts, size)

    def _pool_backward(self, dy, extra):
        counts, size = extra
        share = dy / counts
        return np.broadcast_to(share[:, :, None, :], share.shape[:2] + (size,) + share.shape[2:])


