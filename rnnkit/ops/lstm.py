"""LSTM over a whole sequence, forward and backward — the readable reference.

This is the spec, and it runs where the compiled path does not cover a call. The compiled twin
lives in rnnkit/_fast/kernels.py (lstm_forward / lstm_backward), registered as the override
of these two functions in rnnkit/_fast/__init__.py (``overrides``), tested equal by
tests/test_fast_kernels.py; cells choose through rnnkit/cells/dispatch.py (RNNKIT_FAST=0 or
``rnnkit.cells.reference_only()`` runs this file).

Gate blocks of the fused matrices are in Keras's order i, f, c, o (or f, c, o
for the coupled input-forget gate, where i = 1 - f has no weights of its own).

    z_t  = x_t W + h'_{t-1} U + b                 h'_{t-1} = h_{t-1} ⊙ recurrent_mask
    i_t  = σ(z_i + p_i ⊙ c_{t-1})                 (coupled: i_t = 1 - f_t)
    f_t  = σ(z_f + forget_bias + p_f ⊙ c_{t-1})
    c~_t = act(z_c)
    c_t  = clip(f_t ⊙ c_{t-1} + i_t ⊙ c~_t, ±cell_clip)
    o_t  = σ(z_o + p_o ⊙ c_t)
    m_t  = o_t ⊙ act(c_t)
    h_t  = clip(m_t P, ±proj_clip)                (m_t P only with a projection)

Shapes: x (B, T, I); kernel W (I, G·H); recurrent_kernel U (H_in, G·H); bias b (G·H,)
with G = 4 (G = 3 when coupled); peepholes p_* (H,); projection_kernel P (H, P_out).
H_in is P_out with a projection, else H. The state is ``(h, c)`` (Keras's order)
with h (B, H_in) and c (B, H); the output at t is h_t.

Backward, for t = T..1, with a_* the full gate pre-activations (peepholes and
forget_bias included; ∂a/∂z = 1):
    dh_raw  = dh_t ⊙ [|h_raw| ≤ proj_clip] ;  dm = dh_raw Pᵀ
    da_o    = dm ⊙ act(c_t) ⊙ σ'(a_o)
    dc_t   += dm ⊙ o_t ⊙ act'(c_t) + da_o ⊙ p_o
    dc_raw  = dc_t ⊙ [|c_raw| ≤ cell_clip]
    di = dc_raw ⊙ c~ ; df = dc_raw ⊙ c_{t-1} (coupled: df -= di) ; dc~ = dc_raw ⊙ i
    da_i = di ⊙ σ'(a_i) ; da_f = df ⊙ σ'(a_f) ; da_c = dc~ ⊙ act'(a_c)
    dc_{t-1} = dc_raw ⊙ f + da_i ⊙ p_i + da_f ⊙ p_f ;  dh_{t-1} = (da Uᵀ) ⊙ recurrent_mask
After the loop every weight gradient is one GEMM or one reduction over all steps:
dW = Σ xᵀ da, db = Σ da, dU = Σ h'ᵀ da, dP = Σ mᵀ dh_raw, dp_i = Σ da_i ⊙ c_{t-1}, ...
"""
import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from . import sequence
from .activations import get_activation

_PEEPHOLES = ("peephole_i", "peephole_f", "peephole_o")


def _blocks(coupled):
    """Column-block index of each gate in the fused (·, G·H) matrices."""
    return {"f": 0, "c": 1, "o": 2} if coupled else {"i": 0, "f": 1, "c": 2, "o": 3}


def _check_params(params, gates, coupled):
    """Refuse weights whose shapes do not fit one another (a direct caller's mistake; cells build them right)."""
    fused = params["kernel"].shape[1]
    if fused % gates:
        raise RnnkitValueError(
            f"params['kernel'] must have {gates} gate blocks of equal width on its last axis "
            f"(coupled_input_forget={coupled}), got {describe(params['kernel'])}"
        )
    units = fused // gates
    out_units = params["projection_kernel"].shape[1] if "projection_kernel" in params else units
    expected = {"kernel": (params["kernel"].shape[0], gates * units),
                "recurrent_kernel": (out_units, gates * units), "bias": (gates * units,),
                "peephole_f": (units,), "peephole_o": (units,), "projection_kernel": (units, out_units)}
    if not coupled:
        expected["peephole_i"] = (units,)
    for name, value in params.items():
        if name not in expected:
            raise RnnkitValueError(
                f"params has an unexpected weight {name!r} for an LSTM with coupled_input_forget={coupled}; "
                f"expected names among {sorted(expected)}"
            )
        if value.shape != expected[name]:
            raise RnnkitValueError(
                f"params[{name!r}] must have shape {expected[name]} (gates={gates}, units={units}), "
                f"got {describe(value)}"
            )


def lstm_forward(x, state0, params, mask=None, recurrent_mask=None, *, activation="tanh",
                 recurrent_activation="sigmoid", forget_bias=0.0, coupled_input_forget=False,
                 cell_clip=None, proj_clip=None, zero_output_for_mask=False):
    """Run the LSTM over every step.

    Args:
        x: (B, T, I) inputs.
        state0: ``(h0, c0)`` with h0 (B, H_in) and c0 (B, H).
        params: dict with ``kernel`` (I, G·H), ``recurrent_kernel`` (H_in, G·H) and optionally
            ``bias`` (G·H,), ``peephole_i`` / ``peephole_f`` / ``peephole_o`` (H,) (no
            ``peephole_i`` when coupled) and ``projection_kernel`` (H, P_out).
        mask: (B, T) bool, False where a step is skipped (see :mod:`rnnkit.ops.sequence`), or None.
        recurrent_mask: (B, H_in) multiplier on h_{t-1} before U (recurrent dropout), or None.
        activation: name or Activation for the candidate and the cell output (act).
        recurrent_activation: name or Activation for the gates (σ).
        forget_bias: constant added to the forget gate's pre-activation (TF1), not a weight.
        coupled_input_forget: i = 1 - f; the fused matrices then hold f, c, o only.
        cell_clip: None or a positive bound on |c_t|.
        proj_clip: None or a positive bound on |h_t|.
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Returns:
        outputs (B, T, H_in), final state ``(h_T, c_T)``, and the cache for :func:`lstm_backward`
        (a dict; its per-step arrays are time-major, (T, B, ·), e.g. ``c_kept`` / ``h_kept``:
        True where the cell clip / projection clip left the value as it was).
    """
    sig, act = get_activation(recurrent_activation), get_activation(activation)
    blocks = _blocks(coupled_input_forget)
    _check_params(params, len(blocks), coupled_input_forget)
    kernel, recurrent = params["kernel"], params["recurrent_kernel"]
    projection = params.get("projection_kernel")
    peep = {name[-1]: params[name] for name in _PEEPHOLES if name in params}
    batch, time, features = x.shape
    units = kernel.shape[1] // len(blocks)
    out_units = recurrent.shape[0]
    cols = {g: slice(k * units, (k + 1) * units) for g, k in blocks.items()}
    front = slice(0, cols["f"].stop)  # i and f (or f alone) lead: one call to σ covers them

    # Everything per step is stored time-major, (T, B, ·): a step is then one contiguous
    # block, which makes the per-step reads and writes several times cheaper than (B, T, ·).
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))
    projected = (x_tm.reshape(time * batch, features) @ kernel).reshape(time, batch, kernel.shape[1])
    if "bias" in params:
        projected += params["bias"]  # one GEMM for the input part of every step
    dtype = projected.dtype
    pre = np.empty_like(projected)                                # a_*: gate pre-activations
    gates = np.empty_like(projected)                              # σ(a_i), σ(a_f), act(a_c), σ(a_o)
    c_new = np.empty((time, batch, units), dtype)                 # c_t after the clip
    act_c = np.empty_like(c_new)
    m_new = np.empty_like(c_new)
    h_new = np.empty((time, batch, out_units), dtype)             # h_t after the clip
    c_kept = None if cell_clip is None else np.empty(c_new.shape, bool)   # inside the clip bounds
    h_kept = None if proj_clip is None else np.empty(h_new.shape, bool)
    h_states = np.empty((time + 1, batch, out_units), dtype)     # h_states[t] is h_{t-1}
    c_states = np.empty((time + 1, batch, units), dtype)
    h, c = state0
    h_states[0], c_states[0] = h, c

    for t in range(time):
        h_in = h if recurrent_mask is None else h * recurrent_mask
        a, g = pre[t], gates[t]
        np.matmul(h_in, recurrent, out=a)  # the fused (B, G·H) gate matrix, written in place
        a += projected[t]
        if forget_bias:
            a[:, cols["f"]] += forget_bias
        for gate in ("i", "f"):
            if gate in peep:
                a[:, cols[gate]] += peep[gate] * c
        g[:, front] = sig(a[:, front])
        g[:, cols["c"]] = act(a[:, cols["c"]])
        f = g[:, cols["f"]]
        i = 1.0 - f if coupled_input_forget else g[:, cols["i"]]
        c_t = f * c + i * g[:, cols["c"]]
        if cell_clip is not None:
            c_kept[t] = np.abs(c_t) <= cell_clip
            c_t = np.clip(c_t, -cell_clip, cell_clip)
        if "o" in peep:
            a[:, cols["o"]] += peep["o"] * c_t
        g[:, cols["o"]] = sig(a[:, cols["o"]])
        c_new[t] = c_t
        act_c[t] = act(c_t)
        np.multiply(g[:, cols["o"]], act_c[t], out=m_new[t])
        h_t = m_new[t] if projection is None else m_new[t] @ projection
        if proj_clip is not None:
            h_kept[t] = np.abs(h_t) <= proj_clip
            h_t = np.clip(h_t, -proj_clip, proj_clip)
        h_new[t] = h_t
        m = sequence.step_mask(mask, t)
        h = sequence.select(m, h_new[t], h)
        c = sequence.select(m, c_new[t], c)
        h_states[t + 1], c_states[t + 1] = h, c

    outputs = sequence.mask_outputs(np.ascontiguousarray(h_new.transpose(1, 0, 2)), mask, zero_output_for_mask)
    cache = dict(x_tm=x_tm, params=params, mask=mask, recurrent_mask=recurrent_mask, sig=sig, act=act,
                 coupled=coupled_input_forget, cols=cols, peep=peep, pre=pre, gates=gates,
                 c_new=c_new, act_c=act_c, m_new=m_new, c_kept=c_kept, h_kept=h_kept,
                 h_states=h_states, c_states=c_states, zero_output_for_mask=zero_output_for_mask)
    # copies: h and c may be views of the cache (or the caller's state0 when T = 0)
    return outputs, (h.copy(), c.copy()), cache


def lstm_backward(d_outputs, d_final_state, cache):
    """Backpropagate through time.

    Args:
        d_outputs: (B, T, H_in) gradient of the loss w.r.t. the outputs, or None.
        d_final_state: ``(dh_T, dc_T)`` (entries may be None), or None.
        cache: from :func:`lstm_forward`.

    Returns:
        dx (B, T, I), ``(dh0, dc0)``, and a dict of weight gradients keyed like ``params``.
    """
    x_tm, params, mask, rmask = cache["x_tm"], cache["params"], cache["mask"], cache["recurrent_mask"]
    sig, act, coupled, cols, peep = cache["sig"], cache["act"], cache["coupled"], cache["cols"], cache["peep"]
    pre, gates, c_new, act_c = cache["pre"], cache["gates"], cache["c_new"], cache["act_c"]
    h_states, c_states, c_kept, h_kept = cache["h_states"], cache["c_states"], cache["c_kept"], cache["h_kept"]
    recurrent = params["recurrent_kernel"]
    projection = params.get("projection_kernel")
    time, batch, _ = pre.shape
    dtype = pre.dtype
    out_units = h_states.shape[2]

    d_new = sequence.output_grads(d_outputs, mask, cache["zero_output_for_mask"], (batch, time, out_units), dtype)
    d_new = np.ascontiguousarray(d_new.transpose(1, 0, 2))  # time-major like the cache
    dh, dc = sequence.state_grads(d_final_state, (h_states[0], c_states[0]), dtype)
    d_pre = np.empty_like(pre)
    d_h_raw = None if projection is None else np.empty((time, batch, out_units), dtype)
    for t in range(time - 1, -1, -1):
        m = sequence.step_mask(mask, t)
        d_fresh_h, dh_carry = sequence.split_state_grad(m, dh)
        d_fresh_c, dc_carry = sequence.split_state_grad(m, dc)
        dh_t = d_fresh_h + d_new[t]
        if h_kept is not None:
            dh_t *= h_kept[t]
        if projection is None:
            dm = dh_t
        else:
            d_h_raw[t] = dh_t
            dm = dh_t @ projection.T
        a, g, da = pre[t], gates[t], d_pre[t]
        o = g[:, cols["o"]]
        da[:, cols["o"]] = dm * act_c[t] * sig.derivative(a[:, cols["o"]], o)
        dc_t = d_fresh_c + dm * o * act.derivative(c_new[t], act_c[t])
        if "o" in peep:
            dc_t += da[:, cols["o"]] * peep["o"]
        if c_kept is not None:
            dc_t *= c_kept[t]
        c_prev, f, cand = c_states[t], g[:, cols["f"]], g[:, cols["c"]]
        df = dc_t * c_prev
        if coupled:
            df -= dc_t * cand  # i = 1 - f, so di flows into f with a minus sign
            i = 1.0 - f
        else:
            i = g[:, cols["i"]]
            da[:, cols["i"]] = dc_t * cand * sig.derivative(a[:, cols["i"]], i)
        da[:, cols["f"]] = df * sig.derivative(a[:, cols["f"]], f)
        da[:, cols["c"]] = dc_t * i * act.derivative(a[:, cols["c"]], cand)
        dc_prev = dc_t * f
        for gate in ("i", "f"):
            if gate in peep:
                dc_prev += da[:, cols[gate]] * peep[gate]
        d_in = da @ recurrent.T
        dh = dh_carry + (d_in if rmask is None else d_in * rmask)
        dc = dc_carry + dc_prev

    rows = time * batch

    def flat(array):  # (T, B, n) -> (T·B, n); an explicit width, as -1 fails when T or B is 0
        return array.reshape(rows, array.shape[-1])

    grads = {}
    h_in = h_states[:time] if rmask is None else h_states[:time] * rmask
    grads["recurrent_kernel"] = flat(h_in).T @ flat(d_pre)
    if projection is not None:
        grads["projection_kernel"] = flat(cache["m_new"]).T @ flat(d_h_raw)
    # the gate each peephole feeds, and the cell state it reads (c_{t-1} for i, f; c_t for o)
    for gate, c_seen in (("i", c_states[:time]), ("f", c_states[:time]), ("o", c_new)):
        if gate in peep:
            grads[f"peephole_{gate}"] = np.einsum("tbh,tbh->h", d_pre[:, :, cols[gate]], c_seen)
    # time-major arrays in place of (B, T, ·): the helper only flattens the two leading axes
    dx_tm = sequence.input_weight_grads(x_tm, d_pre, params["kernel"], grads, "bias" in params)
    dx = np.ascontiguousarray(dx_tm.transpose(1, 0, 2))
    return dx, (dh, dc), {name: grads[name] for name in params}
