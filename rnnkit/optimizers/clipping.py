"""Gradient norms and clipping on the flat gradient buffer (Keras 3's rules).

    clipvalue        g <- clip(g, -clipvalue, clipvalue), elementwise
    clipnorm         g <- g clipnorm / max(||g||, clipnorm), each variable on its own
    global_clipnorm  g <- g global_clipnorm min(1/N, 1/global_clipnorm) for every g,
                     N = sqrt(sum over all variables of ||g||^2)

Each function works on a list of :class:`Work` items (the variables of one step, per dtype
group) and returns how many gradient arrays it changed.
"""
import numpy as np

from ..ops import vector_ops
from ..cells.dispatch import active_function


class Work:
    """The variables of one step within one :class:`~rnnkit.optimizers.flat.FlatGroup`.

    Attributes:
        group: the FlatGroup.
        positions: sorted positions of the step's variables in the group.
        runs: the contiguous flat ``(start, stop)`` ranges they cover.
    """

    def __init__(self, group, positions):
        self.group = group
        self.positions = list(positions)
        self.runs = group.runs(self.positions)


def checked_norm(work, report_non_finite):
    """The global L2 norm of the step's gradients, squares summed in float64 (so they never overflow).
    When it is not finite, ``report_non_finite(work)`` raises (a gradient is NaN or Inf)."""
    squares = active_function(vector_ops.sum_of_squares)
    total = sum(squares(item.group.grads[a:b]) for item in work for a, b in item.runs)
    if not np.isfinite(total):
        report_non_finite(work)
    return float(np.sqrt(total))


def scale(work, factor):
    """Multiply the step's gradients by ``factor`` in place."""
    for item in work:
        f = item.group.dtype.type(factor)
        for a, b in item.runs:
            item.group.grads[a:b] *= f


def clip_global_norm(work, clip, norm):
    """Scale every gradient by ``clip / norm`` when ``norm > clip``."""
    if not norm > clip:
        return 0
    scale(work, clip * (1.0 / norm))
    return sum(len(item.positions) for item in work)


def clip_each_norm(work, clip):
    """Scale each variable's gradient whose own norm exceeds ``clip`` down to norm ``clip``."""
    changed = 0
    for item in work:
        group = item.group
        f = group.dtype.type
        for k in item.positions:
            segment = group.grads[group.offsets[k]:group.offsets[k + 1]]
            norm = np.sqrt(active_function(vector_ops.sum_of_squares)(segment))
            if norm > clip:
                segment *= f(clip)
                segment /= f(norm)
                changed += 1
    return changed


def clip_values(work, clip):
    """Clip every gradient element to ``[-clip, clip]``."""
    changed = 0
    for item in work:
        group = item.group
        for a, b in item.runs:
            segment = group.grads[a:b]
            if segment.size and max(float(segment.max()), -float(segment.min())) > clip:
                for k in item.positions:
                    part = group.grads[group.offsets[k]:group.offsets[k + 1]]
                    if a <= group.offsets[k] < b and part.size and \
                            max(float(part.max()), -float(part.min())) > clip:
                        changed += 1
                np.clip(segment, -clip, clip, out=segment)
    return changed
