"""Stateful recurrent layers train with fit at batch size > 1 (issue #11, defect 7) and follow
Keras's rules for stateful batch sizes in fit, evaluate and predict."""
import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.errors import RnnkitValueError


@pytest.fixture(autouse=True)
def fresh_names():
    rnnkit.utils.clear_session()


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 5, 3)), rng.random((n, 2))


def _model(**input_kwargs):
    inputs = [rnnkit.Input((5, 3), **input_kwargs)] if input_kwargs else []
    return rnnkit.Sequential(inputs + [layers.LSTM(4, stateful=True, seed=1, dtype="float64"),
                                       layers.Dense(2, seed=2, dtype="float64")])


def test_fit_at_batch_four_carries_states_across_batches():
    x, y = _data()
    model, reference = _model(), _model()
    for m in (model, reference):
        m.build((None, 5, 3))  # from the shape alone: no batch size gets fixed
        m.compile("sgd", "mse")
    reference.set_weights(model.get_weights())
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    lstm = model.layers[0]
    assert [s.shape for s in lstm.states] == [(4, 4), (4, 4)] and np.abs(lstm.states[0]).sum() > 0
    # the same three steps by hand: each batch starts from the states the previous one ended with
    for start in range(0, 12, 4):
        reference.train_on_batch(x[start:start + 4], y[start:start + 4])
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    for a, b in zip(model.layers[0].states, reference.layers[0].states):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_a_model_called_at_batch_four_then_fits_at_batch_four():
    x, y = _data()
    model = _model()
    model.predict(x[:4], batch_size=4)
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)  # used to fail: fit first ran x[:1]
    assert model.layers[0].states[0].shape == (4, 4)


def test_keras_rules_for_stateful_batch_sizes():
    x, y = _data()
    model = _model()
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert model.predict(x, batch_size=4).shape == (12, 2)
    with pytest.raises(RnnkitValueError, match=r"predict: the stateful layers \['lstm'\] are fixed to batch size 4, "
                                               r"got batch_size=3"):
        model.predict(x, batch_size=3)
    with pytest.raises(RnnkitValueError, match=r"predict: the stateful layers .* fixed to batch size 4, got batch_size=32"):
        model.predict(x)
    with pytest.raises(RnnkitValueError, match="10 samples leave a last batch of 2"):
        model.predict(x[:10], batch_size=4)
    with pytest.raises(RnnkitValueError, match="evaluate: .* 10 samples leave a last batch of 2"):
        model.evaluate(x[:10], y[:10], batch_size=4, verbose=0)
    with pytest.raises(RnnkitValueError, match="fit: .* 10 samples leave a last batch of 2"):
        model.fit(x[:10], y[:10], batch_size=4, verbose=0)
    with pytest.raises(RnnkitValueError, match="fit's validation: .* 6 samples leave a last batch of 2"):
        model.fit(x, y, batch_size=4, verbose=0, validation_data=(x[:6], y[:6]))
    # reset_states zeroes the carried states; the batch size stays fixed, as in Keras
    model.reset_states()
    assert all(not s.any() for s in model.layers[0].states)
    first = model.predict(x[:4], batch_size=4)
    second = model.predict(x[:4], batch_size=4)
    assert not np.allclose(first, second)  # the second call starts from the first one's states
    model.reset_states()
    np.testing.assert_allclose(model.predict(x[:4], batch_size=4), first, rtol=1e-12)


def test_input_batch_size_fixes_the_batch_before_any_call():
    x, y = _data()
    model = _model(batch_size=6)
    model.compile("adam", "mse")
    with pytest.raises(RnnkitValueError, match="fixed to batch size 6, got batch_size=4"):
        model.fit(x, y, batch_size=4, verbose=0)
    model.fit(x, y, batch_size=6, epochs=1, verbose=0)
    assert model.layers[0].states[0].shape == (6, 4)
    inputs = rnnkit.Input((5, 3), batch_size=3)
    functional = rnnkit.Model(inputs, layers.GRU(2, stateful=True)(inputs))
    assert functional.predict(x, batch_size=3).shape == (12, 2)
    with pytest.raises(RnnkitValueError, match="fixed to batch size 3"):
        functional.predict(x, batch_size=4)
