"""The arrays one training step of ``fit`` keeps for the next: gradients, their norm, the weights' backup.

Once the optimizer is built on the model's trainable variables (its first step), they live in its
flat buffers (:class:`rnnkit.optimizers.flat.FlatGroup`: the weights, and a gradient buffer of
the same layout). From then on a step

* has the backward write each weight gradient straight into the weight's view of the gradient
  buffer (:attr:`StepBuffers.sinks`, read through :mod:`rnnkit.ops.grad_sinks`), so no gradient
  array is allocated and the optimizer has nothing to copy;
* takes the global gradient norm, which also tells whether every gradient is finite, from one
  pass over that buffer summing float64 squares (:meth:`StepBuffers.global_norm`,
  rnnkit.ops.vector_ops.sum_of_squares per variable, added in the variables' order);
* backs the weights up into one kept array per group before the update
  (:meth:`StepBuffers.backup`), to put them back if the update made one non-finite.

Each falls back to the plain per-variable way when the optimizer is not built on exactly these
variables (the first step, an optimizer shared with other variables, a changed trainable flag)
or a gradient is not its buffer view (a layer called twice sums its gradients into a new array).
"""
import weakref

import numpy as np

from ..ops import vector_ops
from ..cells.dispatch import active_function

_kept = weakref.WeakKeyDictionary()  # FlatGroup -> {"backup": array}


def _kept_array(group, name, dtype):
    arrays = _kept.setdefault(group, {})
    array = arrays.get(name)
    if array is None or array.shape != (group.size,) or array.dtype != dtype:
        array = arrays[name] = np.empty(group.size, dtype)
    return array


class StepBuffers:
    """The flat buffers of ``optimizer`` for one step on ``variables`` (see the module docstring).

    Attributes:
        sinks: ``{id(weight array): gradient view}`` for
            :class:`rnnkit.ops.grad_sinks.writing_gradients_into` (empty when not built on them).
    """

    def __init__(self, optimizer, variables):
        self.variables = variables
        self.groups = None
        self.sinks = {}
        if not optimizer.built_on(variables):
            return
        self.groups = optimizer.flat_groups
        where = {}
        for group in self.groups:
            for k, (variable, view) in enumerate(zip(group.variables, group.grad_views)):
                self.sinks[id(variable.value)] = view
                where[id(variable)] = (group, k, view)
        self.where = [where[id(v)] for v in variables]

    def _in_buffers(self, grads):
        return self.groups is not None and all(g is view for g, (_, _, view) in zip(grads, self.where))

    def global_norm(self, grads):
        """``(norm, finite)``: sqrt(sum over the gradients (``variables`` order) of their float64 sums of
        squares), and whether every gradient is finite."""
        squares = active_function(vector_ops.sum_of_squares)
        if self._in_buffers(grads):  # each variable's run of its group's flat buffer
            total = sum(squares(group.grads[group.offsets[k]:group.offsets[k + 1]]) for group, k, _ in self.where)
        else:
            total = sum(squares(np.ascontiguousarray(g).reshape(-1)) for g in grads)
        norm = float(np.sqrt(total))
        # float64 squares of float32 never overflow, so a finite norm means finite gradients; float64
        # gradients over ~1e154 can overflow it, hence the elementwise check then
        finite = bool(np.isfinite(norm)) or all(np.isfinite(g).all() for g in grads)
        return norm, finite

    def backup(self):
        """Keep the variables' values (before an optimizer step)."""
        if self.groups is None:
            self.values = [v.value.copy() for v in self.variables]
            return
        for group in self.groups:
            np.copyto(_kept_array(group, "backup", group.dtype), group.params)

    def all_finite(self):
        """Whether every variable is finite now (after the step: the flat weights hold every value)."""
        if self.groups is None:
            return all(np.isfinite(v.value).all() for v in self.variables)
        return all(np.isfinite(group.params).all() for group in self.groups)

    def restore(self):
        """Put the values :meth:`backup` kept back."""
        if self.groups is None:
            for variable, value in zip(self.variables, self.values):
                variable.value[...] = value
            return
        for group in self.groups:
            np.copyto(group.params, _kept[group]["backup"])
            group.sync_out()
