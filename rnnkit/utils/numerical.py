"""``to_categorical``: Keras's ``keras.utils.to_categorical`` (class ids to one-hot rows)."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError


def to_categorical(x, num_classes=None):
    """One-hot encode integer class ids, Keras's ``to_categorical``.

    ``out[..., k] = 1.0 if x[...] == k else 0.0``. A trailing axis of size 1 is dropped first
    (ids of shape (N, 1) give (N, C), as in Keras).

    Args:
        x: array-like of class ids in [0, num_classes) (floats are truncated to ints, as Keras does).
        num_classes: C; None or 0 means ``max(x) + 1``.

    Returns:
        A float64 array of shape ``x.shape + (C,)`` (Keras returns float64 for NumPy input too).

    Unlike Keras, a negative id or one >= num_classes is an error (Keras wraps negative ids
    around to the last classes and fails with a bare IndexError on large ones).

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]])
    """
    try:
        ids = np.array(x)
        if ids.dtype.kind not in "biuf":
            raise TypeError
        ids = ids.astype(np.int64)
    except (TypeError, ValueError):
        raise RnnkitTypeError(f"x must hold integer class ids, got {describe(x)}") from None
    shape = ids.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    ids = ids.reshape(-1)
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
                                    or num_classes < 0):
        raise RnnkitValueError(f"num_classes must be None or a non-negative integer, got {describe(num_classes)}")
    if not num_classes:
        if not ids.size:
            raise RnnkitValueError("x is empty and num_classes is None: give num_classes")
        num_classes = int(ids.max()) + 1
    bad = np.flatnonzero((ids < 0) | (ids >= num_classes))
    if bad.size:
        raise RnnkitValueError(f"x must hold class ids in [0, {num_classes}) (num_classes={num_classes}), "
                               f"got {int(ids[bad[0]])} at flat position {int(bad[0])}")
    categorical = np.zeros((ids.size, int(num_classes)))
    categorical[np.arange(ids.size), ids] = 1.0
    return categorical.reshape(shape + (int(num_classes),))


__all__ = ["to_categorical"]
