"""How many threads rnnkit's compiled loops may use: ``rnnkit.set_num_threads`` / ``get_num_threads``.

Like ``torch.set_num_threads``: a process-wide upper bound for one call of the native loops;
each call then takes what its work size is worth (rnnkit/_fast/threads.py says the rule). It
never changes BLAS's own thread setting; by default it follows it (at most BLAS's thread count),
so limiting BLAS with threadpoolctl or ``OPENBLAS_NUM_THREADS`` limits rnnkit too.
"""
import os

from .errors import RnnkitValueError

_override = None
_blas_count = None  # a callable: BLAS's current thread count (read, never set), once found


def set_num_threads(n):
    """Use at most ``n`` threads in each call of rnnkit's native loops (``None``: back to the default).

    Overrides ``RNNKIT_NUM_THREADS`` and the default (the cores this process may use, at most BLAS's
    own thread count). BLAS's setting itself is never changed. Process-wide, like
    ``torch.set_num_threads``.
    """
    global _override
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise RnnkitValueError(f"set_num_threads: n must be a positive int or None, got {n!r}")
    _override = n


def get_num_threads():
    """The most threads one call of rnnkit's native loops may use (see :func:`set_num_threads`)."""
    if _override is not None:
        return _override
    env = os.environ.get("RNNKIT_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise RnnkitValueError(f"RNNKIT_NUM_THREADS must be a positive integer, got {env!r}")
        return value
    return default_threads()


def available_cores():
    """Cores this process may run on (its CPU affinity where the OS tells, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads():
    """The cores this process may use, at most BLAS's current thread count (when it can be read)."""
    cores = available_cores()
    blas = _blas_threads()
    return max(1, min(cores, blas) if blas else cores)


def _blas_threads():
    global _blas_count
    if _blas_count is None:
        from ._fast import blas
        _blas_count = blas.thread_count_function() or (lambda: 0)
    try:
        return int(_blas_count())
    except Exception:  # noqa: BLE001 - a BLAS without the call: no limit from it
        return 0
