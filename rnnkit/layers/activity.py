"""Activity regularization: a penalty on a layer's outputs, its value in the loss and its gradient in backward.

Keras 3 adds ``activity_regularizer(y) / batch`` for each array ``y`` a layer returns to the
losses of the call (``model.losses``, and so the reported loss). Here a layer's ``__call__``:

* computes each penalty and its gradient ``activity_regularizer.gradient(y) / batch``;
* keeps the penalties in ``layer._activity_losses``: those of its last call, or inside a model's forward
  (:func:`model_call`) those of every call since the outermost model's forward began (a shared layer
  called twice has two), as Keras clears a model's losses when its outermost call starts;
* keeps the gradients with the call's cache (:class:`ActivityCache` around the layer's own), so
  the layer's ``backward`` — and ``backward_from`` on the graph engine's saved cache — adds them to
  the gradients of the outputs before the layer's own backward runs.
"""
import collections
import contextlib
import functools
import threading

import numpy as np

_calls = threading.local()  # .depth: how many model forwards are running (nested models count)


class ActivityCache:
    """A layer's own cache, plus the gradients of its activity penalties (one per output, None for
    outputs that are not arrays)."""

    __slots__ = ("inner", "grads")

    def __init__(self, inner, grads):
        self.inner = inner
        self.grads = grads


@contextlib.contextmanager
def model_call(model):
    """Around a model's forward: the outermost one first clears every layer's activity penalties, then
    the calls inside add theirs."""
    depth = getattr(_calls, "depth", 0)
    if depth == 0 and _stored_any:  # else every layer's list is still the empty one it was made with
        for layer in [model] + keras_order(model):
            layer._activity_losses = []
    _calls.depth = depth + 1
    try:
        yield
    finally:
        _calls.depth = depth


#: whether any layer has stored activity penalties in this process (until then none needs clearing)
_stored_any = False


def store(layer, losses):
    """Keep one call's penalties on ``layer`` (added to its others inside a model's forward)."""
    global _stored_any
    _stored_any = True
    if getattr(_calls, "depth", 0):
        layer._activity_losses = list(getattr(layer, "_activity_losses", [])) + losses
    else:
        layer._activity_losses = losses


def keras_order(layer):
    """The layers inside ``layer`` in the order Keras 3 lists their losses (``_flatten_layers``: its
    children in order, but each child's own children pushed to the front in reverse)."""
    found, seen = [], set()
    queue = collections.deque(layer._child_layers())
    while queue:
        child = queue.popleft()
        if id(child) in seen:
            continue
        seen.add(id(child))
        found.append(child)
        queue.extendleft(child._child_layers())
    return found


def penalties(regularizer, outputs):
    """``(losses, grads)`` of ``regularizer`` on each returned array, divided by its batch size."""
    flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    losses, grads = [], []
    for y in flat:
        if not isinstance(y, np.ndarray):
            grads.append(None)
            continue
        batch = y.shape[0] if y.ndim > 0 else 1
        scale = 1.0 / batch if batch else 0.0  # Keras's divide_no_nan
        losses.append(float(regularizer(y)) * scale)
        grads.append(np.asarray(regularizer.gradient(y), y.dtype) * y.dtype.type(scale))
    return losses, grads


def with_activity_gradient(backward):
    """Wrap a layer class's ``backward`` so that, when the call's cache holds activity gradients, they
    are added to the output gradients (None: no loss there) and the layer sees its own cache."""

    @functools.wraps(backward)
    def wrapped(self, *output_grads):
        cache = self._cache
        if not isinstance(cache, ActivityCache):
            return backward(self, *output_grads)
        count = max(len(output_grads), len(cache.grads))
        extras = list(cache.grads) + [None] * (count - len(cache.grads))
        grads = list(output_grads) + [None] * (count - len(output_grads))
        grads = [g if extra is None else (extra if g is None else np.asarray(g) + extra)
                 for g, extra in zip(grads, extras)]
        self._cache = cache.inner
        try:
            return backward(self, *grads)
        finally:
            self._cache = cache

    wrapped.adds_activity_gradient = True
    return wrapped


def has_activity(state):
    """Whether a saved call state (``Layer._call_state()``) carries activity gradients anywhere."""
    own, subs = state
    return isinstance(own, ActivityCache) or any(has_activity(sub) for sub in subs)
