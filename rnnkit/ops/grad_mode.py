"""Whether forward passes keep what a backward pass needs: :func:`no_grad`, as in PyTorch.

Inside ``with no_grad():`` the whole-sequence ops return no cache (``None``), so an
inference run neither allocates nor writes the per-step arrays that backpropagation
through time reads (activated gates, inputs of every recurrent product, ...), and the
compiled ops run their inference loops. ``Model.predict``, ``evaluate`` and the
``*_on_batch`` calls without training use it; calling ``backward`` after such a forward
raises an error that says so.

The switch is per thread, and nests: the previous setting comes back on exit.
"""
import contextlib
import threading

_state = threading.local()


def is_grad_enabled():
    """True unless the calling thread is inside :func:`no_grad`."""
    return getattr(_state, "enabled", True)


class no_grad(contextlib.ContextDecorator):
    """Context manager (or, called, a decorator) under which forward passes keep no cache.

    >>> from rnnkit.ops import no_grad, is_grad_enabled
    >>> with no_grad():
    ...     is_grad_enabled()
    False
    >>> is_grad_enabled()
    True
    """

    # A class rather than a generator: entering it costs a fraction, which counts when a streaming
    # step is a few microseconds. The setting to restore lives on a per-thread stack, so one instance
    # (a decorator's) serves nested, recursive and concurrent calls alike.
    def __enter__(self):
        saved = _state.__dict__.setdefault("saved", [])
        saved.append(getattr(_state, "enabled", True))
        _state.enabled = False
        return None

    def __exit__(self, *exc):
        _state.enabled = _state.saved.pop()
        return False
