"""Compiled twins of the NumPy reference ops (C time loops over NumPy's BLAS).

Nothing here is imported by ``import rnnkit``: the cells' dispatch
(:mod:`rnnkit.cells.dispatch`) asks :func:`overrides` the first time a cell runs, which
loads (or, from a source checkout, compiles once into a cache) the C library. When that is
impossible the NumPy reference ops run and :func:`status` says why.

``RNNKIT_FAST=0`` in the environment turns the compiled path off.
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
    """Whether the compiled ops are usable in this process."""
    _load()
    return _state["loaded"]


def status():
    """A one-line account: the library and BLAS in use, or why the reference ops run."""
    _load()
    return f"compiled ops: {_state['library']}" if _state["loaded"] else f"reference ops: {_state['error']}"


def overrides():
    """``{reference function: compiled twin}``: the one place the compiled path takes over from
    :mod:`rnnkit.ops` (empty when it is not usable). The twins are those of
    :mod:`rnnkit._fast.kernels`, split over two batch halves where that pays (``batch_split.py``)."""
    if not available():
        return {}
    from ..ops import gru, lstm, simple_rnn
    from .kernels import SPLIT_OPS

    return {
        simple_rnn.simple_rnn_forward: SPLIT_OPS["simple_rnn"][0],
        simple_rnn.simple_rnn_backward: SPLIT_OPS["simple_rnn"][1],
        lstm.lstm_forward: SPLIT_OPS["lstm"][0],
        lstm.lstm_backward: SPLIT_OPS["lstm"][1],
        gru.gru_forward: SPLIT_OPS["gru"][0],
        gru.gru_backward: SPLIT_OPS["gru"][1],
    }


__all__ = ["available", "overrides", "status"]
