"""Checks on the arrays handed to ``fit``, ``evaluate`` and ``predict``."""
import numpy as np

from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError


def as_array(name, value):
    """``value`` as a NumPy array of numbers (lists are converted), refusing objects and strings."""
    try:
        array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    except (ValueError, TypeError):  # ragged nested lists
        raise RnnkitValueError(f"{name} must be a rectangular array of numbers, got {describe(value)}") from None
    if array.dtype.kind not in _REAL_KINDS:  # objects, complex numbers, strings, dates, records
        raise RnnkitTypeError(f"{name} must be an array of real numbers, got {describe(value)}")
    if array.ndim == 0:
        raise RnnkitValueError(f"{name} must have a batch axis (rank >= 1), got {describe(array)}")
    return array


#: dtype kinds accepted as real numbers: bool, signed and unsigned integers, floats, and timedeltas
#: (NumPy counts them as integers)
_REAL_KINDS = frozenset("biufm")


def check_finite(name, array):
    """Refuse NaN or Inf, naming the array and the index of the first bad value."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise RnnkitValueError(
            f"{name} contains a non-finite value ({array[index].item()!r}) at index {index}; "
            f"clean or impute the data before training"
        )
    return array


def check_same_length(x, y, x_name="x", y_name="y"):
    if len(x) != len(y):
        raise RnnkitValueError(
            f"{x_name} and {y_name} must have the same number of samples, got {len(x)} and {len(y)} "
            f"({x_name} {describe(x)}, {y_name} {describe(y)})"
        )


def batch_slices(count, batch_size):
    """``slice`` objects covering ``range(count)`` in batches of ``batch_size`` (the last may be smaller)."""
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]
