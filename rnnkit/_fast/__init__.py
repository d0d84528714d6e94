"""Compiled fast path of the recurrent kernels (C time loops over NumPy's BLAS).

Nothing here is imported by ``import rnnkit``: :func:`rnnkit.ops.get_kernels` asks
:func:`kernels_for` the first time a kernel is used, which loads (or, from a source
checkout, compiles once into a cache) the C library. When that is impossible the
NumPy reference kernels are used and :func:`status` says why.

``RNNKIT_FAST=0`` in the environment turns the fast path off.
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
    except Exception as exc:  # no compiler, no BLAS, a broken cache: the reference still works
        _state["error"] = f"{type(exc).__name__}: {exc}"


def available():
    """Whether the compiled kernels are usable in this process."""
    _load()
    return _state["loaded"]


def status():
    """A one-line account: the library and BLAS in use, or why the reference kernels run."""
    _load()
    return f"fast kernels: {_state['library']}" if _state["loaded"] else f"reference kernels: {_state['error']}"


def kernels_for(name):
    """``(forward, backward)`` of the compiled kernels for cell kind ``name``, or None."""
    if not available():
        return None
    from .kernels import SPLIT_KERNELS
    return SPLIT_KERNELS.get(name)


__all__ = ["available", "kernels_for", "status"]
