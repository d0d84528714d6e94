"""Compiled twins of the NumPy reference ops (C time loops, own small GEMM, NumPy's BLAS for the
whole-sequence products).

Nothing here is imported by ``import rnnkit``: the cells' dispatch
(:mod:`rnnkit.cells.dispatch`) asks :func:`overrides` the first time a cell runs, which loads
(or, from a source checkout, compiles once into a cache) the native loops for this CPU's
instruction-set level. When that is impossible the NumPy reference ops run, a warning says so
once, and :func:`status` says why.

``RNNKIT_FAST=0`` in the environment turns the compiled path off (no warning then).
"""
import os

_state = {"loaded": False, "error": None, "library": None}


def _load():
    if _state["loaded"] or _state["error"]:
        return
    if os.environ.get("RNNKIT_FAST", "1").strip().lower() in ("0", "false", "no", "off"):
        _state["error"] = "disabled by RNNKIT_FAST"
        return
    try:
        from . import kernels
        _state["library"] = kernels.load()
        _state["loaded"] = True
    except Exception as exc:  # no compiler, an unsupported CPU, a broken cache: the reference still works
        _state["error"] = f"{type(exc).__name__}: {exc}"
        from .report import warn_fallback
        warn_fallback(_state["error"])


def available():
    """Whether the compiled ops are usable in this process."""
    _load()
    return _state["loaded"]


def status():
    """An account, one fact a line: the variant and library in use (or why the reference ops
    run), the CPU's variants, the threads a call may use, and NumPy's BLAS with its threads."""
    _load()
    from .report import status_text
    return status_text(_state)


def overrides():
    """``{reference function: compiled twin}``: the one place the compiled path takes over from
    :mod:`rnnkit.ops` (empty when it is not usable). The twins are those of :mod:`rnnkit._fast.kernels`;
    each call spreads its batch rows over threads itself (threads.py)."""
    if not available():
        return {}
    from ..ops import gru, lstm, products, simple_rnn
    from .kernels import COMPILED_OPS as twins
    from .kernels import matmul
    from .vector import TWINS

    return {
        simple_rnn.simple_rnn_forward: twins["simple_rnn"][0],
        simple_rnn.simple_rnn_backward: twins["simple_rnn"][1],
        lstm.lstm_forward: twins["lstm"][0],
        lstm.lstm_backward: twins["lstm"][1],
        gru.gru_forward: twins["gru"][0],
        gru.gru_backward: twins["gru"][1],
        products.matmul2d: matmul,
        **TWINS,
    }


__all__ = ["available", "overrides", "status"]
