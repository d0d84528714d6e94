"""Non-recurrent layers as ONNX nodes: Dense, Embedding, Dropout, Masking, TimeDistributed,
Activation, Flatten, Reshape, Permute and RepeatVector.

Each converter takes ``(ctx, layer, inputs, masks, **call_kwargs)`` (lists of
:class:`~.graph.Value`, masks as (B, T) bool Values or None) and returns ``(outputs, masks)``,
following the layer's own ``call`` and ``compute_mask``.
"""
import numpy as np

from ...layers.dense import Dense
from ...layers.reshaping import Activation
from . import activations


def convert_dense(ctx, layer, inputs, masks):
    g = ctx.g
    y = g.matmul(inputs[0], g.const(layer.kernel.value, f"{layer.name}/kernel"), layer.name)
    if layer.use_bias:
        y = g.add(y, g.const(layer.bias.value, f"{layer.name}/bias"))
    return [activations.apply(g, y, layer.activation, f"{layer.name}_activation")], [masks[0]]


def convert_embedding(ctx, layer, inputs, masks):
    g = ctx.g
    ids = inputs[0]
    if ids.dtype.kind != "i":
        ids = g.cast(ids, np.int64, "ids")
    table = g.const(layer.embeddings.value, f"{layer.name}/embeddings")
    y = g.op("Gather", [table, ids], tuple(ids.shape) + (layer.output_dim,), layer.embeddings.value.dtype,
             layer.name, axis=0)
    mask = None
    if layer.mask_zero:
        mask = g.unary("Not", g.op("Equal", [ids, g.scalar(0, ids.dtype)], ids.shape, np.bool_), "mask")
    return [y], [mask]


def convert_dropout(ctx, layer, inputs, masks):
    return [inputs[0]], [masks[0]]  # inference: the identity


def convert_masking(ctx, layer, inputs, masks):
    g = ctx.g
    x = inputs[0]
    differs = g.unary("Not", g.op("Equal", [x, g.scalar(layer.mask_value, x.dtype)], x.shape, np.bool_))
    keep = g.op("Greater", [g.reduce_sum(g.cast(differs, x.dtype), [-1], False), g.scalar(0.0, x.dtype)],
                x.shape[:-1], np.bool_, "keep")
    if masks[0] is not None:
        keep = g.op("And", [keep, masks[0]], keep.shape, np.bool_, "keep")
    y = g.mul(x, g.unsqueeze(g.cast(keep, x.dtype), [-1]), layer.name)
    return [y], [keep]


def convert_activation(ctx, layer, inputs, masks):
    return [activations.apply(ctx.g, inputs[0], layer.activation, layer.name)], [masks[0]]


def convert_flatten(ctx, layer, inputs, masks):
    x = inputs[0]
    size = None if None in x.shape[1:] else int(np.prod(x.shape[1:]))
    return [ctx.g.op("Flatten", [x], (x.shape[0], size), x.dtype, layer.name, axis=1)], [None]


def convert_time_distributed(ctx, layer, inputs, masks):
    """(B, T, ...) -> (B·T, ...) -> the inner layer -> (B, T, ...)."""
    g = ctx.g
    x = inputs[0]
    folded_dims = g.concat([g.ints([-1]), g.shape_of(x, 2, len(x.shape))], 0)
    folded = g.reshape(x, folded_dims, (None,) + tuple(x.shape[2:]), "folded")
    outputs, _ = ctx.convert(layer.layer, [folded], [None])
    y = outputs[0]
    dims = g.concat([g.shape_of(x, 0, 2), g.shape_of(y, 1, len(y.shape))], 0)
    return [g.reshape(y, dims, tuple(x.shape[:2]) + tuple(y.shape[1:]), layer.name)], [masks[0]]


def convert_reshape(ctx, layer, inputs, masks):
    x = inputs[0]
    target = tuple(layer.compute_output_shape(x.shape)[1:])
    dims = ctx.g.ints([0] + [-1 if d is None else d for d in target])  # 0: keep the batch axis
    return [ctx.g.reshape(x, dims, (x.shape[0],) + target, layer.name)], [None]


def convert_permute(ctx, layer, inputs, masks):
    return [ctx.g.transpose(inputs[0], (0,) + tuple(layer.dims), layer.name)], [None]


def convert_repeat_vector(ctx, layer, inputs, masks):
    g = ctx.g
    x = inputs[0]
    repeated = g.op("Expand", [g.unsqueeze(x, [1]), g.ints([1, layer.n, 1])], (x.shape[0], layer.n, x.shape[1]),
                    x.dtype, layer.name)
    return [repeated], [None]


def check(layer, where):
    """The named error this layer's export would raise (an activation ONNX lacks), before building anything."""
    if isinstance(layer, (Dense, Activation)):
        activations.check_elementwise(layer.activation, where)


CONVERTERS = {"Dense": convert_dense, "Embedding": convert_embedding, "Dropout": convert_dropout,
              "Masking": convert_masking, "Activation": convert_activation, "Flatten": convert_flatten,
              "TimeDistributed": convert_time_distributed, "Reshape": convert_reshape, "Permute": convert_permute,
              "RepeatVector": convert_repeat_vector}
