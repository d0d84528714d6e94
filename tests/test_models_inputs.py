"""Inputs as Keras takes them: booleans and integers cast to the input's float dtype (integer ids kept for an
Embedding), Python lists, torch tensors, batch_input_shape / batch_size / input_dim on the first layer, and
Input(batch_size=...)."""
import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.errors import RnnkitValueError

RNG = np.random.default_rng(0)
ONE_HOT = RNG.uniform(size=(6, 4, 5)) > 0.6
LABELS = np.eye(3, dtype=bool)[RNG.integers(0, 3, 6)]


def classifier(**first):
    model = rnnkit.Sequential([layers.LSTM(4, seed=0, **first), layers.Dense(3, activation="softmax", seed=0)])
    model.compile(rnnkit.optimizers.SGD(0.1), "categorical_crossentropy", metrics=["accuracy"])
    return model


def test_boolean_one_hot_arrays_train_like_their_float32_copies():
    booleans, floats = classifier(input_shape=(4, 5)), classifier(input_shape=(4, 5))
    booleans.fit(ONE_HOT, LABELS, batch_size=3, shuffle=False, verbose=0)
    floats.fit(ONE_HOT.astype("float32"), LABELS.astype("float32"), batch_size=3, shuffle=False, verbose=0)
    for a, b in zip(booleans.get_weights(), floats.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(booleans.predict(ONE_HOT), floats.predict(ONE_HOT.astype("float32")))
    assert booleans.evaluate(ONE_HOT, LABELS, verbose=0) == floats.evaluate(ONE_HOT.astype("float32"), LABELS,
                                                                            verbose=0)
    assert booleans.train_on_batch(ONE_HOT, LABELS) is not None
    assert booleans.predict_on_batch(ONE_HOT).dtype == np.float32


def test_integer_features_are_cast_to_the_input_float_dtype():
    counts = RNG.integers(0, 4, (6, 4, 5))
    ints, floats = classifier(input_shape=(4, 5)), classifier(input_shape=(4, 5))
    ints.fit(counts, LABELS, batch_size=6, verbose=0, shuffle=False)
    floats.fit(counts.astype("float32"), LABELS, batch_size=6, verbose=0, shuffle=False)
    for a, b in zip(ints.get_weights(), floats.get_weights()):
        np.testing.assert_array_equal(a, b)
    as64 = rnnkit.Sequential([rnnkit.Input((4, 5), dtype="float64"), layers.SimpleRNN(2, dtype="float64")])
    assert as64.predict(counts).dtype == np.float64


def test_integer_ids_stay_integers_for_an_embedding():
    seen = []
    embedding = layers.Embedding(20, 2, seed=0)
    original = embedding.check_inputs
    embedding.check_inputs = lambda inputs, name="inputs": seen.append(np.asarray(inputs).dtype) or original(
        inputs, name)
    model = rnnkit.Sequential([embedding, layers.LSTM(3), layers.Dense(1)])
    model.compile("sgd", "mse")
    ids = RNG.integers(0, 20, (4, 6))
    model.fit(ids, np.zeros((4, 1)), verbose=0)
    assert seen and all(np.issubdtype(dtype, np.integer) for dtype in seen)
    inputs = rnnkit.Input((6,), dtype="int32")
    functional = rnnkit.Model(inputs, layers.Dense(1)(layers.GlobalAveragePooling1D()(layers.Embedding(20, 2)(inputs))))
    assert functional.predict(ids).shape == (4, 1)


def test_python_lists_and_torch_tensors_are_arrays():
    model = classifier(input_shape=(4, 5))
    history = model.fit(ONE_HOT.astype(float).tolist(), LABELS.astype(int).tolist(), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    torch = pytest.importorskip("torch")
    x = torch.tensor(ONE_HOT.astype("float32"), requires_grad=True)
    np.testing.assert_allclose(model.predict(x), model.predict(ONE_HOT), rtol=1e-6)
    assert np.isfinite(model.evaluate(x, torch.tensor(LABELS.astype("float32")), verbose=0)[0])


def test_batch_input_shape_fixes_the_batch_of_a_stateful_model():
    model = rnnkit.Sequential([layers.LSTM(4, batch_input_shape=(2, 5, 3), stateful=True, seed=0),
                               layers.Dense(1, seed=0)])
    assert model.input_shape == (2, 5, 3)
    model.compile("sgd", "mse")
    x, y = RNG.standard_normal((4, 5, 3)).astype("float32"), RNG.standard_normal((4, 1)).astype("float32")
    model.fit(x, y, batch_size=2, shuffle=False, verbose=0)
    with pytest.raises(RnnkitValueError, match="fixed to batch size 2"):
        model.fit(x, y, batch_size=4, verbose=0)
    config = model.layers[0].get_config()
    assert config["batch_input_shape"] == (2, 5, 3) and "input_shape" not in config
    again = rnnkit.Sequential.from_config(model.get_config())
    assert again.input_shape == (2, 5, 3)


def test_batch_size_and_input_dim_on_a_first_layer_and_on_input():
    assert rnnkit.Sequential([layers.SimpleRNN(3, input_shape=(5, 2), batch_size=8)]).input_shape == (8, 5, 2)
    assert rnnkit.Sequential([layers.Dense(3, input_dim=4)]).input_shape == (None, 4)
    assert rnnkit.Sequential([rnnkit.Input((5, 2), batch_size=8), layers.GRU(3)]).input_shape == (8, 5, 2)
    with pytest.raises(RnnkitValueError, match="give one of input_shape, batch_input_shape and input_dim"):
        layers.Dense(3, input_shape=(4,), input_dim=4)
    with pytest.raises(RnnkitValueError, match="needs input_shape"):
        layers.Dense(3, batch_size=4)
    with pytest.raises(RnnkitValueError, match="batch_input_shape must have a batch axis"):
        layers.Dense(3, batch_input_shape=())
