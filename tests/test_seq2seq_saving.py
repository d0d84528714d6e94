"""An encoder-decoder with two inputs and two outputs (the decoded tokens and a regression head) written
to files mid-training, loaded into a fresh model with ``rnnkit.load_model`` and resumed from its training
state, ends bit for bit where the uninterrupted run ends, dropout and shuffling included."""
import numpy as np
import pytest

import rnnkit
from rnnkit import layers

EPOCHS, STOP = 4, 2


def _encoder_decoder(dropout):
    source = rnnkit.Input((None,), dtype="int32", name="source")
    target = rnnkit.Input((None,), dtype="int32", name="target")
    encoded, h, c = layers.LSTM(6, return_sequences=True, return_state=True, dropout=dropout, name="encoder")(
        layers.Embedding(9, 5, mask_zero=True, name="source_embedding")(source))
    decoded = layers.LSTM(6, return_sequences=True, recurrent_dropout=dropout, name="decoder")(
        layers.Embedding(7, 5, name="target_embedding")(target), initial_state=[h, c])
    context = layers.Attention(name="attention")([decoded, encoded])
    tokens = layers.Dense(7, activation="softmax", name="tokens")(layers.Concatenate()([decoded, context]))
    length = layers.Dense(1, name="length")(h)
    return rnnkit.Model([source, target], {"tokens": tokens, "length": length}, name="translator")


def _compile(model):
    model.compile(rnnkit.optimizers.Adam(0.01), loss={"tokens": "sparse_categorical_crossentropy", "length": "mse"},
                  loss_weights={"tokens": 1.0, "length": 0.1}, metrics={"tokens": ["accuracy"]})


def _data(n=20):
    rng = np.random.default_rng(0)
    source = rng.integers(1, 9, (n, 6))
    lengths = rng.integers(2, 7, n)
    for row, length in enumerate(lengths):
        source[row, length:] = 0
    target = rng.integers(0, 7, (n, 5))
    labels = rng.integers(0, 7, (n, 5))
    return [source, target], {"tokens": labels, "length": lengths[:, None].astype(np.float32)}


def _fit(model, epochs, initial_epoch=0):
    x, y = _data()
    return model.fit(x, y, epochs=epochs, initial_epoch=initial_epoch, batch_size=6, shuffle=True, verbose=0)


def test_multi_input_multi_output_model_saves_loads_and_resumes_bit_for_bit(tmp_path):
    rnnkit.utils.clear_session()
    rnnkit.set_random_seed(5)
    uninterrupted = _encoder_decoder(dropout=0.25)
    _compile(uninterrupted)
    expected = _fit(uninterrupted, EPOCHS).history

    rnnkit.utils.clear_session()
    rnnkit.set_random_seed(5)
    first = _encoder_decoder(dropout=0.25)
    _compile(first)
    before = _fit(first, STOP).history
    first.save(tmp_path / "translator.rnnkit")
    first.save_training_state(tmp_path / "translator.state", epoch=STOP)

    rnnkit.utils.clear_session()
    rnnkit.set_random_seed(123)  # the training state carries every generator the rest of the run draws from
    loaded = rnnkit.load_model(tmp_path / "translator.rnnkit")
    assert [t.name for t in loaded.inputs] == [t.name for t in first.inputs]
    assert sorted(loaded.output_names) == ["length", "tokens"]
    x, _ = _data()
    for key, value in first.predict(x).items():
        np.testing.assert_array_equal(loaded.predict(x)[key], value)
    _compile(loaded)
    assert loaded.load_training_state(tmp_path / "translator.state") == STOP
    after = _fit(loaded, EPOCHS, initial_epoch=STOP).history

    assert sorted(after) == sorted(expected)
    for name, values in expected.items():
        assert before[name] + after[name] == values, name
    for got, want in zip(loaded.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_a_state_of_another_model_is_refused_before_anything_changes(tmp_path):
    rnnkit.utils.clear_session()
    model = _encoder_decoder(dropout=0.0)
    _compile(model)
    _fit(model, 1)
    model.save_training_state(tmp_path / "translator.state", epoch=1)
    tokens = model.outputs[model.output_names.index("tokens")]
    other = rnnkit.Model(model.inputs, tokens)  # the same layers without the length head
    other.compile(rnnkit.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    weights = [w.copy() for w in other.get_weights()]
    with pytest.raises(rnnkit.io.RnnkitFileError):
        other.load_training_state(tmp_path / "translator.state")
    for got, want in zip(other.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
