"""The attention encoder-decoder of the examples and of ``rnnkit seq2seq`` against Keras 3 (torch
backend): the same script with only the module changed, from the same initial weights, trains to the
same losses; the inference models built from the trained layers give Keras's step outputs, and
``rnnkit.seq2seq.greedy_decode`` finds the tokens of a greedy loop written with Keras."""
import numpy as np
import pytest

import rnnkit
from keras_reference import keras_or_skip

SOURCE_VOCAB, TARGET_VOCAB, START, END = 9, 7, 1, 2
UNITS, EPOCHS = 6, 4


@pytest.fixture(scope="module")
def keras():
    return keras_or_skip()


def attention_seq2seq(k, score="dot"):
    """Embedding(mask_zero) -> Bidirectional(LSTM(return_sequences, return_state)); the states
    concatenated start an LSTM decoder; Attention over the encoder's outputs; Concatenate; Dense.
    Returns the training model and the layers the inference models reuse."""
    encoder_inputs = k.Input(shape=(None,), dtype="int32")
    x = k.layers.Embedding(SOURCE_VOCAB, 4, mask_zero=True)(encoder_inputs)
    encoder_outputs, fh, fc, bh, bc = k.layers.Bidirectional(
        k.layers.LSTM(UNITS, return_sequences=True, return_state=True))(x)
    state_h = k.layers.Concatenate()([fh, bh])
    state_c = k.layers.Concatenate()([fc, bc])
    decoder_inputs = k.Input(shape=(None,), dtype="int32")
    embedding = k.layers.Embedding(TARGET_VOCAB, 4)
    decoder_lstm = k.layers.LSTM(2 * UNITS, return_sequences=True, return_state=True)
    attention = k.layers.Attention() if score == "dot" else k.layers.AdditiveAttention()
    join = k.layers.Concatenate()
    dense = k.layers.Dense(TARGET_VOCAB, activation="softmax")
    decoded, _, _ = decoder_lstm(embedding(decoder_inputs), initial_state=[state_h, state_c])
    # Keras 3.15 keeps return_attention_scores from the layer's latest symbolic call and applies it to
    # every call when a model runs, so a layer asked for its scores once must be asked every time
    context, _ = attention([decoded, encoder_outputs], return_attention_scores=True)
    outputs = dense(join([context, decoded]))
    model = k.Model([encoder_inputs, decoder_inputs], outputs)

    encoder_model = k.Model(encoder_inputs, [encoder_outputs, state_h, state_c])
    token = k.Input(shape=(1,), dtype="int32")
    memory = k.Input(shape=(None, 2 * UNITS))
    h_in, c_in = k.Input(shape=(2 * UNITS,)), k.Input(shape=(2 * UNITS,))
    step, h, c = decoder_lstm(embedding(token), initial_state=[h_in, c_in])
    context, weights = attention([step, memory], return_attention_scores=True)
    decoder_model = k.Model([token, memory, h_in, c_in], [dense(join([context, step])), h, c, weights])
    return model, encoder_model, decoder_model


def _data(rng, count=24):
    source = rng.integers(1, SOURCE_VOCAB, (count, 7))
    for row, length in enumerate(rng.integers(3, 8, count)):
        source[row, length:] = 0  # padding, masked by the encoder's Embedding
    target = rng.integers(3, TARGET_VOCAB, (count, 5))
    target_in = np.concatenate([np.full((count, 1), START), target], axis=1)
    target_out = np.concatenate([target, np.full((count, 1), END)], axis=1)
    return [source, target_in], target_out


def _keras_greedy(keras, encoder_model, decoder_model, source, max_length):
    """A greedy loop written out with Keras, one source at a time (keras-io's decode_sequence); the
    source's padding mask goes with the encoder's outputs into the decoder model, as in training."""
    results = []
    for row in source:
        memory, h, c = encoder_model.predict(row[None], verbose=0)
        token, tokens = START, []
        for _ in range(max_length):
            outputs = decoder_model([np.array([[token]]), memory, h, c], mask=[None, row[None] != 0, None, None])
            probabilities, h, c, _ = [keras.ops.convert_to_numpy(o) for o in outputs]
            token = int(np.argmax(probabilities[0, -1]))
            if token == END:
                break
            tokens.append(token)
        results.append(tokens)
    return results


@pytest.mark.parametrize("score", ["dot", pytest.param("additive", marks=pytest.mark.slow)])
def test_attention_seq2seq_trains_like_keras_and_decodes_like_its_loop(keras, score):
    x, y = _data(np.random.default_rng(4))
    kmodel, kencoder, kdecoder = attention_seq2seq(keras, score)
    model, encoder, decoder = attention_seq2seq(rnnkit, score)
    model.set_weights(kmodel.get_weights())
    np.testing.assert_allclose(model.predict(x), kmodel.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    for m, module in ((kmodel, keras), (model, rnnkit)):
        m.compile(optimizer=module.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    expected = kmodel.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]
    got = model.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0).history["loss"]
    assert np.max(np.abs(np.array(got) - expected) / np.abs(expected)) < 2e-3, (got, expected)
    assert got[-1] < got[0]

    source = x[0][:6]
    memory, h, c = encoder.predict(source)
    kmemory, kh, kc = kencoder.predict(source, verbose=0)
    np.testing.assert_allclose(memory, kmemory, rtol=2e-3, atol=2e-4)
    tokens, masks = np.full((6, 1), START), [None, source != 0, None, None]
    step = decoder([tokens, memory, h, c], mask=masks)
    kstep = [keras.ops.convert_to_numpy(o) for o in kdecoder([tokens, kmemory, kh, kc], mask=masks)]
    for a, b in zip(step, kstep):  # probabilities, states and attention weights of the first step
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)

    found = rnnkit.seq2seq.greedy_decode(encoder, decoder, source, START, END, max_length=6, return_attention=True)
    assert [h.tokens.tolist() for h in found] == _keras_greedy(keras, kencoder, kdecoder, source, 6)
    for hyp, length in zip(found, (source != 0).sum(axis=1)):  # the padding gets no attention
        np.testing.assert_allclose(hyp.attention[:, length:], 0.0, atol=1e-7)
