"""Compiled SimpleRNN, LSTM and GRU kernels with the reference kernels' exact signatures.

Each ``<cell>_forward`` runs the whole time loop in C (rnnkit/_fast/loops.c): one
GEMM for the input projection of every step, the recurrent product of each step on
rnnkit's own small GEMM (step_gemm.h) straight into the fused gate matrix, and all of a
step's elementwise gate math in one vectorised pass. The matching ``<cell>_backward``
never recomputes anything (the forward kept the activated gates), runs the reverse time
loop in C, and then forms dW, dU, db and dx as single GEMMs/reductions over all steps.
How many threads a call uses, and which GEMM its whole-sequence products take, is
threads.py's rule; BLAS's own thread setting is never changed.

Configurations the C loops do not cover are handed to the NumPy reference kernel
(rnnkit/ops/<cell>.py), whose cache the backward recognises and hands back the same way:
  - activations other than linear, tanh, sigmoid, relu, hard_sigmoid (as registered at import);
  - LSTM peepholes, projection, cell/projection clipping, coupled input-forget gate;
  - GRU reset_after=False or a per-gate (B, 3H) recurrent mask;
  - mixed dtypes, dtypes other than float32/float64, empty batch/time/feature axes.
"""
import ctypes
import threading

import numpy as np

from ..ops import activations, is_grad_enabled, reference_kernels
from . import build, threads

_ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "hard_sigmoid": 4}
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}

_i64, _int, _ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
_RING = [_i64, _i64, _ptr, _ptr]  # ring, I, X, Wp of the forwards (loops_impl.h, step_rows)
_ROWS = [_i64, _i64]  # b0, b1: the batch rows one call of a loop runs (threads.run_rows)
_SIGNATURES = {  # argument types after the dtype-specific REAL scalars are filled in; all return int
    "rk_simple_forward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _ptr, _ptr] + _RING + _ROWS,
    "rk_simple_backward": [_i64] * 3 + [_ptr] * 4 + [_int, _int] + [_ptr] * 5 + _ROWS,
    "rk_lstm_forward": [_i64] * 3 + [_ptr] * 7 + ["real", _int, _int, _int] + [_ptr] * 6 + _RING + _ROWS,
    "rk_lstm_backward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _int] + [_ptr] * 6 + _ROWS,
    "rk_gru_forward": [_i64] * 3 + [_ptr] * 7 + [_int, _int, _int] + [_ptr] * 5 + _RING + _ROWS,
    "rk_gru_backward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _int] + [_ptr] * 6 + _ROWS,
    "rk_pack_b": [_i64, _i64, _ptr, _i64, _i64, _ptr],
    "rk_gemm": [_i64] * 3 + [_ptr, _i64, _i64, _ptr, _i64, _i64, _ptr, _i64],
}
_RESTYPES = {"rk_pack_b": None, "rk_gemm": _int}

_lib = None
_functions = {}
_scratch = threading.local()


def load():
    """Load the library and bind the functions; returns a description (path, variant, how it was found)."""
    global _lib
    lib, path = build.load_library()
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
    return _functions[name, dtype]


def _addr(array):
    return None if array is None else array.ctypes.data


def _run(name, dtype, args, batch, parts):
    """The C loop ``name`` over the batch rows, on ``parts`` threads (threads.run_rows)."""
    fn = _fn(name, dtype)
    codes = threads.run_rows(lambda lo, hi: fn(*args, lo, hi), batch, parts)
    if any(codes):
        raise MemoryError(f"rnnkit's native loop {name} could not allocate its scratch")


def _packed(name, matrix, transpose=False):
    """``matrix`` (K, N), or its transpose, packed for step_gemm.h into a scratch array of this thread."""
    rows, cols = matrix.shape
    K, N = (cols, rows) if transpose else (rows, cols)
    dtype = matrix.dtype
    size = -(-N // _pack_width(dtype)) * _pack_width(dtype) * K
    packed = _buffer(name, (max(size, 1),), dtype)
    rs, cs = (s // dtype.itemsize for s in matrix.strides)
    _fn("rk_pack_b", dtype)(K, N, _addr(matrix), *((cs, rs) if transpose else (rs, cs)), _addr(packed))
    return packed


def _pack_width(dtype):
    """Columns of one packed panel (2 vectors): rk_packed_b_size of one row."""
    key = ("width", dtype)
    if key not in _functions:
        size = getattr(_lib, f"rk_packed_b_size_{_SUFFIX[dtype]}")
        size.argtypes, size.restype = [_i64, _i64], _i64
        _functions[key] = size(1, 1)
    return _functions[key]


def _matmul(a, b):
    """a @ b for 2-D float arrays of one dtype: rnnkit's own GEMM on this thread when small (threads.py),
    else NumPy's BLAS with the user's thread setting."""
    (m, k), n = a.shape, b.shape[1]
    if not threads.small_product(m, n, k) or a.dtype != b.dtype or a.dtype not in _SUFFIX:
        return a @ b
    out = np.empty((m, n), a.dtype)
    size = a.dtype.itemsize
    code = _fn("rk_gemm", a.dtype)(m, n, k, _addr(a), a.strides[0] // size, a.strides[1] // size, _addr(b),
                                  b.strides[0] // size, b.strides[1] // size, _addr(out), n)
    if code:
        raise MemoryError("rnnkit's own GEMM could not allocate its packing buffers")
    return out


def _buffer(name, shape, dtype):
    """A scratch array reused across calls of this thread (backward-only intermediates)."""
    pool = getattr(_scratch, "pool", None)
    if pool is None:
        pool = _scratch.pool = {}
    array = pool.get(name)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = np.empty(shape, dtype)
        if array.nbytes <= 1 << 28:  # keep up to 256 MiB per buffer around
            pool[name] = array
    return array


def _activation_code(identifier):
    """The C code of a built-in activation, or None (custom ones run in the reference)."""
    try:
        act = activations.get_activation(identifier)
    except Exception:
        return None  # the reference raises the proper error
    for name, code in _ACTIVATION_CODES.items():
        if act is activations.get_activation(name) and act is _BUILTINS.get(name):
            return code
    return None


_BUILTINS = {name: activations.get_activation(name) for name in _ACTIVATION_CODES}


class _Inputs:
    """Validated, C-contiguous views of a forward call's arrays, or ``ok = False``."""

    def __init__(self, x, state0, params, mask, recurrent_mask, gates, allowed, bias_shape=lambda width: (width,)):
        self.ok = False
        if not isinstance(x, np.ndarray) or x.ndim != 3 or x.dtype not in _SUFFIX:
            return
        dtype = self.dtype = x.dtype
        if not set(params) <= allowed or "kernel" not in params or "recurrent_kernel" not in params:
            return
        if any(not isinstance(v, np.ndarray) or v.dtype != dtype for v in params.values()):
            return
        batch, time, features = x.shape
        kernel, recurrent = params["kernel"], params["recurrent_kernel"]
        if kernel.ndim != 2 or kernel.shape[0] != features or kernel.shape[1] % gates:
            return
        units = kernel.shape[1] // gates
        if recurrent.shape != (units, gates * units) or 0 in (batch, time, features, units):
            return
        try:
            self.states = [np.array(np.broadcast_to(s, (batch, units)), dtype) for s in state0]
            if any(np.asarray(s).dtype != dtype for s in state0):
                return
            self.mask = None
            if mask is not None:
                mask = np.asarray(mask)
                if mask.shape != (batch, time):
                    return
                self.mask = np.ascontiguousarray(mask.astype(bool, copy=False)).view(np.uint8)
            self.rmask = None
            if recurrent_mask is not None:
                if np.ndim(recurrent_mask) and np.shape(recurrent_mask)[-1] != units:
                    return
                self.rmask = np.ascontiguousarray(np.broadcast_to(recurrent_mask, (batch, units)), dtype)
        except ValueError:
            return
        self.shape = batch, time, features, units
        self.x = np.ascontiguousarray(x)
        self._x2 = None
        self.kernel = np.ascontiguousarray(kernel)
        self.recurrent = np.ascontiguousarray(recurrent)
        self.bias = params.get("bias")
        if self.bias is not None:
            if self.bias.shape != bias_shape(gates * units):
                return
            self.bias = np.ascontiguousarray(self.bias)
        self.ok = True

    @property
    def x2(self):
        """x time-major, (T·B, I): each step's rows are one block, like every per-step array in C."""
        if self._x2 is None:
            batch, time, features, _ = self.shape
            self._x2 = np.ascontiguousarray(self.x.transpose(1, 0, 2)).reshape(time * batch, features)
        return self._x2

    def ring(self, gates):
        """Buffers of an inference run (no cache kept; see step_rows in loops_impl.h).

        Returns P and the C arguments ``(ring, I, X, Wp)``: P holds the input projection of ``ring``
        steps at a time (at least 512 rows, at most T steps), made in C from x and the packed kernel
        Wp. Both are scratch reused across calls, so an inference run allocates nothing of size T but
        its outputs.
        """
        batch, time, features, units = self.shape
        ring = max(1, min(time, -(-512 // batch)))
        P = _buffer("ring", (ring, batch, gates * units), self.dtype)
        return P, (ring, features, _addr(self.x), _addr(_packed("packed_w", self.kernel)))

    def step_arrays(self, gates, names):
        """``(P, ring, arrays)`` for a C forward: P and the ring arguments (see :meth:`ring`), and the
        per-step arrays called ``names`` that it writes: (T, B, H) cache arrays in a training run, (B, H)
        scratch reused across calls under no_grad."""
        batch, time, _, units = self.shape
        if is_grad_enabled():
            return self.projection(), _NO_RING, [np.empty((time, batch, units), self.dtype) for _ in names]
        P, ring = self.ring(gates)
        return P, ring, [_buffer(name, (batch, units), self.dtype) for name in names]

    def packed_recurrent(self):
        """U (H, G) packed for the forward's per-step h_{t-1} U."""
        return _packed("packed_u", self.recurrent)

    def packed_recurrent_t(self):
        """Uᵀ (G, H) packed for the backward's per-step dZ_t Uᵀ."""
        return _packed("packed_u", self.recurrent, transpose=True)

    def parts(self, gates):
        """Threads this call's loops run on (threads.parts_for)."""
        batch, time, _, units = self.shape
        return threads.parts_for(batch, time, units, gates)

    def projection(self):
        """x W for every step at once: time-major (T, B, G), C-contiguous and owned (C adds the bias)."""
        batch, time, _, _ = self.shape
        return _matmul(self.x2, self.kernel).reshape(time, batch, -1)


def _output_array(out, shape, dtype):
    """``out`` when it can take the outputs (a C-contiguous array of that shape and dtype), else a new array.

    ``out`` lets a caller have the outputs written into an array of its own (no copy)."""
    if isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype and out.flags.c_contiguous:
        return out
    return np.empty(shape, dtype)


def _into(out, result):
    """A forward's result with its outputs written into ``out`` when one was given (reference fallbacks)."""
    if out is None or out.shape != result[0].shape:
        return result
    out[...] = result[0]
    return (out, *result[1:])


#: the ring arguments of a training run: every step projected by the caller, every step cached
_NO_RING = (0, 0, None, None)


def _state_grads(d_final_state, count, batch, units, dtype):
    if d_final_state is None:
        d_final_state = (None,) * count
    return [np.zeros((batch, units), dtype) if d is None else np.array(np.broadcast_to(d, (batch, units)), dtype)
            for d in d_final_state]


def _output_grads(d_outputs, shape, dtype):
    return None if d_outputs is None else np.ascontiguousarray(np.broadcast_to(d_outputs, shape), dtype)


def _input_grads(cache, d_pre, grads):
    """dW (and db) as one GEMM / sum over all steps; returns dx (B, T, I) from the time-major d_pre."""
    inputs = cache["inputs"]
    batch, time, features, _ = inputs.shape
    flat = d_pre.reshape(batch * time, -1)
    grads["kernel"] = _matmul(inputs.x2.T, flat)
    if "bias" in cache["params"]:
        grads["bias"] = flat.sum(axis=0)
    return np.ascontiguousarray(_matmul(flat, inputs.kernel.T).reshape(time, batch, features).transpose(1, 0, 2))


def _finish(cache, grads):
    return {name: grads[name] for name in cache["params"]}


# ------------------------------------------------------------------------------ SimpleRNN

def simple_rnn_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                       zero_output_for_mask=False, out=None):
    """Compiled :func:`rnnkit.ops.simple_rnn.simple_rnn_forward` (same arguments and results)."""
    inputs = _Inputs(x, state0, params, mask, recurrent_mask, 1, {"kernel", "recurrent_kernel", "bias"})
    act = _activation_code(activation)
    if not inputs.ok or act is None or len(state0) != 1:
        return _into(out, reference_kernels("simple_rnn")[0](
            x, state0, params, mask, recurrent_mask, activation=activation, zero_output_for_mask=zero_output_for_mask))
    batch, time, _, units = inputs.shape
    dtype = inputs.dtype
    bias = inputs.bias
    outputs = _output_array(out, (batch, time, units), dtype)
    (h,) = inputs.states
    new, ring, (h_in,) = inputs.step_arrays(1, ("h_in",))
    _run("rk_simple_forward", dtype, (batch, time, units, _addr(new), _addr(inputs.packed_recurrent()), _addr(bias),
                                      _addr(h), _addr(inputs.mask), _addr(inputs.rmask), act,
                                      bool(zero_output_for_mask), _addr(outputs), _addr(h_in), *ring),
         batch, inputs.parts(1))
    if ring is not _NO_RING:
        return outputs, (h,), None
    cache = dict(fast="simple_rnn", inputs=inputs, params=params, act=act, zero=bool(zero_output_for_mask),
                 new=new, h_in=h_in)
    return outputs, (h,), cache


def simple_rnn_backward(d_outputs, d_final_state, cache):
    """Compiled :func:`rnnkit.ops.simple_rnn.simple_rnn_backward` (same arguments and results)."""
    if cache.get("fast") != "simple_rnn":
        return reference_kernels("simple_rnn")[1](d_outputs, d_final_state, cache)
    inputs = cache["inputs"]
    batch, time, _, units = inputs.shape
    dtype = inputs.dtype
    d_out = _output_grads(d_outputs, (batch, time, units), dtype)
    (dh,) = _state_grads(d_final_state, 1, batch, units, dtype)
    d_pre = _buffer("d_pre", (time, batch, units), dtype)
    work = np.empty((batch, units), dtype)
    carry = None if inputs.mask is None else np.zeros((batch, units), dtype)
    recurrent_t = inputs.packed_recurrent_t()  # a named reference keeps it alive during the C call
    _run("rk_simple_backward", dtype, (batch, time, units, _addr(cache["new"]), _addr(recurrent_t),
                                       _addr(inputs.mask), _addr(inputs.rmask), cache["act"], cache["zero"],
                                       _addr(d_out), _addr(dh), _addr(d_pre), _addr(work), _addr(carry)),
         batch, inputs.parts(1))
    grads = {"recurrent_kernel": _matmul(cache["h_in"].reshape(batch * time, units).T,
                                         d_pre.reshape(batch * time, units))}
    dx = _input_grads(cache, d_pre, grads)
    return dx, (dh,), _finish(cache, grads)


# ------------------------------------------------------------------------------ LSTM

def lstm_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                 recurrent_activation="sigmoid", forget_bias=0.0, coupled_input_forget=False,
                 cell_clip=None, proj_clip=None, zero_output_for_mask=False, out=None):
    """Compiled :func:`rnnkit.ops.lstm.lstm_forward` (same arguments and results)."""
    inputs = _Inputs(x, state0, params, mask, recurrent_mask, 4, {"kernel", "recurrent_kernel", "bias"})
    act, ract = _activation_code(activation), _activation_code(recurrent_activation)
    if (not inputs.ok or act is None or ract is None or len(state0) != 2 or coupled_input_forget
            or cell_clip is not None or proj_clip is not None):
        return _into(out, reference_kernels("lstm")[0](
            x, state0, params, mask, recurrent_mask, activation=activation,
            recurrent_activation=recurrent_activation, forget_bias=forget_bias,
            coupled_input_forget=coupled_input_forget, cell_clip=cell_clip, proj_clip=proj_clip,
            zero_output_for_mask=zero_output_for_mask))
    batch, time, _, units = inputs.shape
    dtype = inputs.dtype
    bias = inputs.bias if inputs.bias is not None else np.zeros(4 * units, dtype)  # C reads it unconditionally
    outputs = _output_array(out, (batch, time, units), dtype)
    h, c = inputs.states
    gates, ring, (h_in, act_c, c_prev) = inputs.step_arrays(4, ("h_in", "act_c", "c_prev"))
    work = _buffer("work", (batch, units), dtype)
    step_gates = _buffer("step_gates", (batch, 4 * units), dtype)
    _run("rk_lstm_forward", dtype, (batch, time, units, _addr(gates), _addr(inputs.packed_recurrent()), _addr(bias),
                                    _addr(h), _addr(c), _addr(inputs.mask), _addr(inputs.rmask), float(forget_bias),
                                    act, ract, bool(zero_output_for_mask), _addr(outputs), _addr(h_in),
                                    _addr(act_c), _addr(c_prev), _addr(work), _addr(step_gates), *ring),
         batch, inputs.parts(4))
    if not is_grad_enabled():
        return outputs, (h, c), None
    cache = dict(fast="lstm", inputs=inputs, params=params, act=act, ract=ract, zero=bool(zero_output_for_mask),
                 gates=gates, h_in=h_in, act_c=act_c, c_prev=c_prev,
                 c_kept=None, h_kept=None)  # the reference's clip records: no clipping on this path
    return outputs, (h, c), cache


def lstm_backward(d_outputs, d_final_state, cache):
    """Compiled :func:`rnnkit.ops.lstm.lstm_backward` (same arguments and results)."""
    if cache.get("fast") != "lstm":
        return reference_kernels("lstm")[1](d_outputs, d_final_state, cache)
    inputs = cache["inputs"]
    batch, time, _, units = inputs.shape
    dtype = inputs.dtype
    d_out = _output_grads(d_outputs, (batch, time, units), dtype)
    dh, dc = _state_grads(d_final_state, 2, batch, units, dtype)
    d_pre = _buffer("d_pre", (time, batch, 4 * units), dtype)
    work = np.empty((batch, units), dtype)
    carry = None if inputs.mask is None else np.zeros((batch, units), dtype)
    recurrent_t = inputs.packed_recurrent_t()  # a named reference keeps it alive during the C call
    _run("rk_lstm_backward", dtype, (batch, time, units, _addr(cache["gates"]), _addr(cache["act_c"]),
                                     _addr(cache["c_prev"]), _addr(recurrent_t), _addr(inputs.mask),
                                     _addr(inputs.rmask), cache["act"], cache["ract"], cache["zero"], _addr(d_out),
                                     _addr(dh), _addr(dc), _addr(d_pre), _addr(work), _addr(carry)),
         batch, inputs.parts(4))
    rows = batch * time
    grads = {"recurrent_kernel": _matmul(cache["h_in"].reshape(rows, units).T, d_pre.reshape(rows, -1))}
    dx = _input_grads(cache, d_pre, grads)
    return dx, (dh, dc), _finish(cache, grads)


# ------------------------------------------------------------------------------ GRU

def gru_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, zero_output_for_mask=False, out=None):
    """Compiled :func:`rnnkit.ops.gru.gru_forward` (same arguments and results)."""
    inputs = _Inputs(x, state0, params, mask, recurrent_mask, 3, {"kernel", "recurrent_kernel", "bias"},
                     bias_shape=lambda width: (2, width))
    act, ract = _activation_code(activation), _activation_code(recurrent_activation)
    if not inputs.ok or act is None or ract is None or len(state0) != 1 or not reset_after:
        return _into(out, reference_kernels("gru")[0](
            x, state0, params, mask, recurrent_mask, activation=activation,
            recurrent_activation=recurrent_activation, reset_after=reset_after,
            zero_output_for_mask=zero_output_for_mask))
    batch, time, _, units = inputs.shape
    dtype = inputs.dtype
    bias = inputs.bias
    input_bias, recurrent_bias = (None, None) if bias is None else (bias[0], bias[1])
    outputs = _output_array(out, (batch, time, units), dtype)
    gates, ring, (h_in, u_h, h_prev) = inputs.step_arrays(3, ("h_in", "u_h", "h_prev"))
    work = _buffer("work_gates", (batch, 3 * units), dtype)
    (h,) = inputs.states
    _run("rk_gru_forward", dtype, (batch, time, units, _addr(gates), _addr(inputs.packed_recurrent()),
                                   _addr(input_bias), _addr(recurrent_bias), _addr(h), _addr(inputs.mask),
                                   _addr(inputs.rmask), act, ract, bool(zero_output_for_mask), _addr(outputs),
                                   _addr(h_in), _addr(u_h), _addr(h_prev), _addr(work), *ring),
         batch, inputs.parts(3))
    if ring is not _NO_RING:
        return outputs, (h,), None
    cache = dict(fast="gru", inputs=inputs, params=params, act=act, ract=ract, zero=bool(zero_output_for_mask),
                 gates=gates, h_in=h_in, u_h=u_h, h_prev=h_prev)
    return outputs, (h,), cache


def gru_backward(d_outputs, d_final_state, cache):
    """Compiled :func:`rnnkit.ops.gru.gru_backward` (same arguments and results)."""
    if cache.get("fast") != "gru":
        return reference_kernels("gru")[1](d_outputs, d_final_state, cache)
    inputs = cache["inputs"]
    batch, time, _, units = inputs.shape
    dtype = inputs.dtype
    d_out = _output_grads(d_outputs, (batch, time, units), dtype)
    (dh,) = _state_grads(d_final_state, 1, batch, units, dtype)
    d_pre = _buffer("d_pre", (time, batch, 3 * units), dtype)
    d_rec = _buffer("d_rec", (time, batch, 3 * units), dtype)
    work = np.empty((batch, units), dtype)
    carry = None if inputs.mask is None else np.zeros((batch, units), dtype)
    recurrent_t = inputs.packed_recurrent_t()  # a named reference keeps it alive during the C call
    _run("rk_gru_backward", dtype, (batch, time, units, _addr(cache["gates"]), _addr(cache["u_h"]),
                                    _addr(cache["h_prev"]), _addr(recurrent_t), _addr(inputs.mask),
                                    _addr(inputs.rmask), cache["act"], cache["ract"], cache["zero"], _addr(d_out),
                                    _addr(dh), _addr(d_pre), _addr(d_rec), _addr(work), _addr(carry)),
         batch, inputs.parts(3))
    rows = batch * time
    d_rec_flat = d_rec.reshape(rows, -1)
    grads = {"recurrent_kernel": _matmul(cache["h_in"].reshape(rows, units).T, d_rec_flat)}
    dx = _input_grads(cache, d_pre, grads)
    if "bias" in grads:
        grads["bias"] = np.stack([grads["bias"], d_rec_flat.sum(axis=0)])
    return dx, (dh,), _finish(cache, grads)


KERNELS = {
    "simple_rnn": (simple_rnn_forward, simple_rnn_backward),
    "lstm": (lstm_forward, lstm_backward),
    "gru": (gru_forward, gru_backward),
}

#: the kernels handed out (the name is kept for the registry; each call splits its batch rows over
#: threads itself, threads.py)
SPLIT_KERNELS = KERNELS
