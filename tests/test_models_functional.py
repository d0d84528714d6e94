"""The functional API: Input, symbolic calls, Model(inputs, outputs) and what it exposes."""
import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError


@pytest.fixture(autouse=True)
def fresh_names():
    rnnkit.utils.clear_session()


def test_input_is_a_symbolic_tensor_with_keras_signature():
    x = rnnkit.Input(shape=(None, 8), name="tokens")
    assert x.shape == (None, None, 8) and x.dtype == "float32" and x.name == "tokens" and x.ndim == 3
    assert repr(x) == "<KerasTensor shape=(None, None, 8), dtype=float32, name=tokens>"
    assert rnnkit.Input((3,), batch_size=4, dtype="int32").shape == (4, 3)
    assert rnnkit.Input(batch_shape=(2, 5)).dtype == "float32"
    assert rnnkit.layers.Input is rnnkit.Input
    layer = x._keras_history.operation
    assert isinstance(layer, rnnkit.layers.InputLayer) and layer.output is x
    assert layer.get_config() == {"batch_shape": [None, None, 8], "dtype": "float32", "sparse": False,
                                  "ragged": False, "name": "tokens"}
    assert rnnkit.layers.InputLayer(input_shape=(3,)).batch_shape == (None, 3)  # tf.keras 2's spelling
    rnnkit.utils.clear_session()
    assert rnnkit.Input((2,)).name == "input_layer" and rnnkit.Input((2,)).name == "input_layer_1"


@pytest.mark.parametrize("kwargs, error, message", [
    ({}, RnnkitValueError, "Input needs a shape"),
    ({"shape": (3,), "batch_shape": (None, 3)}, RnnkitValueError, "either shape or batch_shape"),
    ({"shape": (0,)}, RnnkitValueError, "shape must be a tuple of positive ints"),
    ({"shape": (3,), "sparse": True}, RnnkitValueError, r"Input\(sparse=True\) is not supported"),
    ({"shape": (3,), "dtype": "str"}, RnnkitValueError, "dtype of an Input must be a real number type"),
    ({"shape": (3,), "batch_size": 0}, RnnkitValueError, "batch_size must be a positive integer"),
    ({"shape": (3,), "tensor": np.zeros(3)}, RnnkitValueError, r"Input\(tensor=...\) is not supported"),
])
def test_input_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        rnnkit.Input(**kwargs)


def test_symbolic_tensors_refuse_values_and_arithmetic():
    x = rnnkit.Input((3,))
    with pytest.raises(RnnkitTypeError, match="symbolic and holds no values"):
        np.asarray(x)
    with pytest.raises(RnnkitTypeError, match="use layers instead"):
        x + x
    with pytest.raises(RnnkitTypeError, match="use layers instead"):
        x[:, 0]
    with pytest.raises(RnnkitTypeError, match="mix symbolic tensors and other values"):
        layers.Concatenate()([x, np.zeros((2, 3))])
    with pytest.raises(RnnkitValueError, match="must have 3 features"):
        dense = layers.Dense(2)
        dense(x)
        dense(rnnkit.Input((4,)))
    with pytest.raises(RnnkitValueError, match="must have rank 3"):
        layers.LSTM(2)(x)


def test_layer_calls_record_nodes_and_model_exposes_keras_attributes():
    a, b = rnnkit.Input((5, 3), name="a"), rnnkit.Input((5, 3), name="b")
    encoder = layers.LSTM(4, return_state=True, name="enc")
    output, h, c = encoder(a)
    output2, _, _ = encoder(b)
    assert (output.shape, h.shape, c.shape) == ((None, 4), (None, 4), (None, 4))
    merged = layers.Concatenate(name="concatenate")([output, output2])
    y1, y2 = layers.Dense(2, name="dense")(merged), layers.Dense(3, name="dense_1")(h)
    decoded = layers.LSTM(4, name="dec")(a, initial_state=[h, c])
    model = rnnkit.Model([a, b], {"out1": y1, "out2": y2, "out3": decoded}, name="m")
    # Keras 3.15 orders this model's layers exactly so (checked by running it)
    assert [layer.name for layer in model.layers] == ["a", "b", "enc", "concatenate", "dense", "dense_1", "dec"]
    assert model.inputs == [a, b] and model.input == [a, b]
    assert model.output_names == ["out1", "out2", "out3"] and model.input_names == ["a", "b"]
    assert model.get_layer("enc") is encoder and model.get_layer(index=2) is encoder
    assert encoder.input is a and encoder.output == [output, h, c]
    assert model.output_shape == [(None, 2), (None, 3), (None, 4)]
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((6, 5, 3)).astype(np.float32), rng.standard_normal((6, 5, 3)).astype(np.float32)
    out = model.predict([xa, xb])
    assert sorted(out) == ["out1", "out2", "out3"] and out["out1"].shape == (6, 2)
    assert np.array_equal(model.predict({"a": xa, "b": xb})["out3"], out["out3"])
    direct = model([xa, xb])
    np.testing.assert_allclose(direct["out2"], out["out2"], rtol=1e-6)
    with pytest.raises(RnnkitValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(RnnkitValueError, match="either name or index"):
        model.get_layer()
    with pytest.raises(RnnkitValueError, match="index must be an integer in"):
        model.get_layer(index=7)
    with pytest.raises(RnnkitValueError, match=r"input 'a' of model 'm' must have shape \(None, 5, 3\)"):
        model.predict([xa[:, :4], xb])
    with pytest.raises(RnnkitValueError, match=r"x must be a list of 2 arrays"):
        model.predict(xa)
    with pytest.raises(RnnkitValueError, match=r"missing \['b'\]"):
        model.predict({"a": xa})


def test_predict_of_a_one_output_list_is_the_array_as_in_keras():
    a = rnnkit.Input((5, 3))
    h, state, _ = layers.LSTM(4, return_state=True, name="enc")(a)
    data = np.zeros((2, 5, 3), np.float32)
    assert isinstance(rnnkit.Model(a, [h]).predict(data), np.ndarray)
    assert isinstance(rnnkit.Model(a, {"x": h}).predict(data), dict)
    assert rnnkit.Model(a, [h, state]).output_names == ["enc", "enc_1"]  # Keras 3 repeats "enc"


def test_graph_errors_name_the_problem():
    a, b = rnnkit.Input((3,), name="a"), rnnkit.Input((3,), name="b")
    joined = layers.Concatenate()([a, b])
    with pytest.raises(RnnkitValueError, match="disconnected: the outputs need input 'b'"):
        rnnkit.Model(a, joined)
    with pytest.raises(RnnkitValueError, match="layer names must be unique in a model; 'dup' is used 2 times"):
        rnnkit.Model(a, layers.Dense(2, name="dup")(layers.Dense(2, name="dup")(a)))
    with pytest.raises(RnnkitTypeError, match="outputs must be symbolic tensors"):
        rnnkit.Model(a, np.zeros(3))
    with pytest.raises(RnnkitValueError, match=r"Model needs inputs and outputs"):
        rnnkit.Model()


def test_intermediate_tensor_as_model_input_gets_its_own_input():
    x = rnnkit.Input((4,))
    first = layers.Dense(3, seed=1)
    second = layers.Dense(2, seed=2)
    h = first(x)
    full = rnnkit.Model(x, second(h))
    tail = rnnkit.Model(h, second(h))
    assert isinstance(tail.layers[0], rnnkit.layers.InputLayer) and tail.layers[1] is second
    data = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(tail.predict(first(data)), full.predict(data), rtol=1e-6)


def test_sequential_takes_an_input_first_and_builds_without_data():
    model = rnnkit.Sequential([rnnkit.Input((6, 3), name="seq"), layers.LSTM(4), layers.Dense(2)])
    assert model.built and [layer.name for layer in model.layers] == ["lstm", "dense"]
    assert model.input_shape == (None, 6, 3) and model.output_shape == (None, 2)
    assert model.input_names == ["seq"] and model.count_params() == 4 * 4 * 8 + 10
    with pytest.raises(RnnkitValueError, match="an Input can only be the first entry"):
        model.add(rnnkit.Input((2,)))
    with pytest.raises(RnnkitValueError, match="every layer of a Sequential but the last must have one output"):
        rnnkit.Sequential([layers.LSTM(2, return_state=True, input_shape=(3, 2)), layers.Dense(1)])
    lazy = rnnkit.Sequential([layers.GRU(3), layers.Dense(1)])
    assert not lazy.built
    x = rnnkit.Input((7, 2))
    y = lazy(x)  # an unbuilt Sequential builds from the symbolic input
    assert lazy.built and y.shape == (None, 1) and lazy.input_shape == (None, 7, 2)


def test_seq2seq_inference_models_share_the_trained_layers_weights():
    """The keras-io lstm_seq2seq pattern: train on (encoder input, shifted target), then build an
    encoder model and a one-step decoder model from the trained model's layers and tensors."""
    rng = np.random.default_rng(0)
    tokens, latent = 5, 6
    encoder_inputs = rnnkit.Input(shape=(None, tokens))
    encoder = layers.LSTM(latent, return_state=True)
    _, state_h, state_c = encoder(encoder_inputs)
    decoder_inputs = rnnkit.Input(shape=(None, tokens))
    decoder_lstm = layers.LSTM(latent, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = layers.Dense(tokens, activation="softmax")(decoder_outputs)
    model = rnnkit.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
    source = np.eye(tokens, dtype=np.float32)[rng.integers(0, tokens, (16, 4))]
    target = np.eye(tokens, dtype=np.float32)[rng.integers(0, tokens, (16, 3))]
    model.fit([source, target[:, :-1]], target[:, 1:], batch_size=8, epochs=2, verbose=0)

    # inference models, as the keras-io example builds them
    encoder_inputs = model.input[0]
    _, state_h_enc, state_c_enc = model.layers[2].output
    encoder_model = rnnkit.Model(encoder_inputs, [state_h_enc, state_c_enc])
    decoder_inputs = model.input[1]
    state_inputs = [rnnkit.Input(shape=(latent,)), rnnkit.Input(shape=(latent,))]
    decoder_lstm = model.layers[3]
    out, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=state_inputs)
    decoder_dense = model.layers[4]
    decoder_model = rnnkit.Model([decoder_inputs] + state_inputs, [decoder_dense(out), state_h_dec, state_c_dec])
    assert decoder_model.get_layer(decoder_lstm.name) is decoder_lstm
    assert {id(v) for v in decoder_model.weights} <= {id(v) for v in model.weights}

    states = encoder_model.predict(source)
    steps = []
    for t in range(2):  # one token at a time, carrying the states
        probabilities, h, c = decoder_model.predict([target[:, t:t + 1]] + list(states))
        states = [h, c]
        steps.append(probabilities[:, 0])
    np.testing.assert_allclose(np.stack(steps, 1), model.predict([source, target[:, :-1]]), rtol=1e-5, atol=1e-6)


class _Scores(rnnkit.layers.Layer):
    """Attention-like: returns (output, scores) when asked, and has no compute_output_shape for the scores."""

    def check_inputs(self, inputs, name="inputs"):
        return [np.asarray(x, self.dtype) for x in inputs]

    def call(self, inputs, training=False, mask=None, return_attention_scores=False):
        query, value = inputs
        scores = query @ value.transpose(0, 2, 1)
        self._cache = None
        return (scores @ value, scores) if return_attention_scores else scores @ value

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], input_shape[1][-1])


class _NoShape(rnnkit.layers.Layer):
    def call(self, inputs, training=False, mask=None):
        return inputs[:, :-1] * 2.0


def test_output_shapes_of_calls_compute_output_shape_cannot_describe():
    query, value = rnnkit.Input((None, 4)), rnnkit.Input((5, 4))
    out, scores = _Scores()([query, value], return_attention_scores=True)  # learnt by running on zeros
    assert out.shape == (None, None, 4) and scores.shape == (None, None, 5)
    assert _Scores()([query, value]).shape == (None, None, 4)
    assert _NoShape()(rnnkit.Input((6, 3))).shape == (None, 5, 3)
    model = rnnkit.Model([query, value], [out, scores])
    got = model.predict([np.ones((2, 7, 4), np.float32), np.ones((2, 5, 4), np.float32)])
    assert [g.shape for g in got] == [(2, 7, 4), (2, 7, 5)]
