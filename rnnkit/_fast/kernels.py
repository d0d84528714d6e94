"""Compiled twins of the SimpleRNN, LSTM and GRU reference ops, with their exact signatures.

Each ``<cell>_forward`` runs the whole time loop in C (rnnkit/_fast/loops.c): one
GEMM for the input product x W of every step, the recurrent product of each step on
rnnkit's own small GEMM (step_gemm.h) straight into the fused gate matrix, and all of a
step's elementwise gate math in one vectorised pass. The matching ``<cell>_backward``
never recomputes anything (the forward kept the activated gates), runs the reverse time
loop in C, and then forms dW, dU, db and dx as single GEMMs/reductions over all steps.
How many threads a call uses, and which GEMM its whole-sequence products take, is
threads.py's rule; BLAS's own thread setting is never changed. Every array from outside
enters C through :func:`c_array`.

Calls the C loops do not cover (see :func:`_covered`: custom activations, LSTM peepholes,
projection, clipping and the coupled gate, GRU reset_after=False or a per-gate recurrent
mask, mixed or other dtypes, empty axes) are handed to the NumPy reference op
(rnnkit/ops/<cell>.py), whose cache the backward recognises and hands back the same way.
"""
import ctypes
import functools
import threading

import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from ..ops import activations, grad_sinks, is_grad_enabled
from ..ops import gru as reference_gru
from ..ops import lstm as reference_lstm
from ..ops import simple_rnn as reference_simple_rnn
from . import build, stream, threads

_ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "hard_sigmoid": 4}
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_STATES = {"simple_rnn": 1, "lstm": 2, "gru": 1}  # arrays in a state
_COVERED_PARAMS = frozenset({"kernel", "recurrent_kernel", "bias"})

_i64, _int, _ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
_RING = [_i64, _i64, _ptr, _ptr, _i64]  # ring, I, X, Wp, ldb of the forwards (loops_impl.h, step_rows, RK_LDB)
_ROWS = [_i64, _i64]  # b0, b1: the batch rows one call of a loop runs (threads.run_rows)
_SIGNATURES = {  # argument types after the dtype-specific REAL scalars are filled in; all return int
    "rk_simple_forward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _ptr, _ptr] + _RING + _ROWS,
    "rk_simple_backward": [_i64] * 3 + [_ptr] * 4 + [_int, _int] + [_ptr] * 5 + _ROWS,
    "rk_lstm_forward": [_i64] * 3 + [_ptr] * 7 + ["real", _int, _int, _int] + [_ptr] * 6 + _RING + _ROWS,
    "rk_lstm_backward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _int] + [_ptr] * 6 + _ROWS,
    "rk_gru_forward": [_i64] * 3 + [_ptr] * 7 + [_int, _int, _int] + [_ptr] * 5 + _RING + _ROWS,
    "rk_gru_backward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _int] + [_ptr] * 6 + _ROWS,
    "rk_pack_b": [_i64, _i64, _ptr, _i64, _i64, _ptr],
    "rk_gemm_blocked": [_i64] * 3 + [_ptr, _i64, _i64, _ptr, _i64, _i64, _ptr, _i64, _int],
    "rk_sum_squares": [_i64, _ptr],
    "rk_adam": [_i64] + [_ptr] * 5 + ["real"] * 4,
    "rk_scatter_add_rows": [_i64, _i64, _ptr, _ptr, _ptr],
}
_RESTYPES = {"rk_pack_b": None, "rk_sum_squares": ctypes.c_double, "rk_adam": None, "rk_scatter_add_rows": None}

_lib = None
_functions = {}
_scratch = threading.local()


def load():
    """Load the library and bind the functions; returns a description (path, variant, how it was found)."""
    global _lib
    lib, path = build.load_library()
    _functions.clear()  # pack_width's cached panel width belongs to the library it was read from
    for name, argtypes in _SIGNATURES.items():
        for dtype, suffix in _SUFFIX.items():
            fn = getattr(lib, f"{name}_{suffix}")
            real = ctypes.c_float if suffix == "f32" else ctypes.c_double
            fn.argtypes = [real if a == "real" else a for a in argtypes]
            fn.restype = _RESTYPES.get(name, _int)
            _functions[name, dtype] = fn
    _lib = lib
    loaded = build.LOADED
    return f"{path} ({loaded.get('variant')}, {loaded.get('how')})"


def _fn(name, dtype):
    """The bound C function ``name`` for ``dtype``."""
    return _functions[name, dtype]



def _addr(array):
    """The data address of ``array`` (None for None)."""
    if array is None:
        return None
    try:  # a few times faster than NumPy's ways (array.ctypes and the array interface build objects)
        return _addressof(_c_char.from_buffer(array))
    except (TypeError, ValueError, BufferError):  # read-only, empty or not contiguous: NumPy's way
        return array.__array_interface__["data"][0]


_addressof, _c_char = ctypes.addressof, ctypes.c_char




def _run(name, dtype, args, batch, parts):
    """The C loop ``name`` over the batch rows, on ``parts`` threads (threads.run_rows); a call on one
    thread runs here directly (no pool, no row ranges: a streaming step is a few microseconds of C)."""
    fn = _functions[name, dtype]
    if parts == 1:
        failed = fn(*args, 0, batch)
    else:
        failed = any(threads.run_rows(lambda lo, hi: fn(*args, lo, hi), batch, parts))
    if failed:
        raise MemoryError(f"rnnkit's native loop {name} could not allocate its scratch")


def _packed(name, matrix, transpose=False):
    """``(array, address)``: ``matrix`` (K, N), or its transpose, packed for step_gemm.h into a scratch
    array of this thread (the caller keeps the array alive while C reads it)."""
    rows, cols = matrix.shape
    K, N = (cols, rows) if transpose else (rows, cols)
    dtype = matrix.dtype
    width = pack_width(dtype)
    packed = _pooled(name, (max(-(-N // width) * width * K, 1),), dtype)
    rs, cs = matrix.strides
    rs, cs = rs // dtype.itemsize, cs // dtype.itemsize
    _functions["rk_pack_b", dtype](K, N, _addr(matrix), *((cs, rs) if transpose else (rs, cs)), packed[1])
    return packed


def pack_width(dtype):
    """Columns of one packed panel (2 vectors): rk_packed_b_size of one row."""
    key = ("width", dtype)
    width = _functions.get(key)
    if width is None:
        size = getattr(_lib, f"rk_packed_b_size_{_SUFFIX[dtype]}")
        size.argtypes, size.restype = [_i64, _i64], _i64
        width = _functions[key] = size(1, 1)
    return width


def matmul(a, b, out=None):
    """a @ b for 2-D arrays, on rnnkit's own GEMM and rnnkit's threads (threads.py's rule), never on BLAS's.

    Why not NumPy's BLAS: its worker threads spin for about 0.1 s after every call (OpenBLAS's
    default), so a BLAS product inside a training step leaves a thread busy-waiting on the core that
    rnnkit's next time loop wants for its second range of rows (measured: the GRU(256) loop got no
    faster from a second thread), and beside another process they fight it for a core.

    Every product runs blocked and packed (``rk_gemm_blocked``; at the sizes of a step it is 10-20%
    faster than an unpacked kernel), large ones with C split into disjoint row or column blocks over
    the threads (each element is the same sum in the same order in any block: the result does not
    depend on the thread count). Other dtypes, mixed dtypes, empty products, strides that are not
    whole elements and mismatched shapes go to NumPy (which also raises the error for the last).
    ``out``: a C-contiguous (m, n) array of their dtype to write the product into (a weight's
    gradient buffer), or None.
    """
    (m, k), (k_b, n) = a.shape, b.shape
    dtype = a.dtype
    if (b.dtype != dtype or dtype not in _SUFFIX or k != k_b or 0 in (m, n, k) or not _whole_strides(a)
            or not _whole_strides(b)):
        return np.matmul(a, b, out=out)
    if out is None or not _writable_rows(out, (m, n), dtype):
        out = np.empty((m, n), dtype)
    size = dtype.itemsize
    ars, acs, brs, bcs = a.strides[0] // size, a.strides[1] // size, b.strides[0] // size, b.strides[1] // size
    at, bt, ct = _addr(a), _addr(b), _addr(out)
    blocked = _fn("rk_gemm_blocked", dtype)
    parts, by_rows = threads.product_split(m, n, k, pack_width(dtype))
    if parts == 1:
        failed = blocked(m, n, k, at, ars, acs, bt, brs, bcs, ct, n, 0)
    else:
        if by_rows:
            def block(lo, hi):
                return blocked(hi - lo, n, k, at + lo * ars * size, ars, acs, bt, brs, bcs, ct + lo * n * size, n, 0)
            extent, multiple = m, threads.MIN_ROWS
        else:
            def block(lo, hi):
                return blocked(m, hi - lo, k, at, ars, acs, bt + lo * bcs * size, brs, bcs, ct + lo * size, n, 0)
            extent, multiple = n, pack_width(dtype)
        failed = any(threads.run_rows(block, extent, parts, multiple))
    if failed:
        raise MemoryError("rnnkit's own GEMM could not allocate its packing buffers")
    return out


def _whole_strides(array):
    """Whether ``array``'s strides are whole elements and its data aligned (not, e.g., a field of a
    structured array), as the C kernels index it."""
    size = array.dtype.itemsize
    return array.flags.aligned and array.strides[0] % size == 0 and array.strides[1] % size == 0


def _writable_rows(out, shape, dtype):
    return (type(out) is np.ndarray and out.shape == shape and out.dtype == dtype and out.flags.c_contiguous
            and out.flags.aligned and out.flags.writeable)


def _pooled(name, shape, dtype, always=False):
    """``(array, address)`` of the scratch array ``name`` of this thread, made anew when its shape or
    dtype changes; the address is kept with it, so reusing a buffer costs a dict lookup. Arrays over
    256 MiB are not kept for the next call unless ``always`` (a caller that hands on only the address
    needs the pool to keep the array alive)."""
    pool = getattr(_scratch, "pool", None)
    if pool is None:
        pool = _scratch.pool = {}
    entry = pool.get(name)
    if entry is None or entry[0].shape != shape or entry[0].dtype != dtype:
        array = np.empty(shape, dtype)
        entry = (array, _addr(array))
        if always or array.nbytes <= 1 << 28:
            pool[name] = entry
        else:
            pool.pop(name, None)
    return entry


def _buffer(name, shape, dtype):
    """A scratch array reused across calls of this thread (backward-only intermediates)."""
    return _pooled(name, shape, dtype)[0]


def _scratch_address(name, shape, dtype):
    """The address of the scratch array ``name`` (for arrays only C reads and writes)."""
    entry = getattr(_scratch, "pool", _NO_POOL).get(name)
    if entry is not None and entry[0].shape == shape and entry[0].dtype == dtype:
        return entry[1]
    return _pooled(name, shape, dtype, always=True)[1]


_NO_POOL = {}


def _activation_code(identifier):
    """The C code of a built-in activation (given by name or as the object), or None: custom ones run
    in the reference, which also raises the proper error for a bad one."""
    code = _BUILTIN_CODES.get(id(identifier))  # a built-in Activation object itself
    if code is None and not isinstance(identifier, activations.Activation):
        try:
            act = activations.get_activation(identifier)  # a name: whatever the registry holds for it now
        except Exception:
            return None
        code = _BUILTIN_CODES.get(id(act))
    return code


_BUILTIN_CODES = {id(activations.get_activation(name)): code for name, code in _ACTIVATION_CODES.items()}


def c_array(name, value, shape, dtype, *, copy=False):
    """The one way an array crosses into C: ``value`` as an aligned, row-major (C-contiguous) array of
    exactly ``shape`` and ``dtype``.

    The C loops index row-major memory of the shape they are told, so any other layout (Fortran order,
    strided or negative-stride views, a broadcast) or dtype is copied here, and a value of the right
    layout is passed as is (read-only arrays included: C only reads them). ``copy=True`` for arrays
    C writes into (the states, the state gradients): always a fresh array, so the caller's is never
    changed. A value that does not fit ``shape`` is refused with an error naming it.
    """
    if type(value) is np.ndarray and value.shape == shape and value.dtype == dtype:  # the common case, quickly
        if copy:
            return value.copy()
        flags = value.flags
        if flags.c_contiguous and flags.aligned:
            return value
    array = np.asarray(value)
    if array.shape != shape:
        try:
            array = np.broadcast_to(array, shape)
        except ValueError:
            raise RnnkitValueError(f"{name} must have shape {shape} (or broadcast to it), "
                                   f"got {describe(array)}") from None
    if copy:
        return np.array(array, dtype=dtype, order="C", copy=True)
    return np.require(array, dtype, ("C_CONTIGUOUS", "ALIGNED"))


def _covered(name, x, params, options, state0, recurrent_mask):
    """The C codes ``(act, ract)`` of a call the compiled loop covers, else None (the reference runs it).

    The one statement of what the C loops implement: float32/float64 throughout, no empty axis, the
    built-in activations, kernel/recurrent_kernel/bias only (no peepholes, no projection), no LSTM
    coupled gate or clipping, GRU reset_after with a mask shared by the three gates.
    """
    if not isinstance(x, np.ndarray) or x.dtype not in _SUFFIX or x.ndim != 3 or 0 in x.shape:
        return None
    dtype = x.dtype
    if not params.keys() <= _COVERED_PARAMS or "recurrent_kernel" not in params:
        return None
    for value in params.values():
        if getattr(value, "dtype", None) != dtype:
            return None
    if len(state0) != _STATES[name]:
        return None
    for state in state0:
        if getattr(state, "dtype", None) != dtype:
            return None
    units = np.shape(params["recurrent_kernel"])[0]
    if units == 0 or (recurrent_mask is not None and np.shape(recurrent_mask)[-1:] != (units,)):
        return None
    if name == "lstm" and (options.get("coupled_input_forget") or options.get("cell_clip") is not None
                           or options.get("proj_clip") is not None):
        return None
    if name == "gru" and not options.get("reset_after", True):
        return None
    act = _activation_code(options.get("activation", "tanh"))
    ract = _activation_code(options.get("recurrent_activation", "sigmoid"))
    return None if act is None or ract is None else (act, ract)


class _Call:
    """A compiled forward call: its sizes and its arrays, each made C-ready by :func:`c_array`."""

    def __init__(self, x, state0, params, mask, recurrent_mask, gates, bias_shape):
        batch, time, features = x.shape
        units = params["recurrent_kernel"].shape[0]
        dtype = self.dtype = x.dtype
        self.shape = batch, time, features, units
        self.x = c_array("x", x, (batch, time, features), dtype)
        self.kernel = c_array("params['kernel']", params["kernel"], (features, gates * units), dtype)
        self.recurrent = c_array("params['recurrent_kernel']", params["recurrent_kernel"], (units, gates * units),
                                 dtype)
        self.bias = None if "bias" not in params else c_array("params['bias']", params["bias"],
                                                               bias_shape(gates * units), dtype)
        self.states = [c_array(f"state0[{k}]", s, (batch, units), dtype, copy=True) for k, s in enumerate(state0)]
        self.mask = None if mask is None else c_array("mask", mask, (batch, time), np.bool_).view(np.uint8)
        self.rmask = (None if recurrent_mask is None
                      else c_array("recurrent_mask", recurrent_mask, (batch, units), dtype))
        self._x2 = None

    @property
    def x2(self):
        """x time-major, (T·B, I): each step's rows are one block, like every per-step array in C."""
        if self._x2 is None:
            batch, time, features, _ = self.shape
            self._x2 = np.ascontiguousarray(self.x.transpose(1, 0, 2)).reshape(time * batch, features)
        return self._x2

    def ring(self, gates):
        """Buffers of an inference run (no cache kept; see step_rows in loops_impl.h).

        Returns the address of P and the C arguments ``(ring, I, X, Wp, ldb)``: P holds the input projection
        of ``ring`` steps at a time (at least 512 rows, at most T steps), made in C from x and the packed
        kernel Wp. Both are scratch reused across calls, so an inference run allocates nothing of size T
        but its outputs.
        """
        batch, time, features, units = self.shape
        ring = max(1, min(time, -(-512 // batch)))
        return _scratch_address("ring", (ring, batch, gates * units), self.dtype), (
            ring, features, _addr(self.x), _packed("packed_w", self.kernel)[1], 0)

    def step_arrays(self, gates, names):
        """``(P, ring, arrays, addresses)`` for a C forward: the address of P and the ring arguments (see
        :meth:`ring`), and the per-step arrays called ``names`` that it writes with their addresses:
        (T, B, H) cache arrays in a training run (P then is the input product, returned too), (B, H)
        scratch reused across calls under no_grad (arrays None, P None)."""
        batch, time, _, units = self.shape
        if is_grad_enabled():
            P = self.input_product()
            arrays = [np.empty((time, batch, units), self.dtype) for _ in names]
            return (P, _addr(P)), _NO_RING, arrays, [_addr(a) for a in arrays]
        P, ring = self.ring(gates)
        return (None, P), ring, None, [_scratch_address(name, (batch, units), self.dtype) for name in names]

    def packed_recurrent(self):
        """``(array, address)`` of U (H, G) packed for the forward's per-step h_{t-1} U."""
        return _packed("packed_u", self.recurrent)

    def packed_recurrent_t(self):
        """``(array, address)`` of Uᵀ (G, H) packed for the backward's per-step dZ_t Uᵀ."""
        return _packed("packed_u", self.recurrent, transpose=True)

    def parts(self, gates):
        """Threads this call's loops run on (threads.parts_for)."""
        batch, time, _, units = self.shape
        return threads.parts_for(batch, time, units, gates)

    def input_product(self):
        """x W for every step at once: time-major (T, B, G), C-contiguous and owned (C adds the bias)."""
        batch, time, _, _ = self.shape
        return matmul(self.x2, self.kernel).reshape(time, batch, -1)


def _output_array(out, shape, dtype):
    """``out`` when C can write the outputs into it (C-contiguous, aligned, writable, of that shape and
    dtype), else a new array. ``out`` lets a caller have the outputs written into an array of its own."""
    if (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype and out.flags.c_contiguous
            and out.flags.aligned and out.flags.writeable):
        return out
    return np.empty(shape, dtype)


def _into(out, result):
    """A forward's result with its outputs written into ``out`` when one was given (reference fallbacks)."""
    if out is None or out.shape != result[0].shape:
        return result
    out[...] = result[0]
    return (out, *result[1:])


#: the ring arguments of a training run: every step projected by the caller, every step cached, U packed
_NO_RING = (0, 0, None, None, 0)


def _upstream_grads(call, d_outputs, d_final_state):
    """The backward's upstream gradients made C-ready: d_outputs (B, T, H) or None, and the state
    gradients (B, H) each, zeros where None; C accumulates into the latter, so they are fresh copies."""
    batch, time, _, units = call.shape
    dtype = call.dtype
    d_out = None if d_outputs is None else c_array("d_outputs", d_outputs, (batch, time, units), dtype)
    d_final_state = (None,) * len(call.states) if d_final_state is None else d_final_state
    d_states = [np.zeros((batch, units), dtype) if d is None
                else c_array(f"d_final_state[{k}]", d, (batch, units), dtype, copy=True)
                for k, d in enumerate(d_final_state)]
    return d_out, d_states


def _backward_setup(cache, d_outputs, d_final_state):
    """What every compiled backward starts from: the forward's call, the C-ready upstream gradients
    (:func:`_upstream_grads`), two (B, H) scratch rows (the second only with a step mask) and Uᵀ packed
    for the per-step products, ``(array, address)`` (the caller keeps it alive during the C call)."""
    call = cache["call"]
    batch, _, _, units = call.shape
    d_out, d_states = _upstream_grads(call, d_outputs, d_final_state)
    work = np.empty((batch, units), call.dtype)
    carry = None if call.mask is None else np.zeros((batch, units), call.dtype)
    return call, d_out, d_states, work, carry, call.packed_recurrent_t()


def _input_grads(cache, dxw, grads, bias_out=None):
    """dW (and db, into ``bias_out`` when given, else into the bias's gradient buffer when training
    keeps one: rnnkit.ops.grad_sinks) as one GEMM / sum over all steps; returns dx (B, T, I) from the
    time-major dxw."""
    call, params = cache["call"], cache["params"]
    batch, time, features, _ = call.shape
    flat = dxw.reshape(batch * time, -1)
    grads["kernel"] = matmul(call.x2.T, flat, out=_gradient_buffer(params["kernel"], (features, flat.shape[1])))
    if "bias" in params:
        if bias_out is None:
            bias_out = _gradient_buffer(params["bias"], (flat.shape[1],))
        grads["bias"] = flat.sum(axis=0, out=bias_out)
    return np.ascontiguousarray(matmul(flat, call.kernel.T).reshape(time, batch, features).transpose(1, 0, 2))


def _recurrent_grad(cache, d_products):
    """dU = Σ h_inᵀ dZ over steps and batch, one GEMM: h_in (T, B, H) from the cache, d_products (T, B, G)."""
    batch, time, _, units = cache["call"].shape
    rows = batch * time
    recurrent = cache["params"]["recurrent_kernel"]
    return matmul(cache["h_in"].reshape(rows, units).T, d_products.reshape(rows, -1),
                   out=_gradient_buffer(recurrent, recurrent.shape))


def _gradient_buffer(weight, shape):
    """The training loop's gradient array for ``weight`` (rnnkit.ops.grad_sinks), or None."""
    return grad_sinks.take(weight, shape, weight.dtype)


def _stream_plan(kind, x, state0, params, key, gates, bias_shape, make_args):
    """A prepared plan for a small inference call (rnnkit._fast.stream), or None."""
    return stream.build(kind, x, state0, params, key, gates, [("bias", bias_shape)], make_args, _addr, _fn,
                        pack_width(x.dtype))


def _is_compiled(cache, kind):
    """Whether ``cache`` comes from the compiled forward of ``kind`` (else from its reference)."""
    return isinstance(cache, dict) and cache.get("fast") == kind


def _reference_caches_to(kind, reference_backward):
    """Decorator of the compiled backward of ``kind``: a cache from the reference forward (a call the C
    loop did not cover) goes to ``reference_backward``."""
    def decorate(backward):
        @functools.wraps(backward)
        def dispatch(d_outputs, d_final_state, cache):
            if not _is_compiled(cache, kind):
                return reference_backward(d_outputs, d_final_state, cache)
            return backward(d_outputs, d_final_state, cache)
        return dispatch
    return decorate


def _finish(cache, grads):
    return {name: grads[name] for name in cache["params"]}


# ------------------------------------------------------------------------------ SimpleRNN

def simple_rnn_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                       zero_output_for_mask=False, out=None):
    """Compiled :func:`rnnkit.ops.simple_rnn.simple_rnn_forward` (same arguments and results)."""
    streaming = not is_grad_enabled() and stream.eligible(x, mask, recurrent_mask, out)
    if streaming:
        key = (activation, zero_output_for_mask)
        plan = stream.find("simple", x, state0, params, key)
        if plan is not None:
            return plan.run(x, state0)
    options = {"activation": activation}
    codes = _covered("simple_rnn", x, params, options, state0, recurrent_mask)
    if codes is None:
        return _into(out, reference_simple_rnn.simple_rnn_forward(
            x, state0, params, mask, recurrent_mask, activation=activation, zero_output_for_mask=zero_output_for_mask))
    if streaming:
        units = params["recurrent_kernel"].shape[0]
        plan = _stream_plan("simple", x, state0, params, key, 1, (units,),
                            lambda plan, P, Up, ring, scratch: _simple_args(
                                plan.out.shape, P, Up, _addr(params["bias"]), _addr(plan.states[0]), None, None,
                                codes[0], bool(zero_output_for_mask), _addr(plan.out), scratch(plan.states[0].shape),
                                ring))
        if plan is not None:
            return plan.run(x, state0)
    call = _Call(x, state0, params, mask, recurrent_mask, 1, lambda width: (width,))
    batch, time, _, units = call.shape
    dtype = call.dtype
    outputs = _output_array(out, (batch, time, units), dtype)
    (h,) = call.states
    (new, new_at), ring, arrays, (h_in,) = call.step_arrays(1, ("h_in",))
    packed_u = call.packed_recurrent()
    _run("rk_simple_forward", dtype, _simple_args(outputs.shape, new_at, packed_u[1], _addr(call.bias), _addr(h),
                                                  _addr(call.mask), _addr(call.rmask), codes[0],
                                                  bool(zero_output_for_mask), _addr(outputs), h_in, ring),
         batch, call.parts(1))
    cache = None if arrays is None else dict(fast="simple_rnn", call=call, params=params, act=codes[0],
                                             zero=bool(zero_output_for_mask), new=new, h_in=arrays[0])
    return outputs, (h,), cache


def _simple_args(out_shape, P, Up, bias, h, mask, rmask, act, zero, out, h_in, ring):
    """rk_simple_forward's arguments (addresses, codes, the ring's four) but the row range."""
    batch, time, units = out_shape
    return (batch, time, units, P, Up, bias, h, mask, rmask, act, zero, out, h_in, *ring)


@_reference_caches_to("simple_rnn", reference_simple_rnn.simple_rnn_backward)
def simple_rnn_backward(d_outputs, d_final_state, cache):
    """Compiled :func:`rnnkit.ops.simple_rnn.simple_rnn_backward` (same arguments and results)."""
    call, d_out, (dh,), work, carry, recurrent_t = _backward_setup(cache, d_outputs, d_final_state)
    batch, time, _, units = call.shape
    dz = _buffer("da", (time, batch, units), call.dtype)
    _run("rk_simple_backward", call.dtype, (batch, time, units, _addr(cache["new"]), recurrent_t[1],
                                            _addr(call.mask), _addr(call.rmask), cache["act"], cache["zero"],
                                            _addr(d_out), _addr(dh), _addr(dz), _addr(work), _addr(carry)),
         batch, call.parts(1))
    grads = {"recurrent_kernel": _recurrent_grad(cache, dz)}
    return _input_grads(cache, dz, grads), (dh,), _finish(cache, grads)


# ------------------------------------------------------------------------------ LSTM

def lstm_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                 recurrent_activation="sigmoid", forget_bias=0.0, coupled_input_forget=False,
                 cell_clip=None, proj_clip=None, zero_output_for_mask=False, out=None):
    """Compiled :func:`rnnkit.ops.lstm.lstm_forward` (same arguments and results)."""
    streaming = not is_grad_enabled() and stream.eligible(x, mask, recurrent_mask, out)
    if streaming:
        key = (activation, recurrent_activation, forget_bias, coupled_input_forget, cell_clip, proj_clip,
               zero_output_for_mask)
        plan = stream.find("lstm", x, state0, params, key)
        if plan is not None:
            return plan.run(x, state0)
    options = dict(activation=activation, recurrent_activation=recurrent_activation, forget_bias=forget_bias,
                   coupled_input_forget=coupled_input_forget, cell_clip=cell_clip, proj_clip=proj_clip)
    codes = _covered("lstm", x, params, options, state0, recurrent_mask)
    if codes is None:
        return _into(out, reference_lstm.lstm_forward(
            x, state0, params, mask, recurrent_mask, zero_output_for_mask=zero_output_for_mask, **options))
    act, ract = codes
    if streaming:
        units = params["recurrent_kernel"].shape[0]
        plan = _stream_plan("lstm", x, state0, params, key, 4, (4 * units,),
                            lambda plan, P, Up, ring, scratch: _lstm_args(
                                plan.out.shape, P, Up, _addr(params["bias"]), _addr(plan.states[0]),
                                _addr(plan.states[1]), None, None, float(forget_bias), act, ract,
                                bool(zero_output_for_mask), _addr(plan.out),
                                [scratch(plan.states[0].shape) for _ in range(4)],
                                scratch((plan.shape[0], 4 * units)), ring))
        if plan is not None:
            return plan.run(x, state0)
    call = _Call(x, state0, params, mask, recurrent_mask, 4, lambda width: (width,))
    batch, time, _, units = call.shape
    dtype = call.dtype
    bias = call.bias if call.bias is not None else np.zeros(4 * units, dtype)  # C reads it unconditionally
    outputs = _output_array(out, (batch, time, units), dtype)
    h, c = call.states
    (gates, gates_at), ring, arrays, (h_in, act_c, c_prev) = call.step_arrays(4, ("h_in", "act_c", "c_prev"))
    work = _scratch_address("work", (batch, units), dtype)
    step_gates = _scratch_address("step_gates", (batch, 4 * units), dtype)
    packed_u = call.packed_recurrent()
    _run("rk_lstm_forward", dtype, _lstm_args(outputs.shape, gates_at, packed_u[1], _addr(bias), _addr(h), _addr(c),
                                              _addr(call.mask), _addr(call.rmask), float(forget_bias), act, ract,
                                              bool(zero_output_for_mask), _addr(outputs), (h_in, act_c, c_prev, work),
                                              step_gates, ring),
         batch, call.parts(4))
    cache = None if arrays is None else dict(fast="lstm", call=call, params=params, act=act, ract=ract,
                                             zero=bool(zero_output_for_mask), gates=gates, h_in=arrays[0],
                                             act_c=arrays[1], c_prev=arrays[2])
    return outputs, (h, c), cache


def _lstm_args(out_shape, P, Up, bias, h, c, mask, rmask, forget_bias, act, ract, zero, out, rows, step_gates,
               ring):
    """rk_lstm_forward's arguments but the row range; ``rows``: the (B, H) arrays h_in, act(c), c_prev and
    work (or their (T, B, H) caches)."""
    batch, time, units = out_shape
    return (batch, time, units, P, Up, bias, h, c, mask, rmask, forget_bias, act, ract, zero, out, *rows,
            step_gates, *ring)


@_reference_caches_to("lstm", reference_lstm.lstm_backward)
def lstm_backward(d_outputs, d_final_state, cache):
    """Compiled :func:`rnnkit.ops.lstm.lstm_backward` (same arguments and results)."""
    call, d_out, (dh, dc), work, carry, recurrent_t = _backward_setup(cache, d_outputs, d_final_state)
    batch, time, _, units = call.shape
    da = _buffer("da", (time, batch, 4 * units), call.dtype)
    _run("rk_lstm_backward", call.dtype, (batch, time, units, _addr(cache["gates"]), _addr(cache["act_c"]),
                                          _addr(cache["c_prev"]), recurrent_t[1], _addr(call.mask),
                                          _addr(call.rmask), cache["act"], cache["ract"], cache["zero"],
                                          _addr(d_out), _addr(dh), _addr(dc), _addr(da), _addr(work), _addr(carry)),
         batch, call.parts(4))
    grads = {"recurrent_kernel": _recurrent_grad(cache, da)}
    return _input_grads(cache, da, grads), (dh, dc), _finish(cache, grads)


# ------------------------------------------------------------------------------ GRU

def gru_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, zero_output_for_mask=False, out=None):
    """Compiled :func:`rnnkit.ops.gru.gru_forward` (same arguments and results)."""
    streaming = not is_grad_enabled() and stream.eligible(x, mask, recurrent_mask, out)
    if streaming:
        key = (activation, recurrent_activation, reset_after, zero_output_for_mask)
        plan = stream.find("gru", x, state0, params, key)
        if plan is not None:
            return plan.run(x, state0)
    options = dict(activation=activation, recurrent_activation=recurrent_activation, reset_after=reset_after)
    codes = _covered("gru", x, params, options, state0, recurrent_mask)
    if codes is None:
        return _into(out, reference_gru.gru_forward(
            x, state0, params, mask, recurrent_mask, zero_output_for_mask=zero_output_for_mask, **options))
    if streaming:
        units = params["recurrent_kernel"].shape[0]

        def args(plan, P, Up, ring, scratch):
            bias = params["bias"]
            return _gru_args(plan.out.shape, P, Up, _addr(bias), _addr(bias) + bias.strides[0], _addr(plan.states[0]),
                             None, None, codes, bool(zero_output_for_mask), _addr(plan.out),
                             [scratch(plan.states[0].shape) for _ in range(3)], scratch((plan.shape[0], 3 * units)),
                             ring)

        plan = _stream_plan("gru", x, state0, params, key, 3, (2, 3 * units), args)
        if plan is not None:
            return plan.run(x, state0)
    call = _Call(x, state0, params, mask, recurrent_mask, 3, lambda width: (2, width))
    batch, time, _, units = call.shape
    dtype = call.dtype
    bias_at = _addr(call.bias)
    input_bias, recurrent_bias = (None, None) if bias_at is None else (
        bias_at, bias_at + call.bias.strides[0])  # rows 0 and 1 of the C-contiguous (2, 3H) bias
    outputs = _output_array(out, (batch, time, units), dtype)
    (gates, gates_at), ring, arrays, (h_in, u_h, h_prev) = call.step_arrays(3, ("h_in", "u_h", "h_prev"))
    work = _scratch_address("work_gates", (batch, 3 * units), dtype)
    (h,) = call.states
    packed_u = call.packed_recurrent()
    _run("rk_gru_forward", dtype, _gru_args(outputs.shape, gates_at, packed_u[1], input_bias, recurrent_bias, _addr(h),
                                            _addr(call.mask), _addr(call.rmask), codes, bool(zero_output_for_mask),
                                            _addr(outputs), (h_in, u_h, h_prev), work, ring),
         batch, call.parts(3))
    cache = None if arrays is None else dict(fast="gru", call=call, params=params, act=codes[0], ract=codes[1],
                                             zero=bool(zero_output_for_mask), gates=gates, h_in=arrays[0],
                                             u_h=arrays[1], h_prev=arrays[2])
    return outputs, (h,), cache


def _gru_args(out_shape, P, Up, input_bias, recurrent_bias, h, mask, rmask, codes, zero, out, rows, work, ring):
    """rk_gru_forward's arguments but the row range; ``rows``: the (B, H) arrays h_in, u_h and h_prev (or
    their (T, B, H) caches); ``codes``: (act, ract)."""
    batch, time, units = out_shape
    return (batch, time, units, P, Up, input_bias, recurrent_bias, h, mask, rmask, *codes, zero, out, *rows, work,
            *ring)


@_reference_caches_to("gru", reference_gru.gru_backward)
def gru_backward(d_outputs, d_final_state, cache):
    """Compiled :func:`rnnkit.ops.gru.gru_backward` (same arguments and results)."""
    call, d_out, (dh,), work, carry, recurrent_t = _backward_setup(cache, d_outputs, d_final_state)
    batch, time, _, units = call.shape
    da = _buffer("da", (time, batch, 3 * units), call.dtype)
    du = _buffer("du", (time, batch, 3 * units), call.dtype)
    _run("rk_gru_backward", call.dtype, (batch, time, units, _addr(cache["gates"]), _addr(cache["u_h"]),
                                         _addr(cache["h_prev"]), recurrent_t[1], _addr(call.mask),
                                         _addr(call.rmask), cache["act"], cache["ract"], cache["zero"],
                                         _addr(d_out), _addr(dh), _addr(da), _addr(du), _addr(work), _addr(carry)),
         batch, call.parts(3))
    grads = {"recurrent_kernel": _recurrent_grad(cache, du)}
    params = cache["params"]
    bias = None if "bias" not in params else _gradient_buffer(params["bias"], (2, 3 * units))
    if bias is None and "bias" in params:
        bias = np.empty((2, 3 * units), call.dtype)
    dx = _input_grads(cache, da, grads, bias_out=None if bias is None else bias[0])
    if bias is not None:  # rows: the input bias, then the recurrent one
        du.reshape(batch * time, -1).sum(axis=0, out=bias[1])
        grads["bias"] = bias
    return dx, (dh,), _finish(cache, grads)


#: the compiled twins, by cell kind (rnnkit._fast.overrides says which reference op each replaces)
COMPILED_OPS = {
    "simple_rnn": (simple_rnn_forward, simple_rnn_backward),
    "lstm": (lstm_forward, lstm_backward),
    "gru": (gru_forward, gru_backward),
}
