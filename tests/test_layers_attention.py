"""Attention and AdditiveAttention: the shared multi-input check (float64 finite differences on
query, value, key and every weight; masks, causal masks, returned attention scores, dropout),
parity with Keras 3 on outputs and gradients with the same weights, masks and errors."""
import numpy as np
import pytest

from keras_compare import compare_with_keras, import_keras
from multi_layer_checks import check_multi_input_layer
from rnnkit import layers
from rnnkit.errors import RnnkitValueError

B, TQ, TV, D, DV = 3, 4, 5, 3, 2

ATTENTIONS = [
    (layers.Attention, {}),
    (layers.Attention, {"use_scale": True}),
    (layers.Attention, {"score_mode": "concat"}),
    (layers.Attention, {"score_mode": "concat", "use_scale": True}),
    (layers.AdditiveAttention, {}),
    (layers.AdditiveAttention, {"use_scale": False}),
]


def _shapes(with_key):
    return [(B, TQ, D), (B, TV, DV), (B, TV, D)] if with_key else [(B, TQ, D), (B, TV, D)]


def _masks(seed=0, a_row_without_keys=False):
    """[query_mask, value_mask]; optionally one sample with every key masked, where Keras's shift of
    the scores by -1e9 (not -inf) decides the weights. Finite differences cannot run there: a step of
    1e-6 on a score near -1e9 is below float64's resolution, so the gradient checks leave it out."""
    rng = np.random.default_rng(seed)
    query_mask = rng.random((B, TQ)) > 0.3
    value_mask = rng.random((B, TV)) > 0.3
    value_mask[:, 0] = True
    if a_row_without_keys:
        value_mask[2] = False
    return [query_mask, value_mask]


def _with_scale(cls, kwargs, seed=1):
    """kwargs that make a learned scale differ from 1 (so its gradient check is not trivial)."""
    return dict(kwargs, seed=seed)


@pytest.mark.parametrize("cls,kwargs", ATTENTIONS)
@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("options", [
    {},
    {"return_attention_scores": True},
    {"use_causal_mask": True, "return_attention_scores": True},
])
def test_gradients(cls, kwargs, with_key, options):
    check_multi_input_layer(cls, _with_scale(cls, kwargs), _shapes(with_key), call_kwargs=options)


@pytest.mark.parametrize("cls,kwargs", ATTENTIONS)
@pytest.mark.parametrize("causal", [False, True])
def test_masked_gradients(cls, kwargs, causal):
    options = {"use_causal_mask": causal, "return_attention_scores": True}
    check_multi_input_layer(cls, _with_scale(cls, kwargs), _shapes(True), mask=_masks(), call_kwargs=options)


@pytest.mark.parametrize("cls,kwargs", [(layers.Attention, {"use_scale": True}), (layers.AdditiveAttention, {})])
def test_dropout_gradients(cls, kwargs):
    check_multi_input_layer(cls, dict(kwargs, dropout=0.3, seed=2), _shapes(False), mask=_masks(1), training=True,
                            call_kwargs={"return_attention_scores": True})


def _random_weights(layer, rng):
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])


@pytest.mark.parametrize("cls,kwargs", ATTENTIONS)
@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("masked,causal", [(False, False), (True, False), (True, True), (False, True)])
def test_match_keras(cls, kwargs, with_key, masked, causal):
    keras = import_keras()
    rng = np.random.default_rng(3)
    # std 0.5: the scalar weights' gradients sum every (query, key) pair with much cancellation, and with
    # std-1 inputs the two float32 computations already differ by up to 8.9e-6 of the result (1e-5 is the bar)
    xs = [rng.standard_normal(s) * 0.5 for s in _shapes(with_key)]
    layer = cls(**kwargs)
    layer.build([x.shape for x in xs])
    _random_weights(layer, rng)
    errors = compare_with_keras(layer, getattr(keras.layers, cls.__name__)(**kwargs), xs,
                                masks=_masks(4, a_row_without_keys=True) if masked else None,
                                return_attention_scores=True, use_causal_mask=causal)
    assert max(errors.values()) < 1e-5, errors


def test_masks_and_output_mask():
    q = np.random.default_rng(0).standard_normal((B, TQ, D)).astype(np.float32)
    v = np.random.default_rng(1).standard_normal((B, TV, D)).astype(np.float32)
    query_mask, value_mask = _masks(a_row_without_keys=True)
    layer = layers.Attention()
    out, weights = layer([q, v], mask=[query_mask, value_mask], return_attention_scores=True)
    assert np.all(out[~query_mask] == 0.0)
    # masked keys get (numerically) no weight where some key is visible
    hidden = ~value_mask[:, None, :] & value_mask.any(axis=1)[:, None, None]
    assert np.all(weights[np.broadcast_to(hidden, weights.shape)] < 1e-30)
    np.testing.assert_allclose(weights[2], 1.0 / TV, rtol=1e-6)  # no visible key: uniform in float32, as Keras
    _, causal = layer([q, v], return_attention_scores=True, use_causal_mask=True)
    assert np.all(np.triu(causal[0], k=1) == 0.0)
    np.testing.assert_array_equal(layer.compute_mask([q, v], [query_mask, value_mask]), query_mask)
    assert layer.compute_mask([q, v], [None, value_mask]) is None
    assert layer.compute_output_shape([(None, TQ, D), (None, TV, DV)]) == (None, TQ, DV)


def test_weights_and_config_as_keras():
    keras = import_keras()
    for cls, kwargs in ATTENTIONS:
        layer = cls(**kwargs)
        klayer = getattr(keras.layers, cls.__name__)(**kwargs)
        layer.build([(B, TQ, D), (B, TV, D)])
        klayer.build([(B, TQ, D), (B, TV, D)])
        assert [w.name.split("/")[-1] for w in layer.weights] == [w.name for w in klayer.weights]
        assert [w.shape for w in layer.weights] == [tuple(w.shape) for w in klayer.weights]
        keras_config = klayer.get_config()
        for key, value in layer.get_config().items():
            if key not in ("name", "dtype"):
                assert keras_config[key] == value, key


def test_dropout_is_seeded_and_training_only():
    q = np.ones((2, 3, 4), np.float32)
    a, b = layers.Attention(dropout=0.5, seed=7), layers.Attention(dropout=0.5, seed=7)
    w1 = a([q, q], training=True, return_attention_scores=True)[1]
    w2 = b([q, q], training=True, return_attention_scores=True)[1]
    np.testing.assert_array_equal(w1, w2)
    assert set(np.unique(w1)) <= {0.0, np.float32(2 / 3)}
    np.testing.assert_allclose(a([q, q], return_attention_scores=True)[1], 1 / 3, rtol=1e-6)


def test_errors():
    q = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(RnnkitValueError, match="2 to 3 arrays, got a list of 1"):
        layers.Attention()([q])
    with pytest.raises(RnnkitValueError, match="score_mode must be one of"):
        layers.Attention(score_mode="general")
    with pytest.raises(RnnkitValueError, match="dropout must be a number in"):
        layers.Attention(dropout=1.5)
    with pytest.raises(RnnkitValueError, match=r"query \(B, Tq, D\), value"):
        layers.Attention()([q, np.zeros((2, 5, 3), np.float32)])
    with pytest.raises(RnnkitValueError, match="mask of layer .* must be a list of 2 or 3"):
        layers.Attention()([q, q], mask=np.ones((2, 3), bool))
    with pytest.raises(RnnkitValueError, match="rank >= 3"):
        layers.Attention()([q[0], q[0]])
