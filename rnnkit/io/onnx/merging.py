"""Merge layers as ONNX: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

Each follows rnnkit's layer (Keras 3.15's semantics): inputs of lower rank get size-1 axes after the
batch axis, then broadcast; the masks enter the values of Multiply (a masked entry counts as 1, and
the output is 0 where every input is masked) and of Maximum/Minimum (the extremum of the unmasked
inputs, taken step by step as Keras does); the output mask is the OR of the input masks when every
input has one. Dot is an ``Einsum`` (optionally on L2-normalized inputs).
"""
import numpy as np

from .graph import OnnxExportError

_DOT_EPSILON = 1e-7  # Keras's epsilon: the floor of a norm when Dot normalizes


def _aligned(g, inputs):
    """Inputs with size-1 axes inserted after the batch axis up to the highest rank."""
    top = max(len(x.shape) for x in inputs)
    return [x if len(x.shape) == top else g.unsqueeze(x, list(range(1, 1 + top - len(x.shape))), "aligned")
            for x in inputs]


def _or_mask(g, masks):
    if any(m is None for m in masks):
        return None
    out = masks[0]
    for m in masks[1:]:
        out = g.op("Or", [out, m], out.shape, np.bool_, "mask")
    return out


def _value_masks(g, inputs, masks):
    """The masks as they act on the values ((B, ..., 1) bool, broadcasting), or None: as in the layer,
    inputs of different ranks drop them."""
    if all(m is None for m in masks) or len({len(x.shape) for x in inputs}) > 1:
        return [None] * len(inputs)
    return [None if m is None else g.unsqueeze(m, [-1]) for m in masks]


def _sum(g, values):
    out = values[0]
    for value in values[1:]:
        out = g.add(out, value)
    return out


def _multiply(g, inputs, masks):
    one = g.scalar(1.0, inputs[0].dtype)
    factors = [x if m is None else g.where(m, x, one, "masked_factor") for x, m in zip(inputs, masks)]
    out = factors[0]
    for factor in factors[1:]:
        out = g.mul(out, factor)
    if all(m is not None for m in masks):
        out = g.where(_or_mask(g, masks), out, g.scalar(0.0, out.dtype), "multiply")
    return out


def _extremum(g, op_type, inputs, masks):
    """Keras 3.15's order: a masked x repeats the current output; a masked output takes x; then the extremum."""
    out, out_mask = inputs[0], masks[0]
    for x, m in zip(inputs[1:], masks[1:]):
        if m is not None:
            x = g.where(m, x, out, "masked_input")
        if out_mask is not None:
            out = g.where(out_mask, out, x, "masked_output")
        out_mask = g.op("Or", [out_mask, m], out_mask.shape, np.bool_) if (m is not None
                                                                          and out_mask is not None) else None
        out = g.binary(op_type, x, out, op_type.lower())
    return out


def convert_merge(ctx, layer, inputs, masks):
    g = ctx.g
    kind = type(layer).__name__
    aligned = _aligned(g, inputs)
    value_masks = _value_masks(g, inputs, masks)
    if kind == "Add":
        out = _sum(g, aligned)
    elif kind == "Subtract":
        out = g.sub(aligned[0], aligned[1], "subtract")
    elif kind == "Average":
        out = g.mul(_sum(g, aligned), g.scalar(1.0 / len(aligned), aligned[0].dtype), "average")
    elif kind == "Multiply":
        out = _multiply(g, aligned, value_masks)
    elif kind in ("Maximum", "Minimum"):
        out = _extremum(g, "Max" if kind == "Maximum" else "Min", aligned, value_masks)
    else:
        raise OnnxExportError(f"layer {layer.name!r}: no ONNX converter for the merge layer {kind}")
    return [out], [_or_mask(g, masks)]


def convert_concatenate(ctx, layer, inputs, masks):
    g = ctx.g
    rank = len(inputs[0].shape)
    axis = layer.axis % rank
    out = g.concat(inputs, axis, layer.name)
    if all(m is None for m in masks):
        return [out], [None]
    # each input's mask spread over its shape (all True without one), joined, then any() over the last axis
    full = []
    for x, m in zip(inputs, masks):
        ones = g.op("ConstantOfShape", [g.op("Shape", [x], (rank,), np.int64)], x.shape, np.float32, "ones",
                    value=g.onnx.numpy_helper.from_array(np.ones(1, np.float32)))
        full.append(ones if m is None else g.mul(ones, g.cast(g.unsqueeze(m, [-1]), np.float32)))
    joined = g.concat(full, axis, "mask_joined")
    mask = g.op("Greater", [g.reduce_sum(joined, [-1], False), g.scalar(0.0, np.float32)], joined.shape[:-1],
                np.bool_, "mask")
    return [out], [mask]


def _l2_normalized(g, x, axis):
    """x · min(1/‖x‖, 1/ε) along ``axis`` (Keras's normalize)."""
    square_sum = g.reduce_sum(g.mul(x, x), [axis], True)
    inverse = g.binary("Min", g.unary("Reciprocal", g.unary("Sqrt", square_sum)),
                       g.scalar(1.0 / _DOT_EPSILON, x.dtype), "inverse_norm")
    return g.mul(x, inverse, "normalized")


def convert_dot(ctx, layer, inputs, masks):
    g = ctx.g
    x, y = inputs
    axes = [layer.axes] * 2 if isinstance(layer.axes, int) else list(layer.axes)
    ax, ay = axes[0] % len(x.shape), axes[1] % len(y.shape)
    if layer.normalize:
        x, y = _l2_normalized(g, x, ax), _l2_normalized(g, y, ay)
    letters = iter("cdefghijklmnopqrstuvwxyz")
    x_labels = ["b"] + [next(letters) for _ in x.shape[1:]]
    y_labels = ["b"] + [next(letters) for _ in y.shape[1:]]
    y_labels[ay] = x_labels[ax] = "a"
    out_labels = [label for label in x_labels if label != "a"] + [label for label in y_labels[1:] if label != "a"]
    shape = tuple(d for i, d in enumerate(x.shape) if i != ax) + tuple(d for i, d in enumerate(y.shape)
                                                                        if i not in (0, ay))
    out = g.op("Einsum", [x, y], shape, x.dtype, layer.name,
               equation=f"{''.join(x_labels)},{''.join(y_labels)}->{''.join(out_labels)}")
    if len(shape) == 1:
        out = g.unsqueeze(out, [1])
    return [out], [None]


CONVERTERS = {name: convert_merge for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")}
CONVERTERS.update({"Concatenate": convert_concatenate, "Dot": convert_dot})
