"""Small inference calls of the compiled forwards, prepared once: what streaming (one step at a time,
batch 1, under ``rnnkit.no_grad()``) spends its time on.

A general compiled call checks its arguments, makes each array C-ready, finds scratch and the
addresses of everything, packs the weights and hands some thirty arguments to C: for a one-step
call at batch 1 that is many times the arithmetic. A :class:`Plan` does all of it but the packing
once per (cell weights, input shape, options) and per thread: it owns the input, state, output and
scratch arrays C reads and writes, so every address is known, and a call is two copies in, the
loop, and copies out (the caller owns its results). C reads the weights U and W in place where
their gate columns fill whole panels of its GEMM (4H or 3H a multiple of 16 floats with AVX2);
otherwise a call packs them first (they may have changed in place since the last call). The C functions and
their arguments are those of the general path, so results are bit for bit the same.

Plans serve calls without mask, recurrent mask or ``out`` array and of at most
:data:`MAX_ROWS` rows (batch x time); a few are kept per thread (:data:`KEPT`), the most
recently made replacing the oldest.
"""
import threading

import numpy as np

#: the most batch x time rows a plan serves (larger calls gain nothing and would copy their outputs)
MAX_ROWS = 64
#: plans kept per thread
KEPT = 8

_local = threading.local()


class Plan:
    """One prepared call: see the module docstring. Built by :func:`build`, run by :meth:`run`."""

    __slots__ = ("params", "weights", "shape", "dtype", "options", "x", "states", "out", "keep", "packs",
                 "pack", "loop", "args")

    def matches(self, x, state0, params, options):
        """Whether this plan serves a call with these arguments (weights the same arrays, same shapes)."""
        if params is not self.params or x.shape != self.shape or x.dtype != self.dtype or options != self.options \
                or len(params) != len(self.weights):
            return False
        for array, name in self.weights:
            if params.get(name) is not array:
                return False
        if len(state0) != len(self.states):
            return False
        for state, buffer in zip(state0, self.states):  # others (to broadcast, or bad) go the general way
            if getattr(state, "dtype", None) != self.dtype or getattr(state, "shape", None) != buffer.shape:
                return False
        return True

    def run(self, x, state0):
        """The call's ``(outputs, final states, None)``, each a new array."""
        np.copyto(self.x, x)
        for buffer, state in zip(self.states, state0):
            np.copyto(buffer, state)
        pack = self.pack
        for args in self.packs:
            pack(*args)
        if self.loop(*self.args):
            raise MemoryError("rnnkit's native loop could not allocate its scratch")
        states = self.states
        return self.out.copy(), ((states[0].copy(),) if len(states) == 1 else tuple([s.copy() for s in states])), None


def find(kind, x, state0, params, options):
    """The plan of this thread serving the call, else None."""
    plans = getattr(_local, "plans", None)
    if plans:
        for plan in plans:
            if plan.matches(x, state0, params, options):
                return plan
    return None


def remember(plan):
    """Keep ``plan`` for later calls of this thread."""
    plans = getattr(_local, "plans", None)
    if plans is None:
        plans = _local.plans = []
    plans.insert(0, plan)
    del plans[KEPT:]


def forget():
    """Drop this thread's plans (they hold references to weight arrays)."""
    _local.plans = []


def eligible(x, mask, recurrent_mask, out):
    """Whether a call may be served by a plan (the forwards ask before anything else)."""
    return (out is None and mask is None and recurrent_mask is None and type(x) is np.ndarray and x.ndim == 3
            and x.shape[0] * x.shape[1] <= MAX_ROWS)


def build(kind, x, state0, params, options, gates, weights, make_args, address, function, width):
    """A plan for this call, or None when its weights are not plain C-ready arrays.

    ``weights``: ``[(name, expected shape)]`` of the arrays passed to C by address (the bias);
    ``make_args(plan, P, Up, ring, scratch)`` returns the loop's arguments but the row range from the
    addresses of P and of U (packed, or U itself: RK_LDB), the ring's five arguments and ``scratch(shape)``, which
    gives the address of a new plan-owned array. ``address(array)``, ``function(name, dtype)`` and
    ``width`` (columns of a packed panel) come from rnnkit._fast.kernels, which calls this.
    """
    batch, time, features = x.shape
    units = params["recurrent_kernel"].shape[0]
    dtype = x.dtype
    kernel, recurrent = params["kernel"], params["recurrent_kernel"]
    if kernel.shape != (features, gates * units) or recurrent.shape != (units, gates * units):
        return None
    if any(getattr(state, "shape", None) != (batch, units) for state in state0):
        return None  # states to broadcast (or bad ones) take the general path
    for name, shape in weights:
        array = params.get(name)
        if type(array) is not np.ndarray or array.shape != shape or array.dtype != dtype \
                or not array.flags.c_contiguous:
            return None
    plan = Plan()
    plan.params, plan.shape, plan.dtype, plan.options = params, x.shape, dtype, options
    plan.weights = [(params[name], name) for name in ("kernel", "recurrent_kernel", *(n for n, _ in weights))]
    plan.x = np.empty(x.shape, dtype)
    plan.states = [np.empty((batch, units), dtype) for _ in state0]
    plan.out = np.empty((batch, time, units), dtype)
    keep = plan.keep = []

    def scratch(shape):
        array = np.empty(shape, dtype)
        keep.append(array)
        return address(array)

    def packed(matrix):
        rows, cols = matrix.shape
        target = scratch((max(-(-cols // width) * width * rows, 1),))
        rs, cs = (s // dtype.itemsize for s in matrix.strides)
        return target, (rows, cols, address(matrix), rs, cs, target)

    ring = max(1, min(time, -(-512 // batch)))
    plan.pack = function("rk_pack_b", dtype)
    if (gates * units) % width == 0 and all(_row_major(m, dtype) for m in (kernel, recurrent)):
        # whole panels: C reads U and W in place (loops_impl.h, RK_LDB), so nothing is packed per call
        # and the weights' current values are always the ones used
        u_at, w_at, ldb = address(recurrent), address(kernel), gates * units
        plan.packs = ()
    else:
        u_at, pack_u = packed(recurrent)
        w_at, pack_w = packed(kernel)
        ldb = 0
        plan.packs = tuple(_converted(plan.pack, a) for a in (pack_u, pack_w))
    P = scratch((ring, batch, gates * units))
    plan.loop = function(f"rk_{kind}_forward", dtype)
    args = (*make_args(plan, P, u_at, (ring, features, address(plan.x), w_at, ldb), scratch), 0, batch)
    plan.args = _converted(plan.loop, args)
    remember(plan)
    return plan


def _row_major(matrix, dtype):
    """Whether ``matrix`` is a C-contiguous, aligned array of ``dtype`` (C may read it in place)."""
    return (type(matrix) is np.ndarray and matrix.dtype == dtype and matrix.flags.c_contiguous
            and matrix.flags.aligned)


def _converted(function, args):
    """``args`` as the ctypes objects ``function``'s argument types make of them: converted once, not at
    every call (a third of a call's cost with some thirty arguments)."""
    return tuple(a if a is None else kind(a) for kind, a in zip(function.argtypes, args))
