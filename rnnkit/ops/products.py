"""The matrix products of the layers' whole-batch work (Dense): the reference, and how a layer calls it.

    matmul(a, b) = a @ b      a (..., K), b (K, N) -> (..., N)

:func:`matmul2d` is the reference (NumPy's ``@``, so NumPy's BLAS); the compiled path offers a twin
(:func:`rnnkit._fast.kernels.matmul`: rnnkit's own GEMM on rnnkit's threads, which keeps BLAS's
worker threads from spinning on the cores the recurrent loops run on), picked the way a cell picks
its ops: the caller asks :func:`rnnkit.cells.dispatch.active_function` (this package never imports it).
"""
import numpy as np


def matmul2d(a, b, out=None):
    """a (M, K) @ b (K, N) -> (M, N), into ``out`` (a C-contiguous (M, N) array) when given."""
    return np.matmul(a, b, out=out)


def matmul(a, b, out=None, product=matmul2d):
    """a (..., K) @ b (K, N) -> (..., N): the leading axes of ``a`` folded into rows for one 2-D
    ``product`` (:func:`matmul2d` or the compiled twin a caller got for it); ``out`` as for
    :func:`matmul2d`, of the 2-D shape."""
    if a.ndim == 2:
        return product(a, b, out)
    lead = a.shape[:-1]
    return product(a.reshape(-1, a.shape[-1]), b, out).reshape(*lead, b.shape[1])
