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

Every variant (forget_bias, peepholes, the coupled gate, the two clips, the projection) is a
pair of small functions below, its forward beside its gradient; the loops call them in order.
Per-step arrays are time-major (T, B, ·), as in every op (see ops/sequence.py).

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
import dataclasses

import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from . import sequence
from .activations import Activation, get_activation

_PEEPHOLES = ("peephole_i", "peephole_f", "peephole_o")


@dataclasses.dataclass
class LSTMVariant:
    """The switches of one call and the weights they bring, resolved once."""
    act: Activation                  # candidate and cell output
    gate_act: Activation             # σ, for the gates
    cols: dict                       # gate ("i", "f", "c", "o") -> its column block in the fused (·, G·H)
    coupled: bool                    # i = 1 - f (no "i" block)
    forget_bias: float
    peepholes: dict                  # gate -> p_gate (H,), for the gates that have one
    projection: object               # P (H, P_out) or None
    cell_clip: object                # bound on |c_t| or None
    proj_clip: object                # bound on |h_t| or None


@dataclasses.dataclass
class LSTMCache(sequence.SequenceCache):
    """What :func:`lstm_backward` reads (recurrent_mask (B, H_in) or None; h_states (T + 1, B, H_in))."""
    variant: LSTMVariant
    a: np.ndarray                    # (T, B, G·H) gate pre-activations a_*
    gates: np.ndarray                # (T, B, G·H) σ(a_i), σ(a_f), act(a_c), σ(a_o)
    c: np.ndarray                    # (T, B, H) c_t after the clip
    act_c: np.ndarray                # (T, B, H) act(c_t)
    m: np.ndarray                    # (T, B, H) o_t ⊙ act(c_t)
    c_unclipped: object              # (T, B, H) bool: the cell clip left c_t as it was; None without one
    h_unclipped: object              # (T, B, H_in) bool, the same for the projection clip
    c_states: np.ndarray             # (T + 1, B, H): c_states[t] is c_{t-1}


# ------------------------------------------------------------------ the variants, forward beside gradient

def _add_input_peepholes(a, v, c_prev):
    """a_i += p_i ⊙ c_{t-1} ; a_f += p_f ⊙ c_{t-1} (for the gates that have a peephole)."""
    for gate in ("i", "f"):
        if gate in v.peepholes:
            a[:, v.cols[gate]] += v.peepholes[gate] * c_prev


def _input_peepholes_backward(da, v):
    """What the input peepholes send to dc_{t-1}: Σ da_gate ⊙ p_gate over i, f."""
    return sum((da[:, v.cols[gate]] * v.peepholes[gate] for gate in ("i", "f") if gate in v.peepholes), 0.0)


def _add_output_peephole(a, v, c_t):
    """a_o += p_o ⊙ c_t."""
    if "o" in v.peepholes:
        a[:, v.cols["o"]] += v.peepholes["o"] * c_t


def _output_peephole_backward(da, v):
    """What the output peephole sends to dc_t: da_o ⊙ p_o."""
    return da[:, v.cols["o"]] * v.peepholes["o"] if "o" in v.peepholes else 0.0


def _peephole_grads(da, c_prev, c, v, grads):
    """dp_i = Σ da_i ⊙ c_{t-1}, dp_f = Σ da_f ⊙ c_{t-1}, dp_o = Σ da_o ⊙ c_t over steps and batch."""
    for gate, c_seen in (("i", c_prev), ("f", c_prev), ("o", c)):
        if gate in v.peepholes:
            grads[f"peephole_{gate}"] = np.einsum("tbh,tbh->h", da[:, :, v.cols[gate]], c_seen)


def _input_gate(g, v):
    """i_t: its own gate, or 1 - f_t with the coupled input-forget gate."""
    return 1.0 - g[:, v.cols["f"]] if v.coupled else g[:, v.cols["i"]]


def _input_forget_backward(da, a, g, dc, c_prev, v):
    """da_i and da_f from dc (of c_t = f ⊙ c_{t-1} + i ⊙ c~): di = dc ⊙ c~, df = dc ⊙ c_{t-1},
    and with the coupled gate (i = 1 - f) di flows into f with a minus sign."""
    i_cols, f_cols = v.cols.get("i"), v.cols["f"]
    di = dc * g[:, v.cols["c"]]
    df = dc * c_prev
    if v.coupled:
        df -= di
    else:
        da[:, i_cols] = di * v.gate_act.derivative(a[:, i_cols], g[:, i_cols])
    da[:, f_cols] = df * v.gate_act.derivative(a[:, f_cols], g[:, f_cols])


def _clip(value, bound):
    """(clip(value, ±bound), True where nothing was cut); no bound: (value, None)."""
    if bound is None:
        return value, None
    return np.clip(value, -bound, bound), np.abs(value) <= bound


def _clip_backward(d, unclipped):
    """The gradient through :func:`_clip`: zero where the value was cut."""
    return d if unclipped is None else d * unclipped


def _project(m, v):
    """h_t = m_t P with a projection, else m_t."""
    return m if v.projection is None else m @ v.projection


def _project_backward(dh, v):
    """dm = dh Pᵀ with a projection, else dh."""
    return dh if v.projection is None else dh @ v.projection.T


# ------------------------------------------------------------------ the op

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
        outputs (B, T, H_in), final state ``(h_T, c_T)``, and the :class:`LSTMCache` for
        :func:`lstm_backward`.
    """
    blocks = {"f": 0, "c": 1, "o": 2} if coupled_input_forget else {"i": 0, "f": 1, "c": 2, "o": 3}
    _check_params(params, len(blocks), coupled_input_forget)
    recurrent = params["recurrent_kernel"]
    units = recurrent.shape[1] // len(blocks)
    v = LSTMVariant(act=get_activation(activation), gate_act=get_activation(recurrent_activation),
                    cols={g: slice(k * units, (k + 1) * units) for g, k in blocks.items()},
                    coupled=coupled_input_forget, forget_bias=forget_bias,
                    peepholes={name[-1]: params[name] for name in _PEEPHOLES if name in params},
                    projection=params.get("projection_kernel"), cell_clip=cell_clip, proj_clip=proj_clip)
    F, C, O = v.cols["f"], v.cols["c"], v.cols["o"]
    sigma_cols = slice(0, F.stop)  # i and f (or f alone) lead: one call to σ covers them

    x_tm = sequence.time_major(x)
    time, batch, _ = x_tm.shape
    a = sequence.input_product(x_tm, params["kernel"], params.get("bias"))
    dtype, out_units = a.dtype, recurrent.shape[0]
    gates = np.empty_like(a)
    c_seq, act_c, m = (np.empty((time, batch, units), dtype) for _ in range(3))
    c_unclipped = None if cell_clip is None else np.empty(c_seq.shape, bool)
    h_unclipped = None if proj_clip is None else np.empty((time, batch, out_units), bool)
    h_new = np.empty((time, batch, out_units), dtype)
    h_states = np.empty((time + 1, batch, out_units), dtype)
    c_states = np.empty((time + 1, batch, units), dtype)
    h, c = h_states[0], c_states[0] = state0

    for t in range(time):
        a_t, g = a[t], gates[t]
        a_t += (h if recurrent_mask is None else h * recurrent_mask) @ recurrent
        if forget_bias:
            a_t[:, F] += forget_bias
        _add_input_peepholes(a_t, v, c)
        g[:, sigma_cols] = v.gate_act(a_t[:, sigma_cols])
        g[:, C] = v.act(a_t[:, C])
        c_t, unclipped = _clip(g[:, F] * c + _input_gate(g, v) * g[:, C], cell_clip)
        if unclipped is not None:
            c_unclipped[t] = unclipped
        _add_output_peephole(a_t, v, c_t)
        g[:, O] = v.gate_act(a_t[:, O])
        c_seq[t], act_c[t] = c_t, v.act(c_t)
        np.multiply(g[:, O], act_c[t], out=m[t])
        h_new[t], unclipped = _clip(_project(m[t], v), proj_clip)
        if unclipped is not None:
            h_unclipped[t] = unclipped
        step = sequence.step_mask(mask, t)
        h = h_states[t + 1] = sequence.select(step, h_new[t], h)
        c = c_states[t + 1] = sequence.select(step, c_seq[t], c)

    cache = LSTMCache(x_tm=x_tm, params=params, mask=mask, recurrent_mask=recurrent_mask, h_states=h_states,
                      zero_output_for_mask=zero_output_for_mask, variant=v, a=a, gates=gates, c=c_seq, act_c=act_c,
                      m=m, c_unclipped=c_unclipped, h_unclipped=h_unclipped, c_states=c_states)
    return sequence.forward_results(h_new, cache, h_states[time], c_states[time])


def lstm_backward(d_outputs, d_final_state, cache):
    """BPTT through :func:`lstm_forward`: dx, the initial state's gradient, the weights' (:mod:`rnnkit.ops`)."""
    k, v = cache, cache.variant
    recurrent, rmask = k.params["recurrent_kernel"], k.recurrent_mask
    F, C, O = v.cols["f"], v.cols["c"], v.cols["o"]
    time = len(k.a)
    dh_new, (dh, dc) = sequence.upstream_grads(k, d_outputs, d_final_state, k.h_states[0], k.c_states[0])
    da = np.empty_like(k.a)
    dh_raw = None if v.projection is None else np.empty_like(dh_new)  # before the clip
    for t in range(time - 1, -1, -1):
        step = sequence.step_mask(k.mask, t)
        dh_fresh, dh_carried = sequence.split_state_grad(step, dh)
        dc_fresh, dc_carried = sequence.split_state_grad(step, dc)
        dh_t = _clip_backward(dh_fresh + dh_new[t], None if k.h_unclipped is None else k.h_unclipped[t])
        if dh_raw is not None:
            dh_raw[t] = dh_t
        dm = _project_backward(dh_t, v)
        a_t, g, da_t = k.a[t], k.gates[t], da[t]
        da_t[:, O] = dm * k.act_c[t] * v.gate_act.derivative(a_t[:, O], g[:, O])
        dc_t = dc_fresh + dm * g[:, O] * v.act.derivative(k.c[t], k.act_c[t]) + _output_peephole_backward(da_t, v)
        dc_t = _clip_backward(dc_t, None if k.c_unclipped is None else k.c_unclipped[t])
        _input_forget_backward(da_t, a_t, g, dc_t, k.c_states[t], v)
        da_t[:, C] = dc_t * _input_gate(g, v) * v.act.derivative(a_t[:, C], g[:, C])
        dh_in = da_t @ recurrent.T
        dh = dh_carried + (dh_in if rmask is None else dh_in * rmask)
        dc = dc_carried + dc_t * g[:, F] + _input_peepholes_backward(da_t, v)

    grads = {}
    dx = sequence.input_grads(k.x_tm, da, k.params["kernel"], grads, "bias" in k.params)
    h_in = k.h_states[:time] if rmask is None else k.h_states[:time] * rmask
    grads["recurrent_kernel"] = sequence.weight_grad(h_in, da)
    if dh_raw is not None:
        grads["projection_kernel"] = sequence.weight_grad(k.m, dh_raw)
    _peephole_grads(da, k.c_states[:time], k.c, v, grads)
    return dx, (dh, dc), {name: grads[name] for name in k.params}
