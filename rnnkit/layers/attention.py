"""Attention (Luong, dot-product or concat scores) and AdditiveAttention (Bahdanau), as Keras 3.15.

Called on ``[query, value]`` or ``[query, value, key]`` (key defaults to value):

    scores  = score(query, key)                              (B, Tq, Tv)
    scores' = scores - 1e9  where a key is masked out         (value mask, causal mask; as Keras)
    weights = softmax(scores', over Tv)   [dropout on weights while training]
    output  = weights @ value                                 (B, Tq, Dv), zeroed where the query is masked

with ``score`` one of
    Attention "dot":     scale · (query @ keyᵀ)                               (scale only if use_scale)
    Attention "concat":  concat_score_weight · Σ_d tanh(scale · (query_i + key_j))_d
    AdditiveAttention:   Σ_d scale_d · tanh(query_i + key_j)_d                (scale (D,) only if use_scale)

``return_attention_scores=True`` also returns ``weights`` (after dropout, as Keras does), and
``backward(d_output, d_weights)`` then takes a gradient for each. The output mask is the query mask.
"""
import numpy as np

from .. import initializers
from .._validate import choice, describe
from .._validate import rate as check_rate
from ..errors import RnnkitValueError
from ..ops import softmax as softmax_ops
from ..random import make_rng
from .layer_utils import cached
from .multi_input import MultiInputLayer

_MASKED_SHIFT = 1e9  # Keras subtracts this from the scores of masked keys (not -inf)


def _pairwise_tanh(query, key, inner_scale=None):
    """(pre, t): pre[..., i, j, :] = query_i + key_j and t = tanh(inner_scale · pre)."""
    pre = query[..., :, None, :] + key[..., None, :, :]
    return pre, np.tanh(pre if inner_scale is None else inner_scale * pre)


def _pairwise_backward(d_pre):
    """dL/dquery and dL/dkey from dL/dpre of :func:`_pairwise_tanh`."""
    return d_pre.sum(axis=-2), d_pre.sum(axis=-3)


class Attention(MultiInputLayer):
    """Dot-product (Luong) attention, Keras 3's ``Attention``.

    Args:
        use_scale: learn a scalar ``scale`` (initialised to 1) multiplying the scores ("dot")
            or the tanh's argument ("concat").
        score_mode: "dot" (query @ keyᵀ) or "concat" (Σ tanh(query + key) times a learned scalar
            ``concat_score_weight``, initialised to 1).
        dropout: rate in [0, 1) of dropout on the attention weights while training.
        seed: int or None; same seed, same dropout masks.
        name, dtype, trainable: see :class:`Layer`.

    Call: ``layer([query, value(, key)], mask=[query_mask, value_mask], training=False,
    return_attention_scores=False, use_causal_mask=False)`` with query (B, Tq, D), value (B, Tv, Dv),
    key (B, Tv, D), masks (B, Tq) and (B, Tv) booleans. ``use_causal_mask`` lets query step i see
    keys j <= i only.

    Weights: ``scale`` () if use_scale, then ``concat_score_weight`` () if score_mode is "concat".

    Example:
        >>> import numpy as np
        >>> q, v = np.ones((2, 3, 4), np.float32), np.ones((2, 5, 6), np.float32)
        >>> out, weights = Attention()([q, v], return_attention_scores=True)
        >>> out.shape, weights.shape
        ((2, 3, 6), (2, 3, 5))
    """

    min_inputs, max_inputs = 2, 3
    min_ndim = 3
    supports_masking = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        self.score_mode = choice("score_mode", score_mode, ("dot", "concat"))
        self.dropout = check_rate("dropout", dropout)
        self.rng = make_rng(seed)
        self.seed = seed
        self._cache = None

    # ------------------------------------------------------------------ scores
    def build(self, input_shape):
        if self.built:
            return
        if self.use_scale:
            self.scale = self.add_weight("scale", np.ones((), self.dtype))
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", np.ones((), self.dtype))
        self.built = True

    def _scores(self, query, key):
        """(scores (..., Tq, Tv), what :meth:`_scores_backward` needs)."""
        scale = self.scale.value if self.use_scale else None
        if self.score_mode == "dot":
            raw = query @ np.swapaxes(key, -1, -2)
            return (raw if scale is None else raw * scale), (query, key, raw)
        pre, t = _pairwise_tanh(query, key, scale)
        summed = t.sum(axis=-1)
        return self.concat_score_weight.value * summed, (pre, t, summed)

    def _scores_backward(self, d_scores, cache):
        """(dL/dquery, dL/dkey, weight gradients) from dL/dscores."""
        grads = []
        if self.score_mode == "dot":
            query, key, raw = cache
            if self.use_scale:
                grads.append(np.asarray(np.sum(d_scores * raw), self.dtype))
                d_scores = d_scores * self.scale.value
            return d_scores @ key, np.swapaxes(d_scores, -1, -2) @ query, grads
        pre, t, summed = cache
        weight = self.concat_score_weight.value
        d_inner = (weight * d_scores)[..., None] * (1.0 - t * t)
        if self.use_scale:
            grads.append(np.asarray(np.sum(d_inner * pre), self.dtype))
            d_inner = d_inner * self.scale.value
        grads.append(np.asarray(np.sum(d_scores * summed), self.dtype))
        return (*_pairwise_backward(d_inner), grads)

    # ------------------------------------------------------------------ calling
    def _check_shapes(self, query, value, key):
        if query.shape[:-2] != value.shape[:-2] or key.shape[:-1] != value.shape[:-1] \
                or query.shape[-1] != key.shape[-1]:
            raise RnnkitValueError(
                f"inputs of layer {self.name!r} must be query (B, Tq, D), value (B, Tv, Dv) and key (B, Tv, D), "
                f"got query {query.shape}, value {value.shape}, key {key.shape}")

    def call(self, inputs, training=False, mask=None, return_attention_scores=False, use_causal_mask=False):
        masks = self.check_masks(mask, inputs, lengths=(2, 3))
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        self._check_shapes(query, value, key)
        query_mask, value_mask = (None, None) if masks is None else masks[:2]

        scores, score_cache = self._scores(query, key)
        keep = None if value_mask is None else value_mask[..., None, :]
        if use_causal_mask:
            causal = np.tril(np.ones(scores.shape[-2:], bool))
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = np.where(keep, scores, scores - _MASKED_SHIFT)
        weights = softmax_ops.softmax(scores)
        drop_scale = None
        if training and self.dropout > 0:
            drop_scale = ((self.rng.random(weights.shape) >= self.dropout) / (1.0 - self.dropout)).astype(self.dtype)
            dropped = weights * drop_scale
        else:
            dropped = weights
        output = dropped @ value
        if query_mask is not None:
            output = output * query_mask[..., None]
        self._cache = (value, len(inputs) == 3, query_mask, weights, drop_scale, dropped, score_cache)
        return (output, dropped) if return_attention_scores else output

    def backward(self, d_outputs, d_attention_scores=None):
        """[dL/dquery, dL/dvalue(, dL/dkey)] from dL/doutput (B, Tq, Dv) and, when the call returned
        them, dL/d(attention scores) (B, Tq, Tv); either may be None. Fills the weight gradients."""
        value, has_key, query_mask, weights, drop_scale, dropped, score_cache = cached(self)
        batch_shape = dropped.shape[:-1] + value.shape[-1:]
        d_out = np.zeros(batch_shape, self.dtype) if d_outputs is None else np.asarray(d_outputs, self.dtype)
        if query_mask is not None:
            d_out = d_out * query_mask[..., None]
        d_dropped = d_out @ np.swapaxes(value, -1, -2)
        if d_attention_scores is not None:
            d_dropped = d_dropped + np.asarray(d_attention_scores, self.dtype)
        d_value = np.swapaxes(dropped, -1, -2) @ d_out
        d_weights = d_dropped if drop_scale is None else d_dropped * drop_scale
        d_scores = softmax_ops.softmax_backward(weights, d_weights)
        d_query, d_key, grads = self._scores_backward(d_scores, score_cache)
        self._gradients = grads
        return [d_query, d_value, d_key] if has_key else [d_query, d_value + d_key]

    def compute_mask(self, inputs, mask=None):
        if mask is None or mask[0] is None:
            return None
        return np.asarray(mask[0], bool)

    def compute_output_shape(self, input_shape):
        query_shape, value_shape = input_shape[0], input_shape[1]
        return (*query_shape[:-1], value_shape[-1])

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention, Keras 3's ``AdditiveAttention``:
    ``scores[i, j] = Σ_d scale_d · tanh(query_i + key_j)_d``.

    Args:
        use_scale: learn ``scale`` (D,) (Glorot-uniform initialised; default True); else scale = 1.
        dropout, seed, name, dtype, trainable: as :class:`Attention`.

    Call, shapes, masks and outputs as :class:`Attention`. Weights: ``scale`` (D,) if use_scale.
    """

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)

    def build(self, input_shape):
        if self.built:
            return
        if self.use_scale:
            dim = input_shape[0][-1]
            init = initializers.get("glorot_uniform")
            self.scale = self.add_weight("scale", init((dim,), self.dtype, make_rng(self.seed)))
        self.built = True

    def _check_shapes(self, query, value, key):
        super()._check_shapes(query, value, key)
        if self.use_scale and self.built and query.shape[-1] != self.scale.shape[0]:
            raise RnnkitValueError(
                f"query of layer {self.name!r} must have {self.scale.shape[0]} features to match its built scale, "
                f"got {describe(query)}")

    def _scores(self, query, key):
        pre, t = _pairwise_tanh(query, key)
        scale = self.scale.value if self.use_scale else 1.0
        return np.sum(scale * t, axis=-1), t

    def _scores_backward(self, d_scores, t):
        grads = []
        d_t = d_scores[..., None]
        if self.use_scale:
            grads.append((d_t * t).reshape(-1, t.shape[-1]).sum(axis=0))
            d_t = d_t * self.scale.value
        return (*_pairwise_backward(d_t * (1.0 - t * t)), grads)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
