"""The time loop for cells known only by one step: whole-sequence forward and BPTT from a step pair.

The cells of :mod:`rnnkit.cells` run their sequences inside their own kernels.
Cells and wrappers that exist only as one step (the layer-normalised LSTM, a
DropoutWrapper that drops the state between steps) run through this loop
instead, with the masking of :mod:`rnnkit.ops.sequence` (the same helpers the
kernels use, so the semantics cannot drift apart):

    forward    out_t, new_t, cache_t = step(x_t, state_{t-1}, t)
               state_t = m_t·new_t + (1 - m_t)·state_{t-1}
               outputs: the raw out_t where m_t, else zeros or the last output
    backward   for t = T..1:  the gradient of state_t splits into the part for new_t
               (where m_t) and the part carried to state_{t-1} (where not m_t);
               dx_t, d state_{t-1}, grads_t = step_backward(d out_t, d new_t, cache_t)
               weight gradients are summed over steps

States are tuples of (B, size) arrays, possibly nested (a stack of cells): every
state operation maps over the leaves.
"""
import numpy as np

from ...ops import sequence


def tree_map(fn, *trees):
    """Apply ``fn`` leaf by leaf to tuples of the same (nested) structure."""
    if isinstance(trees[0], (tuple, list)):
        return tuple(tree_map(fn, *parts) for parts in zip(*trees))
    return fn(*trees)


def tree_leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for part in tree for leaf in tree_leaves(part)]
    return [tree]


def loop_forward(step, x, state0, mask, zero_output_for_mask, output_size):
    """Run ``step(x_t, state, t) -> (out_t, new_state, cache_t)`` over (B, T, I) ``x``.

    Returns outputs (B, T, output_size), the final state and the list of step caches
    (the loop's own record for :func:`loop_backward`).
    """
    batch, time, _ = x.shape
    state, raw, caches = state0, np.empty((batch, time, output_size), x.dtype), []
    for t in range(time):
        out, new, cache = step(x[:, t], state, t)
        m = sequence.step_mask(mask, t)
        state = tree_map(lambda n, s: sequence.select(m, n, s), new, state)
        raw[:, t] = out
        caches.append(cache)
    return sequence.mask_outputs(raw, mask, zero_output_for_mask), state, caches


def loop_backward(step_backward, d_outputs, d_final_state, caches, state0, mask, zero_output_for_mask, x_shape,
                  dtype):
    """BPTT through :func:`loop_forward`.

    ``step_backward(d_out_t, d_new_state, cache_t) -> (dx_t, d_state_{t-1}, grads_t)`` with
    ``grads_t`` a dict of weight gradients (summed over steps here). ``d_outputs`` may be None,
    ``d_final_state`` None or a structure with None leaves (no loss there).

    Returns ``(dx (B, T, I), d_state0, grads dict)`` (grads is empty when T is 0).
    """
    batch, time, features = x_shape
    d_out = None
    if d_outputs is not None:
        d_out = sequence.output_grads(d_outputs, mask, zero_output_for_mask,
                                      (batch, time, np.shape(d_outputs)[-1]), dtype)
    if d_final_state is None:
        d_final_state = tree_map(lambda s: None, state0)
    d_state = tree_map(lambda d, s: np.zeros_like(s, dtype) if d is None else np.asarray(d, dtype), d_final_state,
                       state0)
    dx, grads = np.zeros((batch, time, features), dtype), {}
    for t in range(time - 1, -1, -1):
        m = sequence.step_mask(mask, t)
        d_new = tree_map(lambda d: sequence.split_state_grad(m, d)[0], d_state)
        carried = tree_map(lambda d: sequence.split_state_grad(m, d)[1], d_state)
        dx[:, t], d_prev, step_grads = step_backward(None if d_out is None else d_out[:, t], d_new, caches[t])
        d_state = tree_map(lambda a, b: a + b, d_prev, carried)
        for name, value in step_grads.items():
            grads[name] = value if name not in grads else grads[name] + value
    return dx, d_state, grads


__all__ = ["loop_forward", "loop_backward", "tree_map", "tree_leaves"]
