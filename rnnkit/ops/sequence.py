"""Pieces every sequence op shares: the time-major layout, masking over time and gradient plumbing.

Layout. The ops take and return batch-major arrays, (B, T, ·), and keep every per-step
array time-major, (T, B, ·), as the compiled loops do: a step is then one contiguous
block, which makes the per-step reads and writes several times cheaper. :func:`time_major`
and :func:`batch_major` convert; :func:`input_product` and :func:`input_grads` are the two
GEMMs over all steps at once that every op has (x W + b before the loop, dW, db, dx after).

Masking follows Keras. With ``mask[b, t]`` False, step t of sequence b is skipped:
its state is carried over unchanged, and its output repeats the last output
emitted (zeros before the first valid step), or is zero when
``zero_output_for_mask`` is set (TF1's ``dynamic_rnn`` and Keras's
``Bidirectional`` with ``return_sequences``).

Forward, per step:   state_t = m·new_t + (1-m)·state_{t-1}
                     out_t   = m·new_t + (1-m)·out_{t-1}     (or m·new_t)
Backward turns those into the gradient routing below; the ops call these
helpers so the cells cannot drift apart.
"""
import dataclasses

import numpy as np


@dataclasses.dataclass
class SequenceCache:
    """What every op's backward reads; each op's cache adds its own per-step arrays (time-major)."""
    x_tm: np.ndarray                 # (T, B, I) inputs
    params: dict                     # the weights (not copied)
    mask: object                     # (B, T) bool or None
    recurrent_mask: object           # recurrent dropout multiplier on h_{t-1}, or None
    h_states: np.ndarray             # (T + 1, B, H_out): h_states[t] is h_{t-1}
    zero_output_for_mask: bool


def forward_results(h_new, cache, *final_state):
    """A forward's return value: the outputs (B, T, H_out) from the new states ``h_new`` (T, B, H_out)
    with the masking rule applied (:func:`mask_outputs`), copies of the final state's arrays, the cache."""
    outputs = mask_outputs(batch_major(h_new), cache.mask, cache.zero_output_for_mask)
    return outputs, tuple(s.copy() for s in final_state), cache


def upstream_grads(cache, d_outputs, d_final_state, *state0):
    """The backward's start: the gradient reaching each step's new output, time-major (T, B, H_out)
    (:func:`output_grads`), and the final state's gradient as a list of arrays like ``state0``
    (:func:`state_grads`)."""
    time, batch, out_units = cache.h_states.shape[0] - 1, cache.h_states.shape[1], cache.h_states.shape[2]
    dtype = cache.h_states.dtype
    dh_new = output_grads(d_outputs, cache.mask, cache.zero_output_for_mask, (batch, time, out_units), dtype)
    return time_major(dh_new), state_grads(d_final_state, state0, dtype)


def time_major(array):
    """(B, T, ·) -> a C-contiguous (T, B, ·) copy."""
    return np.ascontiguousarray(array.transpose(1, 0, 2))


def batch_major(array):
    """(T, B, ·) -> a C-contiguous (B, T, ·) copy."""
    return np.ascontiguousarray(array.transpose(1, 0, 2))


def input_product(x_tm, kernel, bias=None):
    """x_t W + b for every step at once: x_tm (T, B, I), kernel (I, G) -> (T, B, G), one GEMM."""
    time, batch, features = x_tm.shape
    xw = (x_tm.reshape(time * batch, features) @ kernel).reshape(time, batch, kernel.shape[1])
    if bias is not None:
        xw += bias
    return xw


def input_grads(x_tm, dxw, kernel, grads, use_bias):
    """The gradients that do not need the time loop, each one GEMM over all steps.

    ``dxw`` (T, B, G) is the gradient of :func:`input_product`'s result; adds ``kernel`` (and
    ``bias``) gradients to ``grads`` and returns dx, batch-major (B, T, I).
    """
    time, batch, features = x_tm.shape
    rows = time * batch  # explicit widths: -1 fails when T or B is 0
    flat = dxw.reshape(rows, dxw.shape[-1])
    grads["kernel"] = x_tm.reshape(rows, features).T @ flat
    if use_bias:
        grads["bias"] = flat.sum(axis=0)
    return batch_major((flat @ kernel.T).reshape(time, batch, features))


def weight_grad(inputs, d_products):
    """Σ over steps and batch of inputsᵀ d_products as one GEMM: (T, B, H), (T, B, G) -> (H, G)."""
    rows = inputs.shape[0] * inputs.shape[1]
    return inputs.reshape(rows, inputs.shape[-1]).T @ d_products.reshape(rows, d_products.shape[-1])


def step_mask(mask, t):
    """The (B, 1) boolean column of ``mask`` at step t, or None when unmasked."""
    return None if mask is None else mask[:, t, None]


def select(m, new, old):
    """``new`` where the step is valid, else ``old`` (m is None means every step is valid)."""
    return new if m is None else np.where(m, new, old)


def mask_outputs(outputs, mask, zero_output_for_mask):
    """Rewrite (B, T, H) ``outputs`` of the raw new states into the masked outputs (in place)."""
    if mask is None:
        return outputs
    batch, time, units = outputs.shape
    previous = np.zeros((batch, units), outputs.dtype)
    for t in range(time):
        m = mask[:, t, None]
        fill = 0.0 if zero_output_for_mask else previous
        outputs[:, t] = np.where(m, outputs[:, t], fill)
        previous = outputs[:, t]
    return outputs


def output_grads(d_outputs, mask, zero_output_for_mask, shape, dtype):
    """Gradient reaching each step's *new* output, from the (B, T, H) gradient of the masked outputs.

    At a masked step the output is a copy of the previous one, so its gradient
    flows on to the previous step instead (unless masked outputs are zeros).
    Returns a (B, T, H) array; ``d_outputs`` may be None (no loss on outputs).
    """
    if d_outputs is None:
        return np.zeros(shape, dtype)
    d_outputs = np.asarray(d_outputs, dtype)
    if mask is None:
        return d_outputs
    dh_new = np.zeros(shape, dtype)
    carry = np.zeros((shape[0], shape[2]), dtype)
    for t in range(shape[1] - 1, -1, -1):
        m = mask[:, t, None]
        total = d_outputs[:, t] + carry
        dh_new[:, t] = np.where(m, total, 0.0)
        carry = np.zeros_like(carry) if zero_output_for_mask else np.where(m, 0.0, total)
    return dh_new


def state_grads(d_final_state, state0, dtype):
    """The gradient of the final state as a list of arrays, zeros where None was given."""
    if d_final_state is None:
        d_final_state = (None,) * len(state0)
    return [np.zeros_like(s, dtype) if d is None else np.asarray(d, dtype).copy()
            for d, s in zip(d_final_state, state0)]


def split_state_grad(m, d_state):
    """Split the gradient of state_t into (part for the new value, part carried to state_{t-1})."""
    if m is None:
        return d_state, 0.0
    return np.where(m, d_state, 0.0), np.where(m, 0.0, d_state)
