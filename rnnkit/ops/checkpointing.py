"""Gradient checkpointing through time: BPTT that keeps states at segment boundaries only.

A plain training forward keeps every step's activations for backward (see
docs/memory.md): memory grows as T · (per-step cache). Cutting the sequence into
segments of S steps and keeping only the recurrent state where each segment
starts brings that down to

    T/S boundary states  +  the cache of one segment (S steps)  during backward,

which is smallest near S ≈ √T. The price is one extra forward pass: backward
walks the segments last to first, reruns each segment's forward from its stored
start state (recomputing exactly the cache the plain forward had), and
backpropagates through that segment alone:

    for k = K..1:   cache_k = forward(x[s_k:e_k], state_{s_k})
                    dx[s_k:e_k], d state_{s_k}, g_k = backward(dh_new[s_k:e_k], d state_{e_k}, cache_k)
    grads = Σ_k g_k

Masking. A masked step repeats the previous output, and "previous" can lie in
an earlier segment, so outputs are not a per-segment function. Segments are
therefore run with ``zero_output_for_mask=True`` (a masked step outputs 0 and
depends on nothing) and the repetition is applied once over the whole sequence
with :func:`rnnkit.ops.sequence.mask_outputs`; in backward,
:func:`rnnkit.ops.sequence.output_grads` routes the output gradients back to the
steps that produced them before the segments see them. The state path needs no
such care: a masked step carries its state, which crosses a boundary like any
other state.

Any cell kind works: the helpers take a bound ``run(x, state0, mask,
zero_output_for_mask) -> (outputs, final_state, cache)`` and its ``backward(d_outputs,
d_final_state, cache) -> (dx, d_state0, grads)`` (grads a dict or a list). The cells
(:class:`rnnkit.cells.base.SequenceCell`, a stack included) pass their own plain pass
and its backward: ``cell.forward(..., backprop_segment=S)`` and the layers'
``backprop_segment`` argument both come here.
"""
import numpy as np

from . import sequence


class SegmentedCache:
    """What :func:`segmented_forward` keeps: the inputs, the start state of every segment and
    the callables to recompute and backpropagate a segment. No per-step activations."""

    def __init__(self, run, backward, x, mask, bounds, start_states, zero_output_for_mask, output_shape):
        self.run = run
        self.backward = backward
        self.x = x
        self.mask = mask
        self.bounds = bounds                  # [(start, stop), ...] covering range(T)
        self.start_states = start_states      # start_states[k] is the state entering segment k
        self.zero_output_for_mask = zero_output_for_mask
        self.output_shape = output_shape

    @property
    def segment_count(self):
        return len(self.bounds)


def segment_bounds(time, backprop_segment):
    """``[(start, stop), ...]`` cutting ``range(time)`` into pieces of ``backprop_segment`` steps (the
    last may be shorter); one empty segment when ``time`` is 0, so the state still passes through."""
    if time == 0:
        return [(0, 0)]
    return [(start, min(start + backprop_segment, time)) for start in range(0, time, backprop_segment)]


def _copy_state(state):
    """A deep copy of a (possibly nested) state: ops may return views into their caches, and a
    view would keep a whole segment's cache alive."""
    if isinstance(state, (tuple, list)):
        return tuple(_copy_state(s) for s in state)
    return None if state is None else np.array(state, copy=True)


def segmented_forward(run, backward, x, state0, mask=None, *, backprop_segment, zero_output_for_mask=False):
    """Forward over the whole sequence keeping only the segment start states.

    Args:
        run: ``run(x_seg, state, mask_seg, zero_output_for_mask) -> (outputs, final_state, cache)``.
        backward: the matching ``backward(d_outputs, d_final_state, cache) -> (dx, d_state0, grads)``.
        x: (B, T, I) inputs.
        state0: the initial state in the form ``run`` takes.
        mask: None or (B, T) bool (False skips a step).
        backprop_segment: S, steps per segment (an int > 0, checked by the caller); S ≥ T gives one
            segment (plain BPTT plus one recomputation).
        zero_output_for_mask: masked steps output zeros instead of repeating the previous output.

    Returns:
        outputs (B, T, H), final state, and a :class:`SegmentedCache` for :func:`segmented_backward`.
        Values equal those of ``run`` over the whole sequence.
    """
    bounds = segment_bounds(x.shape[1], backprop_segment)
    state, starts, pieces = state0, [], []
    for start, stop in bounds:
        starts.append(_copy_state(state))
        seg_mask = None if mask is None else np.ascontiguousarray(mask[:, start:stop])
        outputs, state, _ = run(np.ascontiguousarray(x[:, start:stop]), state, seg_mask, True)  # cache dropped
        pieces.append(outputs)
    outputs = np.concatenate(pieces, axis=1) if len(pieces) > 1 else np.array(pieces[0], copy=True)
    outputs = sequence.mask_outputs(outputs, mask, zero_output_for_mask)
    cache = SegmentedCache(run, backward, x, mask, bounds, starts, zero_output_for_mask, outputs.shape)
    return outputs, _copy_state(state), cache


def _add_grads(total, grads):
    if total is None:
        if isinstance(grads, dict):
            return {name: np.array(g, copy=True) for name, g in grads.items()}
        return [np.array(g, copy=True) for g in grads]
    if isinstance(total, dict):
        for name, g in grads.items():
            total[name] += g
    else:
        for t, g in zip(total, grads):
            t += g
    return total


def segmented_backward(d_outputs, d_final_state, cache):
    """BPTT segment by segment, recomputing each segment's forward from its start state.

    Args:
        d_outputs: (B, T, H) gradient of the loss w.r.t. the outputs, or None.
        d_final_state: gradient of the final state (entries may be None), or None.
        cache: the :class:`SegmentedCache` from :func:`segmented_forward`.

    Returns:
        dx (B, T, I), the gradient of the initial state, and the weight gradients (summed over
        segments, a dict or list as the wrapped ``backward`` returns them) — equal to plain BPTT.
    """
    x, mask = cache.x, cache.mask
    dh_new = sequence.output_grads(d_outputs, mask, cache.zero_output_for_mask, cache.output_shape, x.dtype)
    dx = np.empty(x.shape, x.dtype)
    d_state, total = d_final_state, None
    for k in range(cache.segment_count - 1, -1, -1):
        start, stop = cache.bounds[k]
        seg_mask = None if mask is None else np.ascontiguousarray(mask[:, start:stop])
        _, _, seg_cache = cache.run(np.ascontiguousarray(x[:, start:stop]), cache.start_states[k], seg_mask, True)
        # dh_new is already zero at masked steps, as a zero_output_for_mask op expects.
        seg_dx, d_state, grads = cache.backward(dh_new[:, start:stop], d_state, seg_cache)
        dx[:, start:stop] = seg_dx
        d_state = _copy_state(d_state)  # a compiled op may hand back reused scratch buffers
        total = _add_grads(total, grads)
    return dx, d_state, total


def cache_nbytes(cache):
    """Bytes of the NumPy arrays a forward cache keeps alive: dicts, lists, tuples and plain
    objects' attributes are followed, each underlying buffer is counted once, and the weights
    (the arrays under a ``params`` key or attribute, which exist anyway) are left out."""
    def base_of(array):
        while isinstance(array.base, np.ndarray):
            array = array.base
        return array

    weights, buffers, seen, stack = set(), {}, set(), [cache]
    while stack:
        item = stack.pop()
        if isinstance(item, np.ndarray):
            buffers[id(base_of(item))] = base_of(item)
            continue
        if id(item) in seen or item is None or isinstance(item, (str, bytes, int, float, bool)):
            continue
        seen.add(id(item))
        if isinstance(item, dict) or (hasattr(item, "__dict__") and not callable(item)):
            for key, value in (item if isinstance(item, dict) else vars(item)).items():
                if key == "params" and isinstance(value, dict):
                    weights.update(id(base_of(np.asarray(w))) for w in value.values())
                else:
                    stack.append(value)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return int(sum(b.nbytes for key, b in buffers.items() if key not in weights))


__all__ = ["SegmentedCache", "cache_nbytes", "segment_bounds", "segmented_backward",
           "segmented_forward"]
