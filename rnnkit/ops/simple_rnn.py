"""Simple (Elman) RNN over a whole sequence, forward and backward — the readable reference.

This is the spec, and it runs where the compiled path does not cover a call. The compiled twin
lives in rnnkit/_fast/kernels.py (simple_rnn_forward / simple_rnn_backward), registered as the override
of these two functions in rnnkit/_fast/__init__.py (``overrides``), tested equal by
tests/test_fast_kernels.py; cells choose through rnnkit/cells/dispatch.py (RNNKIT_FAST=0 or
``rnnkit.cells.reference_only()`` runs this file).

    z_t = x_t W + h_{t-1} U + b
    h_t = f(z_t)

Shapes: x (B, T, I); kernel W (I, H); recurrent_kernel U (H, H); bias b (H,).
The state is the tuple ``(h,)`` with h (B, H); the output at t is h_t.

Backward (BPTT), for t = T..1:
    dh_t    = dL/dout_t + dh_t (from step t+1)
    dz_t    = dh_t ⊙ f'(z_t)
    dU     += h_{t-1}ᵀ dz_t ;  dh_{t-1} = dz_t Uᵀ
and after the loop dW = Σ_t x_tᵀ dz_t, db = Σ_t dz_t, dx_t = dz_t Wᵀ as single GEMMs.
"""
import numpy as np

from . import sequence
from .activations import get_activation


def simple_rnn_forward(x, state0, params, mask=None, recurrent_mask=None, *,
                       activation="tanh", zero_output_for_mask=False):
    """Run the cell over every step.

    Args:
        x: (B, T, I) inputs.
        state0: ``(h0,)`` with h0 (B, H).
        params: dict with ``kernel`` (I, H), ``recurrent_kernel`` (H, H) and optionally ``bias`` (H,).
        mask: (B, T) bool, False where a step is skipped (see :mod:`rnnkit.ops.sequence`), or None.
        recurrent_mask: (B, H) multiplier on h_{t-1} before U (recurrent dropout), or None.
        activation: name or Activation for f.
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Returns:
        outputs (B, T, H), final state ``(h_T,)``, and the cache for :func:`simple_rnn_backward`.
    """
    f = get_activation(activation)
    kernel, recurrent = params["kernel"], params["recurrent_kernel"]
    batch, time, _ = x.shape
    units = recurrent.shape[0]
    projected = x @ kernel
    if "bias" in params:
        projected += params["bias"]
    z = np.empty((batch, time, units), x.dtype)
    new = np.empty((batch, time, units), x.dtype)
    states = np.empty((batch, time + 1, units), x.dtype)  # states[:, t] is h_{t-1}
    states[:, 0] = state0[0]
    h = state0[0]
    for t in range(time):
        h_in = h if recurrent_mask is None else h * recurrent_mask
        z[:, t] = projected[:, t] + h_in @ recurrent
        new[:, t] = f(z[:, t])
        h = sequence.select(sequence.step_mask(mask, t), new[:, t], h)
        states[:, t + 1] = h
    outputs = sequence.mask_outputs(new.copy(), mask, zero_output_for_mask)
    cache = dict(x=x, params=params, mask=mask, recurrent_mask=recurrent_mask, f=f,
                 z=z, new=new, states=states, zero_output_for_mask=zero_output_for_mask)
    return outputs, (h,), cache


def simple_rnn_backward(d_outputs, d_final_state, cache):
    """Backpropagate through time.

    Args:
        d_outputs: (B, T, H) gradient of the loss w.r.t. the outputs, or None.
        d_final_state: ``(dh_T,)`` (entries may be None), or None.
        cache: from :func:`simple_rnn_forward`.

    Returns:
        dx (B, T, I), ``(dh0,)``, and a dict of weight gradients keyed like ``params``.
    """
    x, params, mask, rmask = cache["x"], cache["params"], cache["mask"], cache["recurrent_mask"]
    z, new, states, f = cache["z"], cache["new"], cache["states"], cache["f"]
    recurrent = params["recurrent_kernel"]
    batch, time, units = new.shape
    d_new = sequence.output_grads(d_outputs, mask, cache["zero_output_for_mask"], new.shape, x.dtype)
    (dh,) = sequence.state_grads(d_final_state, (states[:, 0],), x.dtype)
    dz = np.empty_like(z)
    d_recurrent = np.zeros_like(recurrent)
    for t in range(time - 1, -1, -1):
        d_fresh, dh = sequence.split_state_grad(sequence.step_mask(mask, t), dh)
        dz[:, t] = (d_fresh + d_new[:, t]) * f.derivative(z[:, t], new[:, t])
        h_prev = states[:, t]
        h_in = h_prev if rmask is None else h_prev * rmask
        d_recurrent += h_in.T @ dz[:, t]
        d_in = dz[:, t] @ recurrent.T
        dh = dh + (d_in if rmask is None else d_in * rmask)
    grads = {"recurrent_kernel": d_recurrent}
    dx = sequence.input_weight_grads(x, dz, params["kernel"], grads, "bias" in params)
    return dx, (dh,), {name: grads[name] for name in params}
