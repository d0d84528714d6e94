"""Two threads over the batch: each runs the whole compiled time loop on half of the rows.

Rows of a batch never meet in a recurrent layer: the forward of rows [0, h) and of rows [h, B)
are two independent runs, and the backward's weight gradients are the sums of the two halves'.
So with two cores the halves run side by side, each on one BLAS thread, with no
synchronisation per step. Splitting every step's GEMM over OpenBLAS's threads instead leaves
the gate math and each step's call overhead on one core. Measured on the 2-core machines,
wall clock, A/B in one process, LSTM (64, 100, 256, 256): inference 65.8 -> 57.4 ms, training
197 -> 174 ms; (64, 100, 512, 512): 248 -> 225 and 745 -> 631 ms.

BLAS is set to one thread for the whole split region, from the calling thread and again in the
worker (OpenBLAS keeps the setting per thread in some builds, process-wide in others); a BLAS
call from another user thread meanwhile runs on one thread too.

:func:`wrap` turns any ``(forward, backward)`` kernel pair into one that splits; it is
applied to the compiled kernels when BLAS may use two or more threads, for calls with at
least :data:`MIN_MACS` recurrent multiply-adds: below that the hand-off and the copies of
the halves' results cost more than they save (LSTM (16, 50, 32, 64) inference: 1.31 -> 1.81 ms).
``RNNKIT_BATCH_SPLIT=0`` turns it off.
"""
import concurrent.futures
import os
import threading

import numpy as np

#: B·T·H·G·H (multiply-adds of the recurrent products of one pass) from which a call is split
MIN_MACS = 1 << 25

_pool = None
_pool_lock = threading.Lock()


def _worker():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rnnkit-batch")
    return _pool


def _rows(value, batch, lo, hi):
    """Rows [lo, hi) of a per-row argument (leading axis B); anything else (None, broadcast shapes) as is."""
    if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == batch:
        return value[lo:hi]
    return value


def _run_halves(first, second, blas):
    """first() here and second() on the worker thread, BLAS on one thread in both; returns both results."""
    def one_thread(fn):
        previous = blas.set(1)  # per thread where OpenBLAS keeps the setting per thread
        try:
            return fn()
        finally:
            blas.set(previous)

    previous = blas.set(1)  # and process-wide where it does not
    try:
        future = _worker().submit(one_thread, second)
        try:
            result = first()
        finally:
            other = future.result()
    finally:
        blas.set(previous)
    return result, other


class BlasThreads:
    """BLAS's thread count: ``set(n)`` returns the previous count, ``count()`` reads it."""

    def __init__(self, set_threads, get_threads):
        self.set, self.count = set_threads, get_threads


def wrap(forward, backward, should_split, blas):
    """A kernel pair that runs calls ``should_split(x, params, options)`` accepts as two batch halves.

    ``blas``: a :class:`BlasThreads`, or None (never split).
    """

    def split_forward(x, state0, params, mask=None, recurrent_mask=None, **options):
        batch = np.shape(x)[0] if np.ndim(x) == 3 else 0
        if (batch < 2 or blas is None or os.environ.get("RNNKIT_BATCH_SPLIT") == "0"
                or batch * x.shape[1] * np.size(params.get("recurrent_kernel")) < MIN_MACS
                or blas.count() < 2 or not should_split(x, params, options)):
            return forward(x, state0, params, mask, recurrent_mask, **options)
        cut = batch // 2
        # each half writes its rows of one array (the compiled forwards take out=): no concatenation
        outputs = np.empty((batch, x.shape[1], params["recurrent_kernel"].shape[0]), x.dtype)

        def half(lo, hi):
            return lambda: forward(x[lo:hi], [_rows(s, batch, lo, hi) for s in state0], params,
                                   _rows(mask, batch, lo, hi), _rows(recurrent_mask, batch, lo, hi),
                                   out=outputs[lo:hi], **options)

        (out0, final0, cache0), (out1, final1, cache1) = _run_halves(half(0, cut), half(cut, batch), blas)
        for part, lo, hi in ((out0, 0, cut), (out1, cut, batch)):
            if not np.shares_memory(part, outputs):  # a forward that made its own array
                outputs[lo:hi] = part
        final = tuple(np.concatenate([a, b]) for a, b in zip(final0, final1))
        if cache0 is None:  # no_grad
            return outputs, final, None
        # a dict with "params", like every kernel cache (the cells check for that)
        return outputs, final, {"params": params, "split": (cache0, cache1), "cut": cut, "batch": batch}

    def split_backward(d_outputs, d_final_state, cache):
        if not (isinstance(cache, dict) and "split" in cache):
            return backward(d_outputs, d_final_state, cache)
        batch, cut = cache["batch"], cache["cut"]

        def half(k, lo, hi):
            finals = None if d_final_state is None else [_rows(d, batch, lo, hi) for d in d_final_state]
            return lambda: backward(_rows(d_outputs, batch, lo, hi), finals, cache["split"][k])

        (dx0, ds0, g0), (dx1, ds1, g1) = _run_halves(half(0, 0, cut), half(1, cut, batch), blas)
        grads = {name: g0[name] + g1[name] for name in g0}
        return np.concatenate([dx0, dx1]), tuple(np.concatenate([a, b]) for a, b in zip(ds0, ds1)), grads

    split_forward.__name__, split_backward.__name__ = forward.__name__, backward.__name__
    split_forward.__doc__, split_backward.__doc__ = forward.__doc__, backward.__doc__
    split_forward.__module__ = split_backward.__module__ = forward.__module__
    return split_forward, split_backward
