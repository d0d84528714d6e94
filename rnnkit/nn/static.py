"""TF1's ``static_rnn`` and ``static_bidirectional_rnn``: the dynamic versions over a list of steps.

TF1 built one graph node per step for these; the results are the same as
``dynamic_rnn`` on the stacked steps, which is how rnnkit runs them (one time loop,
the cells' sequence kernels). With ``sequence_length``, TF1's static semantics are
the dynamic ones: outputs past a sequence's length are zeros and its state is
copied through, so the final state is the state after its last valid step.
"""
import numpy as np

from .._validate import describe, float_array
from ..errors import RnnkitTypeError, RnnkitValueError
from .rnn import (_check_cache, bidirectional_dynamic_rnn, bidirectional_dynamic_rnn_backward, dynamic_rnn,
                  dynamic_rnn_backward)


def _stack_steps(inputs, name="inputs"):
    """A list of T (B, I) float arrays -> one (B, T, I) array (the order static_rnn's steps come in)."""
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
        raise RnnkitTypeError(f"{name} must be a list of T arrays of shape (batch, input_size) (TF1's static "
                              f"form; use dynamic_rnn for one (batch, time, input) array), got {describe(inputs)}")
    if not inputs:
        raise RnnkitValueError(f"{name} must not be empty")
    steps = [float_array(f"{name}[{t}]", step, ndim=2) for t, step in enumerate(inputs)]
    for t, step in enumerate(steps):
        if step.shape != steps[0].shape:
            raise RnnkitValueError(f"every step of {name} must have the shape of {name}[0] {steps[0].shape}, "
                                   f"got {name}[{t}] of shape {step.shape}")
    return np.stack(steps, axis=1)


def _stack_step_grads(d_outputs, shape, name):
    """A list of T gradients (each None or (B, H)) -> (B, T, H), or None for no loss on the outputs."""
    if d_outputs is None:
        return None
    if not isinstance(d_outputs, (list, tuple)) or len(d_outputs) != shape[1]:
        raise RnnkitValueError(f"{name} must be None or a list of {shape[1]} gradients (one per output, None "
                               f"for no loss on that step), got {describe(d_outputs)}")
    if all(d is None for d in d_outputs):
        return None
    zeros = np.zeros((shape[0], shape[2]))
    return np.stack([zeros if d is None else float_array(f"{name}[{t}]", d, ndim=2)
                     for t, d in enumerate(d_outputs)], axis=1)


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None,
               return_cache=False):
    """Run ``cell`` over a list of steps (TF1's ``tf.nn.static_rnn`` / ``tf.contrib.rnn.static_rnn``).

    Args:
        cell: a cell from :mod:`rnnkit.nn.rnn_cell` (wrappers and MultiRNNCell included).
        inputs: a list of T arrays (B, I).
        initial_state: None (zeros) or the cell's TF1 state structure for batch B.
        dtype: dtype of the weights and zero state for a cell not built yet (TF1 insists on it
            without initial_state; rnnkit reads it from the inputs when None).
        sequence_length: None or (B,) ints in [0, T].
        scope: accepted for TF1 compatibility and ignored.
        return_cache: also return the cache for :func:`static_rnn_backward`.

    Returns:
        ``(outputs, state)``: a list of T outputs (B, output_size) and the final state
        (``(outputs, state, cache)`` with ``return_cache``).

    Example:
        >>> import numpy as np
        >>> from rnnkit.nn import rnn_cell
        >>> steps = [np.ones((2, 3), np.float32)] * 4
        >>> outputs, state = static_rnn(rnn_cell.BasicLSTMCell(5, seed=0), steps, sequence_length=[4, 2])
        >>> len(outputs), outputs[3].shape, float(np.abs(outputs[3][1]).max())
        (4, (2, 5), 0.0)
    """
    x = _stack_steps(inputs)
    outputs, state, cache = dynamic_rnn(cell, x, sequence_length, initial_state, dtype, return_cache=True)
    outputs = [outputs[:, t] for t in range(outputs.shape[1])]
    return (outputs, state, {"dynamic": cache}) if return_cache else (outputs, state)


def static_rnn_backward(cache, d_outputs=None, d_state=None):
    """Backpropagate through :func:`static_rnn`.

    Args:
        cache: the third value of ``static_rnn(..., return_cache=True)``.
        d_outputs: None or a list of T gradients of the outputs (each None or (B, output_size)).
        d_state: gradient of the final state in the cell's structure (None leaves mean zero), or None.

    Returns:
        ``(d_inputs, d_initial_state, grads)``: a list of T arrays (B, I), the gradient of the
        initial state in the cell's structure, the weight gradients in ``cell.get_weights()`` order.
    """
    _check_cache(cache, ("dynamic",), "static_rnn")
    d_out = _stack_step_grads(d_outputs, cache["dynamic"]["outputs_shape"], "d_outputs")
    dx, d_state0, grads = dynamic_rnn_backward(cache["dynamic"], d_out, d_state)
    return [dx[:, t] for t in range(dx.shape[1])], d_state0, grads


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None, initial_state_bw=None, dtype=None,
                             sequence_length=None, scope=None, return_cache=False):
    """A forward and a backward RNN over a list of steps (TF1's ``static_bidirectional_rnn``).

    The backward cell reads each sequence reversed within its own length; its outputs are
    reversed back, and each output is ``concat([out_fw_t, out_bw_t], axis=1)``.

    Returns:
        ``(outputs, state_fw, state_bw)``: a list of T arrays (B, H_fw + H_bw) and the two final
        states (``(outputs, state_fw, state_bw, cache)`` with ``return_cache``).
    """
    x = _stack_steps(inputs)
    (out_fw, out_bw), (state_fw, state_bw), cache = bidirectional_dynamic_rnn(
        cell_fw, cell_bw, x, sequence_length, initial_state_fw, initial_state_bw, dtype, return_cache=True)
    both = np.concatenate([out_fw, out_bw], axis=2)
    outputs = [both[:, t] for t in range(both.shape[1])]
    result = (outputs, state_fw, state_bw)
    return (*result, {"bidirectional": cache, "split": out_fw.shape[2], "shape": both.shape}) if return_cache \
        else result


def static_bidirectional_rnn_backward(cache, d_outputs=None, d_state_fw=None, d_state_bw=None):
    """Backpropagate through :func:`static_bidirectional_rnn`.

    Args:
        cache: the fourth value of ``static_bidirectional_rnn(..., return_cache=True)``.
        d_outputs: None or a list of T gradients (each None or (B, H_fw + H_bw)).
        d_state_fw, d_state_bw: gradients of the two final states (None allowed).

    Returns:
        ``(d_inputs, (d_initial_state_fw, d_initial_state_bw), (grads_fw, grads_bw))`` with d_inputs a
        list of T arrays (B, I).
    """
    _check_cache(cache, ("bidirectional", "split", "shape"), "static_bidirectional_rnn")
    d_both = _stack_step_grads(d_outputs, cache["shape"], "d_outputs")
    d_pair = None if d_both is None else (d_both[..., :cache["split"]], d_both[..., cache["split"]:])
    dx, d_states0, grads = bidirectional_dynamic_rnn_backward(cache["bidirectional"], d_pair,
                                                              (d_state_fw, d_state_bw))
    return [dx[:, t] for t in range(dx.shape[1])], d_states0, grads


__all__ = ["static_rnn", "static_rnn_backward", "static_bidirectional_rnn", "static_bidirectional_rnn_backward"]
