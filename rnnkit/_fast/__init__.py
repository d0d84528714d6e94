"""Compiled fast path of the recurrent kernels (C time loops, own small GEMM, NumPy's BLAS for
the whole-sequence products).

Nothing here is imported by ``import rnnkit``: :func:`rnnkit.ops.get_kernels` asks
:func:`kernels_for` the first time a kernel is used, which loads (or, from a source
checkout, compiles once into a cache) the native loops for this CPU's instruction-set
level. When that is impossible the NumPy reference kernels are used, a warning says so
once, and :func:`status` says why.

``RNNKIT_FAST=0`` in the environment turns the fast path off (no warning then).
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
    """Whether the compiled kernels are usable in this process."""
    _load()
    return _state["loaded"]


def status():
    """An account, one fact a line: the variant and library in use (or why the reference kernels
    run), the CPU's variants, the threads a call may use, and NumPy's BLAS with its threads."""
    _load()
    from .report import status_text
    return status_text(_state)


def kernels_for(name):
    """``(forward, backward)`` of the compiled kernels for cell kind ``name``, or None."""
    if not available():
        return None
    from .kernels import SPLIT_KERNELS
    return SPLIT_KERNELS.get(name)


__all__ = ["available", "kernels_for", "status"]
