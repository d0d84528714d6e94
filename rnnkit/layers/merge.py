"""Elementwise merge layers (Keras 3): Add, Subtract, Multiply, Average, Maximum, Minimum.

Each is called on a list of arrays, ``layer([x1, x2, ...], mask=None)``. As in Keras, inputs of
different ranks are aligned by inserting axes after the batch axis (a (B, F) input meets a
(B, T, F) one as (B, 1, F)), then size-1 axes broadcast; each input's gradient is summed back to
its own shape. The output mask is the OR of the input masks (None if any input has none).
Multiply, Maximum and Minimum also use the masks on the values, exactly as Keras 3.15 does:
Multiply treats masked entries as 1 (and zeroes the output where every input is masked);
Maximum/Minimum take the extremum over the unmasked inputs only.
"""
import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from .layer_utils import cached, unbroadcast
from .multi_input import MultiInputLayer


def _elementwise_shape(shape1, shape2):
    """Keras's output shape of an elementwise op on two shapes without the batch axis (None = unknown)."""
    if shape1 is None or shape2 is None:
        return None
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return tuple(shape1)
    out = list(shape1[:-len(shape2)])
    for i, j in zip(shape1[-len(shape2):], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1 or j == 1:
            out.append(j if i == 1 else i)
        elif i != j:
            raise RnnkitValueError(f"merge inputs have incompatible shapes {tuple(shape1)} and {tuple(shape2)}")
        else:
            out.append(i)
    return tuple(out)


class Merge(MultiInputLayer):
    """Base of the elementwise merge layers; subclasses define ``_merge`` and ``_merge_backward``.

    Shapes: a list of arrays whose shapes broadcast after rank alignment -> the broadcast shape.
    """

    supports_masking = True
    min_ndim = 1

    def call(self, inputs, training=False, mask=None):
        masks = self.check_masks(mask, inputs)
        ranks = {x.ndim for x in inputs}
        top = max(ranks)
        expanded = [x.reshape(x.shape[:1] + (1,) * (top - x.ndim) + x.shape[1:]) for x in inputs]
        try:
            shape = np.broadcast_shapes(*(x.shape for x in expanded))
        except ValueError:
            raise RnnkitValueError(
                f"inputs of layer {self.name!r} ({type(self).__name__}) must have shapes that broadcast, got "
                f"{[x.shape for x in inputs]}") from None
        if masks is not None:
            # Keras reads masks from the input tensors; aligning ranks makes new tensors that carry none
            masks = None if len(ranks) > 1 else [
                None if m is None else np.broadcast_to(m[..., None], shape) for m in masks]
        out, extra = self._merge([np.broadcast_to(x, shape) for x in expanded], masks)
        self._cache = ([x.shape for x in inputs], [x.shape for x in expanded], extra)
        return out

    def backward(self, d_outputs):
        """A list of dL/dinputs[i], each of its input's shape, from dL/doutputs."""
        input_shapes, expanded_shapes, extra = cached(self)
        self._gradients = []
        grads = self._merge_backward(np.asarray(d_outputs, self.dtype), extra)
        return [unbroadcast(g, e).reshape(s) for g, e, s in zip(grads, expanded_shapes, input_shapes)]

    def _merge(self, inputs, masks):
        """(output, what backward needs) from the inputs broadcast to the output shape, and their masks."""
        raise NotImplementedError

    def _merge_backward(self, d_outputs, extra):
        """One gradient per input, of the output's shape."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        shapes = [None if s is None else tuple(s) for s in input_shape]
        out = None if shapes[0] is None else shapes[0][1:]
        for shape in shapes[1:]:
            out = _elementwise_shape(out, None if shape is None else shape[1:])
        batches = {s[0] for s in shapes if s is not None} - {None}
        batch = batches.pop() if len(batches) == 1 else None
        return None if out is None else (batch,) + out

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            raise RnnkitValueError(f"mask of layer {self.name!r} must be a list (one per input), got {describe(mask)}")
        if any(m is None for m in mask):
            return None
        out = np.asarray(mask[0], bool)
        for m in mask[1:]:
            out = out | np.asarray(m, bool)
        return out


class Add(Merge):
    """``y = x_1 + x_2 + ... + x_n`` (elementwise).

    Example:
        >>> import numpy as np
        >>> Add()([np.ones((2, 3), np.float32), np.ones((2, 3), np.float32)])[0].tolist()
        [2.0, 2.0, 2.0]
    """

    def _merge(self, inputs, masks):
        return sum(inputs[1:], inputs[0].copy()), len(inputs)

    def _merge_backward(self, d_outputs, count):
        return [d_outputs] * count


class Subtract(Merge):
    """``y = x_1 - x_2`` on exactly two inputs."""

    min_inputs = max_inputs = 2

    def _merge(self, inputs, masks):
        return inputs[0] - inputs[1], None

    def _merge_backward(self, d_outputs, extra):
        return [d_outputs, -d_outputs]


class Average(Merge):
    """``y = (x_1 + ... + x_n) / n`` (elementwise)."""

    def _merge(self, inputs, masks):
        return sum(inputs[1:], inputs[0].copy()) / len(inputs), len(inputs)

    def _merge_backward(self, d_outputs, count):
        return [d_outputs / count] * count


class Multiply(Merge):
    """``y = x_1 ⊙ x_2 ⊙ ... ⊙ x_n``; masked entries count as 1, and where every input is masked
    (when all inputs have masks) the output is 0, as Keras 3.15."""

    def _merge(self, inputs, masks):
        masks = masks or [None] * len(inputs)
        factors = [x if m is None else np.where(m, x, 1).astype(x.dtype) for x, m in zip(inputs, masks)]
        # products of the factors before and after each one: the gradient of x_i without dividing by it
        before = [np.ones_like(factors[0])]
        for f in factors[:-1]:
            before.append(before[-1] * f)
        after = [np.ones_like(factors[0])]
        for f in factors[:0:-1]:
            after.insert(0, after[0] * f)
        out = before[-1] * factors[-1]
        keep = None
        if all(m is not None for m in masks):
            keep = np.logical_or.reduce(masks)
            out = np.where(keep, out, 0).astype(out.dtype)
        return out, (before, after, masks, keep)

    def _merge_backward(self, d_outputs, extra):
        before, after, masks, keep = extra
        if keep is not None:
            d_outputs = d_outputs * keep
        return [d_outputs * b * a if m is None else d_outputs * b * a * m
                for b, a, m in zip(before, after, masks)]


class _Extremum(Merge):
    """Maximum or Minimum, following Keras 3.15's ``_apply_merge_op_and_or_mask`` step by step; the
    gradient goes to the input whose value was taken (the earlier input on ties, as TensorFlow)."""

    _better = None  # np.greater or np.less

    def _merge(self, inputs, masks):
        masks = masks or [None] * len(inputs)
        out, source, out_mask = inputs[0], np.zeros(inputs[0].shape, np.intp), masks[0]
        for i, (x, m) in enumerate(zip(inputs[1:], masks[1:]), start=1):
            x_source = np.full(x.shape, i, np.intp)
            if m is not None:  # a masked entry of x repeats the current output
                x, x_source = np.where(m, x, out), np.where(m, x_source, source)
            if out_mask is not None:  # a masked entry of the output takes x
                out, source = np.where(out_mask, out, x), np.where(out_mask, source, x_source)
            out_mask = out_mask | m if (m is not None and out_mask is not None) else None
            take = self._better(x, out)
            out, source = np.where(take, x, out), np.where(take, x_source, source)
        return np.asarray(out, self.dtype), (source, len(inputs))

    def _merge_backward(self, d_outputs, extra):
        source, count = extra
        return [np.where(source == i, d_outputs, 0).astype(d_outputs.dtype) for i in range(count)]


class Maximum(_Extremum):
    """``y = max(x_1, ..., x_n)`` elementwise, over the unmasked inputs where masks are given."""

    _better = np.greater


class Minimum(_Extremum):
    """``y = min(x_1, ..., x_n)`` elementwise, over the unmasked inputs where masks are given."""

    _better = np.less


def add(inputs, **kwargs):
    """Keras's functional form: ``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Keras's functional form: ``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Keras's functional form: ``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Keras's functional form: ``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Keras's functional form: ``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Keras's functional form: ``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)
