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
from .errors import KerasFileError

# HDF5 bookkeeping per stored array and per file, on top of the array bytes themselves.
_H5_BYTES_PER_ARRAY = 16 * 2**10
_H5_BYTES_FIXED = 2**20
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
    """The shapes of the weights ``layer`` would create for ``input_shape``, or None when unknown
    (an unknown input shape, or several inputs, size nothing in advance)."""
    kind = type(layer).__name__
    if kind in _WEIGHTLESS:
        return []
    if not input_shape or isinstance(input_shape[0], (list, tuple)):
        return None
    features = input_shape[-1]
    if kind == "Bidirectional":
        return layer_weight_shapes(layer.forward_layer, input_shape) + \
            layer_weight_shapes(layer.backward_layer, input_shape)
    if kind == "TimeDistributed":
        return layer_weight_shapes(layer.layer, (input_shape[0], *input_shape[2:]))
    if kind == "Embedding":
        return [(layer.input_dim, layer.output_dim)]
    if features is None:
        return None
    if isinstance(layer, RNN):
        return _cell_shapes(layer.cell, features)
    if kind == "Dense":
        return [(features, layer.units)] + ([(layer.units,)] if layer.use_bias else [])
    own = getattr(layer, "weight_shapes", None)
    return [tuple(s) for s in own(tuple(input_shape))] if callable(own) else None


def chain_input_shapes(layers, input_shape):
    """``[(layer, its input shape)]`` for a chain of ``layers`` fed ``input_shape`` (nothing is built)."""
    pairs, shape = [], tuple(input_shape)
    for layer in layers:
        pairs.append((layer, shape))
        shape = layer.compute_output_shape(shape)
        if isinstance(shape, list):  # return_state: the chain continues with the output
            shape = shape[0]
    return pairs


def weight_bytes(pairs):
    """``(bytes, arrays, unsized)``: the weight bytes and weight count of the ``(layer, input shape)``
    pairs, and the layers whose size could not be computed in advance."""
    total, arrays, unsized = 0, 0, []
    for layer, shape in pairs:
        shapes = layer_weight_shapes(layer, shape)
        if shapes is None:
            unsized.append(layer)
        else:
            total += sum(math.prod(s) for s in shapes) * layer.dtype.itemsize
            arrays += len(shapes)
    return total, arrays, unsized


def check_weight_budget(filepath, member_bytes, what, read_whole=True):
    """A ``check_size(pairs)`` callback for :func:`.model_config.model_from_keras`, given the model's
    ``(layer, input shape)`` pairs before anything is built: the weights the config describes must fit
    in the ``member_bytes`` the file stores; and, when the member is to be read into memory whole
    (``read_whole``), it must not be far larger than those weights."""
    def check(pairs):
        layers = [layer for layer, _ in pairs]
        needed, arrays, unsized = weight_bytes(pairs)
        if needed > member_bytes:
            raise KerasFileError(filepath, f"its config describes {needed} bytes of weights but {what} holds only "
                                           f"{member_bytes} bytes")
        if read_whole and not unsized:
            # weights + up to three optimizer slots each, their groups, and the file's own bookkeeping
            limit = 4 * needed + _H5_BYTES_PER_ARRAY * (4 * arrays + 2 * len(layers) + 8) + _H5_BYTES_FIXED
            if member_bytes > limit:
                raise KerasFileError(filepath, f"{what} declares {member_bytes} bytes, far more than the "
                                               f"{needed} bytes of weights and optimizer state its config describes")
    return check


def check_built_size(filepath, model, member_bytes, what):
    """After building: the weights must fit in the file (this covers the layers :func:`weight_bytes` cannot size)."""
    if not model.built:
        raise KerasFileError(filepath, "the model config gives no input shape, so its weights cannot be sized "
                                       "or loaded")
    needed = sum(v.value.nbytes for v in model.weights)
    if needed > member_bytes:
        raise KerasFileError(filepath, f"the model needs {needed} bytes of weights but {what} holds only "
                                       f"{member_bytes} bytes")
