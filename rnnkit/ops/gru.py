"""Gated recurrent unit over a whole sequence, forward and backward — the readable reference.

This is the spec, and it runs where the compiled path does not cover a call. The compiled twin
lives in rnnkit/_fast/kernels.py (gru_forward / gru_backward), registered as the override
of these two functions in rnnkit/_fast/__init__.py (``overrides``), tested equal by
tests/test_fast_kernels.py; cells choose through rnnkit/cells/dispatch.py (RNNKIT_FAST=0 or
``rnnkit.cells.reference_only()`` runs this file).

Gate order in the fused matrices is Keras's z, r, h: kernel W (I, 3H), recurrent_kernel U (H, 3H).
σ is the gate activation (recurrent_activation, sigmoid by default), act the candidate's
(activation, tanh by default).

reset_after=True (Keras default; the cuDNN and PyTorch form), bias (2, 3H) = (b_in, b_rec):
    [xz, xr, xh] = x_t W + b_in              (one GEMM over all steps)
    [uz, ur, uh] = h_{t-1} U + b_rec         (one (B, 3H) GEMM per step)
    z = σ(xz + uz),  r = σ(xr + ur),  h~ = act(xh + r ⊙ uh)

reset_after=False (Cho et al. v3, TF1's GRUCell), bias (3H,):
    [xz, xr, xh] = x_t W + b
    [uz, ur]     = h_{t-1} U_zr              (GEMM 1 per step)
    z = σ(xz + uz),  r = σ(xr + ur),  h~ = act(xh + (r ⊙ h_{t-1}) U_h)   (GEMM 2 per step)

Both:  h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h~ ;  the output at t is h_t, the state is ``(h,)``.

Recurrent dropout, as Keras 3's GRUCell does it: a recurrent dropout mask multiplies
h_{t-1} only where h_{t-1} enters a recurrent matmul (the inputs of U_z, U_r, U_h, so
for reset_after=False the candidate reads (r ⊙ (h_{t-1} ⊙ m_h)) U_h); the blend
z ⊙ h_{t-1} always uses the undropped h_{t-1}. Keras draws one mask per gate (z, r, h)
and keeps it for every step; ``recurrent_mask`` may be one (B, H) mask shared by the
three gates or a (B, 3H) array holding the three masks side by side in z, r, h order.
(Checked against Keras 3.16's GRUCell.call: a nonzero recurrent_dropout switches it to
implementation 1, whose h_tm1_z, h_tm1_r, h_tm1_h = h_tm1 * rec_dp_mask[0..2] feed only
the three recurrent matmuls, while ``h = z * h_tm1 + (1 - z) * hh`` uses h_tm1 itself.)

With a = (a_z, a_r, a_h) the gate pre-activations (what σ, σ, act read), the forward keeps
a, the gates (z, r, h~), and the term the reset gate met: uh for reset_after, r ⊙ h_{t-1}
for reset_before (dU_h needs it). Per-step arrays are time-major (T, B, ·), as in every op.

Backward (BPTT), for t = T..1, with dh the gradient reaching h_t's new value:
    dz  = dh ⊙ (h_{t-1} - h~) ;  dh~ = dh ⊙ (1 - z) ;  dh_{t-1} = dh ⊙ z + (recurrent paths)
    da_h = dh~ ⊙ act'(a_h)
    reset_after:  dr = da_h ⊙ uh ;  du = d[uz, ur, uh] = [da_z, da_r, da_h ⊙ r]
    reset_before: d(r ⊙ h) = da_h U_hᵀ ;  dr = d(r ⊙ h) ⊙ h_{t-1}
    da_z = dz ⊙ σ'(a_z) ;  da_r = dr ⊙ σ'(a_r)
and after the loop dW, db, dU and dx are single GEMMs (or sums) over all steps.
"""
import dataclasses

import numpy as np

from . import sequence
from .activations import Activation, get_activation

_ALL, _ZR = slice(0, 3), slice(0, 2)  # the gates h_{t-1} enters through U: all three, or z and r only


@dataclasses.dataclass
class GRUCache(sequence.SequenceCache):
    """What :func:`gru_backward` reads (recurrent_mask (B, H) shared, (B, 3, H) per gate, or None)."""
    act: Activation                  # the candidate's
    gate_act: Activation             # σ, for z and r
    reset_after: bool
    a: np.ndarray                    # (T, B, 3H) a_z, a_r, a_h: the pre-activations
    gates: np.ndarray                # (T, B, 3H) z, r, h~
    u_h: object                      # (T, B, H) uh = h_{t-1} U_h + b_rh (reset_after), else None
    r_h: object                      # (T, B, H) r ⊙ h_{t-1} (reset_before), else None
    h_new: np.ndarray                # (T, B, H) the new state before masking


def _gate_masks(recurrent_mask, units):
    """(B, 3, H) per-gate view of a (B, 3H) mask, the (B, H) shared mask as is, or None."""
    if recurrent_mask is None or recurrent_mask.shape[-1] == units:
        return recurrent_mask
    return recurrent_mask.reshape(recurrent_mask.shape[0], 3, units)


def _gate_mask(masks, gate):
    """The (B, H) mask that gate number ``gate`` (0 z, 1 r, 2 h) applies to h_{t-1}, or None."""
    if masks is None or masks.ndim == 2:
        return masks
    return masks[:, gate]


def _masked(h, masks, gates):
    """h (..., B, H) as each of ``gates`` (a slice of z, r, h) sees it: (..., B, H) when the mask is
    shared (B, H) or absent, else (..., B, G, H) with one masked copy per gate."""
    if masks is None:
        return h
    if masks.ndim == 2:
        return h * masks
    return h[..., None, :] * masks[:, gates, :]


def _recurrent_product(h_in, recurrent):
    """h_in @ recurrent, where h_in is (B, H) or per gate (B, G, H) against recurrent (H, G·H)."""
    if h_in.ndim == 2:
        return h_in @ recurrent
    batch, gates, units = h_in.shape
    blocks = recurrent.reshape(units, gates, -1).transpose(1, 0, 2)  # (G, H, H)
    return (h_in.transpose(1, 0, 2) @ blocks).transpose(1, 0, 2).reshape(batch, -1)


def _recurrent_product_backward(du, recurrent, masks, gates):
    """Gradient w.r.t. the unmasked h of :func:`_recurrent_product` (after :func:`_masked`)."""
    if masks is None or masks.ndim == 2:
        dh = du @ recurrent.T
        return dh if masks is None else dh * masks
    batch = du.shape[0]
    units = recurrent.shape[0]
    count = du.shape[1] // units
    blocks = recurrent.reshape(units, count, -1).transpose(1, 2, 0)  # (G, H_out, H_in)
    dh_in = du.reshape(batch, count, -1).transpose(1, 0, 2) @ blocks  # (G, B, H)
    return np.einsum("gbh,bgh->bh", dh_in, masks[:, gates, :])


def _weight_grad(h_in, du):
    """Σ over steps and batch of h_inᵀ du as one GEMM per gate.

    h_in (T, B, H) or per gate (T, B, G, H); du (T, B, G·H) -> (H, G·H).
    """
    if h_in.ndim == 3:
        return sequence.weight_grad(h_in, du)
    _, _, gates, units = h_in.shape
    h_flat = h_in.reshape(-1, gates, units).transpose(1, 2, 0)                # (G, H, N)
    du_flat = du.reshape(-1, gates, du.shape[-1] // gates).transpose(1, 0, 2)  # (G, N, H)
    return (h_flat @ du_flat).transpose(1, 0, 2).reshape(units, -1)


def gru_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, zero_output_for_mask=False):
    """Run the GRU over every step.

    Args:
        x: (B, T, I) inputs.
        state0: ``(h0,)`` with h0 (B, H).
        params: dict with ``kernel`` (I, 3H), ``recurrent_kernel`` (H, 3H) and optionally
            ``bias``: (2, 3H) when ``reset_after`` else (3H,). Gate order z, r, h.
        mask: (B, T) bool, False where a step is skipped (see :mod:`rnnkit.ops.sequence`), or None.
        recurrent_mask: recurrent dropout multiplier on h_{t-1} where it enters U: (B, H)
            shared by the three gates, or (B, 3H) with one mask per gate (z, r, h); or None.
        activation: name or Activation for the candidate h~ (act).
        recurrent_activation: name or Activation for the gates z and r (σ).
        reset_after: apply r after the recurrent matmul (True) or to h_{t-1} before it (False).
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Returns:
        outputs (B, T, H), final state ``(h_T,)``, and the :class:`GRUCache` for :func:`gru_backward`.
    """
    act, gate_act = get_activation(activation), get_activation(recurrent_activation)
    recurrent, bias = params["recurrent_kernel"], params.get("bias")
    units = recurrent.shape[0]
    Z, R, C, ZR = slice(0, units), slice(units, 2 * units), slice(2 * units, None), slice(0, 2 * units)
    masks = _gate_masks(recurrent_mask, units)
    mask_h = _gate_mask(masks, 2)

    x_tm = sequence.time_major(x)
    time, batch, _ = x_tm.shape
    a = sequence.input_product(x_tm, params["kernel"], None if bias is None else bias[0] if reset_after else bias)
    gates = np.empty_like(a)
    u_h = np.empty((time, batch, units), a.dtype) if reset_after else None
    r_h = None if reset_after else np.empty((time, batch, units), a.dtype)
    h_new = np.empty((time, batch, units), a.dtype)
    h_states = np.empty((time + 1, batch, units), a.dtype)
    h = h_states[0] = state0[0]
    for t in range(time):
        a_t, g = a[t], gates[t]
        if reset_after:
            u = _recurrent_product(_masked(h, masks, _ALL), recurrent)
            if bias is not None:
                u += bias[1]
            a_t[:, ZR] += u[:, ZR]
            g[:, ZR] = gate_act(a_t[:, ZR])
            u_h[t] = u[:, C]
            a_t[:, C] += g[:, R] * u_h[t]
        else:
            a_t[:, ZR] += _recurrent_product(_masked(h, masks, _ZR), recurrent[:, ZR])
            g[:, ZR] = gate_act(a_t[:, ZR])
            r_h[t] = g[:, R] * (h if mask_h is None else h * mask_h)
            a_t[:, C] += r_h[t] @ recurrent[:, C]
        g[:, C] = act(a_t[:, C])
        h_new[t] = g[:, Z] * h + (1.0 - g[:, Z]) * g[:, C]
        h = h_states[t + 1] = sequence.select(sequence.step_mask(mask, t), h_new[t], h)
    cache = GRUCache(x_tm=x_tm, params=params, mask=mask, recurrent_mask=masks, h_states=h_states,
                     zero_output_for_mask=zero_output_for_mask, act=act, gate_act=gate_act, reset_after=reset_after,
                     a=a, gates=gates, u_h=u_h, r_h=r_h, h_new=h_new)
    return sequence.forward_results(h_new, cache, h_states[time])


def gru_backward(d_outputs, d_final_state, cache):
    """BPTT through :func:`gru_forward`: dx, the initial state's gradient, the weights' (:mod:`rnnkit.ops`)."""
    c = cache
    recurrent = c.params["recurrent_kernel"]
    time, _, units = c.h_new.shape
    Z, R, C, ZR = slice(0, units), slice(units, 2 * units), slice(2 * units, None), slice(0, 2 * units)
    masks = c.recurrent_mask
    mask_h = _gate_mask(masks, 2)
    dh_new, (dh,) = sequence.upstream_grads(c, d_outputs, d_final_state, c.h_states[0])
    da = np.empty_like(c.a)  # also the gradient of x W + b_in
    du = np.empty_like(c.a) if c.reset_after else None  # gradient of [uz, ur, uh] = h U + b_rec
    for t in range(time - 1, -1, -1):
        dh_fresh, dh = sequence.split_state_grad(sequence.step_mask(c.mask, t), dh)
        d = dh_fresh + dh_new[t]
        h_prev, a_t, g, da_t = c.h_states[t], c.a[t], c.gates[t], da[t]
        da_t[:, C] = d * (1.0 - g[:, Z]) * c.act.derivative(a_t[:, C], g[:, C])
        da_t[:, Z] = d * (h_prev - g[:, C]) * c.gate_act.derivative(a_t[:, Z], g[:, Z])
        dh = dh + d * g[:, Z]
        if c.reset_after:
            dr = da_t[:, C] * c.u_h[t]
        else:
            dr_h = da_t[:, C] @ recurrent[:, C].T  # gradient of r ⊙ h_in
            dr = dr_h * (h_prev if mask_h is None else h_prev * mask_h)
            dh = dh + dr_h * (g[:, R] if mask_h is None else g[:, R] * mask_h)
        da_t[:, R] = dr * c.gate_act.derivative(a_t[:, R], g[:, R])
        if c.reset_after:
            du[t, :, ZR] = da_t[:, ZR]
            du[t, :, C] = da_t[:, C] * g[:, R]
            dh = dh + _recurrent_product_backward(du[t], recurrent, masks, _ALL)
        else:
            dh = dh + _recurrent_product_backward(da_t[:, ZR], recurrent[:, ZR], masks, _ZR)

    grads = {}
    dx = sequence.input_grads(c.x_tm, da, c.params["kernel"], grads, "bias" in c.params)
    h_seq = c.h_states[:time]
    if c.reset_after:
        grads["recurrent_kernel"] = _weight_grad(_masked(h_seq, masks, _ALL), du)
        if "bias" in c.params:
            grads["bias"] = np.stack([grads["bias"], du.sum(axis=(0, 1))])
    else:
        grads["recurrent_kernel"] = np.concatenate([
            _weight_grad(_masked(h_seq, masks, _ZR), da[:, :, ZR]),
            sequence.weight_grad(c.r_h, da[:, :, C]),
        ], axis=1)
    return dx, (dh,), {name: grads[name] for name in c.params}
