"""The flat layout an optimizer updates: the variables of one dtype end to end in one 1-D array.

A :class:`FlatGroup` owns three kinds of arrays, all with the same layout (variable ``i``
occupies ``[offsets[i], offsets[i + 1])``):

* ``params``: the weights themselves. Each movable variable's ``value`` becomes a view into it
  (:meth:`rnnkit.variables.Variable.move_to`), so layers and cells read and write this buffer;
  an unmovable variable keeps its own array and is copied in before and out after each step.
* ``grads``: the gradient buffer. ``grad_views[i]`` is shaped like variable ``i``; a training
  loop may write gradients straight into it and skip the copy ``apply_gradients`` makes.
* slots (momentum, velocity, EMA average, ...): one flat array each, made by :meth:`new_slot`.

So one vectorised NumPy expression over the flat arrays updates every variable at once, as
PyTorch's ``foreach``/fused optimizers do, instead of a few NumPy calls per variable.
"""
import numpy as np

from ..errors import RnnkitValueError


class FlatGroup:
    """Variables of one dtype laid end to end.

    Args:
        variables: list of :class:`~rnnkit.variables.Variable`, all of ``dtype``, none empty.
        dtype: their NumPy dtype.

    Attributes:
        variables, dtype, offsets (int array of length ``len(variables) + 1``), size,
        params, grads (1-D arrays of ``size``), param_views, grad_views (one view per variable).
    """

    def __init__(self, variables, dtype):
        self.variables = list(variables)
        self.dtype = np.dtype(dtype)
        self.offsets = np.cumsum([0] + [v.value.size for v in self.variables])
        self.size = int(self.offsets[-1])
        self.params = np.empty(self.size, self.dtype)
        self.grads = np.zeros(self.size, self.dtype)
        self.param_views = self.views(self.params)
        self.grad_views = self.views(self.grads)
        self._grads_with_tail = None
        self._scratch = []
        self._copied = []  # (variable, view) of variables that keep their own array
        self._moved = []  # (variable, view) of variables whose value is the view
        for variable, view in zip(self.variables, self.param_views):
            if variable.movable:
                variable.move_to(view)
                self._moved.append((variable, view))
            else:
                view[...] = variable.value
                self._copied.append((variable, view))

    def views(self, flat):
        """Per-variable views of a flat array of this layout, shaped like the variables."""
        return [flat[a:b].reshape(v.value.shape) for v, a, b in zip(self.variables, self.offsets, self.offsets[1:])]

    def gradients_with_tail(self, count):
        """The gradient buffer and ``count`` more values after it, as one contiguous 1-D array.

        ``grads`` and ``grad_views`` become views of its first ``size`` values (re-pointed, keeping
        their values, only when ``count`` changes; views taken before are then stale), so a
        data-parallel step (rnnkit.distributed) sums every gradient and a few scalars beside them
        (the loss, the sample count) over the processes in one call on this very buffer, and the
        optimizer steps from it without a copy."""
        tail = self._grads_with_tail
        if tail is None or tail.size != self.size + count:
            tail = np.zeros(self.size + count, self.dtype)
            tail[:self.size] = self.grads
            self.grads, self._grads_with_tail = tail[:self.size], tail
            self.grad_views = self.views(self.grads)
        return tail

    def new_slot(self, fill=0.0):
        """A flat slot array of this layout, filled with ``fill``."""
        return np.full(self.size, fill, self.dtype)

    def scratch(self, count):
        """``count`` flat work arrays, allocated once and reused by every step."""
        while len(self._scratch) < count:
            self._scratch.append(np.empty(self.size, self.dtype))
        return self._scratch[:count]

    def sync_in(self):
        """Before a step: copy in the values of unmovable variables, and move back a variable whose
        value was re-pointed elsewhere (another optimizer, or code assigning ``variable.value``)."""
        for variable, view in self._copied:
            view[...] = variable.value
        for variable, view in self._moved:
            if variable.value is not view:
                if variable.value.shape != view.shape:
                    raise RnnkitValueError(
                        f"variable {variable.name} changed shape from {view.shape} to {variable.value.shape} after "
                        f"the optimizer was built; create a new optimizer for the new variables")
                variable.move_to(view)

    def sync_out(self):
        """After a step: write the updated values back into unmovable variables' own arrays."""
        for variable, view in self._copied:
            variable.value[...] = view

    def runs(self, positions):
        """Contiguous ``(start, stop)`` ranges of the flat layout covering the variables at
        ``positions`` (sorted), adjacent variables merged into one range."""
        runs = []
        for k in positions:
            a, b = int(self.offsets[k]), int(self.offsets[k + 1])
            if runs and runs[-1][1] == a:
                runs[-1] = (runs[-1][0], b)
            else:
                runs.append((a, b))
        return runs
