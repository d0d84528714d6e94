"""TF1's ``dynamic_rnn`` and ``bidirectional_dynamic_rnn``, with their explicit backward passes.

rnnkit has no autodiff, so each forward function can return a cache
(``return_cache=True``) and a matching ``*_backward`` function turns the
gradient of the outputs and of the final state into the gradient of the inputs,
of the initial state and of every weight.

``sequence_length`` becomes the core's step mask ``mask[b, t] = t < length[b]``
with zero outputs on masked steps, which is TF1's semantics: outputs past a
sequence's length are zero and its final state is the state after its last
valid step (the initial state for a length-0 sequence).
"""
import numpy as np

from .._validate import describe, float_array, float_dtype, rectangular
from ..errors import RnnkitTypeError, RnnkitValueError
from .rnn_cell import RNNCell, check_state_structure


def _check_cell(cell, name):
    if not isinstance(cell, RNNCell):
        raise RnnkitTypeError(
            f"{name} must be an rnnkit.nn.rnn_cell cell (BasicRNNCell, BasicLSTMCell, LSTMCell, GRUCell "
            f"or MultiRNNCell), got {describe(cell)}"
        )


def _batch_major_inputs(inputs, time_major):
    inputs = float_array("inputs", inputs, ndim=3)
    return np.swapaxes(inputs, 0, 1) if time_major else inputs


def _sequence_lengths(sequence_length, batch, time):
    """Validate ``sequence_length`` as (batch,) integers in [0, time]; None passes through."""
    if sequence_length is None:
        return None
    lengths = rectangular("sequence_length", sequence_length)
    if lengths.dtype.kind not in "iu":
        raise RnnkitTypeError(f"sequence_length must hold integers, got {describe(lengths)}")
    if lengths.shape != (batch,):
        raise RnnkitValueError(
            f"sequence_length must have shape (batch,) = ({batch},), got {describe(lengths)}"
        )
    bad = np.flatnonzero((lengths < 0) | (lengths > time))
    if bad.size:
        i = int(bad[0])
        raise RnnkitValueError(
            f"sequence_length values must be in [0, {time}] (the time axis of inputs), "
            f"got sequence_length[{i}] = {int(lengths[i])}"
        )
    return lengths.astype(np.int64)


def _mask(lengths, time):
    return None if lengths is None else np.arange(time)[None, :] < lengths[:, None]


def _reverse_sequence(x, lengths):
    """TF1's reverse_sequence on (B, T, ...): reverse the first lengths[b] steps of row b, keep the rest.

    A permutation that is its own inverse, so it also carries gradients back.
    """
    if lengths is None:
        return x[:, ::-1]
    time = x.shape[1]
    steps = np.arange(time)[None, :]
    index = np.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return x[np.arange(x.shape[0])[:, None], index]


def _fill_none(grad, like):
    """``grad`` with every None leaf replaced by zeros shaped like ``like``'s leaf."""
    if grad is None:
        if isinstance(like, tuple):
            return type(like)(*(_fill_none(None, part) for part in like)) if hasattr(like, "_fields") \
                else tuple(_fill_none(None, part) for part in like)
        return np.zeros_like(like)
    if isinstance(like, tuple) and isinstance(grad, (list, tuple)) and len(grad) == len(like):
        parts = [_fill_none(g, part) for g, part in zip(grad, like)]
        return type(like)(*parts) if hasattr(like, "_fields") else tuple(parts)
    return grad  # a structure mismatch is reported by check_state_structure


def _run(cell, x, lengths, initial_state, dtype, state_name):
    """Forward over batch-major ``x``; returns outputs, TF1 final state and the cache."""
    batch, time, features = x.shape
    cell.build(features, dtype if dtype is not None else x.dtype)
    state = None if initial_state is None else cell.check_state(initial_state, batch, state_name)
    outputs, final, cell_cache = cell.forward_unchecked(x.astype(cell.dtype, copy=False), state, _mask(lengths, time))
    cache = {"cell": cell, "core": cell_cache, "state": final, "outputs_shape": outputs.shape, "lengths": lengths}
    return outputs, final, cache


def _check_d_outputs(d_outputs, shape, name):
    d_outputs = float_array(name, d_outputs, ndim=3)
    if d_outputs.shape != shape:
        raise RnnkitValueError(f"{name} must have the (batch-major) shape of the outputs {shape}, "
                               f"got {describe(d_outputs)}")
    return d_outputs


def _run_backward(cache, d_outputs, d_state, names):
    """Backward of :func:`_run` with batch-major ``d_outputs``."""
    cell, shape = cache["cell"], cache["outputs_shape"]
    if d_outputs is not None:
        d_outputs = _check_d_outputs(d_outputs, shape, names[0])
    if d_state is not None:
        d_state = check_state_structure(_fill_none(d_state, cache["state"]), cell.state_size, shape[0],
                                        cell.dtype, names[1])
    return cell.backward_unchecked(d_outputs, d_state, cache["core"])


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None, time_major=False,
                return_cache=False):
    """Run ``cell`` over every step of ``inputs`` (TF1's ``tf.nn.dynamic_rnn``).

    Args:
        cell: a cell from :mod:`rnnkit.nn.rnn_cell`; built from ``inputs`` on first use.
        inputs: (B, T, I) floats, or (T, B, I) with ``time_major=True``.
        sequence_length: None or (B,) ints in [0, T]: steps at or past a sequence's length
            output zeros and leave its state unchanged.
        initial_state: None (zeros) or the cell's TF1 state structure for batch B.
        dtype: dtype of the weights and zero state when the cell has none of its own yet;
            None means the dtype of ``inputs`` (TF1 insists on it without initial_state;
            rnnkit reads it from the inputs).
        time_major: the time axis comes first in ``inputs`` and ``outputs``.
        return_cache: also return the cache for :func:`dynamic_rnn_backward`.

    Returns:
        ``(outputs, state)``: outputs (B, T, output_size) (time-major if asked) and the final
        state in the cell's structure; ``(outputs, state, cache)`` with ``return_cache``.

    Example:
        >>> import numpy as np
        >>> from rnnkit.nn import rnn_cell
        >>> outputs, state = dynamic_rnn(rnn_cell.GRUCell(8), np.ones((4, 5, 3), np.float32),
        ...                              sequence_length=[5, 3, 0, 1])
        >>> outputs.shape, state.shape, float(np.abs(outputs[2]).max())
        ((4, 5, 8), (4, 8), 0.0)
    """
    _check_cell(cell, "cell")
    x = _batch_major_inputs(inputs, time_major)
    dtype = None if dtype is None else float_dtype("dtype", dtype)
    lengths = _sequence_lengths(sequence_length, x.shape[0], x.shape[1])
    outputs, state, cache = _run(cell, x, lengths, initial_state, dtype, "initial_state")
    cache["time_major"] = bool(time_major)
    if time_major:
        outputs = np.swapaxes(outputs, 0, 1)
    return (outputs, state, cache) if return_cache else (outputs, state)


def _check_cache(cache, keys, producer):
    """Refuse a ``cache`` that is not the one ``producer(..., return_cache=True)`` returned."""
    if not isinstance(cache, dict) or not all(key in cache for key in keys):
        raise RnnkitValueError(f"cache must be the third value of {producer}(..., return_cache=True), "
                               f"got {describe(cache)}")


def dynamic_rnn_backward(cache, d_outputs=None, d_state=None):
    """Backpropagate through :func:`dynamic_rnn`.

    Args:
        cache: the third value of ``dynamic_rnn(..., return_cache=True)``.
        d_outputs: gradient of the loss w.r.t. ``outputs`` (same shape and time-major-ness), or None.
        d_state: gradient w.r.t. the final ``state`` in the cell's structure (None leaves mean
            zero), or None.

    Returns:
        ``(d_inputs, d_initial_state, grads)``: d_inputs shaped like ``inputs``, the gradient
        of the initial state in the cell's structure, and the weight gradients as a list in
        ``cell.get_weights()`` order.
    """
    _check_cache(cache, ("cell", "core", "time_major"), "dynamic_rnn")
    if d_outputs is not None and cache["time_major"]:
        d_outputs = np.swapaxes(float_array("d_outputs", d_outputs, ndim=3), 0, 1)
    dx, d_state0, grads = _run_backward(cache, d_outputs, d_state, ("d_outputs", "d_state"))
    if cache["time_major"]:
        dx = np.swapaxes(dx, 0, 1)
    return dx, d_state0, grads


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None, initial_state_fw=None,
                              initial_state_bw=None, dtype=None, time_major=False, return_cache=False):
    """Run one cell forward and another backward over ``inputs`` (TF1's ``bidirectional_dynamic_rnn``).

    The backward direction reads each sequence reversed within its own length (TF1's
    ``reverse_sequence``: padding stays at the end) and its outputs are reversed back,
    so ``out_bw[:, t]`` is aligned with ``inputs[:, t]``.

    Args:
        cell_fw, cell_bw: cells from :mod:`rnnkit.nn.rnn_cell`.
        inputs: (B, T, I) floats, or (T, B, I) with ``time_major=True``.
        sequence_length: None or (B,) ints in [0, T].
        initial_state_fw, initial_state_bw: None (zeros) or each cell's TF1 state structure.
        dtype, time_major: as in :func:`dynamic_rnn`.
        return_cache: also return the cache for :func:`bidirectional_dynamic_rnn_backward`.

    Returns:
        ``((out_fw, out_bw), (state_fw, state_bw))`` (+ cache with ``return_cache``).
    """
    _check_cell(cell_fw, "cell_fw")
    _check_cell(cell_bw, "cell_bw")
    x = _batch_major_inputs(inputs, time_major)
    dtype = None if dtype is None else float_dtype("dtype", dtype)
    lengths = _sequence_lengths(sequence_length, x.shape[0], x.shape[1])
    out_fw, state_fw, cache_fw = _run(cell_fw, x, lengths, initial_state_fw, dtype, "initial_state_fw")
    out_bw, state_bw, cache_bw = _run(cell_bw, _reverse_sequence(x, lengths), lengths, initial_state_bw,
                                      dtype, "initial_state_bw")
    out_bw = _reverse_sequence(out_bw, lengths)
    if time_major:
        out_fw, out_bw = np.swapaxes(out_fw, 0, 1), np.swapaxes(out_bw, 0, 1)
    result = ((out_fw, out_bw), (state_fw, state_bw))
    if not return_cache:
        return result
    cache = {"fw": cache_fw, "bw": cache_bw, "lengths": lengths, "time_major": bool(time_major)}
    return (*result, cache)


def _pair(value, name):
    if value is None:
        return None, None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise RnnkitValueError(f"{name} must be None or a pair (forward, backward), got {describe(value)}")
    return value


def bidirectional_dynamic_rnn_backward(cache, d_outputs=None, d_states=None):
    """Backpropagate through :func:`bidirectional_dynamic_rnn`.

    Args:
        cache: the third value of ``bidirectional_dynamic_rnn(..., return_cache=True)``.
        d_outputs: None or ``(d_out_fw, d_out_bw)`` (each None or shaped like that output).
        d_states: None or ``(d_state_fw, d_state_bw)`` in the cells' state structures.

    Returns:
        ``(d_inputs, (d_initial_state_fw, d_initial_state_bw), (grads_fw, grads_bw))`` with the
        weight gradients as lists in each cell's ``get_weights()`` order.
    """
    _check_cache(cache, ("fw", "bw", "lengths", "time_major"), "bidirectional_dynamic_rnn")
    d_out_fw, d_out_bw = _pair(d_outputs, "d_outputs")
    d_state_fw, d_state_bw = _pair(d_states, "d_states")
    time_major, lengths = cache["time_major"], cache["lengths"]
    if time_major:
        d_out_fw = None if d_out_fw is None else np.swapaxes(float_array("d_outputs[0]", d_out_fw, ndim=3), 0, 1)
        d_out_bw = None if d_out_bw is None else np.swapaxes(float_array("d_outputs[1]", d_out_bw, ndim=3), 0, 1)
    if d_out_bw is not None:
        d_out_bw = _check_d_outputs(d_out_bw, cache["bw"]["outputs_shape"], "d_outputs[1]")
        d_out_bw = _reverse_sequence(d_out_bw, lengths)
    dx_fw, d0_fw, grads_fw = _run_backward(cache["fw"], d_out_fw, d_state_fw, ("d_outputs[0]", "d_states[0]"))
    dx_bw, d0_bw, grads_bw = _run_backward(cache["bw"], d_out_bw, d_state_bw, ("d_outputs[1]", "d_states[1]"))
    dx = dx_fw + _reverse_sequence(dx_bw, lengths)
    if time_major:
        dx = np.swapaxes(dx, 0, 1)
    return dx, (d0_fw, d0_bw), (grads_fw, grads_bw)


__all__ = ["dynamic_rnn", "dynamic_rnn_backward", "bidirectional_dynamic_rnn", "bidirectional_dynamic_rnn_backward"]
