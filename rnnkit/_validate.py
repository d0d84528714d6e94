"""Argument checks shared by every public entry point.

Each check raises an rnnkit error that names the argument, shows the value it
received (or its shape/dtype for arrays) and says what was expected.
"""
import inspect
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


def positive_int(name, value, allow_none=False):
    """Return ``value`` as an int if it is an integer > 0 (None stays None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise RnnkitValueError(f"{name} must be {expected}, got {describe(value)}")
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


def state_arrays(name, states, sizes, batch, dtype, where):
    """Return ``states`` as a tuple of (batch, size) arrays of ``dtype``, one per entry of ``sizes``.

    A single array is accepted when there is one size. ``where`` follows the argument's name in errors
    (e.g. ``" of layer 'lstm'"``): ``initial_state[1] of layer 'lstm' must have shape (2, 3), got ...``.
    """
    if isinstance(states, np.ndarray) and len(sizes) == 1:
        states = (states,)
    if not isinstance(states, (list, tuple)) or len(states) != len(sizes):
        raise RnnkitValueError(
            f"{name}{where} must be a list of {len(sizes)} arrays with shapes {[(batch, s) for s in sizes]}, "
            f"got {describe(states)}"
        )
    checked = []
    for i, (value, size) in enumerate(zip(states, sizes)):
        value = float_array(f"{name}[{i}]", value, ndim=2, dtype=dtype)
        if value.shape != (batch, size):
            raise RnnkitValueError(f"{name}[{i}]{where} must have shape {(batch, size)}, got {describe(value)}")
        checked.append(value)
    return tuple(checked)


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


def accepted_keywords(cls):
    """The keyword arguments ``cls(...)`` accepts, following ``**kwargs`` into the base classes'
    ``__init__``; None when some ``**kwargs`` accepts anything."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        names.update(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            names.discard("self")
            return names
    return None
