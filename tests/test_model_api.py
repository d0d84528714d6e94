"""Sequential's Keras API: building, history, saving, seeding, truncated BPTT and its errors."""
import numpy as np
import pytest

import rnnkit
from rnnkit import Sequential, layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.io import RnnkitFileError


def _data(seed=0, n=24, time=6, features=3, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, time, features)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(int) + (x[:, -1, 1] > 1).astype(int)
    return x, np.minimum(y, classes - 1)


def _model(units=5, classes=3, **rnn_kwargs):
    return Sequential([layers.LSTM(units, input_shape=(6, 3), **rnn_kwargs), layers.Dense(classes, "softmax")])


@pytest.fixture(autouse=True)
def fresh_names():
    rnnkit.utils.clear_session()


def test_history_keys_and_validation():
    x, y = _data()
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "grad_norm"}
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert all(np.isfinite(history.history["grad_norm"]))
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert 0.0 <= accuracy <= 1.0 and loss > 0
    assert model.predict(x, batch_size=5).shape == (24, 3)


def test_progress_bar_is_printed(capsys):
    x, y = _data()
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    model.fit(x, y, epochs=2, batch_size=8)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "3/3" in out and "loss:" in out


def test_on_batch_methods():
    x, y = _data()
    model = _model()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.train_on_batch(x[:8], y[:8])
    assert np.isfinite(loss) and 0 <= acc <= 1
    logs = model.test_on_batch(x[:8], y[:8], return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.predict_on_batch(x[:2]).shape == (2, 3)


def test_trainable_variables_are_named_in_keras_order():
    model = Sequential([layers.SimpleRNN(3, input_shape=(1, 5)), layers.Dense(5, activation="softmax")])
    names = [v.name for v in model.trainable_variables]
    assert names == ["simple_rnn/kernel", "simple_rnn/recurrent_kernel", "simple_rnn/bias",
                     "dense/kernel", "dense/bias"]
    assert [v.shape for v in model.trainable_variables] == [(5, 3), (3, 3), (3,), (3, 5), (5,)]
    assert isinstance(model.trainable_variables[0].numpy(), np.ndarray)


def test_same_seed_same_bits_with_dropout_and_shuffling():
    x, y = _data()

    def run():
        rnnkit.utils.clear_session()
        rnnkit.set_random_seed(42)
        model = _model(dropout=0.3, recurrent_dropout=0.3)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        return model.get_weights()

    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    rnnkit.set_random_seed(43)
    model = _model(dropout=0.3, recurrent_dropout=0.3)
    assert not np.array_equal(model.get_weights()[0], first[0])


def test_save_and_load_model_round_trip(tmp_path):
    x, y = _data()
    model = Sequential([layers.Embedding(10, 4, mask_zero=True, input_shape=(6,)),
                        layers.Bidirectional(layers.GRU(3, return_sequences=True)),
                        layers.TimeDistributed(layers.Dense(2)), layers.Flatten(), layers.Dropout(0.1),
                        layers.Dense(3, activation="softmax")])
    ids = np.abs(x[:, :, 0] * 3).astype(int) % 10
    model.compile(rnnkit.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ids, y, epochs=1, verbose=0)
    path = tmp_path / "nested" / "model.rnnkit"
    model.save(path)
    loaded = rnnkit.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(ids), model.predict(ids))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    assert loaded.optimizer.learning_rate == pytest.approx(0.01)
    assert loaded.evaluate(ids, y, verbose=0) == pytest.approx(model.evaluate(ids, y, verbose=0))


def test_save_weights_any_name_and_reload(tmp_path):
    model = _model()
    path = tmp_path / "checkpoint" / "rnn_onehot_1pre1.ckpt"
    model.save_weights(path)
    other = _model()
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_of_another_architecture_names_the_layer(tmp_path):
    path = tmp_path / "w.bin"
    _model(units=5).save_weights(path)
    with pytest.raises(RnnkitFileError, match=r"layer 0 'lstm_1' \(LSTM\) has weight shapes \[\(3, 32\)"):
        _model(units=8).load_weights(path)
    with pytest.raises(RnnkitFileError, match="holds weights for 2 layers"):
        Sequential([layers.LSTM(5, input_shape=(6, 3))]).load_weights(path)


def test_truncated_bptt_with_one_chunk_equals_full_bptt():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 2))
    y = rng.standard_normal((4, 6, 1))

    def trained(tbptt_steps):
        rnnkit.utils.clear_session()
        model = Sequential([layers.GRU(3, return_sequences=True, seed=0, dtype="float64", input_shape=(6, 2)),
                            layers.Dense(1, seed=1, dtype="float64")])
        model.compile("sgd", "mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, tbptt_steps=tbptt_steps)
        return model

    full, one_chunk, chunked = trained(None), trained(6), trained(2)
    for a, b in zip(full.get_weights(), one_chunk.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert not np.allclose(full.get_weights()[0], chunked.get_weights()[0])
    assert chunked.layers[0].stateful is False  # the carried state is switched off again after fit


def test_truncated_bptt_learns_a_long_sequence_task():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 40, 1))
    y = np.cumsum(x, axis=1) * 0.1  # running sum: needs state carried across chunks
    rnnkit.set_random_seed(0)
    model = Sequential([layers.LSTM(8, return_sequences=True, input_shape=(40, 1)), layers.Dense(1)])
    model.compile(rnnkit.optimizers.Adam(0.02), "mse")
    history = model.fit(x, y, batch_size=8, epochs=15, verbose=0, tbptt_steps=10)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_truncated_bptt_refuses_bidirectional():
    model = Sequential([layers.Bidirectional(layers.LSTM(2), input_shape=(6, 3)), layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(RnnkitValueError, match="tbptt_steps cannot carry a backward-running state"):
        model.fit(*_data(), tbptt_steps=2, verbose=0)


def test_bad_input_errors_name_the_argument():
    x, y = _data()
    model = _model()
    with pytest.raises(RnnkitValueError, match=r"must be compiled before fit\(\)"):
        model.fit(x, y)
    with pytest.raises(RnnkitValueError, match="loss must be given"):
        model.compile("adam")
    with pytest.raises(RnnkitValueError, match="optimizer"):
        model.compile("adamm", "mse")
    with pytest.raises(RnnkitValueError, match="loss"):
        model.compile("adam", "msee")
    with pytest.raises(RnnkitValueError, match="metric"):
        model.compile("adam", "mse", metrics=["acuracy"])
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(RnnkitValueError, match=r"x and y must have the same number of samples, got 24 and 23"):
        model.fit(x, y[:-1], verbose=0)
    bad = y.copy()
    bad[5] = 3
    with pytest.raises(RnnkitValueError, match=r"y must hold integer class labels in \[0, 3\).*got 3 at index \(5,\)"):
        model.fit(x, bad, verbose=0)
    with pytest.raises(RnnkitValueError, match="must have 3 features"):
        model.fit(x[:, :, :2], y, verbose=0)
    with pytest.raises(RnnkitValueError, match="rank 3"):
        model.predict(x[:, :, 0])
    nan = x.copy()
    nan[2, 1, 0] = np.nan
    with pytest.raises(RnnkitValueError, match=r"x contains a non-finite value .* at index \(2, 1, 0\)"):
        model.fit(nan, y, verbose=0)
    with pytest.raises(RnnkitValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(RnnkitValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(RnnkitTypeError, match="rnnkit layer"):
        Sequential(["lstm"])
    with pytest.raises(RnnkitValueError, match="set_weights on model .* expects 5 arrays"):
        model.set_weights(model.get_weights()[:2])


def test_non_finite_loss_stops_fit_and_keeps_last_finite_weights():
    x, _ = _data()
    y = np.ones((len(x), 3))
    model = Sequential([layers.SimpleRNN(5, activation="relu", input_shape=(6, 3)), layers.Dense(3)])
    model.compile(rnnkit.optimizers.SGD(1e30), "mse")
    with pytest.warns(RuntimeWarning, match=r"fit stopped: non-finite .* epoch \d+, batch \d+"):
        history = model.fit(x, y, epochs=5, batch_size=4, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert len(history.history.get("loss", [])) < 5
