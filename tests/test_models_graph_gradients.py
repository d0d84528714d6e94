"""Backward through functional graphs equals float64 central differences (relative error < 1e-6)
for every graph shape: two inputs merged, a tensor fanning out, a shared layer called twice,
encoder states into a decoder, masks along the graph, nested models, and a multi-output model
trained with per-output losses and loss weights."""
import numpy as np
import pytest

import rnnkit
from graph_helpers import model_gradient_errors
from helpers import numeric_grad, rel_error
from rnnkit import layers

F64 = {"dtype": "float64"}
TOL = 1e-6


@pytest.fixture(autouse=True)
def fresh_names():
    rnnkit.utils.clear_session()


def _x(rng, *shape):
    return rng.standard_normal(shape)


def _assert_small(errors):
    assert max(errors.values()) < TOL, errors


def test_two_inputs_merged():
    rng = np.random.default_rng(0)
    a, b = rnnkit.Input((4, 3), name="a"), rnnkit.Input((4, 2), name="b")
    merged = layers.Concatenate(**F64)([layers.LSTM(3, seed=1, **F64)(a), layers.GRU(2, seed=2, **F64)(b)])
    model = rnnkit.Model([a, b], layers.Dense(2, seed=3, **F64)(merged))
    _assert_small(model_gradient_errors(model, [_x(rng, 3, 4, 3), _x(rng, 3, 4, 2)]))


def test_fan_out_sums_gradients_of_a_tensor_read_twice():
    rng = np.random.default_rng(1)
    x = rnnkit.Input((5, 3))
    h = layers.SimpleRNN(4, return_sequences=True, seed=1, **F64)(x)
    left = layers.LSTM(3, seed=2, **F64)(h)
    right = layers.GRU(3, seed=3, **F64)(h)
    model = rnnkit.Model(x, layers.Add(**F64)([left, right, layers.Dense(3, seed=4, **F64)(left)]))
    _assert_small(model_gradient_errors(model, _x(rng, 2, 5, 3)))


def test_shared_layer_used_twice_sums_its_weight_gradients():
    rng = np.random.default_rng(2)
    a, b = rnnkit.Input((6, 3)), rnnkit.Input((4, 3))
    shared = layers.LSTM(4, seed=1, **F64)
    dense = layers.Dense(2, seed=2, **F64)
    model = rnnkit.Model([a, b], dense(layers.Concatenate(**F64)([shared(a), shared(b)])))
    assert len(shared._inbound_nodes) == 2 and model.count_params() == 4 * 4 * (4 + 3 + 1) + 18
    _assert_small(model_gradient_errors(model, [_x(rng, 3, 6, 3), _x(rng, 3, 4, 3)]))
    # the same layer applied twice in a row (two caches of one layer on one path)
    x = rnnkit.Input((3,))
    twice = layers.Dense(3, activation="tanh", seed=3, **F64)
    _assert_small(model_gradient_errors(rnnkit.Model(x, twice(twice(x))), _x(rng, 4, 3)))


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_encoder_states_into_a_decoder(cell):
    rng = np.random.default_rng(3)
    make = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}[cell]
    encoder_in, decoder_in = rnnkit.Input((5, 3)), rnnkit.Input((4, 2))
    _, *states = make(4, return_state=True, seed=1, **F64)(encoder_in)
    decoded = make(4, return_sequences=True, seed=2, **F64)(decoder_in, initial_state=states)
    model = rnnkit.Model([encoder_in, decoder_in], layers.Dense(3, seed=3, **F64)(decoded))
    errors = model_gradient_errors(model, [_x(rng, 2, 5, 3), _x(rng, 2, 4, 2)])
    assert any(name.startswith(make.__name__.lower().replace("simplernn", "simple_rnn")) for name in errors)
    _assert_small(errors)


def test_decoder_states_as_outputs_and_bidirectional_encoder_states():
    rng = np.random.default_rng(4)
    encoder_in, decoder_in = rnnkit.Input((5, 3)), rnnkit.Input((3, 2))
    _, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(2, return_state=True, seed=1, **F64), **F64)(encoder_in)
    state_h, state_c = layers.Concatenate(**F64)([fh, bh]), layers.Concatenate(**F64)([fc, bc])
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True, seed=2, **F64)(
        decoder_in, initial_state=[state_h, state_c])
    model = rnnkit.Model([encoder_in, decoder_in], [layers.Dense(2, seed=3, **F64)(seq), h, c])
    _assert_small(model_gradient_errors(model, [_x(rng, 2, 5, 3), _x(rng, 2, 3, 2)]))


def test_masks_flow_along_the_graph():
    rng = np.random.default_rng(5)
    ids = rnnkit.Input((6,), dtype="int64")
    embedded = layers.Embedding(9, 3, mask_zero=True, seed=1, **F64)(ids)
    forward = layers.LSTM(3, return_sequences=True, seed=2, **F64)(embedded)
    backward = layers.GRU(3, return_sequences=True, go_backwards=True, seed=3, **F64)(embedded)
    model = rnnkit.Model(ids, layers.GRU(2, seed=4, **F64)(layers.Concatenate(**F64)([forward, backward])))
    x = rng.integers(1, 9, (4, 6))
    x[1, 4:] = 0
    x[2, 1:] = 0
    _assert_small(model_gradient_errors(model, x))
    # the mask really reaches the last GRU through the merge: padding appended changes nothing
    ids_any = rnnkit.Input((None,), dtype="int64")
    e = layers.Embedding(9, 3, mask_zero=True, seed=1, **F64)(ids_any)
    merged = layers.Concatenate(**F64)([layers.LSTM(3, return_sequences=True, seed=2, **F64)(e),
                                layers.SimpleRNN(2, return_sequences=True, seed=3, **F64)(e)])
    padded_model = rnnkit.Model(ids_any, layers.GRU(2, seed=4, **F64)(merged))
    longer = np.concatenate([x, np.zeros((4, 3), int)], axis=1)
    np.testing.assert_allclose(padded_model.predict(longer), padded_model.predict(x), rtol=1e-12)
    masking_in = rnnkit.Input((None, 2))
    masked = layers.Masking(0.0, **F64)(masking_in)
    m2 = rnnkit.Model(masking_in, layers.LSTM(2, seed=5, **F64)(masked))
    xm = _x(rng, 3, 5, 2)
    xm[0, 3:] = 0.0
    np.testing.assert_allclose(m2.predict(xm)[:1], m2.predict(xm[:1, :3])[:1], rtol=1e-12)
    _assert_small(model_gradient_errors(m2, xm, check_inputs=False))


def test_model_used_as_a_layer_twice_and_sequential_inside_a_graph():
    rng = np.random.default_rng(6)
    inner_in = rnnkit.Input((4, 3))
    inner = rnnkit.Model(inner_in, layers.GRU(3, seed=1, **F64)(inner_in), name="inner")
    a, b = rnnkit.Input((4, 3)), rnnkit.Input((4, 3))
    stack = rnnkit.Sequential([layers.Dense(4, activation="tanh", seed=2, **F64), layers.Dense(2, seed=3, **F64)])
    model = rnnkit.Model([a, b], stack(layers.Concatenate(**F64)([inner(a), inner(b)])))
    assert [layer.name for layer in model.layers][2:] == ["inner", "concatenate", "sequential"]
    _assert_small(model_gradient_errors(model, [_x(rng, 2, 4, 3), _x(rng, 2, 4, 3)]))


def test_multi_output_per_output_losses_and_loss_weights():
    rng = np.random.default_rng(7)
    x_in = rnnkit.Input((5, 3), name="seq")
    h = layers.LSTM(4, return_sequences=True, seed=1, **F64)(x_in)
    tags = layers.TimeDistributed(layers.Dense(3, activation="softmax", seed=2, **F64), name="tags", **F64)(h)
    value = layers.Dense(2, name="value", seed=3, **F64)(layers.GRU(3, seed=4, **F64)(h))
    unused = layers.Dense(1, name="aux", seed=5, **F64)(layers.GRU(2, seed=6, **F64)(x_in))
    model = rnnkit.Model(x_in, [tags, value, unused])
    model.compile("sgd", loss={"tags": "sparse_categorical_crossentropy", "value": "mse"},
                  loss_weights={"tags": 0.3, "value": 2.5})
    x = _x(rng, 4, 5, 3)
    y = [rng.integers(0, 3, (4, 5)), _x(rng, 4, 2), _x(rng, 4, 1)]
    loss, grads, _ = model.compute_loss_and_gradients(x, y)
    tags_loss = rnnkit.losses.get("sparse_categorical_crossentropy")(y[0], model.predict(x)[0])
    value_loss = rnnkit.losses.get("mse")(y[1], model.predict(x)[1])
    assert loss == pytest.approx(0.3 * tags_loss + 2.5 * value_loss, rel=1e-12)
    errors = {}
    for variable, grad in zip(model.trainable_variables, grads):
        errors[variable.name] = rel_error(grad, numeric_grad(lambda: model.compute_loss(x, y), variable.value))
    aux = [v.name for v in model.trainable_variables if v.name.startswith(("aux", "gru_1"))]
    assert aux and all(not np.any(g) for v, g in zip(model.trainable_variables, grads) if v.name in aux)
    _assert_small({k: v for k, v in errors.items() if k not in aux})


def test_backward_without_a_training_forward_is_refused():
    x = rnnkit.Input((3,))
    model = rnnkit.Model(x, layers.Dense(2)(x))
    model.predict(np.zeros((2, 3), np.float32))
    with pytest.raises(rnnkit.RnnkitValueError, match="needs a forward call first"):
        model.backward(np.ones((2, 2)))


def test_pure_pair_keeps_one_cache_per_call():
    rng = np.random.default_rng(8)
    layer = layers.LSTM(3, seed=1, **F64)
    x1, x2 = _x(rng, 2, 4, 2), _x(rng, 2, 6, 2)
    y1, cache1 = layer.forward(x1)
    y2, cache2 = layer.forward(x2)
    g1, g2 = rng.standard_normal(y1.shape), rng.standard_normal(y2.shape)
    d1, grads1 = layer.backward_from(g1, cache1)
    layer(x1)
    expected = layer.backward(g1)
    np.testing.assert_array_equal(d1, expected)
    for a, b in zip(grads1, layer.get_gradients()):
        np.testing.assert_array_equal(a, b)
    d2, _ = layer.backward_from(g2, cache2)
    assert d2.shape == x2.shape
    h0 = [_x(rng, 2, 3), _x(rng, 2, 3)]
    _, cache = layer.forward(x1, initial_state=h0)
    (dx, d_states), _ = layer.backward_from(g1, cache)
    assert dx.shape == x1.shape and [d.shape for d in d_states] == [(2, 3), (2, 3)]
    with pytest.raises(rnnkit.RnnkitTypeError, match="cache must be what"):
        layer.backward_from(g1, "cache")


def test_shared_embedding_for_encoder_and_decoder_ids():
    rng = np.random.default_rng(9)
    source, target = rnnkit.Input((5,), dtype="int64"), rnnkit.Input((4,), dtype="int64")
    embed = layers.Embedding(7, 3, mask_zero=True, seed=1, **F64)
    _, h = layers.GRU(3, return_state=True, seed=2, **F64)(embed(source))
    decoded = layers.GRU(3, return_sequences=True, seed=3, **F64)(embed(target), initial_state=[h])
    model = rnnkit.Model([source, target], layers.Dense(2, seed=4, **F64)(decoded))
    ids = [rng.integers(0, 7, (3, 5)), rng.integers(1, 7, (3, 4))]
    ids[0][0, 3:] = 0
    _assert_small(model_gradient_errors(model, ids))


def test_attention_encoder_decoder_with_real_merge_layers():
    """Luong attention over encoder outputs, concatenated with the decoder's, and the scores as a
    second output (needs the layers of rnnkit.layers.attention; skipped until they are in the build)."""
    pytest.importorskip("rnnkit.layers.attention")
    rng = np.random.default_rng(10)
    source, target = rnnkit.Input((5, 3)), rnnkit.Input((4, 2))
    encoded, h, c = layers.LSTM(4, return_sequences=True, return_state=True, seed=1, **F64)(source)
    decoded = layers.LSTM(4, return_sequences=True, seed=2, **F64)(target, initial_state=[h, c])
    context, scores = layers.Attention(use_scale=True, **F64)([decoded, encoded], return_attention_scores=True)
    additive = layers.AdditiveAttention(**F64)([decoded, encoded])
    joined = layers.Concatenate(**F64)([context, decoded, additive])
    model = rnnkit.Model([source, target], [layers.Dense(3, seed=3, **F64)(joined), scores])
    assert scores.shape == (None, 4, 5)
    _assert_small(model_gradient_errors(model, [_x(rng, 2, 5, 3), _x(rng, 2, 4, 2)]))
