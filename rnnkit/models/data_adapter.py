"""The arrays given to ``fit``, ``evaluate`` and ``predict``, as flat lists matching a model's inputs
and outputs: checked, converted and cast once, here, before any training starts.

``x`` is one array for a one-input model; for several inputs, a list in the order of
``model.inputs`` or a dict keyed by input name. ``y`` likewise for the outputs (output names:
``model.output_names``), and ``sample_weight`` likewise, or one per-sample array for every output.
Every array must have the same number of samples (first axis).

What Keras accepts is accepted: Python lists, torch tensors and anything else with ``__array__``
or ``.numpy()`` (converted to NumPy arrays); boolean inputs (one-hot text) and integer inputs are
cast to the input's float dtype, as Keras casts every input to its ``Input``'s dtype, except that
integer ids stay integers where every layer reading that input takes ids (an ``Embedding``).

Streams (generators, datasets, ...) are :mod:`rnnkit.models.data_streams`'s; the batches they
yield are checked here too, one at a time (:func:`check_batch`).
"""
import numbers

import numpy as np

from .._validate import describe
from ..data_checks import as_array, check_finite, check_same_length
from ..errors import RnnkitError, RnnkitValueError
from . import class_weights


def to_numpy(value):
    """``value`` as a NumPy array where it is a tensor of another library (torch: detached, on the CPU;
    TensorFlow: ``.numpy()``) or an rnnkit ``BatchArray``; anything else is returned unchanged."""
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray) if type(value) is not np.ndarray else value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor (requires_grad or not)
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy") and callable(value.numpy) and hasattr(value, "shape"):  # a TensorFlow tensor
        return np.asarray(value.numpy())
    return value


def flat_arrays(name, value, names, what):
    """``value`` as a list with one entry per name in ``names`` (the model's inputs or outputs)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        missing = [key for key in names if key not in value]
        if unknown or missing:
            raise RnnkitValueError(
                f"{name} must be a dict with the model's {what} names {names} as keys"
                + (f"; unknown {unknown}" if unknown else "") + (f"; missing {missing}" if missing else ""))
        return [value[key] for key in names]
    if len(names) == 1:
        if isinstance(value, (list, tuple)) and len(value) == 1 and _is_array_like(value[0]):
            return [value[0]]
        return [value]
    if not isinstance(value, (list, tuple)) or len(value) != len(names):
        raise RnnkitValueError(
            f"{name} must be a list of {len(names)} arrays (the model's {what}s {names}, in that order) or a dict "
            f"keyed by those names, got {describe(value)}")
    return list(value)


def _is_array_like(value):
    return isinstance(value, np.ndarray) or hasattr(value, "__array__") or hasattr(value, "detach")


def _label(name, names, index):
    return name if len(names) == 1 else f"{name}[{names[index]!r}]"


def _consumers(model, tensor):
    graph = getattr(model, "_graph", None)
    return [node.layer for node in (graph.nodes if graph is not None else [])
            if any(t is tensor for t in node.input_tensors)]


def _takes_ids(layer):
    """Whether ``layer`` reads integer ids (an Embedding, or a nested model whose every reader does)."""
    from ..layers.embedding import Embedding
    if isinstance(layer, Embedding):
        return True
    inputs = getattr(layer, "inputs", None)
    if inputs and getattr(layer, "_graph", None) is not None:
        readers = _consumers(layer, inputs[0])
        return bool(readers) and all(_takes_ids(reader) for reader in readers)
    return False


def cast_input(model, index, array):
    """Keras casts every input to its ``Input``'s dtype: booleans (and integers) become floats of the
    input's float dtype; integer ids stay integers where every reader of the input is an Embedding."""
    if array.dtype != bool and not np.issubdtype(array.dtype, np.integer):
        return array
    tensor = model.inputs[index] if getattr(model, "inputs", None) else None
    dtype = np.dtype(getattr(tensor, "dtype", None) or "float32")
    if not np.issubdtype(dtype, np.floating):
        return array.astype(dtype) if array.dtype == bool else array
    if np.issubdtype(array.dtype, np.integer) and tensor is not None:
        readers = _consumers(model, tensor)
        if readers and all(_takes_ids(reader) for reader in readers):
            return array
    elif np.issubdtype(array.dtype, np.integer) and tensor is None:
        return array  # a Sequential not built yet: its first layer decides on the first call
    return array.astype(dtype)


def check_x(model, x, name="x"):
    """The model's inputs from ``x``: arrays of real numbers, finite, with one common length, cast as
    Keras casts them (:func:`cast_input`)."""
    if x is None:
        raise RnnkitValueError(f"{name} must be given, got None")
    if type(x) is np.ndarray and x.dtype.kind == "f" and x.ndim and len(model.inputs or ()) == 1:
        return [check_finite(name, x)]  # one float array: all the checks below come to this
    names = model.input_names
    arrays = [check_finite(_label(name, names, i), as_array(_label(name, names, i), to_numpy(value)))
              for i, value in enumerate(flat_arrays(name, x, names, "input"))]
    for i, array in enumerate(arrays[1:], 1):
        check_same_length(arrays[0], array, _label(name, names, 0), _label(name, names, i))
    return arrays


def cast_inputs(model, xs):
    if len(xs) == 1 and xs[0].dtype.kind == "f":
        return xs  # floats stay as they are (cast_input)
    return [cast_input(model, i, array) for i, array in enumerate(xs)]


def check_y(model, y, name="y"):
    if y is None:
        raise RnnkitValueError(f"{name} must be given for training or evaluation, got None")
    names = model.output_names
    return [check_finite(_label(name, names, i), as_array(_label(name, names, i), to_numpy(value)))
            for i, value in enumerate(flat_arrays(name, y, names, "output"))]


def check_sample_weight(model, sample_weight, ys, name="sample_weight"):
    """One weight array (or None) per output: a list or dict by output name, or one array for every
    output (Keras: then one weight per sample, ``(N,)`` or ``(N, 1)``, when there are several outputs).

    A weight array is ``(N,)`` (one per sample), ``(N, 1)``, or for sequence outputs ``(N, T)``
    (one per time step); finite, real, N as the targets."""
    if sample_weight is None:
        return [None] * len(ys)
    names = model.output_names
    if isinstance(sample_weight, dict) or (isinstance(sample_weight, (list, tuple)) and len(names) > 1
                                           and len(sample_weight) == len(names)
                                           and not np.isscalar(sample_weight[0])):
        given = flat_arrays(name, sample_weight, names, "output")
    else:
        given = [sample_weight] * len(names)
        if len(names) > 1:
            shape = np.shape(to_numpy(sample_weight))
            if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
                raise RnnkitValueError(
                    f"{name} for a model with several outputs {names} must be one weight per sample (shape (N,)) "
                    f"or a list/dict with one array per output, got {describe(sample_weight)}")
    weights = []
    for i, (value, y) in enumerate(zip(given, ys)):
        label = _label(name, names, i)
        if value is None:
            weights.append(None)
            continue
        array = check_finite(label, as_array(label, to_numpy(value)))
        if array.dtype == bool:
            array = array.astype(np.float64)
        check_same_length(y, array, _label("y", names, i), label)
        if array.ndim > 1 and array.shape[1:] != (1,) and array.shape != np.shape(y)[:array.ndim]:
            raise RnnkitValueError(
                f"{label} must have one weight per sample (N,) or per time step {np.shape(y)[:2]}, got "
                f"{describe(array)} for targets {describe(y)}")
        weights.append(array)
    return weights


def check_targets(model, xs, y, sample_weight=None, class_weight=None, x_name="x", y_name="y",
                  sw_name="sample_weight"):
    """Checked ``(ys, sample_weights)`` for the checked inputs ``xs``: every array of the same length,
    at least one sample; ``class_weight`` (a dict) turned into per-sample weights (:mod:`class_weights`;
    the model must be built, so that its number of classes is known)."""
    ys = check_y(model, y, y_name)
    for i, array in enumerate(ys):
        check_same_length(xs[0], array, _label(x_name, model.input_names, 0), _label(y_name, model.output_names, i))
    if len(xs[0]) == 0:
        raise RnnkitValueError(f"{x_name} must hold at least one sample, got {describe(xs[0])}")
    if class_weight is not None:
        if sample_weight is not None:
            raise RnnkitValueError("class_weight and sample_weight cannot be given together (as Keras): fold the "
                                   "class weights into the sample weights")
        return ys, [class_weights.sample_weights(model, class_weight, ys[0], y_name)]
    return ys, check_sample_weight(model, sample_weight, ys, sw_name)


def _check_features(model, xs):
    """Each input's rank and last-axis size against the model's (a Sequential leaves the other sizes
    to its layers), so a stream's odd batch is named before it reaches a layer."""
    for tensor, name, array in zip(model.inputs or [], model.input_names, xs):
        shape = tensor.shape
        if len(shape) != array.ndim or (shape[-1] is not None and array.shape[-1] != shape[-1]):
            raise RnnkitValueError(f"input {name!r} must have shape {shape} (None: any size), got shape "
                                   f"{array.shape}")


def unpack_batch(batch, where):
    """Keras's ``unpack_x_y_sample_weight``: a batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``
    (a list counts as a tuple; a dict is ``x`` by input name)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) in (1, 2, 3):
        return batch + (None,) * (3 - len(batch))
    raise RnnkitValueError(
        f"{where} must be x, (x,), (x, y) or (x, y, sample_weight), got a tuple of {len(batch)} items "
        f"({describe(batch)})")


def check_batch(model, batch, where, prepare, need_y=True, class_weight=None):
    """One batch of a stream, unpacked, converted and checked: ``(xs, ys, sample_weights)``
    (``ys`` and the weights are None for prediction); ``prepare(xs)`` checks the inputs against the
    model (building a Sequential) and casts them. Errors name the batch (``where``)."""
    x, y, sample_weight = unpack_batch(batch, where)
    try:
        xs = prepare(check_x(model, x, "x"))
        _check_features(model, xs)
        if not need_y:
            if len(xs[0]) == 0:
                raise RnnkitValueError(f"x must hold at least one sample, got {describe(xs[0])}")
            return xs, None, None
        if y is None:
            raise RnnkitValueError("training and evaluation need targets: each batch must be (x, y) or "
                                   "(x, y, sample_weight), got x alone")
        ys, weights = check_targets(model, xs, y, sample_weight, class_weight)
        return xs, ys, weights
    except RnnkitError as error:
        raise type(error)(f"{where}: {error}") from None


def take(arrays, index):
    """Rows ``index`` (a slice or an index array) of every array (None stays None)."""
    return [None if array is None else array[index] for array in arrays]


def split_validation(xs, ys, weights, validation_split):
    """(training part, validation part) of the arrays, each ``(xs, ys, weights)``; Keras keeps the last
    ``validation_split`` of the samples for validation (before any shuffling)."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or \
            not 0.0 <= validation_split < 1.0:
        raise RnnkitValueError(f"validation_split must be a number in [0, 1), got {describe(validation_split)}")
    if validation_split == 0.0:
        return (xs, ys, weights), None
    count = len(xs[0])
    split = int(count * (1.0 - validation_split))
    if split == 0 or split == count:
        raise RnnkitValueError(
            f"validation_split={validation_split} leaves an empty training or validation set for {count} samples")
    head, tail = slice(0, split), slice(split, count)
    return ((take(xs, head), take(ys, head), take(weights, head)),
            (take(xs, tail), take(ys, tail), take(weights, tail)))


def check_batch_size(batch_size, name="batch_size"):
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        raise RnnkitValueError(f"{name} must be a positive integer, got {describe(batch_size)} (or None for the default)")
    return int(batch_size)


def check_shuffle(shuffle):
    """Keras's ``shuffle``: True (reshuffle the samples every pass), False, or "batch" (shuffle within
    each batch, batches in order)."""
    if isinstance(shuffle, (bool, np.bool_)):
        return bool(shuffle)
    if shuffle == "batch":
        return "batch"
    raise RnnkitValueError(f"shuffle must be True, False or 'batch', got {describe(shuffle)}")


__all__ = ["to_numpy", "flat_arrays", "check_x", "check_y", "check_targets", "check_sample_weight", "check_batch",
           "cast_inputs", "take", "split_validation", "check_batch_size", "check_shuffle"]
