"""Which functions run a cell's whole sequence: the NumPy reference it names, or the compiled twin.

Every cell class names its reference pair from :mod:`rnnkit.ops` directly, e.g.
``LSTMCell.reference_ops = (lstm_forward, lstm_backward)`` from ``rnnkit/ops/lstm.py``: that
is the math, written to be read. The compiled path (:mod:`rnnkit._fast`) offers C twins of
those functions, with the same signatures and tested equal to them
(``tests/test_fast_kernels.py``); :func:`rnnkit._fast.overrides` is the one place that says
which reference function each twin replaces. :func:`active` hands a cell the twins, loading
the compiled path on first use, unless

* ``RNNKIT_FAST=0`` is set in the environment (the whole process runs the reference), or
* the call runs inside ``with reference_only():`` (this thread, this block).

A twin hands any configuration its C loop does not cover (peepholes, clipping, custom
activations, ...) to the reference function itself, so both always give the same results.
"""
import contextlib
import threading

_overrides = None  # {reference function: compiled twin}, filled on first use
_active_pairs = {}  # reference pair -> the pair that runs (outside reference_only)
_local = threading.local()


def active(reference_ops):
    """The ``(forward, backward)`` pair that runs for a cell whose reference pair is ``reference_ops``."""
    if getattr(_local, "reference_only", False):
        return reference_ops
    pair = _active_pairs.get(reference_ops)
    if pair is None:  # once per pair: a cell asks at every call
        overrides = _compiled_overrides()
        pair = _active_pairs[reference_ops] = tuple(overrides.get(op, op) for op in reference_ops)
    return pair


def active_function(reference):
    """The function that runs in place of the reference function ``reference`` (its compiled twin, or
    itself), as :func:`active` for one function (rnnkit.ops.products.matmul2d)."""
    if getattr(_local, "reference_only", False):
        return reference
    function = _active_functions.get(reference)
    if function is None:
        function = _active_functions[reference] = _compiled_overrides().get(reference, reference)
    return function


_active_functions = {}


def _compiled_overrides():
    global _overrides
    if _overrides is None:
        from .. import _fast  # loaded here, on first use: `import rnnkit` stays free of the C library

        _overrides = _fast.overrides()
    return _overrides


@contextlib.contextmanager
def reference_only():
    """Run the NumPy reference ops (the readable spec in rnnkit/ops) inside the block, in this thread.

    >>> import numpy as np
    >>> from rnnkit.cells import LSTMCell, reference_only
    >>> cell = LSTMCell(3, seed=0)
    >>> with reference_only():
    ...     outputs, state, cache = cell.forward(np.ones((2, 4, 5), np.float32))
    >>> outputs.shape
    (2, 4, 3)
    """
    previous = getattr(_local, "reference_only", False)
    _local.reference_only = True
    try:
        yield
    finally:
        _local.reference_only = previous
