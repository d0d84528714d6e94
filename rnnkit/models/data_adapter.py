"""The arrays given to ``fit``, ``evaluate`` and ``predict``, as flat lists matching a model's inputs
and outputs: checked once, here, before any training starts.

``x`` is one array for a one-input model; for several inputs, a list in the order of
``model.inputs`` or a dict keyed by input name. ``y`` likewise for the outputs (output names:
``model.output_names``). Every array must have the same number of samples (first axis).
"""
import numbers

import numpy as np

from .._validate import describe
from ..data_checks import as_array, check_finite, check_same_length
from ..errors import RnnkitValueError


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
        if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], np.ndarray):
            return [value[0]]
        return [value]
    if not isinstance(value, (list, tuple)) or len(value) != len(names):
        raise RnnkitValueError(
            f"{name} must be a list of {len(names)} arrays (the model's {what}s {names}, in that order) or a dict "
            f"keyed by those names, got {describe(value)}")
    return list(value)


def _label(name, names, index):
    return name if len(names) == 1 else f"{name}[{names[index]!r}]"


def check_x(model, x, name="x"):
    """The model's inputs from ``x``: arrays of real numbers, finite, with one common length."""
    names = model.input_names
    arrays = [check_finite(_label(name, names, i), as_array(_label(name, names, i), value))
              for i, value in enumerate(flat_arrays(name, x, names, "input"))]
    for i, array in enumerate(arrays[1:], 1):
        check_same_length(arrays[0], array, _label(name, names, 0), _label(name, names, i))
    return arrays


def check_y(model, y, name="y"):
    if y is None:
        raise RnnkitValueError(f"{name} must be given for training or evaluation, got None")
    names = model.output_names
    return [check_finite(_label(name, names, i), as_array(_label(name, names, i), value))
            for i, value in enumerate(flat_arrays(name, y, names, "output"))]


def check_xy(model, x, y, x_name="x", y_name="y"):
    """Checked flat lists (xs, ys) with every array of the same length, at least one sample."""
    if y is None:
        raise RnnkitValueError(f"{y_name} must be given for training or evaluation, got None")
    xs, ys = check_x(model, x, x_name), check_y(model, y, y_name)
    for i, array in enumerate(ys):
        check_same_length(xs[0], array, _label(x_name, model.input_names, 0), _label(y_name, model.output_names, i))
    if len(xs[0]) == 0:
        raise RnnkitValueError(f"{x_name} must hold at least one sample, got {describe(xs[0])}")
    return xs, ys


def take(arrays, index):
    """Rows ``index`` (a slice or an index array) of every array."""
    return [array[index] for array in arrays]


def validation_arrays(model, xs, ys, validation_split, validation_data):
    """(training xs, training ys, (validation xs, validation ys) or None); Keras takes the last samples."""
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise RnnkitValueError(
                f"validation_data must be a tuple (x_val, y_val), got {describe(validation_data)}")
        return xs, ys, check_xy(model, *validation_data, x_name="validation_data[0]", y_name="validation_data[1]")
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or \
            not 0.0 <= validation_split < 1.0:
        raise RnnkitValueError(f"validation_split must be a number in [0, 1), got {describe(validation_split)}")
    if validation_split == 0.0:
        return xs, ys, None
    count = len(xs[0])
    split = int(count * (1.0 - validation_split))
    if split == 0 or split == count:
        raise RnnkitValueError(
            f"validation_split={validation_split} leaves an empty training or validation set for {count} samples")
    head, tail = slice(0, split), slice(split, count)
    return take(xs, head), take(ys, head), (take(xs, tail), take(ys, tail))


def check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        raise RnnkitValueError(f"batch_size must be a positive integer, got {describe(batch_size)}")
    return int(batch_size)
