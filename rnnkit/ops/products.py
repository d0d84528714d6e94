"""The matrix products of the layers' whole-batch work (Dense): the reference, and how a layer calls it.

    matmul(a, b) = a @ b      a (..., K), b (K, N) -> (..., N)

:func:`matmul2d` is the reference (NumPy's ``@``, so NumPy's BLAS); the compiled path offers a twin
(:func:`rnnkit._fast.kernels.matmul`: rnnkit's own GEMM on rnnkit's threads, which keeps BLAS's
worker threads from spinning on the cores the recurrent loops run on), picked the way a cell picks
its ops (:func:`rnnkit.cells.dispatch.active_function`).
"""
import numpy as np

_active = None  # rnnkit.cells.dispatch.active_function, imported on first use (cells import ops)


def matmul2d(a, b, out=None):
    """a (M, K) @ b (K, N) -> (M, N), into ``out`` (a C-contiguous (M, N) array) when given."""
    return np.matmul(a, b, out=out)


def matmul(a, b, out=None):
    """a (..., K) @ b (K, N) -> (..., N): the leading axes of ``a`` folded into rows for one 2-D product
    (the reference or its compiled twin); ``out`` as for :func:`matmul2d`, of the 2-D shape."""
    global _active
    if _active is None:
        from ..cells.dispatch import active_function
        _active = active_function
    if a.ndim == 2:
        return _active(matmul2d)(a, b, out)
    lead = a.shape[:-1]
    return _active(matmul2d)(a.reshape(-1, a.shape[-1]), b, out).reshape(*lead, b.shape[1])
