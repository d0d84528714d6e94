"""Concatenate (Keras 3): join a list of arrays along one axis."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .layer_utils import cached, normalize_axis
from .merge import Merge


class Concatenate(Merge):
    """``y = concatenate([x_1, ..., x_n], axis)``: every other axis must match.

    Args:
        axis: the axis to join along (default -1, the features).

    The output mask, as Keras: each input's mask (all True where it has none) broadcast to the input's
    shape, concatenated along ``axis`` and reduced with ``any`` over the last axis; so along the
    features it is the OR of the masks, along time the masks joined end to end.

    Example:
        >>> import numpy as np
        >>> Concatenate()([np.zeros((2, 3), np.float32), np.ones((2, 1), np.float32)]).shape
        (2, 4)
    """

    def __init__(self, axis=-1, **kwargs):
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise RnnkitTypeError(f"axis must be an int, got {describe(axis)}")
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs, training=False, mask=None):
        self.check_masks(mask, inputs)
        ndim = inputs[0].ndim
        axis = normalize_axis("axis", self.axis, ndim)
        others = [x.shape[:axis] + x.shape[axis + 1:] for x in inputs]
        for x, rest in zip(inputs, others):
            if x.ndim != ndim or rest != others[0]:
                raise RnnkitValueError(
                    f"inputs of layer {self.name!r} (Concatenate, axis={self.axis}) must match on every axis but "
                    f"the concatenation axis, got shapes {[x.shape for x in inputs]}")
        self._cache = (axis, np.cumsum([x.shape[axis] for x in inputs])[:-1])
        return np.concatenate(inputs, axis=axis)

    def backward(self, d_outputs):
        """One slice of dL/doutputs per input."""
        axis, splits = cached(self)
        self._gradients = []
        return np.split(np.asarray(d_outputs, self.dtype), splits, axis=axis)

    def compute_output_shape(self, input_shape):
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            if out[self.axis] is None or shape[self.axis] is None:
                out[self.axis] = None
                break
            out[self.axis] += shape[self.axis]
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise RnnkitValueError(f"mask of layer {self.name!r} must be a list of {len(inputs)} masks, "
                                   f"got {describe(mask)}")
        if all(m is None for m in mask):
            return None
        full = []
        for x, m in zip(inputs, mask):
            shape = np.shape(x)
            if m is None:
                full.append(np.ones(shape, bool))
            else:
                m = np.asarray(m, bool)
                full.append(np.broadcast_to(m[..., None], shape) if m.ndim < len(shape) else m)
        return np.concatenate(full, axis=self.axis).any(axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def concatenate(inputs, axis=-1, **kwargs):
    """Keras's functional form: ``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
