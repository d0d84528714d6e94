"""Compiled twins of rnnkit/ops/vector_ops.py (C in vector_ops.h), with the same signatures and results.

Anything the C does not take (other dtypes, non-contiguous or read-only arrays, mismatched
lengths) goes to the reference. A long Adam update runs in disjoint ranges on rnnkit's threads
(threads.run_rows): elementwise, so bit for bit the same in any split.
"""
import numpy as np

from ..ops import vector_ops as reference
from ..ops.vector_ops import check_row_ids
from . import threads
from .kernels import _SUFFIX, _addr, _fn

#: values of a buffer from which the Adam update is split over threads (memory-bound: a few MiB)
SPLIT_VALUES = 1 << 18
#: a range of the split starts at a multiple of this many values (whole cache lines)
_ALIGN = 64


def _flat(array, dtype):
    """Whether ``array`` is a writable, aligned, C-contiguous 1-D array of ``dtype``."""
    return (type(array) is np.ndarray and array.dtype == dtype and array.ndim == 1 and array.flags.c_contiguous
            and array.flags.aligned and array.flags.writeable)


def sum_of_squares(x):
    """Compiled :func:`rnnkit.ops.vector_ops.sum_of_squares` (its own fixed order of additions)."""
    if type(x) is not np.ndarray or x.dtype not in _SUFFIX or not x.flags.c_contiguous or x.size == 0:
        return reference.sum_of_squares(x)
    return float(_fn("rk_sum_squares", x.dtype)(x.size, _addr(x)))


def adam_update(g, w, m, v, v_hat, alpha, c1, c2, epsilon, work):
    """Compiled :func:`rnnkit.ops.vector_ops.adam_update` (the same values, bit for bit)."""
    dtype = w.dtype
    arrays = (g, w, m, v) if v_hat is None else (g, w, m, v, v_hat)
    if dtype not in _SUFFIX or not all(_flat(a, dtype) and a.size == w.size for a in arrays):
        return reference.adam_update(g, w, m, v, v_hat, alpha, c1, c2, epsilon, work)
    adam = _fn("rk_adam", dtype)
    size = dtype.itemsize
    at = [_addr(a) for a in arrays] + ([None] if v_hat is None else [])
    scalars = (float(alpha), float(c1), float(c2), float(epsilon))

    def run(lo, hi):
        adam(hi - lo, *[None if a is None else a + lo * size for a in at], *scalars)

    parts = 1 if w.size < SPLIT_VALUES else min(threads.usable_threads(), w.size // SPLIT_VALUES + 1)
    threads.run_rows(run, w.size, parts, _ALIGN)


def scatter_add_rows(dst, ids, rows):
    """Compiled :func:`rnnkit.ops.vector_ops.scatter_add_rows` (in order, as np.add.at)."""
    dtype = dst.dtype
    if (dtype not in _SUFFIX or dst.ndim != 2 or not dst.flags.c_contiguous or not dst.flags.writeable
            or type(ids) is not np.ndarray or ids.dtype != np.int64 or ids.ndim != 1 or not ids.flags.c_contiguous
            or type(rows) is not np.ndarray or rows.dtype != dtype or rows.shape != (ids.size, dst.shape[1])
            or not rows.flags.c_contiguous):
        return reference.scatter_add_rows(dst, ids, rows)
    check_row_ids(ids, dst.shape[0])  # C indexes without checking
    _fn("rk_scatter_add_rows", dtype)(ids.size, dst.shape[1], _addr(ids), _addr(rows), _addr(dst))


#: reference function -> compiled twin (rnnkit._fast.overrides)
TWINS = {reference.sum_of_squares: sum_of_squares, reference.adam_update: adam_update,
         reference.scatter_add_rows: scatter_add_rows}
