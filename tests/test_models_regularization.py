"""Regularizers and constraints in models: the full training loss (penalties included) against finite
differences in float64, and Keras 3 parity (model.losses, evaluate, train_on_batch, one step with the
constraints, fit) from the same weights; named errors for options on weights a layer does not have."""
import numpy as np
import pytest

import rnnkit
from helpers import numeric_grad, rel_error
from keras_reference import keras_or_skip
from rnnkit import layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError


@pytest.fixture(scope="module")
def keras():
    return keras_or_skip()


def _randomize(model, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape) * scale for w in model.get_weights()])


def _full_loss_gradient_errors(model, x, y, training=True):
    """Relative error of every trainable weight's gradient of loss + penalties against central differences."""
    _, grads, _ = model.compute_loss_and_gradients(x, y)
    errors = {}
    for variable, grad in zip(model.trainable_variables, grads):
        numeric = numeric_grad(lambda: model.compute_loss(x, y, training=training), variable.value)
        errors[variable.name] = rel_error(grad, numeric)
    return errors


def _sequence_model(k, dtype="float32"):
    R = k.regularizers
    return k.Sequential([
        k.Input((6,), dtype="int32"),
        k.layers.Embedding(7, 4, embeddings_regularizer=R.L2(0.05), activity_regularizer=R.L1(0.02), dtype=dtype),
        k.layers.LSTM(5, kernel_regularizer=R.L2(0.03), recurrent_regularizer=R.L1(0.02),
                      bias_regularizer=R.L1L2(0.01, 0.02), activity_regularizer=R.L2(0.04), return_sequences=True,
                      dtype=dtype),
        k.layers.Conv1D(3, 2, kernel_regularizer=R.L2(0.02), bias_regularizer=R.L1(0.03),
                        activity_regularizer=R.L2(0.01), dtype=dtype),
        k.layers.Bidirectional(k.layers.GRU(3, kernel_regularizer=R.L1(0.01), recurrent_regularizer=R.L2(0.05),
                                            activity_regularizer=R.L2(0.03), dtype=dtype), dtype=dtype),
        k.layers.Dense(2, kernel_regularizer=R.OrthogonalRegularizer(0.1), bias_regularizer="l2",
                       activity_regularizer=R.L1(0.05), dtype=dtype),
    ])


def _data(seed=0, n=4):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 7, (n, 6)), rng.normal(size=(n, 2))


def test_full_training_loss_gradients_match_finite_differences():
    model = _sequence_model(rnnkit, "float64")
    model.compile(optimizer="sgd", loss="mse")
    _randomize(model, 1)
    x, y = _data()
    errors = _full_loss_gradient_errors(model, x, y)
    assert len(errors) == 14 and max(errors.values()) < 1e-6, errors


def test_stacked_cells_and_normalization_penalties_against_finite_differences():
    R = rnnkit.regularizers
    model = rnnkit.Sequential([
        layers.Input((5, 3)),
        layers.RNN([layers.SimpleRNNCell(4, bias_regularizer=R.L1(0.1), dtype="float64"),
                    layers.GRUCell(3, kernel_regularizer=R.L2(0.2), recurrent_regularizer=R.L1L2(0.1, 0.1),
                                   dtype="float64")], return_sequences=True, activity_regularizer="l2"),
        layers.LayerNormalization(gamma_regularizer=R.L2(0.3), beta_regularizer=R.L1(0.2), dtype="float64"),
        layers.BatchNormalization(gamma_regularizer=R.L1(0.1), beta_regularizer="l2", dtype="float64"),
        layers.Flatten(dtype="float64"),
        layers.Dense(2, kernel_regularizer=R.OrthogonalRegularizer(0.5, mode="columns"), dtype="float64"),
    ])
    model.compile(optimizer="sgd", loss="mse")
    _randomize(model, 2)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 2))
    errors = _full_loss_gradient_errors(model, x, y)
    assert max(errors.values()) < 1e-6, errors


def test_a_shared_layer_pays_its_activity_penalty_per_call():
    R = rnnkit.regularizers
    a, b = rnnkit.Input((3,), dtype="float64"), rnnkit.Input((3,), dtype="float64")
    shared = layers.Dense(4, activation="tanh", activity_regularizer=R.L2(0.2), kernel_regularizer=R.L1(0.1),
                          dtype="float64")
    merged = layers.Add(dtype="float64")([shared(a), shared(b)])
    # the side branch's output has no loss of its own: only its activity penalty reaches its weights
    side = layers.Dense(2, activity_regularizer=R.L2(0.3), dtype="float64")(merged)
    out = layers.Dense(1, dtype="float64")(merged)
    model = rnnkit.Model([a, b], [out, side])
    model.compile(optimizer="sgd", loss=["mse", None])
    _randomize(model, 4)
    rng = np.random.default_rng(5)
    x = [rng.normal(size=(5, 3)), rng.normal(size=(5, 3))]
    y = [rng.normal(size=(5, 1)), np.zeros((5, 2))]
    model(x)
    assert len(model.losses) == 4  # two calls of `shared`, the side branch, then the kernel's weight penalty
    errors = _full_loss_gradient_errors(model, x, y)
    assert max(errors.values()) < 1e-6, errors
    side_kernel = model.layers[-1].kernel if model.layers[-1].units == 2 else model.layers[-2].kernel
    assert np.abs(model.gradients([side_kernel])[0]).max() > 0


def test_penalties_are_in_the_reported_losses():
    model = _sequence_model(rnnkit, "float64")
    model.compile(optimizer="sgd", loss="mse")
    _randomize(model, 6)
    x, y = _data()
    plain = float(np.mean((model.predict(x) - y) ** 2))
    penalty = sum(model.losses)
    assert penalty > 0.1
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain + penalty, rel=1e-12)
    assert model.compute_loss(x, y) == pytest.approx(plain + penalty, rel=1e-12)
    assert model.test_on_batch(x, y) == pytest.approx(plain + penalty, rel=1e-12)
    assert model.train_on_batch(x, y) == pytest.approx(plain + penalty, rel=1e-12)


def test_losses_of_layers_before_and_after_a_call():
    dense = layers.Dense(3, kernel_regularizer="l2", activity_regularizer=rnnkit.regularizers.L2(0.5))
    dense.build((None, 2))
    assert dense.losses == [pytest.approx(0.01 * float(np.sum(dense.kernel.value ** 2)))]
    x = np.ones((4, 2), np.float32)
    y = dense(x)
    assert len(dense.losses) == 2
    assert dense.losses[0] == pytest.approx(0.5 * float(np.sum(y ** 2)) / 4, rel=1e-6)
    # layer.backward adds the gradient of the activity penalty to the given one
    upstream = np.random.default_rng(0).normal(size=y.shape).astype(np.float32)
    dx = dense.backward(upstream)
    np.testing.assert_allclose(dx, (upstream + 0.5 * 2 * y / 4) @ dense.kernel.value.T, rtol=1e-5)
    frozen = layers.Dense(3, kernel_regularizer="l2", trainable=False)
    frozen.build((None, 2))
    assert frozen.losses == []  # Keras: only trainable weights are regularized


def test_losses_match_keras_and_one_step_with_constraints(keras):
    def build(k):
        R, C = k.regularizers, k.constraints
        return k.Sequential([
            k.Input((5, 3)),
            k.layers.LSTM(4, kernel_regularizer=R.L2(0.01), recurrent_regularizer=R.L1(0.02),
                          bias_regularizer=R.L1L2(0.01, 0.01), activity_regularizer=R.L2(0.03),
                          kernel_constraint=C.MaxNorm(0.6), recurrent_constraint=C.UnitNorm(axis=1),
                          return_sequences=True),
            # (Keras 3.15's SimpleRNN drops its activity_regularizer from its config, and so inside
            # Bidirectional; rnnkit keeps it: GRU here, where Keras keeps it too)
            k.layers.Bidirectional(k.layers.GRU(3, kernel_regularizer="l2", bias_constraint="non_neg",
                                                activity_regularizer="l1")),
            k.layers.Dense(2, kernel_regularizer="l1", kernel_constraint=C.MinMaxNorm(0.2, 0.5, rate=0.5),
                           bias_regularizer=R.L2(0.1), activity_regularizer=R.L2(0.02)),
        ])

    kmodel, model = build(keras), build(rnnkit)
    model.set_weights(kmodel.get_weights())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5, 3)).astype(np.float32), rng.normal(size=(6, 2)).astype(np.float32)
    kmodel(x)
    model(x)
    expected = [float(keras.ops.convert_to_numpy(loss)) for loss in kmodel.losses]
    assert len(model.losses) == len(expected)
    np.testing.assert_allclose(model.losses, expected, rtol=1e-5)
    for m in (kmodel, model):
        m.compile(optimizer=(keras if m is kmodel else rnnkit).optimizers.SGD(0.1), loss="mse")
    assert model.evaluate(x, y, batch_size=4, verbose=0) == pytest.approx(
        kmodel.evaluate(x, y, batch_size=4, verbose=0), rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(float(kmodel.train_on_batch(x, y)), rel=1e-5)
    for got, want in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(model.get_weights()[0], axis=0).max() <= 0.6 + 1e-6  # MaxNorm held after the step
    expected_history = kmodel.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0).history["loss"]
    got_history = model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got_history, expected_history, rtol=1e-5)


def test_embedding_conv_and_normalization_options_match_keras(keras):
    def build(k):
        R, C = k.regularizers, k.constraints
        return k.Sequential([
            k.Input((6,), dtype="int32"),
            k.layers.Embedding(9, 4, embeddings_regularizer=R.L2(0.1), embeddings_constraint=C.MaxNorm(0.3, axis=1)),
            k.layers.Conv1D(3, 2, kernel_regularizer=R.L1(0.05), kernel_constraint="non_neg",
                            bias_regularizer="l2", activity_regularizer="l2"),
            k.layers.LayerNormalization(gamma_regularizer=R.L2(0.2), beta_constraint="non_neg"),
            k.layers.GlobalAveragePooling1D(),
            k.layers.Dense(1),
        ])

    kmodel, model = build(keras), build(rnnkit)
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * 0.1 for w in kmodel.get_weights()])
    kmodel.set_weights(model.get_weights())
    x, y = rng.integers(0, 9, (5, 6)), rng.normal(size=(5, 1)).astype(np.float32)
    for m in (kmodel, model):
        m.compile(optimizer=(keras if m is kmodel else rnnkit).optimizers.Adam(0.05), loss="mse")
    assert model.train_on_batch(x, y) == pytest.approx(float(kmodel.train_on_batch(x, y)), rel=1e-5)
    for got, want in zip(model.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_options_survive_config_and_file_round_trips(tmp_path):
    model = _sequence_model(rnnkit)
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "model.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path)
    for a, b in zip(model.weights, loaded.weights):
        assert repr(a.regularizer) == repr(b.regularizer) and repr(a.constraint) == repr(b.constraint)
    assert [type(layer.activity_regularizer).__name__ for layer in loaded.layers] == \
        [type(layer.activity_regularizer).__name__ for layer in model.layers]
    x, y = _data()
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    lstm = layers.LSTM(3, recurrent_constraint="unit_norm", kernel_regularizer="l1")
    again = layers.LSTM.from_config(lstm.get_config())
    assert isinstance(again.recurrent_constraint, rnnkit.constraints.UnitNorm)
    assert again.get_config()["kernel_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}}


@pytest.mark.parametrize("make, error, match", [
    (lambda: layers.Dense(3, use_bias=False, bias_constraint="max_norm"), RnnkitValueError, "no bias weight"),
    (lambda: layers.Dense(3, recurrent_constraint="max_norm"), RnnkitTypeError, "Dense has no weight for "
                                                                                "recurrent_constraint"),
    (lambda: layers.Conv1D(2, 3, use_bias=False, bias_regularizer="l2"), RnnkitValueError, "use_bias=False"),
    (lambda: layers.LSTM(3, use_bias=False, bias_constraint="non_neg"), RnnkitValueError, "no bias weight"),
    (lambda: layers.GRUCell(3, use_bias=False, bias_regularizer="l1"), RnnkitValueError, "no bias weight"),
    (lambda: layers.Embedding(5, 2, kernel_regularizer="l2"), RnnkitTypeError, "kernel_regularizer"),
    (lambda: layers.BatchNormalization(center=False, beta_constraint="non_neg"), RnnkitValueError, "center=False"),
    (lambda: layers.LayerNormalization(scale=False, gamma_regularizer="l2"), RnnkitValueError, "scale=False"),
    (lambda: layers.Dense(3, kernel_regularizer="l7"), RnnkitValueError, "regularizer must be one of"),
    (lambda: layers.SimpleRNN(3, activity_regularizer=5), RnnkitTypeError, "regularizer must be"),
    (lambda: layers.Dense(3, bogus=1), TypeError, "bogus"),
])
def test_options_for_missing_weights_and_bad_values_are_named_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_constraint_axis_that_does_not_fit_the_weight_is_named_at_build():
    layer = layers.Dense(3, kernel_constraint=rnnkit.constraints.MaxNorm(axis=2))
    with pytest.raises(RnnkitValueError, match="dense.*/kernel.*does not fit a weight of shape \\(4, 3\\)"):
        layer(np.ones((2, 4), np.float32))


def test_constraints_apply_in_a_plain_optimizer_step():
    variable = layers.Dense(2, kernel_constraint="non_neg")
    variable.build((None, 3))
    optimizer = rnnkit.optimizers.SGD(1.0)
    optimizer.apply_gradients(zip([np.ones((3, 2), np.float32) * 5], [variable.kernel]))
    assert np.all(variable.kernel.value >= 0)


@pytest.mark.slow  # Keras's fit of 60 steps: ~50 s on a busy 2-core machine
def test_training_trajectory_with_l2_and_max_norm_matches_keras_after_15_epochs(keras):
    """Adam on an LSTM + Dense with L2 penalties and MaxNorm constraints: the weights after 15 epochs of
    fit (4 steps each) stay within 2e-3 of Keras's (relative error of each weight)."""
    def build(k):
        R, C = k.regularizers, k.constraints
        return k.Sequential([
            k.Input((6, 3)),
            k.layers.LSTM(5, kernel_regularizer=R.L2(0.01), recurrent_regularizer=R.L2(0.02),
                          kernel_constraint=C.MaxNorm(0.8), recurrent_constraint=C.MaxNorm(0.9)),
            k.layers.Dense(2, kernel_regularizer=R.L2(0.05), bias_regularizer=R.L2(0.01),
                           kernel_constraint=C.MaxNorm(1.0)),
        ])

    kmodel, model = build(keras), build(rnnkit)
    model.set_weights(kmodel.get_weights())
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 6, 3)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    kmodel.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    model.compile(optimizer=rnnkit.optimizers.Adam(0.02), loss="mse")
    expected = kmodel.fit(x, y, batch_size=4, epochs=15, shuffle=False, verbose=0).history["loss"]
    got = model.fit(x, y, batch_size=4, epochs=15, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=2e-3)
    for got_w, want_w in zip(model.get_weights(), kmodel.get_weights()):
        assert rel_error(got_w, want_w) < 2e-3
    assert np.linalg.norm(model.get_weights()[0], axis=0).max() <= 0.8 + 1e-5


def test_a_constraint_holds_on_a_variable_the_flat_buffer_copies():
    """An unmovable Variable is copied into the optimizer's buffer and back: the projection must survive
    the copy back (constraints run after it, in place)."""
    variable = rnnkit.variables.Variable(np.ones((3, 2), np.float32), "w", movable=False)
    variable.constraint = rnnkit.constraints.NonNeg()
    array = variable.value
    optimizer = rnnkit.optimizers.SGD(1.0)
    for _ in range(2):
        optimizer.apply_gradients([(np.full((3, 2), 5.0, np.float32), variable)])
        assert variable.value is array and np.all(array == 0)


def test_loss_scale_factor_scales_the_penalty_gradients_too():
    """With loss_scale_factor the optimizer divides the gradient by the factor: the regularization and
    activity gradients must be scaled with the data loss's, so the step is the unscaled one."""
    def trained(scale):
        rnnkit.set_random_seed(4)
        model = rnnkit.Sequential([
            layers.Input((4, 3)),
            layers.GRU(3, kernel_regularizer=rnnkit.regularizers.L2(0.3), activity_regularizer="l1", seed=0),
            layers.Dense(2, bias_regularizer=rnnkit.regularizers.L1(0.2), kernel_constraint="max_norm", seed=1),
        ])
        model.compile(optimizer=rnnkit.optimizers.SGD(0.1, loss_scale_factor=scale), loss="mse")
        rng = np.random.default_rng(0)
        model.train_on_batch(rng.normal(size=(5, 4, 3)), rng.normal(size=(5, 2)))
        return model.get_weights()

    for got, want in zip(trained(8.0), trained(None)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
