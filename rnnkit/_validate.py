"""Argument checks shared by every public entry point.

Each check raises an rnnkit error that names the argument, shows the value it
received (or its shape/dtype for arrays) and says what was expected.
"""
import numbers
import os

import numpy as np

from .errors import RnnkitTypeError, RnnkitValueError


def describe(value):
    """A short description of ``value`` for error messages (arrays by shape and dtype)."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def rectangular(name, value):
    """``np.asarray(value)``, or a named error for nested lists NumPy cannot make an array of (ragged)."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError):
        raise RnnkitValueError(f"{name} must be a rectangular array (nested lists of equal lengths), "
                               f"got {describe(value)}") from None


def float_array(name, value, ndim=None, dtype=None):
    """Return ``value`` as a floating NumPy array, refusing integers, bools and wrong ranks.

    ``ndim`` may be an int or a tuple of allowed ranks; ``dtype`` (if given) is the
    float dtype to cast to.
    """
    if isinstance(value, (list, tuple)):
        value = rectangular(name, value)
    if not isinstance(value, np.ndarray):
        raise RnnkitTypeError(f"{name} must be a NumPy array of floats, got {describe(value)}")
    if not np.issubdtype(value.dtype, np.floating):
        raise RnnkitTypeError(
            f"{name} must have a floating dtype (float32 or float64), got {describe(value)}; "
            f"cast it with .astype('float32')"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise RnnkitValueError(f"{name} must have rank {want}, got {describe(value)}")
    if dtype is not None and value.dtype != dtype:
        value = value.astype(dtype)
    return value


def positive_int(name, value):
    """Return ``value`` as an int if it is an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise RnnkitValueError(f"{name} must be a positive integer, got {describe(value)}")
    return int(value)


def optional_positive_float(name, value):
    """Return ``value`` as a float > 0, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise RnnkitValueError(f"{name} must be a positive number or None, got {describe(value)}")
    return float(value)


def rate(name, value):
    """Return ``value`` as a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise RnnkitValueError(f"{name} must be a number in [0, 1), got {describe(value)}")
    return float(value)


def choice(name, value, allowed):
    """Return ``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise RnnkitValueError(f"{name} must be one of {sorted(map(repr, allowed))}, got {describe(value)}")
    return value


def float_dtype(name, value):
    """Return ``value`` as ``np.float32`` or ``np.float64``."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise RnnkitTypeError(f"{name} must be a float dtype such as 'float32', got {describe(value)}") from None
    if dtype not in (np.float32, np.float64):
        raise RnnkitTypeError(f"{name} must be float32 or float64, got {describe(value)}")
    return dtype


def mask_array(name, mask, batch, time):
    """Return ``mask`` as a boolean (batch, time) array, or None."""
    if mask is None:
        return None
    mask = rectangular(name, mask)
    if mask.shape != (batch, time):
        raise RnnkitValueError(f"{name} must have shape (batch, time) = {(batch, time)}, got {describe(mask)}")
    return mask.astype(bool, copy=False)


def path_text(name, value):
    """Return ``value`` (str, bytes or os.PathLike) as a non-empty str path."""
    try:
        text = os.fspath(value)
    except TypeError:
        raise RnnkitTypeError(f"{name} must be a str or os.PathLike, got {describe(value)}") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text:
        raise RnnkitValueError(f"{name} must be a non-empty path, got ''")
    return text
