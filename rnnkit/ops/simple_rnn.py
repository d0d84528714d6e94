"""Simple (Elman) RNN over a whole sequence, forward and backward — the readable reference.

This is the spec, and it runs where the compiled path does not cover a call. The compiled twin
lives in rnnkit/_fast/kernels.py (simple_rnn_forward / simple_rnn_backward), registered as the override
of these two functions in rnnkit/_fast/__init__.py (``overrides``), tested equal by
tests/test_fast_kernels.py; cells choose through rnnkit/cells/dispatch.py (RNNKIT_FAST=0 or
``rnnkit.cells.reference_only()`` runs this file).

    z_t = x_t W + h_{t-1} U + b
    h_t = act(z_t)

Shapes: x (B, T, I); kernel W (I, H); recurrent_kernel U (H, H); bias b (H,).
The state is the tuple ``(h,)`` with h (B, H); the output at t is h_t.

Backward (BPTT), for t = T..1:
    dh_t    = dL/dout_t + dh_t (from step t+1)
    dz_t    = dh_t ⊙ act'(z_t)
    dh_{t-1} = dz_t Uᵀ
and after the loop dU = Σ_t h_{t-1}ᵀ dz_t, dW = Σ_t x_tᵀ dz_t, db = Σ_t dz_t, dx_t = dz_t Wᵀ as
single GEMMs. Per-step arrays are time-major (T, B, ·), as in every op (see ops/sequence.py).
"""
import dataclasses

import numpy as np

from . import sequence
from .activations import Activation, get_activation


@dataclasses.dataclass
class SimpleRNNCache(sequence.SequenceCache):
    """What :func:`simple_rnn_backward` reads (recurrent_mask (B, H) or None)."""
    act: Activation
    z: np.ndarray                    # (T, B, H) pre-activations
    h_new: np.ndarray                # (T, B, H) act(z_t), the new state before masking


def simple_rnn_forward(x, state0, params, mask=None, recurrent_mask=None, *,
                       activation="tanh", zero_output_for_mask=False):
    """Run the cell over every step.

    Args:
        x: (B, T, I) inputs.
        state0: ``(h0,)`` with h0 (B, H).
        params: dict with ``kernel`` (I, H), ``recurrent_kernel`` (H, H) and optionally ``bias`` (H,).
        mask: (B, T) bool, False where a step is skipped (see :mod:`rnnkit.ops.sequence`), or None.
        recurrent_mask: (B, H) multiplier on h_{t-1} before U (recurrent dropout), or None.
        activation: name or Activation for act.
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Returns:
        outputs (B, T, H), final state ``(h_T,)``, and the :class:`SimpleRNNCache` for
        :func:`simple_rnn_backward`.
    """
    act = get_activation(activation)
    recurrent = params["recurrent_kernel"]
    x_tm = sequence.time_major(x)
    time, batch, _ = x_tm.shape
    units = recurrent.shape[0]
    z = sequence.input_product(x_tm, params["kernel"], params.get("bias"))
    h_new = np.empty((time, batch, units), z.dtype)
    h_states = np.empty((time + 1, batch, units), z.dtype)
    h = h_states[0] = state0[0]
    for t in range(time):
        h_in = h if recurrent_mask is None else h * recurrent_mask
        z[t] += h_in @ recurrent
        h_new[t] = act(z[t])
        h = h_states[t + 1] = sequence.select(sequence.step_mask(mask, t), h_new[t], h)
    cache = SimpleRNNCache(x_tm=x_tm, params=params, mask=mask, recurrent_mask=recurrent_mask, h_states=h_states,
                           zero_output_for_mask=zero_output_for_mask, act=act, z=z, h_new=h_new)
    return sequence.forward_results(h_new, cache, h_states[time])


def simple_rnn_backward(d_outputs, d_final_state, cache):
    """BPTT through :func:`simple_rnn_forward`: dx, the initial state's gradient, the weights' (:mod:`rnnkit.ops`)."""
    c = cache
    recurrent = c.params["recurrent_kernel"]
    time = len(c.h_new)
    dh_new, (dh,) = sequence.upstream_grads(c, d_outputs, d_final_state, c.h_states[0])
    dz = np.empty_like(c.z)
    for t in range(time - 1, -1, -1):
        dh_fresh, dh = sequence.split_state_grad(sequence.step_mask(c.mask, t), dh)
        dz[t] = (dh_fresh + dh_new[t]) * c.act.derivative(c.z[t], c.h_new[t])
        dh_in = dz[t] @ recurrent.T
        dh = dh + (dh_in if c.recurrent_mask is None else dh_in * c.recurrent_mask)
    h_in = c.h_states[:time] if c.recurrent_mask is None else c.h_states[:time] * c.recurrent_mask
    grads = {"recurrent_kernel": sequence.weight_grad(h_in, dz)}
    dx = sequence.input_grads(c.x_tm, dz, c.params["kernel"], grads, "bias" in c.params)
    return dx, (dh,), {name: grads[name] for name in c.params}
