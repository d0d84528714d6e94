"""How many threads a call of the native loops uses, decided from its shapes, and running them.

rnnkit never changes BLAS's thread setting (in NumPy's OpenBLAS it is one process-wide number:
changing it and putting it back races with every other thread of the process, the user's own
included). Instead:

* each step's product in the C loops runs on rnnkit's own small GEMM (``step_gemm.h``), which
  never starts a thread;
* a call with enough work runs disjoint ranges of batch rows on several threads at once
  (rows never meet in a recurrent layer; the C loops take a row range), and since each row is
  computed the same way in any range, the results are bit for bit those of one thread;
* the whole-sequence products (x W for every step, dW, dU, dx) of a small call also run on the
  own GEMM on the calling thread; large ones go to NumPy's BLAS with the user's thread setting.

The rule (measurements in BENCHMARKS.md, "Thread policy"):

* a call's loops run on ``min(get_num_threads(), batch // MIN_ROWS)`` threads when their step
  products hold at least :data:`SPLIT_MACS` multiply-adds (B·T·H·G), else on the calling thread
  alone: below that, handing rows to another thread costs more than it saves, and a second
  thread that has to wait for a busy core (another process) costs far more;
* a whole-sequence product of fewer than :data:`SMALL_GEMM_MACS` multiply-adds runs on the own
  GEMM on the calling thread: OpenBLAS would wake its threads for anything over 2^18, and on a
  loaded machine each such call then waits milliseconds for a core.

``rnnkit.set_num_threads(n)`` / ``RNNKIT_NUM_THREADS=n`` set the most threads a call may use
(default: the cores this process may run on, and no more than BLAS's own thread count, so a
user who limits BLAS, e.g. with threadpoolctl or ``OPENBLAS_NUM_THREADS=1``, limits rnnkit too).
"""
import concurrent.futures
import os
import threading

from ..errors import RnnkitValueError
from ..ops.grad_mode import is_grad_enabled, no_grad

#: B·T·H·G multiply-adds of a call's step products from which its rows are split over threads
SPLIT_MACS = 1 << 25
#: fewest batch rows a thread gets (a register tile of step_gemm.h is 6 rows)
MIN_ROWS = 6
#: a whole-sequence product (M·N·K) below this runs on the own GEMM, on the calling thread
SMALL_GEMM_MACS = 1 << 22

_override = None
_pool = None
_pool_size = 0
_pool_lock = threading.Lock()
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
        from . import blas
        _blas_count = blas.thread_count_function() or (lambda: 0)
    try:
        return int(_blas_count())
    except Exception:  # noqa: BLE001 - a BLAS without the call: no limit from it
        return 0


def parts_for(batch, time, units, gates):
    """How many threads a call of the loops runs on: see the module docstring."""
    if batch < 2 * MIN_ROWS or batch * time * units * gates * units < SPLIT_MACS:
        return 1
    return max(1, min(get_num_threads(), batch // MIN_ROWS))


def small_product(m, n, k):
    """Whether an (m x k) (k x n) product runs on the own GEMM on the calling thread."""
    return m * n * k < SMALL_GEMM_MACS


def row_ranges(batch, parts):
    """``parts`` contiguous row ranges covering [0, batch), cut at multiples of MIN_ROWS where possible."""
    cuts = [0]
    for k in range(1, parts):
        cut = round(batch * k / parts / MIN_ROWS) * MIN_ROWS
        cuts.append(min(max(cut, cuts[-1] + 1), batch - (parts - k)))
    cuts.append(batch)
    return list(zip(cuts[:-1], cuts[1:]))


def _workers(count):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < count:
            old = _pool
            _pool = concurrent.futures.ThreadPoolExecutor(count, thread_name_prefix="rnnkit-rows")
            _pool_size = count
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _with_grad_mode(fn, enabled):
    """``fn`` run under the caller's grad mode (it is per thread: a worker would otherwise see the default)."""
    def run(*args):
        if enabled:
            return fn(*args)
        with no_grad():
            return fn(*args)
    return run


def run_rows(fn, batch, parts):
    """``fn(b0, b1)`` for ``parts`` row ranges of [0, batch): the first on this thread, the others on
    worker threads, all at once; returns their results in row order. An exception in any range is
    raised here once all ranges have finished."""
    ranges = row_ranges(batch, parts)
    if len(ranges) == 1:
        return [fn(0, batch)]
    call = _with_grad_mode(fn, is_grad_enabled())
    futures = [_workers(len(ranges) - 1).submit(call, lo, hi) for lo, hi in ranges[1:]]
    try:
        first = fn(*ranges[0])
    finally:
        others = [f.exception() or f.result() for f in futures]  # wait for all before anything is raised
    for result in others:
        if isinstance(result, BaseException):
            raise result
    return [first, *others]
