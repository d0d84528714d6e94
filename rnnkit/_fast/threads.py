"""How many threads a call of the native loops uses, decided from its shapes, and running them.

rnnkit never changes BLAS's thread setting (in NumPy's OpenBLAS it is one process-wide number:
changing it and putting it back races with every other thread of the process, the user's own
included). Instead:

* each step's product in the C loops runs on rnnkit's own small GEMM (``step_gemm.h``), which
  never starts a thread;
* a call with enough work runs disjoint ranges of batch rows on several threads at once
  (rows never meet in a recurrent layer; the C loops take a row range), and since each row is
  computed the same way in any range, the results are bit for bit those of one thread;
* the whole-sequence products (x W for every step, dW, dU, dx; Dense layers' products) run on the
  own GEMM too (kernels.matmul), large ones split into disjoint blocks of the output over rnnkit's
  threads: NumPy's BLAS is not called inside a training step, because OpenBLAS's worker threads
  spin for about 0.1 s after each call and would take the core rnnkit's next loop runs on.

The rule (measurements in BENCHMARKS.md, "Session 5" and "Thread policy"):

* ``usable_threads()`` is get_num_threads(), but no more than the cores other processes leave
  free now (load.py: measured over the last ~0.1 s; two threads beside a process that keeps a
  core busy were slower than one);
* a call's loops run on ``min(usable_threads(), batch // MIN_ROWS)`` threads when their step
  products hold at least :data:`SPLIT_MACS` multiply-adds (B·T·H·G), else on the calling thread
  alone: below that, handing rows to another thread costs more than it saves, and a second
  thread that has to wait for a busy core (another process) costs far more;
* a whole-sequence product of fewer than :data:`SPLIT_PRODUCT_MACS` multiply-adds runs on the
  calling thread; a larger one on ``min(usable_threads(), blocks)`` threads (product_split);
* the threads of a call take its ranges one at a time until none is left (run_rows), so a thread
  that has not started holds no one up.

``rnnkit.set_num_threads(n)`` / ``RNNKIT_NUM_THREADS=n`` set the most threads a call may use
(rnnkit/num_threads.py; default: the cores this process may run on, and no more than BLAS's own
thread count, so a user who limits BLAS, e.g. with threadpoolctl or ``OPENBLAS_NUM_THREADS=1``,
limits rnnkit too).
"""
import concurrent.futures
import itertools
import threading

from ..num_threads import available_cores, get_num_threads
from . import load
from ..ops.grad_mode import is_grad_enabled, no_grad

#: B·T·H·G multiply-adds of a call's step products from which its rows are split over threads
SPLIT_MACS = 1 << 25
#: fewest batch rows a thread gets (a register tile of step_gemm.h is 6 rows)
MIN_ROWS = 6
#: M·N·K of a whole-sequence product from which its output is split over threads
SPLIT_PRODUCT_MACS = 1 << 25

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def parts_for(batch, time, units, gates):
    """How many threads a call of the loops runs on: see the module docstring."""
    if batch < 2 * MIN_ROWS or batch * time * units * gates * units < SPLIT_MACS:
        return 1
    return max(1, min(usable_threads(), batch // MIN_ROWS))


def product_split(m, n, k, panel):
    """``(parts, by_rows)``: how many threads an (m x k) (k x n) product runs on, and whether its output
    is cut into row blocks (else column blocks of ``panel`` columns). Cutting rows makes every thread
    pack all of B (k x n), cutting columns all of A (m x k): the cheaper of the two is cut."""
    by_rows = n < m
    if m * n * k < SPLIT_PRODUCT_MACS:
        return 1, by_rows
    blocks = m // MIN_ROWS if by_rows else n // panel
    return max(1, min(usable_threads(), blocks)), by_rows


def usable_threads():
    """get_num_threads(), but no more than the cores other processes leave free now (load.py)."""
    wanted = get_num_threads()
    if wanted == 1:
        return 1
    free = load.free_cores(available_cores())
    return wanted if free is None else max(1, min(wanted, int(free + 0.5)))


def row_ranges(batch, parts, multiple=MIN_ROWS):
    """``parts`` contiguous row ranges covering [0, batch), cut at multiples of ``multiple`` where possible."""
    cuts = [0]
    for k in range(1, parts):
        cut = round(batch * k / parts / multiple) * multiple
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


def run_rows(fn, batch, parts, multiple=MIN_ROWS):
    """``fn(b0, b1)`` over row ranges covering [0, batch) (row_ranges, cut at multiples of ``multiple``),
    on ``parts`` threads: this one and ``parts - 1`` workers; returns the results in row order. An
    exception in any range is raised here once every range that started has finished.

    One range per thread (two per thread cost the IMDB and char-GRU models 6-10% on a quiet machine:
    smaller per-step products; a busy machine is met by usable_threads instead), each taken by the
    next thread that asks (not one fixed share per thread): a worker that has not started (its
    wake-up is late, or the scheduler parked it beside another process) leaves its range to this
    thread, so a call never waits for a thread that has not begun. This thread only waits for ranges
    already running elsewhere; a worker that starts after all ranges are taken does nothing.
    """
    if parts <= 1:
        return [fn(0, batch)]
    claims = _Claims(row_ranges(batch, parts, multiple))
    call = _with_grad_mode(claims.take_all, is_grad_enabled())
    pool = _workers(parts - 1)
    for _ in range(parts - 1):
        pool.submit(call, fn)
    claims.take_all(fn)
    return claims.results()


class _Claims:
    """The ranges of one run_rows call, taken one at a time by whichever thread asks next."""

    def __init__(self, ranges):
        self.ranges = ranges
        self.next = itertools.count().__next__  # atomic under the GIL: each index goes to one thread
        self.outcomes = [None] * len(ranges)
        self.pending = len(ranges)
        self.lock = threading.Lock()
        self.finished = threading.Event()

    def take_all(self, fn):
        """Run ranges until none is left untaken."""
        while True:
            index = self.next()
            if index >= len(self.ranges):
                return
            try:
                self.outcomes[index] = (True, fn(*self.ranges[index]))
            except BaseException as exc:  # noqa: BLE001 - re-raised by results() on the calling thread
                self.outcomes[index] = (False, exc)
            with self.lock:
                self.pending -= 1
                if not self.pending:
                    self.finished.set()

    def results(self):
        """Every range's result in order, once all have finished (raising the first exception)."""
        self.finished.wait()
        for ok, value in self.outcomes:
            if not ok:
                raise value
        return [value for _, value in self.outcomes]


# A first reading of the load now, when the compiled path loads: the first call large enough to split
# (at least load.INTERVAL later) then sees what other processes did since, not nothing.
load.free_cores(available_cores())
