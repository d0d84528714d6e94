"""Property-based tests of Sequential.fit / evaluate / predict: random sample counts, lengths,
batch sizes, masks (fully masked samples included), value scales and losses always train to
finite weights and history; junk arguments raise documented errors only."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rnnkit
from rnnkit import Sequential, layers
from test_properties_support import FLOAT_DTYPES, JUNK, PROPERTY_SETTINGS, SCALES, all_finite, documented

# a NumPy overflow/invalid/complex-cast warning is a silent numerical problem: fail on it
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@st.composite
def problems(draw):
    n, t, f = draw(st.integers(1, 6)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dtype = draw(FLOAT_DTYPES)
    # inputs up to 1e4 (the range): at 1e30 SGD grows weights until NumPy overflows in
    # tanh's argument, harmless but noisy; test_reliability_training covers the optimizer overflow
    x = (rng.standard_normal((n, t, f)) * draw(SCALES.filter(lambda s: s <= 1e4))).astype(dtype)
    padded = draw(st.booleans())
    if padded:  # zero some trailing steps (whole samples too) so Masking skips them
        lengths = rng.integers(0, t + 1, size=n)
        x[np.arange(t)[None, :] >= lengths[:, None]] = 0.0
    per_step = draw(st.booleans())
    y = rng.standard_normal((n, t, 1) if per_step else (n, 1)).astype(dtype)
    return dict(x=x, y=y, padded=padded, per_step=per_step, dtype=dtype,
                kind=draw(st.sampled_from(["SimpleRNN", "LSTM", "GRU"])),
                loss=draw(st.sampled_from(["mse", "mae", "huber"])),
                optimizer=draw(st.sampled_from(["sgd", "adam", "rmsprop", "adagrad"])),
                batch_size=draw(st.integers(1, 8)), shuffle=draw(st.booleans()),
                validation_split=draw(st.sampled_from([0.0, 0.0, 0.5])))


def _model(p):
    stack = [layers.Masking(input_shape=p["x"].shape[1:], dtype=p["dtype"])] if p["padded"] else []
    recurrent = getattr(layers, p["kind"])(3, return_sequences=p["per_step"], dtype=p["dtype"],
                                           input_shape=None if p["padded"] else p["x"].shape[1:])
    stack += [recurrent, layers.Dense(1, dtype=p["dtype"])]
    return Sequential(stack)


@PROPERTY_SETTINGS
@given(p=problems())
def test_fit_trains_to_finite_weights_and_history(p):
    rnnkit.set_random_seed(0)
    model = _model(p)
    model.compile(p["optimizer"], p["loss"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = documented(lambda: model.fit(p["x"], p["y"], batch_size=p["batch_size"], epochs=2, verbose=0,
                                               shuffle=p["shuffle"], validation_split=p["validation_split"]))
    if history is None:  # only a split too small for the data may be refused
        assert p["validation_split"] and len(p["x"]) < 2
        return
    messages = [str(w.message) for w in caught]
    assert all(m.startswith("fit stopped: ") for m in messages), messages  # no stray NumPy warnings
    if messages:  # the documented stop (possible with inputs of 1e30): finite weights, reason kept
        assert model.stop_training and model.stop_reason in messages[0]
        assert all_finite(model.get_weights())
        return
    assert history.epoch == [0, 1]
    assert all(np.isfinite(v).all() for v in history.history.values()), history.history
    assert all_finite(model.get_weights())
    predictions = model.predict(p["x"], batch_size=p["batch_size"])
    assert predictions.shape[0] == len(p["x"]) and all_finite(predictions)
    assert np.isfinite(model.evaluate(p["x"], p["y"], verbose=0))


FIT_ARGUMENTS = ["batch_size", "epochs", "verbose", "validation_split", "validation_data", "initial_epoch",
                 "callbacks", "tbptt_steps", "x", "y"]


@PROPERTY_SETTINGS
@given(argument=st.sampled_from(FIT_ARGUMENTS), value=st.one_of(JUNK, st.sampled_from([0, -1, 2.5, 1e9, True]),
                                                               st.tuples(JUNK, JUNK)))
def test_fit_with_one_junk_argument_works_or_raises_documented_error(argument, value):
    rnnkit.set_random_seed(0)
    rng = np.random.default_rng(0)
    kwargs = dict(x=rng.standard_normal((4, 3, 2)).astype(np.float32), y=rng.standard_normal((4, 1)),
                  batch_size=2, epochs=1, verbose=0)
    kwargs[argument] = value
    model = Sequential([layers.GRU(2, input_shape=(3, 2)), layers.Dense(1)])
    model.compile("sgd", "mse")
    history = documented(lambda: model.fit(**kwargs))
    if history is not None:
        assert all(np.isfinite(v).all() for v in history.history.values())
        assert all_finite(model.get_weights())


@PROPERTY_SETTINGS
@given(call=st.sampled_from(["evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch"]),
       x=JUNK, y=JUNK)
def test_other_entry_points_on_junk_work_or_raise_documented_errors(call, x, y):
    model = Sequential([layers.LSTM(2, input_shape=(3, 2)), layers.Dense(1)])
    model.compile("adam", "mse")
    method = getattr(model, call)
    result = documented(lambda: method(x) if "predict" in call else method(x, y))
    if result is not None:
        assert all_finite(result)


@st.composite
def token_problems(draw):
    """Integer id sequences padded with 0 (whole rows of padding included) and class labels."""
    n, t = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    ids = rng.integers(1, 7, size=(n, t))
    lengths = rng.integers(0, t + 1, size=n)
    ids[np.arange(t)[None, :] >= lengths[:, None]] = 0
    per_step = draw(st.booleans())
    labels = rng.integers(0, 3, size=(n, t) if per_step else (n,))
    return dict(ids=ids, labels=labels, per_step=per_step, batch_size=draw(st.integers(1, 4)),
                wrapper=draw(st.sampled_from(["plain", "bidirectional"])),
                kind=draw(st.sampled_from(["SimpleRNN", "LSTM", "GRU"])))


@PROPERTY_SETTINGS
@given(p=token_problems())
def test_fit_on_padded_token_sequences_with_sparse_labels(p):
    rnnkit.set_random_seed(0)
    recurrent = getattr(layers, p["kind"])(3, return_sequences=p["per_step"])
    if p["wrapper"] == "bidirectional":
        recurrent = layers.Bidirectional(recurrent)
    model = Sequential([layers.Embedding(7, 4, mask_zero=True, input_shape=(p["ids"].shape[1],)), recurrent,
                        layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(p["ids"], p["labels"], batch_size=p["batch_size"], epochs=2, verbose=0)
    assert history.epoch == [0, 1]
    for name, values in history.history.items():
        assert np.isfinite(values).all(), (name, values)
    assert all(0.0 <= a <= 1.0 for a in history.history["accuracy"])
    assert all_finite(model.get_weights(), model.predict(p["ids"]))
