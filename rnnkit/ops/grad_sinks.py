"""Where a backward pass writes weight gradients: arrays the training loop keeps from step to step.

A training step of ``fit`` hands the optimizer one flat gradient buffer
(:class:`rnnkit.optimizers.flat.FlatGroup`); a backward that computes a weight's gradient
straight into that weight's view of it allocates nothing and leaves nothing to copy. Inside
``with writing_gradients_into(sinks):`` (``sinks``: ``{id(weight array): gradient array}``),
:func:`take` hands a backward the array for a weight, once: a weight used by several calls (a
shared layer) gets it at its first gradient, and its other calls' gradients, computed into new
arrays, are then added to it by the graph as usual. Outside the block, :func:`take` returns None
and backwards allocate their gradients, as any public ``backward`` call does.

The switch is per thread, like :func:`rnnkit.no_grad`.
"""
import threading

_local = threading.local()


class writing_gradients_into:
    """Context manager: backward passes in this thread may write the gradient of weight array ``w``
    into ``sinks[id(w)]`` (each at most once; see the module docstring)."""

    def __init__(self, sinks):
        self.sinks = dict(sinks)

    def __enter__(self):
        self.saved = getattr(_local, "sinks", None)
        _local.sinks = self.sinks
        return self

    def __exit__(self, *exc):
        _local.sinks = self.saved
        return False


def take(weight, shape, dtype):
    """The array to write the gradient of ``weight`` (the weight's own array) into, or None: there is
    none, or it is not a C-contiguous array of ``shape`` and ``dtype`` (the gradient as computed)."""
    sinks = getattr(_local, "sinks", None)
    if not sinks:
        return None
    sink = sinks.pop(id(weight), None)
    if sink is None or sink.shape != shape or sink.dtype != dtype or not sink.flags.c_contiguous:
        return None
    return sink
