"""Minimal gated unit (Zhou et al. 2016) over a whole sequence, forward and backward: the reference.

One gate, f, both forgets and writes (a GRU whose update and reset gates are one):

    f_t  = σ(x_t W_f + h'_{t-1} U_f + b_f)           h'_{t-1} = h_{t-1} ⊙ recurrent_mask
    h~_t = act(x_t W_h + (f_t ⊙ h'_{t-1}) U_h + b_h)
    h_t  = (1 - f_t) ⊙ h_{t-1} + f_t ⊙ h~_t

Shapes: x (B, T, I); kernel W (I, 2H) with blocks f, h; recurrent_kernel U (H, 2H); bias (2H,).
The state is ``(h,)`` with h (B, H); the output at t is h_t. The recurrent dropout mask acts where
h_{t-1} enters U (as Keras's GRU does); the blend reads h_{t-1} itself. There is no compiled twin:
this file is what runs (see docs/adding_a_cell.md, which walks through it). Per-step arrays are
time-major (T, B, ·), as in every op (see ops/sequence.py).

Backward (BPTT), for t = T..1, with dh the gradient reaching h_t's new value:
    dh~ = dh ⊙ f ;  df = dh ⊙ (h~ - h_{t-1}) ;  dh_{t-1} = dh ⊙ (1 - f) + (recurrent paths)
    da_h = dh~ ⊙ act'(a_h) ;  d(f ⊙ h') = da_h U_hᵀ ;  df += d(f ⊙ h') ⊙ h' ;  dh' = d(f ⊙ h') ⊙ f
    da_f = df ⊙ σ'(a_f) ;  dh' += da_f U_fᵀ ;  dh_{t-1} += dh' ⊙ recurrent_mask
and after the loop dU_f = Σ h'ᵀ da_f, dU_h = Σ (f ⊙ h')ᵀ da_h, dW, db and dx as single GEMMs.
"""
import dataclasses

import numpy as np

from . import sequence
from .activations import Activation, get_activation


@dataclasses.dataclass
class MGUCache(sequence.SequenceCache):
    """What :func:`mgu_backward` reads (recurrent_mask (B, H) or None)."""
    act: Activation                  # the candidate's
    gate_act: Activation             # σ, for f
    a: np.ndarray                    # (T, B, 2H) a_f, a_h: the pre-activations
    gates: np.ndarray                # (T, B, 2H) f, h~
    f_h: np.ndarray                  # (T, B, H) f_t ⊙ h'_{t-1}, what U_h reads
    h_new: np.ndarray                # (T, B, H) the new state before masking


def mgu_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                recurrent_activation="sigmoid", zero_output_for_mask=False):
    """Run the minimal gated unit over every step.

    Args:
        x: (B, T, I) inputs.
        state0: ``(h0,)`` with h0 (B, H).
        params: dict with ``kernel`` (I, 2H), ``recurrent_kernel`` (H, 2H) and optionally ``bias`` (2H,),
            gate blocks f, h.
        mask: (B, T) bool, False where a step is skipped (see :mod:`rnnkit.ops.sequence`), or None.
        recurrent_mask: (B, H) multiplier on h_{t-1} where it enters U (recurrent dropout), or None.
        activation: name or Activation for the candidate h~ (act).
        recurrent_activation: name or Activation for the gate f (σ).
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Returns:
        outputs (B, T, H), final state ``(h_T,)``, and the :class:`MGUCache` for :func:`mgu_backward`.
    """
    act, gate_act = get_activation(activation), get_activation(recurrent_activation)
    recurrent = params["recurrent_kernel"]
    units = recurrent.shape[0]
    F, C = slice(0, units), slice(units, 2 * units)
    x_tm = sequence.time_major(x)
    time, batch, _ = x_tm.shape
    a = sequence.input_product(x_tm, params["kernel"], params.get("bias"))
    gates = np.empty_like(a)
    f_h, h_new = (np.empty((time, batch, units), a.dtype) for _ in range(2))
    h_states = np.empty((time + 1, batch, units), a.dtype)
    h = h_states[0] = state0[0]
    for t in range(time):
        a_t, g = a[t], gates[t]
        h_in = h if recurrent_mask is None else h * recurrent_mask
        a_t[:, F] += h_in @ recurrent[:, F]
        g[:, F] = gate_act(a_t[:, F])
        f_h[t] = g[:, F] * h_in
        a_t[:, C] += f_h[t] @ recurrent[:, C]
        g[:, C] = act(a_t[:, C])
        h_new[t] = (1.0 - g[:, F]) * h + g[:, F] * g[:, C]
        h = h_states[t + 1] = sequence.select(sequence.step_mask(mask, t), h_new[t], h)
    cache = MGUCache(x_tm=x_tm, params=params, mask=mask, recurrent_mask=recurrent_mask, h_states=h_states,
                     zero_output_for_mask=zero_output_for_mask, act=act, gate_act=gate_act, a=a, gates=gates,
                     f_h=f_h, h_new=h_new)
    return sequence.forward_results(h_new, cache, h_states[time])


def mgu_backward(d_outputs, d_final_state, cache):
    """BPTT through :func:`mgu_forward`: dx, the initial state's gradient, the weights' (:mod:`rnnkit.ops`)."""
    c = cache
    recurrent, rmask = c.params["recurrent_kernel"], c.recurrent_mask
    time, _, units = c.h_new.shape
    F, C = slice(0, units), slice(units, 2 * units)
    dh_new, (dh,) = sequence.upstream_grads(c, d_outputs, d_final_state, c.h_states[0])
    da = np.empty_like(c.a)
    for t in range(time - 1, -1, -1):
        dh_fresh, dh = sequence.split_state_grad(sequence.step_mask(c.mask, t), dh)
        d = dh_fresh + dh_new[t]
        h_prev, a_t, g, da_t = c.h_states[t], c.a[t], c.gates[t], da[t]
        h_in = h_prev if rmask is None else h_prev * rmask
        f, cand = g[:, F], g[:, C]
        da_t[:, C] = d * f * c.act.derivative(a_t[:, C], cand)
        df_h = da_t[:, C] @ recurrent[:, C].T
        df = d * (cand - h_prev) + df_h * h_in
        da_t[:, F] = df * c.gate_act.derivative(a_t[:, F], f)
        dh_in = df_h * f + da_t[:, F] @ recurrent[:, F].T
        dh = dh + d * (1.0 - f) + (dh_in if rmask is None else dh_in * rmask)
    h_in = c.h_states[:time] if rmask is None else c.h_states[:time] * rmask
    grads = {"recurrent_kernel": np.concatenate([sequence.weight_grad(h_in, da[:, :, F]),
                                                 sequence.weight_grad(c.f_h, da[:, :, C])], axis=1)}
    dx = sequence.input_grads(c.x_tm, da, c.params["kernel"], grads, "bias" in c.params)
    return dx, (dh,), {name: grads[name] for name in c.params}
