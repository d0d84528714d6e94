"""Gated recurrent unit over a whole sequence, forward and backward — the readable reference.

This is the spec, and it runs where the compiled path does not cover a call. The compiled twin
lives in rnnkit/_fast/kernels.py (gru_forward / gru_backward), registered as the override
of these two functions in rnnkit/_fast/__init__.py (``overrides``), tested equal by
tests/test_fast_kernels.py; cells choose through rnnkit/cells/dispatch.py (RNNKIT_FAST=0 or
``rnnkit.cells.reference_only()`` runs this file).

Gate order in the fused matrices is Keras's z, r, h: kernel W (I, 3H), recurrent_kernel U (H, 3H).
σ is the recurrent activation (sigmoid by default), f the activation (tanh by default).

reset_after=True (Keras default; the cuDNN and PyTorch form), bias (2, 3H) = (b_in, b_rec):
    [xz, xr, xh] = x_t W + b_in              (one GEMM over all steps)
    [uz, ur, uh] = h_{t-1} U + b_rec         (one (B, 3H) GEMM per step)
    z = σ(xz + uz),  r = σ(xr + ur),  h~ = f(xh + r ⊙ uh)

reset_after=False (Cho et al. v3, TF1's GRUCell), bias (3H,):
    [xz, xr, xh] = x_t W + b
    [uz, ur]     = h_{t-1} U_zr              (GEMM 1 per step)
    z = σ(xz + uz),  r = σ(xr + ur),  h~ = f(xh + (r ⊙ h_{t-1}) U_h)   (GEMM 2 per step)

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

Backward (BPTT), for t = T..1, with dh the gradient reaching h_t's new value:
    dz  = dh ⊙ (h_{t-1} - h~) ;  dh~ = dh ⊙ (1 - z) ;  dh_{t-1} = dh ⊙ z + (recurrent paths)
    da_h = dh~ ⊙ f'(a_h)
    reset_after:  dr = da_h ⊙ uh ;  d[uz, ur, uh] = [da_z, da_r, da_h ⊙ r]
    reset_before: d(r ⊙ h) = da_h U_hᵀ ;  dr = d(r ⊙ h) ⊙ h_{t-1}
    da_z = dz ⊙ σ'(a_z) ;  da_r = dr ⊙ σ'(a_r)
and after the loop dW, db, dU and dx are single GEMMs (or sums) over all steps.
"""
import numpy as np

from . import sequence
from .activations import get_activation


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
    """h (..., H) as each of ``gates`` (a slice of z, r, h) sees it: (..., H) when the
    mask is shared or absent, else (..., G, H) with one masked copy per gate."""
    if masks is None:
        return h
    if masks.ndim == h.ndim:
        return h * masks
    return h[..., None, :] * masks[..., gates, :]


def _project(h_in, recurrent):
    """h_in @ recurrent, where h_in is (B, H) or per gate (B, G, H) against recurrent (H, G·H)."""
    if h_in.ndim == 2:
        return h_in @ recurrent
    batch, gates, units = h_in.shape
    blocks = recurrent.reshape(units, gates, -1).transpose(1, 0, 2)  # (G, H, H)
    return (h_in.transpose(1, 0, 2) @ blocks).transpose(1, 0, 2).reshape(batch, -1)


def _project_backward(d_pre, recurrent, masks, gates):
    """Gradient w.r.t. the unmasked h of :func:`_project` (after :func:`_masked`)."""
    if masks is None or masks.ndim == 2:
        dh = d_pre @ recurrent.T
        return dh if masks is None else dh * masks
    batch = d_pre.shape[0]
    units = recurrent.shape[0]
    count = d_pre.shape[1] // units
    blocks = recurrent.reshape(units, count, -1).transpose(1, 2, 0)  # (G, H_out, H_in)
    d_in = d_pre.reshape(batch, count, -1).transpose(1, 0, 2) @ blocks  # (G, B, H)
    return np.einsum("gbh,bgh->bh", d_in, masks[:, gates, :])


def _weight_grad(h_in, d_pre):
    """Σ over batch and time of h_inᵀ d_pre as one GEMM.

    h_in (B, T, H) or per gate (B, T, G, H); d_pre (B, T, G·H) -> (H, G·H).
    """
    if h_in.ndim == 3:
        return h_in.reshape(-1, h_in.shape[-1]).T @ d_pre.reshape(-1, d_pre.shape[-1])
    batch, time, gates, units = h_in.shape
    h_flat = h_in.reshape(-1, gates, units).transpose(1, 2, 0)          # (G, H, N)
    d_flat = d_pre.reshape(-1, gates, d_pre.shape[-1] // gates).transpose(1, 0, 2)  # (G, N, H)
    return (h_flat @ d_flat).transpose(1, 0, 2).reshape(units, -1)


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
        activation: name or Activation for the candidate h~ (f).
        recurrent_activation: name or Activation for the gates z and r (σ).
        reset_after: apply r after the recurrent matmul (True) or to h_{t-1} before it (False).
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Returns:
        outputs (B, T, H), final state ``(h_T,)``, and the cache for :func:`gru_backward`.
    """
    f, sigma = get_activation(activation), get_activation(recurrent_activation)
    kernel, recurrent = params["kernel"], params["recurrent_kernel"]
    bias = params.get("bias")
    batch, time, _ = x.shape
    units = recurrent.shape[0]
    Z, R, C, ZR = slice(0, units), slice(units, 2 * units), slice(2 * units, None), slice(0, 2 * units)
    masks = _gate_masks(recurrent_mask, units)
    mask_h = _gate_mask(masks, 2)

    projected = x @ kernel
    if bias is not None:
        projected += bias[0] if reset_after else bias
    pre = np.empty((batch, time, 3 * units), x.dtype)    # a_z, a_r, a_h: before σ, σ, f
    gates = np.empty((batch, time, 3 * units), x.dtype)  # z, r, h~: after them
    new = np.empty((batch, time, units), x.dtype)
    states = np.empty((batch, time + 1, units), x.dtype)  # states[:, t] is h_{t-1}
    # reset_after keeps uh = h U_h + b_rh (dr needs it); reset_before keeps r ⊙ h_{t-1} (dU_h needs it)
    kept = np.empty((batch, time, units), x.dtype)
    states[:, 0] = state0[0]
    h = state0[0]
    for t in range(time):
        px, a, g = projected[:, t], pre[:, t], gates[:, t]
        if reset_after:
            rec = _project(_masked(h, masks, slice(0, 3)), recurrent)
            if bias is not None:
                rec += bias[1]
            a[:, ZR] = px[:, ZR] + rec[:, ZR]
            g[:, ZR] = sigma(a[:, ZR])
            kept[:, t] = rec[:, C]
        else:
            a[:, ZR] = px[:, ZR] + _project(_masked(h, masks, slice(0, 2)), recurrent[:, ZR])
            g[:, ZR] = sigma(a[:, ZR])
            kept[:, t] = g[:, R] * (h if mask_h is None else h * mask_h)
        a[:, C] = px[:, C] + (g[:, R] * kept[:, t] if reset_after else kept[:, t] @ recurrent[:, C])
        g[:, C] = f(a[:, C])
        new[:, t] = g[:, Z] * h + (1.0 - g[:, Z]) * g[:, C]
        h = sequence.select(sequence.step_mask(mask, t), new[:, t], h)
        states[:, t + 1] = h
    outputs = sequence.mask_outputs(new.copy(), mask, zero_output_for_mask)
    cache = dict(x=x, params=params, mask=mask, masks=masks, f=f, sigma=sigma, reset_after=reset_after,
                 pre=pre, gates=gates, kept=kept, new=new, states=states,
                 zero_output_for_mask=zero_output_for_mask)
    return outputs, (h,), cache


def gru_backward(d_outputs, d_final_state, cache):
    """Backpropagate through time.

    Args:
        d_outputs: (B, T, H) gradient of the loss w.r.t. the outputs, or None.
        d_final_state: ``(dh_T,)`` (entries may be None), or None.
        cache: from :func:`gru_forward`.

    Returns:
        dx (B, T, I), ``(dh0,)``, and a dict of weight gradients keyed like ``params``.
    """
    x, params, mask, masks = cache["x"], cache["params"], cache["mask"], cache["masks"]
    pre, gates, kept, new, states = cache["pre"], cache["gates"], cache["kept"], cache["new"], cache["states"]
    f, sigma, reset_after = cache["f"], cache["sigma"], cache["reset_after"]
    recurrent = params["recurrent_kernel"]
    batch, time, units = new.shape
    Z, R, C, ZR = slice(0, units), slice(units, 2 * units), slice(2 * units, None), slice(0, 2 * units)
    mask_h = _gate_mask(masks, 2)
    d_new = sequence.output_grads(d_outputs, mask, cache["zero_output_for_mask"], new.shape, x.dtype)
    (dh,) = sequence.state_grads(d_final_state, (states[:, 0],), x.dtype)
    d_pre = np.empty_like(pre)  # gradient of a_z, a_r, a_h = what x W + b_in receives
    d_rec = np.empty_like(pre) if reset_after else None  # gradient of [uz, ur, uh] = h U + b_rec
    for t in range(time - 1, -1, -1):
        d_fresh, dh = sequence.split_state_grad(sequence.step_mask(mask, t), dh)
        d = d_fresh + d_new[:, t]
        h_prev, a, g, da = states[:, t], pre[:, t], gates[:, t], d_pre[:, t]
        da[:, C] = d * (1.0 - g[:, Z]) * f.derivative(a[:, C], g[:, C])
        da[:, Z] = d * (h_prev - g[:, C]) * sigma.derivative(a[:, Z], g[:, Z])
        dh = dh + d * g[:, Z]
        if reset_after:
            dr = da[:, C] * kept[:, t]
        else:
            d_rh = da[:, C] @ recurrent[:, C].T  # gradient of r ⊙ h_in
            dr = d_rh * (h_prev if mask_h is None else h_prev * mask_h)
            dh = dh + d_rh * (g[:, R] if mask_h is None else g[:, R] * mask_h)
        da[:, R] = dr * sigma.derivative(a[:, R], g[:, R])
        if reset_after:
            d_rec[:, t, ZR] = da[:, ZR]
            d_rec[:, t, C] = da[:, C] * g[:, R]
            dh = dh + _project_backward(d_rec[:, t], recurrent, masks, slice(0, 3))
        else:
            dh = dh + _project_backward(da[:, ZR], recurrent[:, ZR], masks, slice(0, 2))

    grads = {}
    dx = sequence.input_weight_grads(x, d_pre, params["kernel"], grads, "bias" in params)
    h_seq = states[:, :-1]
    seq_masks = None if masks is None else masks[:, None]  # the same mask at every step
    if reset_after:
        grads["recurrent_kernel"] = _weight_grad(_masked(h_seq, seq_masks, slice(0, 3)), d_rec)
        if "bias" in params:
            grads["bias"] = np.stack([grads["bias"], d_rec.sum(axis=(0, 1))])
    else:
        grads["recurrent_kernel"] = np.concatenate([
            _weight_grad(_masked(h_seq, seq_masks, slice(0, 2)), d_pre[:, :, ZR]),
            _weight_grad(kept, d_pre[:, :, C]),
        ], axis=1)
    return dx, (dh,), {name: grads[name] for name in params}
