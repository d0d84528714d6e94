"""fit / evaluate / predict for models with several inputs and outputs: per-output losses, loss
weights, metrics and Keras 3's log names."""
import numpy as np
import pytest

import rnnkit
from keras_reference import keras_or_skip
from rnnkit import layers
from rnnkit.errors import RnnkitValueError


@pytest.fixture(autouse=True)
def fresh_names():
    rnnkit.utils.clear_session()


def _two_in_two_out(seed=0):
    a, b = rnnkit.Input((5, 3), name="a"), rnnkit.Input((5, 3), name="b")
    h = layers.LSTM(4, seed=seed)(a)
    merged = layers.Concatenate()([h, layers.LSTM(4, seed=seed + 1)(b)])
    classes = layers.Dense(2, activation="softmax", name="dense", seed=seed + 2)(merged)
    values = layers.Dense(3, name="reg", seed=seed + 3)(h)
    return rnnkit.Model([a, b], [classes, values])


def _data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 5, 3)).astype(np.float32)
    return x, rng.integers(0, 2, n), rng.random((n, 3)).astype(np.float32)


def test_history_and_evaluate_use_keras_names_and_order():
    model = _two_in_two_out()
    model.compile("adam", loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], ["mae"]],
                  loss_weights=[1.0, 0.5])
    x, y1, y2 = _data()
    history = model.fit([x, x], [y1, y2], epochs=2, verbose=0, validation_split=0.2)
    # the keys Keras 3.15 logs for this model and compile call (checked by running it), plus grad_norm
    assert set(history.history) == {"loss", "dense_loss", "reg_loss", "dense_accuracy", "reg_mae", "val_loss",
                                    "val_dense_loss", "val_reg_loss", "val_dense_accuracy", "val_reg_mae",
                                    "grad_norm"}
    assert model.metrics_names == ["loss", "dense_loss", "reg_loss", "dense_accuracy", "reg_mae"]
    logs = model.evaluate([x, x], [y1, y2], verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["dense_loss"] + 0.5 * logs["reg_loss"], rel=1e-6)
    values = model.evaluate({"a": x, "b": x}, {"dense": y1, "reg": y2}, verbose=0)
    assert values == pytest.approx([logs[name] for name in model.metrics_names])
    predictions = model.predict([x, x], batch_size=3)
    assert [p.shape for p in predictions] == [(10, 2), (10, 3)]
    assert logs["reg_mae"] == pytest.approx(float(np.mean(np.abs(predictions[1] - y2))), rel=1e-5)


@pytest.mark.parametrize("compile_kwargs, keys", [
    ({"loss": "mse"}, {"loss", "d1_loss", "reg_loss"}),
    ({"loss": ["mse", "mae"], "metrics": ["mae", "mse"]}, {"loss", "d1_loss", "reg_loss", "d1_mae", "reg_mse"}),
    ({"loss": ["mse", "mae"], "metrics": [["mae"], ["mse", "mae"]]},
     {"loss", "d1_loss", "reg_loss", "d1_mae", "reg_mse", "reg_mae"}),
    ({"loss": ["mse", None]}, {"loss"}),
    ({"loss": {"d1": "mse", "reg": "mse"}, "metrics": {"reg": "mae"}}, {"loss", "d1_loss", "reg_loss", "reg_mae"}),
    ({"loss": {"d1": "mse", "reg": "mse"}, "loss_weights": {"d1": 2.0, "reg": 0.5}},
     {"loss", "d1_loss", "reg_loss"}),
])
def test_log_names_match_keras(compile_kwargs, keys):
    """Expected keys as Keras 3.15 logs them for the same model and compile call (run by hand)."""
    a = rnnkit.Input((5, 3), name="a")
    h = layers.LSTM(4)(a)
    model = rnnkit.Model(a, [layers.Dense(2, name="d1")(h), layers.Dense(3, name="reg")(h)])
    model.compile("adam", **compile_kwargs)
    x, _, y2 = _data()
    history = model.fit(x, [y2[:, :2], y2], epochs=1, verbose=0)
    assert set(history.history) - {"grad_norm"} == keys


def test_log_names_match_a_live_keras_run():
    keras = keras_or_skip()
    ka, kb = keras.Input((5, 3), name="a"), keras.Input((5, 3), name="b")
    kh = keras.layers.LSTM(4)(ka)
    kmerged = keras.layers.Concatenate()([kh, keras.layers.LSTM(4)(kb)])
    kmodel = keras.Model([ka, kb], [keras.layers.Dense(2, activation="softmax", name="dense")(kmerged),
                                    keras.layers.Dense(3, name="reg")(kh)])
    settings = dict(loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], ["mae"]],
                    loss_weights=[1.0, 0.5])
    kmodel.compile("adam", **settings)
    x, y1, y2 = _data()
    expected = kmodel.fit([x, x], [y1, y2], epochs=1, verbose=0, validation_split=0.2).history
    model = _two_in_two_out()
    model.compile("adam", **settings)
    got = model.fit([x, x], [y1, y2], epochs=1, verbose=0, validation_split=0.2).history
    assert set(got) - {"grad_norm"} == set(expected)


def test_a_fit_step_applies_the_weighted_gradient():
    model = _two_in_two_out()
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[0.25, 3.0])
    x, y1, y2 = _data(n=4)
    before = model.get_weights()
    loss, grads, _ = model.compute_loss_and_gradients([x, x], [y1, y2])
    history = model.fit([x, x], [y1, y2], batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-6)
    trainable = {id(v) for v in model.trainable_variables}
    grad_of = dict(zip([id(v) for v in model.trainable_variables], grads))
    for variable, old in zip(model.weights, before):
        if id(variable) in trainable:
            np.testing.assert_allclose(variable.value, old - 0.01 * grad_of[id(variable)], rtol=1e-5, atol=1e-7)


def test_single_output_models_keep_plain_names():
    x_in = rnnkit.Input((5, 3))
    model = rnnkit.Model(x_in, layers.Dense(2, activation="softmax")(layers.GRU(3)(x_in)))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[["accuracy"]])
    x, y1, _ = _data()
    history = model.fit(x, y1, epochs=1, verbose=0, validation_data=(x, y1))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "grad_norm"}
    loss, accuracy = model.evaluate(x, y1, verbose=0)
    assert model.predict([x]).shape == (10, 2)


def test_compile_and_fit_errors_name_the_outputs():
    model = _two_in_two_out()
    x, y1, y2 = _data()
    with pytest.raises(RnnkitValueError, match=r"loss must have one entry per output \(2: \['dense', 'reg'\]\)"):
        model.compile("adam", loss=["mse"])
    with pytest.raises(RnnkitValueError, match=r"loss names outputs \['nope'\]"):
        model.compile("adam", loss={"nope": "mse"})
    with pytest.raises(RnnkitValueError, match="loss must give at least one output a loss"):
        model.compile("adam", loss=[None, None])
    with pytest.raises(RnnkitValueError, match="loss_weights for output 'reg' must be a finite number"):
        model.compile("adam", loss="mse", loss_weights=[1.0, "x"])
    model.compile("adam", loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(RnnkitValueError, match=r"y must be a list of 2 arrays \(the model's outputs"):
        model.fit([x, x], y1, verbose=0)
    with pytest.raises(RnnkitValueError, match=r"x\['a'\] and y\['reg'\] must have the same number of samples"):
        model.fit([x, x], [y1, y2[:5]], verbose=0)
    with pytest.raises(RnnkitValueError, match=r"x\['a'\] and x\['b'\] must have the same number"):
        model.fit([x, x[:3]], [y1, y2], verbose=0)
    bad = y1.copy()
    bad[2] = 5
    with pytest.raises(RnnkitValueError, match=r"y\['dense'\] must hold integer class labels in \[0, 2\)"):
        model.fit([x, x], [bad, y2], verbose=0)
    nan = x.copy()
    nan[1, 1, 1] = np.nan
    with pytest.raises(RnnkitValueError, match=r"x\['b'\] contains a non-finite value"):
        model.fit([x, nan], [y1, y2], verbose=0)


def test_tbptt_on_a_functional_model_equals_sequential():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 2))
    y = rng.standard_normal((4, 6, 1))

    def run(functional):
        rnnkit.utils.clear_session()
        lstm = layers.LSTM(3, return_sequences=True, seed=1, dtype="float64")
        dense = layers.Dense(1, seed=2, dtype="float64")
        if functional:
            inputs = rnnkit.Input((6, 2))
            model = rnnkit.Model(inputs, dense(lstm(inputs)))
        else:
            model = rnnkit.Sequential([lstm, dense])
        model.compile("sgd", "mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, tbptt_steps=2)
        return model.get_weights()

    for a, b in zip(run(True), run(False)):
        np.testing.assert_array_equal(a, b)
    a = rnnkit.Input((6, 2))
    two_outputs = rnnkit.Model(a, [layers.LSTM(2)(a), layers.GRU(2)(a)])
    two_outputs.compile("sgd", "mse")
    with pytest.raises(RnnkitValueError, match="tbptt_steps needs a model with one input and one output"):
        two_outputs.fit(x, [y[:, 0, :1] * np.ones((1, 2)), y[:, 0, :1] * np.ones((1, 2))], tbptt_steps=2, verbose=0)
