"""The layer-normalised LSTM of TF1 contrib (``tf.contrib.rnn.LayerNormBasicLSTMCell``), with its backward.

Math of one step (Ba et al. 2016 layer normalisation before every nonlinearity, and
Semeniuta et al. 2016 recurrent dropout on the candidate), gate order i, f, c, o in
the fused matrices (Keras's layout; TF1 orders them i, j=c, f, o)::

    z    = x_t W + (h_{t-1} ⊙ r) U (+ b without layer norm)         r: optional recurrent mask
    a_k  = LN_k(z_k)  for k in i, c, f, o     (a = z without layer norm)
    i = σ(a_i)   f = σ(a_f + forget_bias)   o = σ(a_o)
    g    = act(a_c) ⊙ d_t                      d_t: dropout mask / keep_prob (or 1)
    c_t  = LN_s(f ⊙ c_{t-1} + i ⊙ g)           (no LN_s without layer norm)
    h_t  = act(c_t) ⊙ o

    LN(v) = γ ⊙ (v - mean(v)) / sqrt(var(v) + 1e-12) + β     over the H features of each row
    (contrib's ``layers.layer_norm``: biased variance, epsilon 1e-12)

Backward of LN with v̂ = (v - mean) / s, s = sqrt(var + eps), over the H features:
    dγ = Σ_batch dy ⊙ v̂,  dβ = Σ_batch dy,  dv̂ = dy ⊙ γ,
    dv = (dv̂ - mean(dv̂) - v̂ ⊙ mean(dv̂ ⊙ v̂)) / s

The time loop is :mod:`rnnkit.nn.rnn_cell.step_loop`'s; the pair
``layer_norm_lstm_forward`` / ``layer_norm_lstm_backward`` has the signature of the
sequence kernels in :mod:`rnnkit.ops`.
"""
import numpy as np

from ..._validate import describe
from ...cells.base import RecurrentCell
from ...errors import RnnkitValueError
from ...ops.activations import get_activation, serialize_activation
from ...random import make_rng
from .base import _tanh_default
from .cells import _LSTMAdapter
from .step_loop import loop_backward, loop_forward
from .tf1_args import check_tf1_arguments, keep_probability

EPSILON = 1e-12
GATES = ("i", "f", "c", "o")  # column blocks of the fused matrices
LN_SCOPES = (("input", "i"), ("transform", "c"), ("forget", "f"), ("output", "o"), ("state", None))


def layer_norm(v, gamma, beta, eps=EPSILON):
    """LN over the last axis; returns the output and the cache for :func:`layer_norm_backward`."""
    mean = v.mean(axis=-1, keepdims=True)
    centred = v - mean
    scale = np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)
    normed = centred / scale
    return gamma * normed + beta, (normed, scale, gamma)


def layer_norm_backward(dy, cache):
    """Gradients of :func:`layer_norm`: (dv, dgamma, dbeta)."""
    normed, scale, gamma = cache
    d_normed = dy * gamma
    dv = (d_normed - d_normed.mean(axis=-1, keepdims=True)
          - normed * (d_normed * normed).mean(axis=-1, keepdims=True)) / scale
    return dv, (dy * normed).sum(axis=0), dy.sum(axis=0)


def _step(x_t, state, params, t, opts):
    h_prev, c_prev = state
    act, sig = opts["activation"], opts["sigmoid"]
    units = c_prev.shape[1]
    h_in = h_prev if opts["recurrent_mask"] is None else h_prev * opts["recurrent_mask"]
    z = x_t @ params["kernel"] + h_in @ params["recurrent_kernel"]
    if "bias" in params:
        z = z + params["bias"]
    blocks, ln = {}, {}
    for k, gate in enumerate(GATES):
        blocks[gate] = z[:, k * units:(k + 1) * units]
    if opts["layer_norm"]:
        for scope, gate in LN_SCOPES[:4]:
            blocks[gate], ln[gate] = layer_norm(blocks[gate], params[f"{scope}/gamma"], params[f"{scope}/beta"])
    i, f, o = sig(blocks["i"]), sig(blocks["f"] + opts["forget_bias"]), sig(blocks["o"])
    g_raw = act(blocks["c"])
    drop = None if opts["candidate_mask"] is None else opts["candidate_mask"][:, t]
    g = g_raw if drop is None else g_raw * drop
    c_raw = f * c_prev + i * g
    c_new = c_raw
    if opts["layer_norm"]:
        c_new, ln["state"] = layer_norm(c_raw, params["state/gamma"], params["state/beta"])
    c_act = act(c_new)
    h_new = c_act * o
    cache = (x_t, h_in, c_prev, blocks, ln, i, f, o, g_raw, drop, g, c_new, c_act)
    return h_new, (h_new, c_new), cache


def _step_backward(d_out, d_state, cache, params, opts):
    x_t, h_in, c_prev, blocks, ln, i, f, o, g_raw, drop, g, c_new, c_act = cache
    act, sig = opts["activation"], opts["sigmoid"]
    dh, dc = d_state
    if d_out is not None:
        dh = dh + d_out
    grads = {}
    d_o = dh * c_act
    dc = dc + dh * o * act.derivative(c_new, c_act)
    if opts["layer_norm"]:
        dc, grads["state/gamma"], grads["state/beta"] = layer_norm_backward(dc, ln["state"])
    dg = dc * i
    d_pre = {"i": dc * g * sig.derivative(None, i), "f": dc * c_prev * sig.derivative(None, f),
             "o": d_o * sig.derivative(None, o),
             "c": (dg if drop is None else dg * drop) * act.derivative(blocks["c"], g_raw)}
    if opts["layer_norm"]:
        for scope, gate in LN_SCOPES[:4]:
            d_pre[gate], grads[f"{scope}/gamma"], grads[f"{scope}/beta"] = layer_norm_backward(d_pre[gate], ln[gate])
    dz = np.concatenate([d_pre[gate] for gate in GATES], axis=1)
    grads["kernel"] = x_t.T @ dz
    grads["recurrent_kernel"] = h_in.T @ dz
    if "bias" in params:
        grads["bias"] = dz.sum(axis=0)
    dh_prev = dz @ params["recurrent_kernel"].T
    if opts["recurrent_mask"] is not None:
        dh_prev = dh_prev * opts["recurrent_mask"]
    return dz @ params["kernel"].T, (dh_prev, dc * f), grads


def layer_norm_lstm_forward(x, state0, params, mask=None, recurrent_mask=None, *, zero_output_for_mask=False,
                            activation="tanh", forget_bias=1.0, dropout_keep_prob=1.0, dropout_rng=None,
                            candidate_mask=None):
    """Run the layer-normalised LSTM over (B, T, I) ``x`` (kernel signature of :mod:`rnnkit.ops`).

    Args:
        x: (B, T, I).  state0: ``(h0, c0)``, each (B, H).
        params: ``kernel`` (I, 4H), ``recurrent_kernel`` (H, 4H), then either ``bias`` (4H,) (no
            layer norm) or ``<scope>/gamma`` and ``<scope>/beta`` (H,) for scope in input, transform,
            forget, output, state (layer norm on).
        mask: None or (B, T) bool (see :mod:`rnnkit.ops.sequence`).
        recurrent_mask: None or (B, H) multiplier on h_{t-1} before U.
        activation: act ("tanh").  forget_bias: added to the forget pre-activation.
        dropout_keep_prob, dropout_rng: with a keep probability below 1, the candidate's dropout
            multiplier d_t = Bernoulli(keep) / keep is drawn here from ``dropout_rng`` (a NumPy
            Generator), a fresh (B, T, H) mask per call as TF1 draws one per step; it is kept in the cache.
        candidate_mask: None, or a given (B, T, H) multiplier d_t (then nothing is drawn).

    Returns:
        outputs (B, T, H), final ``(h_T, c_T)``, cache for :func:`layer_norm_lstm_backward`.
    """
    units = params["recurrent_kernel"].shape[0]
    if candidate_mask is None and dropout_keep_prob < 1.0:
        keep = dropout_rng.random((x.shape[0], x.shape[1], units)) < dropout_keep_prob
        candidate_mask = keep.astype(x.dtype) / x.dtype.type(dropout_keep_prob)
    opts = {"activation": get_activation(activation), "sigmoid": get_activation("sigmoid"),
            "forget_bias": float(forget_bias), "layer_norm": "bias" not in params,
            "candidate_mask": candidate_mask, "recurrent_mask": recurrent_mask}
    outputs, final, caches = loop_forward(lambda x_t, s, t: _step(x_t, s, params, t, opts), x, tuple(state0),
                                          mask, zero_output_for_mask, units)
    cache = {"params": params, "opts": opts, "steps": caches, "state0": tuple(state0), "mask": mask,
             "zero_output_for_mask": zero_output_for_mask, "x_shape": x.shape, "dtype": x.dtype}
    return outputs, final, cache


def layer_norm_lstm_backward(d_outputs, d_final_state, cache):
    """BPTT of :func:`layer_norm_lstm_forward`: (dx (B, T, I), (dh0, dc0), grads dict keyed like params)."""
    params, opts = cache["params"], cache["opts"]
    dx, d_state0, grads = loop_backward(lambda d, s, c: _step_backward(d, s, c, params, opts), d_outputs,
                                        d_final_state, cache["steps"], cache["state0"], cache["mask"],
                                        cache["zero_output_for_mask"], cache["x_shape"], cache["dtype"])
    grads = {name: grads.get(name, np.zeros_like(value)) for name, value in params.items()}
    return dx, d_state0, grads


class LayerNormLSTMCore(RecurrentCell):
    """The core cell (Keras layout, ``(h, c)`` state) behind :class:`LayerNormBasicLSTMCell`.

    Weights, in ``get_weights`` order: kernel (I, 4H), recurrent_kernel (H, 4H), then with layer
    norm ``input/gamma, input/beta, transform/gamma, transform/beta, forget/gamma, forget/beta,
    output/gamma, output/beta, state/gamma, state/beta`` (each (H,)), without it ``bias`` (4H,).
    """

    def __init__(self, units, activation="tanh", forget_bias=1.0, layer_norm=True, norm_gain=1.0,
                 norm_shift=0.0, dropout_keep_prob=1.0, dropout_seed=None, kernel_initializer="glorot_uniform",
                 recurrent_initializer="glorot_uniform", bias_initializer="glorot_uniform", seed=None,
                 dtype="float32", name=None):
        super().__init__(units, use_bias=not layer_norm, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
                         seed=seed, dtype=dtype, name=name)
        self.activation = get_activation(activation)
        self.forget_bias = _finite("forget_bias", forget_bias)
        self.layer_norm = bool(layer_norm)
        self.norm_gain = _finite("norm_gain", norm_gain)
        self.norm_shift = _finite("norm_shift", norm_shift)
        self.dropout_keep_prob = keep_probability("dropout_keep_prob", dropout_keep_prob)
        self._dropout_rng = make_rng(dropout_seed)

    @property
    def state_size(self):
        return (self.units, self.units)

    def weight_shapes(self, input_dim):
        shapes = [("kernel", (input_dim, 4 * self.units)), ("recurrent_kernel", (self.units, 4 * self.units))]
        if not self.layer_norm:
            return shapes + [("bias", (4 * self.units,))]
        return shapes + [(f"{scope}/{kind}", (self.units,)) for scope, _ in LN_SCOPES for kind in ("gamma", "beta")]

    def initial_weight(self, name, shape, rng):
        if name.endswith("/gamma"):
            return np.full(shape, self.norm_gain, self.dtype)
        if name.endswith("/beta"):
            return np.full(shape, self.norm_shift, self.dtype)
        return super().initial_weight(name, shape, rng)

    reference_ops = (layer_norm_lstm_forward, layer_norm_lstm_backward)

    def op_options(self):
        return {"activation": self.activation, "forget_bias": self.forget_bias,
                "dropout_keep_prob": self.dropout_keep_prob, "dropout_rng": self._dropout_rng}

    def forward_unchecked(self, x, state0, mask=None, *, backprop_segment=None, **kwargs):
        """As the base cell's (the path of ``forward`` and of the layers); checkpointing through time is
        refused with dropout on (its replay of a segment would draw other masks)."""
        if backprop_segment is not None and self.dropout_keep_prob < 1.0:
            raise RnnkitValueError(f"checkpointing through time (segment {backprop_segment!r}) cannot be combined "
                                   f"with dropout_keep_prob={self.dropout_keep_prob} < 1 in {self.name}")
        return super().forward_unchecked(x, state0, mask, backprop_segment=backprop_segment, **kwargs)

    def get_config(self):
        return {**super().get_config(), "activation": serialize_activation(self.activation),
                "forget_bias": self.forget_bias, "layer_norm": self.layer_norm, "norm_gain": self.norm_gain,
                "norm_shift": self.norm_shift, "dropout_keep_prob": self.dropout_keep_prob}


def _finite(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not np.isfinite(value):
        raise RnnkitValueError(f"{name} must be a finite number, got {describe(value)}")
    return float(value)


class LayerNormBasicLSTMCell(_LSTMAdapter):
    """TF1 contrib's ``LayerNormBasicLSTMCell``: an LSTM with layer normalisation and recurrent dropout.

    See the module doc for the math. The state is ``LSTMStateTuple(c, h)``; the output is h.

    Args:
        num_units: H.
        forget_bias: added to the forget gate's pre-activation (after its layer norm).
        input_size: deprecated and unused in TF1; accepted.
        activation: name or Activation; None means tanh.
        layer_norm: normalise the four gate pre-activations and the new cell state (no bias then).
        norm_gain, norm_shift: initial γ and β of every layer norm.
        dropout_keep_prob: keep probability of the candidate's dropout (a fresh mask for every step
            and every call, always on as in TF1: set ``cell.dropout_keep_prob = 1.0`` to evaluate).
        dropout_prob_seed: seed of the dropout masks.
        reuse: accepted for TF1 compatibility (rnnkit has no variable scopes).
        name: default "layer_norm_basic_lstm_cell".  dtype: None (the first inputs') or a float dtype.
        seed: rnnkit addition; fixes the initial weights.

    Weights (Keras layout, gates i, f, c, o): kernel (I, 4H), recurrent_kernel (H, 4H), then the ten
    (H,) layer-norm vectors ``input/gamma, input/beta, transform/gamma, ..., state/beta`` (layer
    norm on) or bias (4H,) (off). TF1 draws one glorot_uniform matrix for [inputs, h] and, without
    layer norm, a glorot_uniform bias (get_variable's default); rnnkit draws kernel, recurrent_kernel
    (and bias) separately from the same initializer.

    Example:
        >>> import numpy as np
        >>> cell = LayerNormBasicLSTMCell(4, seed=0)
        >>> out, state = cell(np.ones((2, 3), np.float32), cell.zero_state(2, np.float32))
        >>> out.shape, state.c.shape, bool(abs(state.c[0].mean()) < 1e-6)  # c_t is layer-normalised
        ((2, 4), (2, 4), True)
    """

    _default_name = "layer_norm_basic_lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, input_size=None, activation=None, layer_norm=True,
                 norm_gain=1.0, norm_shift=0.0, dropout_keep_prob=1.0, dropout_prob_seed=None, reuse=None,
                 name=None, dtype=None, *, seed=None):
        super().__init__(True, name, dtype)
        check_tf1_arguments(type(self).__name__, reuse=reuse)
        self._core = LayerNormLSTMCore(
            num_units, activation=_tanh_default(activation), forget_bias=forget_bias, layer_norm=layer_norm,
            norm_gain=norm_gain, norm_shift=norm_shift, dropout_keep_prob=dropout_keep_prob,
            dropout_seed=dropout_prob_seed, seed=seed, dtype=self._fixed_dtype or "float32", name=self.name)

    @property
    def dropout_keep_prob(self):
        return self._core.dropout_keep_prob

    @dropout_keep_prob.setter
    def dropout_keep_prob(self, value):
        self._core.dropout_keep_prob = keep_probability("dropout_keep_prob", value)


__all__ = ["LayerNormBasicLSTMCell", "LayerNormLSTMCore", "layer_norm_lstm_forward", "layer_norm_lstm_backward",
           "layer_norm", "layer_norm_backward"]
