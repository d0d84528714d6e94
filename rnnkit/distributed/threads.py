"""Thread counts of a rank: one BLAS thread (and one rnnkit thread) per rank unless told otherwise.

Several ranks on one machine each running a BLAS with a thread per core would oversubscribe the
cores (2 ranks x 8 threads on 8 cores): every rank then waits for the slowest thread of every
matrix product. Data parallelism already gives each core its own work, so a rank gets one thread.
"""
import os

from ..errors import RnnkitValueError

#: environment variables read by BLAS/OpenMP libraries (when they load) and by rnnkit
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "RNNKIT_NUM_THREADS")

# OpenBLAS (NumPy's wheels: scipy_openblas, 64-bit ints), MKL and BLIS setters, as exported by the libraries
_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads",
            "MKL_Set_Num_Threads", "bli_thread_set_num_threads")


def default_threads_per_rank():
    """``RNNKIT_NUM_THREADS`` when set (a positive integer), else 1."""
    text = os.environ.get("RNNKIT_NUM_THREADS", "").strip()
    if not text:
        return 1
    if not text.isdigit() or int(text) < 1:
        raise RnnkitValueError(f"RNNKIT_NUM_THREADS must be a positive integer, got {text!r}")
    return int(text)


def _set_loaded_blas_threads(count):
    """Tell the BLAS this process has already loaded (NumPy's) to use ``count`` threads; returns whether
    one took it. Libraries read the variables only when they load, and NumPy is loaded before any
    rnnkit code runs, so the setting must also be made at run time (as threadpoolctl does)."""
    import ctypes

    from .._fast.blas import _function

    setter, _ = _function(_SETTERS, None)
    if setter is None:
        return False
    setter.argtypes = [ctypes.c_int]
    setter(int(count))
    return True


def pin_threads(count):
    """Use at most ``count`` threads in BLAS, OpenMP and rnnkit's native loops in this process (and in
    the processes it starts). Returns ``count``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise RnnkitValueError(f"threads per rank must be a positive integer, got {count!r}")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(count)
    _set_loaded_blas_threads(count)
    import rnnkit

    set_num_threads = getattr(rnnkit, "set_num_threads", None)  # rnnkit's own native loops, where present
    if set_num_threads is not None:
        set_num_threads(count)
    return count
