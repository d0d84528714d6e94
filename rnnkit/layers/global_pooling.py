"""GlobalAveragePooling1D and GlobalMaxPooling1D (Keras 3): pool over the whole time axis."""
import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from .base import Layer
from .layer_utils import cached
from .layer_utils import data_format as standardize_data_format


class _GlobalPooling1D(Layer):
    """(B, T, C) -> (B, C), or (B, 1, C) with ``keepdims`` (channels_first: (B, C, T) -> (B, C) / (B, C, 1))."""

    input_ndim = 3

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)
        self._cache = None

    @property
    def _steps_axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            return (input_shape[0], 1, input_shape[-1]) if self.keepdims else (input_shape[0], input_shape[-1])
        return (input_shape[0], input_shape[1], 1) if self.keepdims else (input_shape[0], input_shape[1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over time; with a mask (B, T), the mean over the unmasked steps (a sample with no
    unmasked step gives NaN, as Keras's 0/0). The output has no mask.

    Args:
        data_format: "channels_last" (default, (B, T, C)) or "channels_first" ((B, C, T)).
        keepdims: keep the time axis with size 1.

    Example:
        >>> import numpy as np
        >>> x = np.array([[[1.0], [3.0], [100.0]]], np.float32)
        >>> GlobalAveragePooling1D()(x, mask=np.array([[True, True, False]])).tolist()
        [[2.0]]
    """

    supports_masking = True

    def call(self, inputs, training=False, mask=None):
        axis = self._steps_axis
        if mask is None:
            weights = np.ones((1, 1, 1), self.dtype)
            count = np.asarray(inputs.shape[axis], self.dtype)
        else:
            mask = np.asarray(mask)
            steps = inputs.shape[axis]
            if mask.shape != (inputs.shape[0], steps):
                raise RnnkitValueError(f"mask of layer {self.name!r} must have shape (batch, steps) = "
                                       f"{(inputs.shape[0], steps)}, got {describe(mask)}")
            weights = np.expand_dims(mask, 2 if axis == 1 else 1).astype(self.dtype)
            count = weights.sum(axis=axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = (inputs * weights).sum(axis=axis, keepdims=True) / count
        self._cache = (weights, count, inputs.shape)
        return y if self.keepdims else y.squeeze(axis)

    def backward(self, d_outputs):
        """dL/dinputs: each step gets dL/dy / count where it is unmasked."""
        weights, count, shape = cached(self)
        self._gradients = []
        dy = np.asarray(d_outputs, self.dtype)
        if not self.keepdims:
            dy = np.expand_dims(dy, self._steps_axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.broadcast_to(dy * weights / count, shape).copy()


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum over time, per channel (a mask is ignored, as Keras); the gradient goes to the
    first maximum.

    Args: as :class:`GlobalAveragePooling1D`.
    """

    def call(self, inputs, training=False, mask=None):
        axis = self._steps_axis
        winner = inputs.argmax(axis=axis)
        y = np.take_along_axis(inputs, np.expand_dims(winner, axis), axis=axis)
        self._cache = (winner, inputs.shape)
        return y if self.keepdims else y.squeeze(axis)

    def backward(self, d_outputs):
        winner, shape = cached(self)
        self._gradients = []
        axis = self._steps_axis
        dy = np.asarray(d_outputs, self.dtype)
        if not self.keepdims:
            dy = np.expand_dims(dy, axis)
        dx = np.zeros(shape, self.dtype)
        np.put_along_axis(dx, np.expand_dims(winner, axis), dy, axis=axis)
        return dx
