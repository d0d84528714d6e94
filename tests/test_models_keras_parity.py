"""Functional models against Keras 3 (torch backend): the same scripts with only the imports changed,
from the same initial weights, train to the same losses; the configs have Keras's form."""
import json

import numpy as np
import pytest

import rnnkit
from keras_reference import keras_or_skip

EPOCHS = 4


@pytest.fixture(scope="module")
def keras():
    return keras_or_skip()


def _functional_classifier(k, vocab, seed):
    """Input -> Embedding -> Bidirectional(LSTM(return_sequences)) -> LSTM -> Dense, Keras's style."""
    inputs = k.Input(shape=(None,), dtype="int32")
    x = k.layers.Embedding(vocab, 8, mask_zero=True)(inputs)
    x = k.layers.Bidirectional(k.layers.LSTM(6, return_sequences=True))(x)
    x = k.layers.LSTM(5)(x)
    outputs = k.layers.Dense(3, activation="softmax")(x)
    return k.Model(inputs, outputs)


def _seq2seq(k, tokens, latent):
    """The keras-io lstm_seq2seq training model."""
    encoder_inputs = k.Input(shape=(None, tokens))
    encoder = k.layers.LSTM(latent, return_state=True)
    _, state_h, state_c = encoder(encoder_inputs)
    decoder_inputs = k.Input(shape=(None, tokens))
    decoder_lstm = k.layers.LSTM(latent, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = k.layers.Dense(tokens, activation="softmax")(decoder_outputs)
    return k.Model([encoder_inputs, decoder_inputs], decoder_outputs)


def _train_both(keras, build, x, y, loss, batch_size):
    kmodel = build(keras)
    model = build(rnnkit)
    model.set_weights(kmodel.get_weights())
    np.testing.assert_allclose(model.predict(x), kmodel.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    for m in (kmodel, model):
        m.compile(optimizer=(keras if m is kmodel else rnnkit).optimizers.Adam(0.01), loss=loss)
    expected = kmodel.fit(x, y, batch_size=batch_size, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]
    got = model.fit(x, y, batch_size=batch_size, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]
    return np.array(got), np.array(expected), model, kmodel


@pytest.mark.slow  # Keras's masked Bidirectional LSTM on the torch backend takes about a minute here
def test_functional_classifier_trains_like_keras(keras):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 20, (24, 7))
    for row, length in enumerate(rng.integers(2, 8, 24)):
        ids[row, length:] = 0
    labels = rng.integers(0, 3, 24)
    got, expected, model, _ = _train_both(keras, lambda k: _functional_classifier(k, 20, 0), ids, labels,
                                          "sparse_categorical_crossentropy", 8)
    assert np.max(np.abs(got - expected) / np.abs(expected)) < 2e-3, (got, expected)
    assert got[-1] < got[0]
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Embedding", "Bidirectional", "LSTM",
                                                                "Dense"]


def test_lstm_seq2seq_trains_like_keras_and_its_inference_models_decode(keras):
    rng = np.random.default_rng(1)
    tokens, latent = 6, 8
    source = np.eye(tokens, dtype=np.float32)[rng.integers(0, tokens, (32, 5))]
    target = np.eye(tokens, dtype=np.float32)[rng.integers(0, tokens, (32, 4))]
    got, expected, model, kmodel = _train_both(keras, lambda k: _seq2seq(k, tokens, latent),
                                               [source, target[:, :-1]], target[:, 1:],
                                               "categorical_crossentropy", 16)
    assert np.max(np.abs(got - expected) / np.abs(expected)) < 2e-3, (got, expected)

    def inference(k, trained):  # as the keras-io example, verbatim but for the module
        encoder_inputs = trained.input[0]
        _, state_h_enc, state_c_enc = trained.layers[2].output
        encoder_model = k.Model(encoder_inputs, [state_h_enc, state_c_enc])
        decoder_inputs = trained.input[1]
        decoder_state_input_h = k.Input(shape=(latent,))
        decoder_state_input_c = k.Input(shape=(latent,))
        decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
        decoder_lstm = trained.layers[3]
        decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
        decoder_outputs = trained.layers[4](decoder_outputs)
        decoder_model = k.Model([decoder_inputs] + decoder_states_inputs,
                                [decoder_outputs, state_h_dec, state_c_dec])
        return encoder_model, decoder_model

    encoder, decoder = inference(rnnkit, model)
    kencoder, kdecoder = inference(keras, kmodel)
    states, kstates = encoder.predict(source), kencoder.predict(source, verbose=0)
    np.testing.assert_allclose(states[0], kstates[0], rtol=2e-3, atol=2e-4)
    step = np.zeros((32, 1, tokens), np.float32)
    step[:, 0, 0] = 1.0
    for _ in range(3):
        probabilities, h, c = decoder.predict([step] + list(states))
        kprobabilities, kh, kc = kdecoder.predict([step] + list(kstates), verbose=0)
        np.testing.assert_allclose(probabilities, kprobabilities, rtol=2e-3, atol=2e-4)
        states, kstates = [h, c], [kh, kc]
        step = np.eye(tokens, dtype=np.float32)[np.argmax(probabilities[:, -1], -1)][:, None]


def _graph_of(config):
    """Layer names, node connections and the input/output references of a functional config."""
    def history(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return tuple(value["config"]["keras_history"])
        if isinstance(value, dict):
            return {key: history(item) for key, item in value.items() if key not in ("training", "mask")}
        if isinstance(value, list):
            return [history(item) for item in value]
        return value

    layers = [(entry["class_name"], entry["name"], [history({"args": node["args"], "kwargs": node["kwargs"]})
                                                    for node in entry["inbound_nodes"]])
              for entry in config["layers"]]
    return layers, config["input_layers"], config["output_layers"]


def test_functional_config_has_keras_3_graph_form(keras):
    def build(k):
        a, b = k.Input((5, 3), name="a"), k.Input((5, 3), name="b")
        encoder = k.layers.LSTM(4, return_state=True, name="enc")
        output, h, c = encoder(a)
        output2, _, _ = encoder(b)
        hidden = k.layers.Dense(4, name="hidden")
        joined = k.layers.Concatenate(name="joined")([hidden(hidden(output)), output2])
        decoded = k.layers.LSTM(4, name="dec")(a, initial_state=[h, c])
        return k.Model([a, b], {"out1": k.layers.Dense(2, name="dense")(joined), "out2": output2, "out3": decoded},
                       name="m")

    expected = json.loads(json.dumps(build(keras).get_config()))
    got = json.loads(json.dumps(build(rnnkit).get_config()))
    assert _graph_of(got) == _graph_of(expected)
    assert set(got) == set(expected)
