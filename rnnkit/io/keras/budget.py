"""How many bytes of weights a model described by a file will allocate, computed before building it.

A hostile config can ask for ``LSTM(10**9)``; building that would allocate before any
weight is read. So loaders first compute every layer's weight shapes from its arguments and
the input shape (nothing is allocated) and compare the total with the bytes the file holds.
Layers of classes listed here are sized exactly; a layer class without a rule here is sized
by its own ``weight_shapes(input_shape)`` method when it has one, otherwise it is reported as
unsized and the loader checks it right after building it.
"""
import math

from ...cells.stacked import StackedRNNCells
from ...layers.rnn import RNN

_WEIGHTLESS = ("Dropout", "Masking", "Flatten", "Activation", "InputLayer")


def _cell_shapes(cell, input_dim):
    if isinstance(cell, StackedRNNCells):
        shapes = []
        for sub in cell.cells:
            shapes += _cell_shapes(sub, input_dim)
            input_dim = sub.output_size
        return shapes
    return [shape for _, shape in cell.weight_shapes(int(input_dim))]


def layer_weight_shapes(layer, input_shape):
    """The shapes of the weights ``layer`` would create for ``input_shape``, or None when unknown."""
    kind = type(layer).__name__
    features = input_shape[-1]
    if kind in _WEIGHTLESS:
        return []
    if kind == "Bidirectional":
        return layer_weight_shapes(layer.forward_layer, input_shape) + \
            layer_weight_shapes(layer.backward_layer, input_shape)
    if kind == "TimeDistributed":
        return layer_weight_shapes(layer.layer, (input_shape[0], *input_shape[2:]))
    if features is None:
        return None
    if isinstance(layer, RNN):
        return _cell_shapes(layer.cell, features)
    if kind == "Dense":
        return [(features, layer.units)] + ([(layer.units,)] if layer.use_bias else [])
    if kind == "Embedding":
        return [(layer.input_dim, layer.output_dim)]
    own = getattr(layer, "weight_shapes", None)
    return [tuple(s) for s in own(tuple(input_shape))] if callable(own) else None


def weight_bytes(layers, input_shape):
    """``(bytes, arrays, unsized)``: the weight bytes and weight count of a chain of ``layers`` fed
    ``input_shape``, and the layers whose size could not be computed in advance."""
    total, arrays, unsized, shape = 0, 0, [], tuple(input_shape)
    for layer in layers:
        shapes = layer_weight_shapes(layer, shape)
        if shapes is None:
            unsized.append(layer)
        else:
            total += sum(math.prod(s) for s in shapes) * layer.dtype.itemsize
            arrays += len(shapes)
        shape = layer.compute_output_shape(shape)
        if isinstance(shape, list):  # return_state: the chain continues with the output
            shape = shape[0]
    return total, arrays, unsized
