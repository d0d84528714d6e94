"""Attention and AdditiveAttention as ONNX, following rnnkit's layers (Keras 3.15):

    scores  = scale · query keyᵀ                          ("dot")
            = w · Σ_d tanh(scale · (query_i + key_j))_d     ("concat")
            = Σ_d scale_d · tanh(query_i + key_j)_d         (AdditiveAttention)
    scores' = scores - 1e9 where the value mask or the causal mask (``use_causal_mask``, a dynamic
              ``Trilu``) hides a key
    output  = softmax(scores') value, zeroed where the query is masked; the output mask is the query mask

``return_attention_scores=True`` adds the softmax weights as a second output (inference: no dropout).
"""
import numpy as np

_MASKED_SHIFT = 1e9


def _pairwise_tanh_sum(g, query, key, inner_scale=None, outer_scale=None):
    """Σ_d outer_d · tanh(inner · (query_i + key_j))_d: (B, Tq, Tv)."""
    pre = g.add(g.unsqueeze(query, [2]), g.unsqueeze(key, [1]), "query_plus_key")
    if inner_scale is not None:
        pre = g.mul(pre, inner_scale)
    t = g.unary("Tanh", pre)
    if outer_scale is not None:
        t = g.mul(t, outer_scale)
    return g.reduce_sum(t, [3], False, "scores")


def _scores(g, layer, query, key):
    weight = (lambda name: g.const(getattr(layer, name).value, f"{layer.name}/{name}"))
    if type(layer).__name__ == "AdditiveAttention":
        return _pairwise_tanh_sum(g, query, key, outer_scale=weight("scale") if layer.use_scale else None)
    if layer.score_mode == "dot":
        scores = g.matmul(query, g.transpose(key, (0, 2, 1), "key_t"), "scores")
        return g.mul(scores, weight("scale")) if layer.use_scale else scores
    summed = _pairwise_tanh_sum(g, query, key, inner_scale=weight("scale") if layer.use_scale else None)
    return g.mul(summed, weight("concat_score_weight"), "scores")


def _causal(g, scores):
    """(Tq, Tv) bool, True where key j <= query i."""
    dims = g.shape_of(scores, 1, 3)
    ones = g.op("ConstantOfShape", [dims], (None, None), np.float32, "ones",
                value=g.onnx.numpy_helper.from_array(np.ones(1, np.float32)))
    return g.cast(g.op("Trilu", [ones], (None, None), np.float32, "lower", upper=0), np.bool_, "causal")


def convert_attention(ctx, layer, inputs, masks, return_attention_scores=False, use_causal_mask=False):
    g = ctx.g
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) == 3 else value
    query_mask = masks[0] if masks else None
    value_mask = masks[1] if len(masks) > 1 else None
    scores = _scores(g, layer, query, key)
    keep = None if value_mask is None else g.unsqueeze(value_mask, [1])
    if use_causal_mask:
        causal = _causal(g, scores)
        keep = causal if keep is None else g.op("And", [keep, causal], scores.shape, np.bool_, "keep")
    if keep is not None:
        scores = g.where(keep, scores, g.sub(scores, g.scalar(_MASKED_SHIFT, scores.dtype)), "masked_scores")
    weights = g.unary("Softmax", scores, "attention_weights", axis=-1)
    output = g.matmul(weights, value, layer.name)
    if query_mask is not None:
        output = g.mul(output, g.cast(g.unsqueeze(query_mask, [-1]), output.dtype))
    outputs = [output, weights] if return_attention_scores else [output]
    return outputs, [query_mask] + [None] * (len(outputs) - 1)


CONVERTERS = {"Attention": convert_attention, "AdditiveAttention": convert_attention}
