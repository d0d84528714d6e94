"""LayerNormalization and BatchNormalization (inference) as ONNX primitive ops.

    LayerNormalization:  x̂ = (x - mean_A x) / sqrt(var_A x + ε),  y = γ x̂ + β   (A: the normalized axes,
                         any set of them, so no use of ONNX's trailing-axes operator); rms_scaling:
                         y = γ x / sqrt(var_A x + ε)
    BatchNormalization:  y = γ (x - moving_mean) / sqrt(moving_variance + ε) + β   (inference statistics)

Masks pass through unchanged, as in the layers.
"""
import numpy as np


def _broadcast_const(g, layer, value, axes, rank, hint):
    """A weight of the normalized axes' shape, reshaped to broadcast against a rank-``rank`` input."""
    shape = [1] * rank
    for axis, size in zip(axes, value.shape):
        shape[axis] = size
    return g.const(np.asarray(value).reshape(shape), f"{layer.name}/{hint}")


def convert_layer_normalization(ctx, layer, inputs, masks):
    g = ctx.g
    x = inputs[0]
    rank = len(x.shape)
    axes = sorted(a % rank for a in (layer.axis if isinstance(layer.axis, list) else [layer.axis]))
    centered = g.sub(x, g.reduce_mean(x, axes, True, "mean"), "centered")
    variance = g.reduce_mean(g.mul(centered, centered), axes, True, "variance")
    inverse = g.unary("Reciprocal", g.unary("Sqrt", g.add(variance, g.scalar(layer.epsilon, x.dtype))))
    y = g.mul(x if layer.rms_scaling else centered, inverse, "normalized")
    if layer.scale or layer.rms_scaling:
        y = g.mul(y, _broadcast_const(g, layer, layer.gamma.value, axes, rank, "gamma"))
    if layer.center and not layer.rms_scaling:
        y = g.add(y, _broadcast_const(g, layer, layer.beta.value, axes, rank, "beta"))
    return [y], [masks[0]]


def convert_batch_normalization(ctx, layer, inputs, masks):
    g = ctx.g
    x = inputs[0]
    rank = len(x.shape)
    axis = [layer.axis % rank]
    centered = g.sub(x, _broadcast_const(g, layer, layer.moving_mean.value, axis, rank, "moving_mean"))
    inverse = 1.0 / np.sqrt(layer.moving_variance.value + layer.epsilon)
    y = g.mul(centered, _broadcast_const(g, layer, inverse.astype(layer.moving_variance.value.dtype), axis, rank,
                                         "inverse_stddev"))
    if layer.scale:
        y = g.mul(y, _broadcast_const(g, layer, layer.gamma.value, axis, rank, "gamma"))
    if layer.center:
        y = g.add(y, _broadcast_const(g, layer, layer.beta.value, axis, rank, "beta"))
    return [y], [masks[0]]


CONVERTERS = {"LayerNormalization": convert_layer_normalization,
              "BatchNormalization": convert_batch_normalization}
