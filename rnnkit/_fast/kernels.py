"""Compiled SimpleRNN, LSTM and GRU kernels with the reference kernels' exact signatures.

Each ``<cell>_forward`` runs the whole time loop in C (rnnkit/_fast/kernels.c): one
GEMM for the input projection of every step, the recurrent GEMM of each step through
BLAS straight into the fused gate matrix, and all of a step's elementwise gate math in
one vectorised pass. The matching ``<cell>_backward`` never recomputes anything (the
forward kept the activated gates), runs the reverse time loop in C, and then forms dW,
dU, db and dx as single GEMMs/reductions over all steps.

Configurations the C loops do not cover are handed to the NumPy reference kernel
(rnnkit/ops/<cell>.py), whose cache the backward recognises and hands back the same way:
  - activations other than linear, tanh, sigmoid, relu, hard_sigmoid (as registered at import);
  - LSTM peepholes, projection, cell/projection clipping, coupled input-forget gate;
  - GRU reset_after=False or a per-gate (B, 3H) recurrent mask;
  - mixed dtypes, dtypes other than float32/float64, empty batch/time/feature axes.
"""
import collections
import ctypes
import os
import threading

import numpy as np

from ..ops import activations, is_grad_enabled, reference_kernels
from . import batch_split, blas, build

_ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "hard_sigmoid": 4}
_TANH, _SIGMOID = _ACTIVATION_CODES["tanh"], _ACTIVATION_CODES["sigmoid"]
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}

_i64, _int, _ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
_RING = [_i64, _i64, _ptr, _ptr, _ptr]  # ring, I, X, W, Xc of the forwards (kernels_impl.h, step_rows)
_SIGNATURES = {  # argument types after the dtype-specific REAL scalars are filled in
    "rk_simple_forward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _ptr, _ptr] + _RING,
    "rk_simple_backward": [_i64] * 3 + [_ptr] * 4 + [_int, _int] + [_ptr] * 5,
    "rk_lstm_forward": [_i64] * 3 + [_ptr] * 7 + ["real", _int, _int, _int] + [_ptr] * 6 + _RING,
    "rk_lstm_backward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _int] + [_ptr] * 6,
    "rk_gru_forward": [_i64] * 3 + [_ptr] * 7 + [_int, _int, _int] + [_ptr] * 5 + _RING,
    "rk_gru_backward": [_i64] * 3 + [_ptr] * 6 + [_int, _int, _int] + [_ptr] * 6,
}

#: per-step GEMMs below this many multiply-adds keep BLAS on one thread (see kernels.c, begin_steps)
SERIAL_MACS = 1 << 21

#: Where the fused float32 LSTM forward (lstm_fused.h) runs by default: 8-float vectors (AVX2, where
#: it was measured) and FUSED_MIN_UNITS units or more, on one BLAS thread (each half of batch_split,
#: or BLAS limited to one thread). Its tile is OpenBLAS's Haswell shape and U is packed once per call
#: (OpenBLAS packs it on every step). A/B in one process against the BLAS loop on the AVX2 machines:
#:   two threads (batch halves), wall: inference (32,100,128,128) 10.8-11.6 vs 11.1-11.9 ms,
#:     (64,100,256,256) 59.6-62.2 vs 64.4-66.0, (64,100,512,512) 208-219 vs 227-232; training
#:     forwards 74 vs 77 (256) and 194 vs 215 (512), equal at 128;
#:   one thread, CPU time: parity, (32,100,128,128) 14.7 vs 15.2, 256: 105.9 vs 106.4, 512: 394 vs 388;
#:   64 units and below it loses: (16,50,32,64) 1.36 vs 1.31 ms.
#: Other widths run it only when RNNKIT_FUSED_MIN_UNITS=n asks (from n units; the tests use that on
#: every machine): an earlier 6-row x 4-gate AVX-512 tile measured 10% faster than the BLAS loop at
#: 512 units on an AVX-512 machine, but this one has not been measured there.
FUSED_MIN_UNITS = 128
FUSED_DEFAULT_WIDTH = 8


def _serial_macs():
    return int(os.environ.get("RNNKIT_SERIAL_MACS", SERIAL_MACS))


_lib = None
_functions = {}
_FusedLSTM = collections.namedtuple("_FusedLSTM", "pack forward blas_threads width packed_rows")
_fused_lstm = None  # the fused float32 LSTM forward of lstm_fused.h, once loaded
_scratch = threading.local()
_BLAS_THREADS = None  # batch_split.BlasThreads of NumPy's OpenBLAS, once loaded


def load():
    """Load the library, point it at NumPy's BLAS and bind the functions; returns a description."""
    global _lib
    lib, path = build.load_library()
    found = blas.find_gemm()
    if found is None:
        raise build.BuildError("no BLAS sgemm/dgemm found in this process (NumPy's) nor in SciPy")
    kind, sgemm, dgemm, threads_local, where = found
    lib.rk_set_blas.argtypes = [_int, _ptr, _ptr]
    if lib.rk_set_blas(kind, sgemm, dgemm) != 0:
        raise build.BuildError(f"rk_set_blas refused BLAS kind {kind} from {where}")
    count = blas.thread_count_function()
    setter = None if threads_local is None or count is None else ctypes.CFUNCTYPE(_int, _int)(threads_local)
    global _BLAS_THREADS
    _BLAS_THREADS = None if setter is None else batch_split.BlasThreads(setter, count)
    _bind_split(_BLAS_THREADS)
    lib.rk_set_threading.argtypes = [_ptr, _i64]
    lib.rk_set_threading.restype = None
    lib.rk_set_threading(threads_local, _serial_macs())
    for name, argtypes in _SIGNATURES.items():
        for dtype, suffix in _SUFFIX.items():
            fn = getattr(lib, f"{name}_{suffix}")
            real = ctypes.c_float if suffix == "f32" else ctypes.c_double
            fn.argtypes = [real if a == "real" else a for a in argtypes]
            fn.restype = None
            _functions[name, dtype] = fn
    global _fused_lstm
    pack, fused = lib.rk_lstm_pack_u_f32, lib.rk_lstm_forward_fused_f32
    pack.argtypes, pack.restype = [_i64, _ptr, _ptr], None
    fused.argtypes = [_i64] * 5 + [_ptr] * 11 + [ctypes.c_float] + [_ptr] * 4 + [_int]
    fused.restype = None
    lib.rk_lstm_fused_rows.argtypes, lib.rk_lstm_fused_rows.restype = [_i64], _i64
    _fused_lstm = _FusedLSTM(pack, fused, count, lib.rk_lstm_fused_width(), lib.rk_lstm_fused_rows)
    _lib = lib
    return f"{path} with BLAS {where}"


def _fn(name, dtype):
    return _functions[name, dtype]


def _addr(array):
    return None if array is None else array.ctypes.data


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

    def ring(self, gates, threads=1):
        """Buffers of an inference run (no cache kept; see step_rows in kernels_impl.h).

        Returns P and the C arguments ``(ring, I, X, W, Xc)``: P holds the input projection of
        ``ring`` steps at a time (GEMMs of at least 512 rows, at most T steps), Xc stages their inputs
        (one stage per thread). Both are scratch reused across calls, so an inference run allocates
        nothing of size T but its outputs.
        """
        batch, time, features, units = self.shape
        ring = max(1, min(time, -(-512 // batch)))
        P = _buffer("ring", (ring, batch, gates * units), self.dtype)
        staging = _buffer("ring_inputs", (threads * ring * batch, features), self.dtype)
        return P, (ring, features, _addr(self.x), _addr(self.kernel), _addr(staging))

    def step_arrays(self, gates, names):
        """``(P, ring, arrays)`` for a C forward: P and the ring arguments (see :meth:`ring`), and the
        per-step arrays called ``names`` that it writes: (T, B, H) cache arrays in a training run, (B, H)
        scratch reused across calls under no_grad."""
        batch, time, _, units = self.shape
        if is_grad_enabled():
            return self.projection(), _NO_RING, [np.empty((time, batch, units), self.dtype) for _ in names]
        P, ring = self.ring(gates)
        return P, ring, [_buffer(name, (batch, units), self.dtype) for name in names]

    def recurrent_t(self):
        """Uᵀ (G, H) as a contiguous copy, for the backward's per-step dZ_t Uᵀ."""
        return np.ascontiguousarray(self.recurrent.T)

    def projection(self):
        """x W for every step at once: time-major (T, B, G), C-contiguous and owned (C adds the bias)."""
        batch, time, _, _ = self.shape
        return (self.x2 @ self.kernel).reshape(time, batch, -1)


def _output_array(out, shape, dtype):
    """``out`` when it can take the outputs (a C-contiguous array of that shape and dtype), else a new array.

    ``out`` is how batch_split has each half write its rows of one output array (no concatenation)."""
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
_NO_RING = (0, 0, None, None, None)


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
    grads["kernel"] = inputs.x2.T @ flat
    if "bias" in cache["params"]:
        grads["bias"] = flat.sum(axis=0)
    return np.ascontiguousarray((flat @ inputs.kernel.T).reshape(time, batch, features).transpose(1, 0, 2))


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
    _fn("rk_simple_forward", dtype)(batch, time, units, _addr(new), _addr(inputs.recurrent), _addr(bias), _addr(h),
                                    _addr(inputs.mask), _addr(inputs.rmask), act, bool(zero_output_for_mask),
                                    _addr(outputs), _addr(h_in), *ring)
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
    recurrent_t = inputs.recurrent_t()  # a named reference keeps it alive during the C call
    _fn("rk_simple_backward", dtype)(batch, time, units, _addr(cache["new"]), _addr(recurrent_t),
                                     _addr(inputs.mask), _addr(inputs.rmask), cache["act"], cache["zero"],
                                     _addr(d_out), _addr(dh), _addr(d_pre), _addr(work), _addr(carry))
    grads = {"recurrent_kernel": cache["h_in"].reshape(batch * time, units).T @ d_pre.reshape(batch * time, units)}
    dx = _input_grads(cache, d_pre, grads)
    return dx, (dh,), _finish(cache, grads)


# ------------------------------------------------------------------------------ LSTM

def _fused_lstm_threads(batch, units):
    """Threads for the fused float32 LSTM forward (lstm_fused.h), or 0 to run the BLAS-per-step loop.

    Units must be a multiple of the vector width; where it runs by default, and RNNKIT_FUSED_MIN_UNITS,
    are described at FUSED_MIN_UNITS. One thread where the per-step GEMM would run on one BLAS thread
    anyway (BLAS limited to one thread, as in each half of batch_split, or a step under SERIAL_MACS);
    its own two-thread split only when RNNKIT_LSTM_THREADS=2 asks for it (with OpenBLAS's pool
    spinning from a backward's GEMMs it measured slower in training).
    """
    if _fused_lstm is None or units % _fused_lstm.width:
        return 0
    if "RNNKIT_FUSED_MIN_UNITS" in os.environ:
        min_units = int(os.environ["RNNKIT_FUSED_MIN_UNITS"])
    elif _fused_lstm.width == FUSED_DEFAULT_WIDTH:
        min_units = FUSED_MIN_UNITS
    else:
        return 0
    if units < min_units:
        return 0
    blas_threads = _fused_lstm.blas_threads
    serial = batch * units * 4 * units < _serial_macs() or blas_threads is None or blas_threads() <= 1
    if serial:
        return 1
    return 2 if os.environ.get("RNNKIT_LSTM_THREADS") == "2" else 0


def _lstm_fused(inputs, bias, forget_bias, outputs, h, c, threads):
    """Run lstm_fused.h's forward; returns (gates, h_in, act_c, c_prev), all None under no_grad."""
    batch, time, features, units = inputs.shape
    dtype = inputs.dtype
    packed = _buffer("packed_u", (units * 4 * units,), dtype)
    _fused_lstm.pack(units, _addr(inputs.recurrent), _addr(packed))
    if is_grad_enabled():  # C forms x W of every step itself, split over its threads
        gates = np.empty((time, batch, 4 * units), dtype)
        ring = (0, features, _addr(inputs.x2), _addr(inputs.kernel), None)
        h_in, act_c, c_prev = (np.empty((time, batch, units), dtype) for _ in range(3))
    else:
        gates, ring = inputs.ring(4, threads)
        h_in, act_c, c_prev = _buffer("h_in", (2, batch, units), dtype), None, None
    steps, _, x, kernel, staging = ring
    packed_h = _buffer("packed_h", (threads * _fused_lstm.packed_rows(batch) * units,), dtype)
    products = _buffer("step_gates", (batch, 4 * units), dtype)
    _fused_lstm.forward(batch, time, units, features, steps, x, kernel, _addr(gates), staging, _addr(packed_h),
                        _addr(products), _addr(packed), _addr(bias), _addr(h), _addr(c), _addr(inputs.rmask),
                        float(forget_bias), _addr(outputs), _addr(h_in), _addr(act_c), _addr(c_prev), threads)
    return (gates, h_in, act_c, c_prev) if steps == 0 else (None,) * 4


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
    fused = (dtype == np.float32 and inputs.mask is None and (act, ract) == (_TANH, _SIGMOID))
    threads = _fused_lstm_threads(batch, units) if fused else 0
    if threads:
        gates, h_in, act_c, c_prev = _lstm_fused(inputs, bias, forget_bias, outputs, h, c, threads)
    else:
        gates, ring, (h_in, act_c, c_prev) = inputs.step_arrays(4, ("h_in", "act_c", "c_prev"))
        work = _buffer("work", (batch, units), dtype)
        step_gates = _buffer("step_gates", (batch, 4 * units), dtype)
        _fn("rk_lstm_forward", dtype)(batch, time, units, _addr(gates), _addr(inputs.recurrent), _addr(bias),
                                      _addr(h), _addr(c),
                                      _addr(inputs.mask), _addr(inputs.rmask), float(forget_bias), act, ract,
                                      bool(zero_output_for_mask), _addr(outputs), _addr(h_in), _addr(act_c),
                                      _addr(c_prev), _addr(work), _addr(step_gates), *ring)
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
    recurrent_t = inputs.recurrent_t()  # a named reference keeps it alive during the C call
    _fn("rk_lstm_backward", dtype)(batch, time, units, _addr(cache["gates"]), _addr(cache["act_c"]),
                                   _addr(cache["c_prev"]), _addr(recurrent_t), _addr(inputs.mask),
                                   _addr(inputs.rmask), cache["act"], cache["ract"], cache["zero"], _addr(d_out),
                                   _addr(dh), _addr(dc), _addr(d_pre), _addr(work), _addr(carry))
    rows = batch * time
    grads = {"recurrent_kernel": cache["h_in"].reshape(rows, units).T @ d_pre.reshape(rows, -1)}
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
    _fn("rk_gru_forward", dtype)(batch, time, units, _addr(gates), _addr(inputs.recurrent), _addr(input_bias),
                                 _addr(recurrent_bias),
                                 _addr(h), _addr(inputs.mask), _addr(inputs.rmask), act, ract,
                                 bool(zero_output_for_mask), _addr(outputs), _addr(h_in), _addr(u_h), _addr(h_prev),
                                 _addr(work), *ring)
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
    recurrent_t = inputs.recurrent_t()  # a named reference keeps it alive during the C call
    _fn("rk_gru_backward", dtype)(batch, time, units, _addr(cache["gates"]), _addr(cache["u_h"]),
                                  _addr(cache["h_prev"]), _addr(recurrent_t), _addr(inputs.mask),
                                  _addr(inputs.rmask), cache["act"], cache["ract"], cache["zero"], _addr(d_out),
                                  _addr(dh), _addr(d_pre), _addr(d_rec), _addr(work), _addr(carry))
    rows = batch * time
    d_rec_flat = d_rec.reshape(rows, -1)
    grads = {"recurrent_kernel": cache["h_in"].reshape(rows, units).T @ d_rec_flat}
    dx = _input_grads(cache, d_pre, grads)
    if "bias" in grads:
        grads["bias"] = np.stack([grads["bias"], d_rec_flat.sum(axis=0)])
    return dx, (dh,), _finish(cache, grads)


KERNELS = {
    "simple_rnn": (simple_rnn_forward, simple_rnn_backward),
    "lstm": (lstm_forward, lstm_backward),
    "gru": (gru_forward, gru_backward),
}

#: the kernels handed out: KERNELS, split over the batch on two threads where that pays (batch_split.py)
SPLIT_KERNELS = dict(KERNELS)


def _runs_compiled(name):
    """Whether a call runs the compiled loop (not the reference): the checks of the forwards above."""
    def check(x, params, options):
        if x.dtype not in _SUFFIX or any(getattr(v, "dtype", None) != x.dtype for v in params.values()):
            return False
        if not set(params) <= {"kernel", "recurrent_kernel", "bias"}:
            return False
        if any(_activation_code(options.get(key, "tanh" if key == "activation" else "sigmoid")) is None
               for key in ("activation", "recurrent_activation")):
            return False
        if name == "lstm":
            return not (options.get("coupled_input_forget") or options.get("cell_clip") is not None
                        or options.get("proj_clip") is not None)
        return name != "gru" or options.get("reset_after", True)
    return check


def _bind_split(set_blas_threads):
    for name, (forward, backward) in KERNELS.items():
        SPLIT_KERNELS[name] = batch_split.wrap(forward, backward, _runs_compiled(name), set_blas_threads)
