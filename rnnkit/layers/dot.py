"""Dot (Keras 3): batchwise dot product of two arrays along one axis of each."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .layer_utils import cached
from .merge import Merge

_EPSILON = 1e-7  # Keras's backend.epsilon(), the floor of the norm when normalizing


def _l2_normalize(x, axis):
    """Keras's ``normalize``: x · min(1/‖x‖, 1/ε) along ``axis``; returns (x̂, 1/‖x‖ clipped, clipped?)."""
    square_sum = np.sum(x * x, axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        inv = 1.0 / np.sqrt(square_sum)
    clipped = ~(inv < 1.0 / _EPSILON)
    inv = np.where(clipped, 1.0 / _EPSILON, inv).astype(x.dtype)
    return x * inv, inv, clipped


def _l2_normalize_backward(d_xn, xn, inv, clipped, axis):
    """dL/dx of x̂ = x / ‖x‖: (dx̂ - x̂ <dx̂, x̂>) / ‖x‖, or dx̂ / ε where the norm was floored."""
    projected = d_xn - xn * np.sum(d_xn * xn, axis=axis, keepdims=True)
    return inv * np.where(clipped, d_xn, projected)


class Dot(Merge):
    """Batchwise dot product of ``[x, y]`` along ``axes``, as Keras's ``batch_dot``.

    ``x`` (B, ..., K at axes[0], ...) and ``y`` (B, ..., K at axes[1], ...) give
    ``out[b, i..., j...] = Σ_k x[b, i..., k] y[b, k, j...]``: x's remaining axes, then y's remaining
    axes; an output of rank 1 becomes (B, 1). E.g. (B, Tq, D)·(B, Tv, D) with ``axes=2`` -> (B, Tq, Tv).

    Args:
        axes: an int (the same axis of both) or a pair of ints; axis 0 (batch) is not allowed.
        normalize: L2-normalize both inputs along their dot axis first (the output is then the cosine
            similarity); norms below 1e-7 are floored as in Keras.

    The output has no mask.
    """

    min_inputs = max_inputs = 2
    supports_masking = True

    def __init__(self, axes, normalize=False, **kwargs):
        if isinstance(axes, bool) or not isinstance(axes, (numbers.Integral, list, tuple)):
            raise RnnkitTypeError(f"axes must be an int or a pair of ints, got {describe(axes)}")
        if not isinstance(axes, numbers.Integral) and (
                len(axes) != 2 or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes)):
            raise RnnkitValueError(f"axes must be an int or a pair of ints, got {describe(axes)}")
        super().__init__(**kwargs)
        self.axes = int(axes) if isinstance(axes, numbers.Integral) else type(axes)(int(a) for a in axes)
        self.normalize = bool(normalize)

    def _resolved_axes(self, shapes):
        axes = [self.axes] * 2 if isinstance(self.axes, int) else list(self.axes)
        resolved = []
        for i, (axis, shape) in enumerate(zip(axes, shapes)):
            rank = len(shape)
            if not -rank <= axis < rank or axis % rank == 0:
                raise RnnkitValueError(
                    f"axes of layer {self.name!r} (Dot) must name a non-batch axis of inputs[{i}] "
                    f"(shape {tuple(shape)}), got {self.axes!r}")
            resolved.append(axis % rank)
        if shapes[0][resolved[0]] is not None and shapes[1][resolved[1]] is not None \
                and shapes[0][resolved[0]] != shapes[1][resolved[1]]:
            raise RnnkitValueError(
                f"inputs of layer {self.name!r} (Dot, axes={self.axes!r}) must have equal sizes on the dot axes, "
                f"got shapes {tuple(shapes[0])} and {tuple(shapes[1])}")
        return resolved

    def call(self, inputs, training=False, mask=None):
        x, y = inputs
        ax, ay = self._resolved_axes([x.shape, y.shape])
        norm_cache = None
        if self.normalize:
            (x, inv_x, clip_x), (y, inv_y, clip_y) = _l2_normalize(x, ax), _l2_normalize(y, ay)
            norm_cache = (x, inv_x, clip_x, y, inv_y, clip_y)
        # x -> (B, M, K) with the dot axis last; y -> (B, K, N) with it second
        xm, ym = np.moveaxis(x, ax, -1), np.moveaxis(y, ay, 1)
        x3 = xm.reshape(x.shape[0], -1, xm.shape[-1])
        y3 = ym.reshape(y.shape[0], ym.shape[1], -1)
        out = np.matmul(x3, y3).reshape(xm.shape[:-1] + ym.shape[2:])
        if out.ndim == 1:
            out = out[:, None]
        self._cache = (x3, y3, xm.shape, ym.shape, ax, ay, norm_cache)
        return out

    def backward(self, d_outputs):
        """[dL/dx, dL/dy] from dL/doutputs."""
        x3, y3, xm_shape, ym_shape, ax, ay, norm_cache = cached(self)
        self._gradients = []
        d3 = np.asarray(d_outputs, self.dtype).reshape(x3.shape[0], x3.shape[1], y3.shape[2])
        dx = np.moveaxis((d3 @ np.swapaxes(y3, 1, 2)).reshape(xm_shape), -1, ax)
        dy = np.moveaxis((np.swapaxes(x3, 1, 2) @ d3).reshape(ym_shape), 1, ay)
        if norm_cache is not None:
            xn, inv_x, clip_x, yn, inv_y, clip_y = norm_cache
            dx = _l2_normalize_backward(dx, xn, inv_x, clip_x, ax)
            dy = _l2_normalize_backward(dy, yn, inv_y, clip_y, ay)
        return [dx, dy]

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise RnnkitValueError(f"Dot takes a list of 2 input shapes, got {describe(input_shape)}")
        shape1, shape2 = list(input_shape[0]), list(input_shape[1])
        ax, ay = self._resolved_axes([shape1, shape2])
        shape1.pop(ax)
        shape2.pop(ay)
        out = shape1 + shape2[1:]
        return tuple(out + [1] if len(out) == 1 else out)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Keras's functional form: ``Dot(axes, normalize, **kwargs)(inputs)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
