"""Base of the layers called on a list of arrays (merge layers, attention).

``layer([a, b, ...], mask=[mask_a, mask_b, ...])``: every input is checked and cast
to the layer's dtype, ``build`` gets the list of their shapes, and ``backward``
returns one gradient per input.
"""
import numpy as np

from .._validate import describe, float_array
from ..errors import RnnkitTypeError, RnnkitValueError
from .base import Layer


class MultiInputLayer(Layer):
    """A layer whose input is a list of float arrays sharing the batch axis.

    Subclasses set ``min_inputs`` / ``max_inputs`` (counts) and ``min_ndim`` (rank of each input).
    """

    min_inputs = 1
    max_inputs = None
    min_ndim = 2

    def _count_text(self):
        if self.max_inputs == self.min_inputs:
            return f"exactly {self.min_inputs}"
        if self.max_inputs is None:
            return f"at least {self.min_inputs}"
        return f"{self.min_inputs} to {self.max_inputs}"

    def check_inputs(self, inputs, name="inputs"):
        """Validate a list of float arrays (count, rank, common batch size); returns them cast to the dtype."""
        if not isinstance(inputs, (list, tuple)):
            raise RnnkitTypeError(
                f"{name} of layer {self.name!r} ({type(self).__name__}) must be a list of "
                f"{self._count_text()} arrays, got {describe(inputs)}")
        count = len(inputs)
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            raise RnnkitValueError(
                f"{name} of layer {self.name!r} ({type(self).__name__}) must be a list of "
                f"{self._count_text()} arrays, got a list of {count}")
        arrays = [float_array(f"{name}[{i}]", x, dtype=self.dtype) for i, x in enumerate(inputs)]
        for i, x in enumerate(arrays):
            if x.ndim < self.min_ndim:
                raise RnnkitValueError(
                    f"{name}[{i}] of layer {self.name!r} must have rank >= {self.min_ndim} (batch first), "
                    f"got {describe(x)}")
        batches = {x.shape[0] for x in arrays}
        if len(batches) > 1:
            raise RnnkitValueError(
                f"{name} of layer {self.name!r} must share the batch size (axis 0), got shapes "
                f"{[x.shape for x in arrays]}")
        return arrays

    def check_masks(self, mask, inputs, lengths=None):
        """``mask`` as a list (one bool array or None per input, each of its input's shape less the
        last axis), or None when no mask is given or all are None. ``lengths``: allowed list lengths."""
        if mask is None:
            return None
        lengths = (len(inputs),) if lengths is None else lengths
        if not isinstance(mask, (list, tuple)) or len(mask) not in lengths:
            want = " or ".join(str(n) for n in lengths)
            raise RnnkitValueError(
                f"mask of layer {self.name!r} must be a list of {want} masks (None or a bool array per input), "
                f"got {describe(mask)}")
        masks = []
        for i, (m, x) in enumerate(zip(mask, inputs)):
            if m is not None:
                m = np.asarray(m)
                if m.shape != x.shape[:-1]:
                    raise RnnkitValueError(
                        f"mask[{i}] of layer {self.name!r} must have the shape of inputs[{i}] less its last axis, "
                        f"{x.shape[:-1]}, got {describe(m)}")
                m = m.astype(bool, copy=False)
            masks.append(m)
        return None if all(m is None for m in masks) else masks
