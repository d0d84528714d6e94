"""A training step keeps its arrays (rnnkit/models/step_buffers.py, rnnkit/ops/grad_sinks.py): the
gradients are written into the optimizer's flat gradient buffer, the same arrays at every step, with
the values a fresh backward gives; the norm and the non-finite checks read that buffer; inputs are
checked once at the public edge, and bad input is still named there."""
import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.callbacks import Callback, CallbackList, History
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.ops import grad_sinks


def small_model(cell="LSTM", seed=0):
    model = rnnkit.Sequential([layers.Input((5, 3)), getattr(layers, cell)(6, seed=seed),
                               layers.Dense(2, seed=seed + 1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def data(seed=0, count=16):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, 5, 3)).astype(np.float32), rng.standard_normal((count, 2)).astype(np.float32)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_steps_reuse_the_optimizers_gradient_buffers(cell):
    model = small_model(cell)
    x, y = data()
    model.train_on_batch(x, y)  # builds the optimizer
    model.train_on_batch(x, y)
    first = model.gradients()
    model.train_on_batch(x, y)
    second = model.gradients()
    views = [model.optimizer.gradient_buffer(v) for v in model.trainable_variables]
    assert all(a is b for a, b in zip(first, second))  # no new gradient arrays
    assert all(g is view for g, view in zip(second, views))


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_buffered_gradients_equal_a_fresh_backward(cell):
    model = small_model(cell)
    x, y = data(1)
    model.train_on_batch(x, y)
    weights = model.get_weights()
    _, fresh, _ = model.compute_loss_and_gradients(x, y)  # public: new arrays, no buffers
    fresh = [g.copy() for g in fresh]
    model.set_weights(weights)
    model.optimizer.learning_rate = 0.0  # the step below changes nothing but the gradient buffer
    model.train_on_batch(x, y)
    for got, want in zip(model.gradients(), fresh):
        np.testing.assert_array_equal(got, want)


def test_shared_layer_gradients_are_summed_over_its_calls():
    inputs = rnnkit.Input((4, 3))
    shared = layers.GRU(5, return_sequences=True, seed=3)
    out = layers.Dense(1, seed=4)(shared(shared(layers.Dense(5, seed=5)(inputs))))
    model = rnnkit.Model(inputs, out)
    model.compile(optimizer=rnnkit.optimizers.SGD(0.0), loss="mse")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, 4, 3)).astype(np.float32), rng.standard_normal((8, 4, 1)).astype(np.float32)
    model.train_on_batch(x, y)
    _, fresh, _ = model.compute_loss_and_gradients(x, y)
    fresh = [g.copy() for g in fresh]
    model.train_on_batch(x, y)
    for got, want in zip(model.gradients(), fresh):
        np.testing.assert_array_equal(got, want)


def test_grad_norm_and_weights_do_not_depend_on_the_buffers():
    """fit with the buffers (from the second step on) against the same steps through apply_gradients."""
    x, y = data(3, 64)
    model, twin = small_model(seed=7), small_model(seed=7)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    norms = []
    for _ in range(2):
        for lo in range(0, 64, 16):
            loss, grads, _ = twin.compute_loss_and_gradients(x[lo:lo + 16], y[lo:lo + 16])
            norms.append(float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))))
            twin.optimizer.apply_gradients(zip(grads, twin.trainable_variables))
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(history.history["grad_norm"], [np.mean(norms[:4]), np.mean(norms[4:])])


def test_a_step_that_makes_weights_non_finite_is_undone_from_the_kept_copy():
    model = small_model()
    x, y = data(4)
    model.train_on_batch(x, y)
    before = model.get_weights()
    model.optimizer.learning_rate = 1e38  # finite gradients, weights overflow to inf
    with pytest.raises(rnnkit.models.training.NonFiniteError, match="made weights non-finite"):
        model.train_on_batch(x, y * 1e3)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_sinks_are_handed_out_once_and_only_inside_the_block():
    weight, sink = np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)
    assert grad_sinks.take(weight, (2, 3), np.float32) is None
    with grad_sinks.writing_gradients_into({id(weight): sink}):
        assert grad_sinks.take(weight, (2, 3), np.float64) is None  # wrong dtype: not handed out (and gone)
    with grad_sinks.writing_gradients_into({id(weight): sink}):
        assert grad_sinks.take(weight, (2, 3), np.float32) is sink
        assert grad_sinks.take(weight, (2, 3), np.float32) is None  # a second call of the layer allocates
    assert grad_sinks.take(weight, (2, 3), np.float32) is None


def test_callback_list_says_which_hooks_a_callback_uses():
    class Batches(Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    assert not CallbackList([History()]).calls("on_train_batch_end", "on_batch_end")
    assert CallbackList([History(), Batches()]).calls("on_train_batch_end", "on_batch_end")
    seen = []

    class Recorder(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(dict(logs))

    model = small_model()
    x, y = data(5, 32)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[Recorder()])
    assert len(seen) == 2 and seen[-1]["loss"] == history.history["loss"][-1]
    quiet = model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # no batch logs made; the epoch's are
    assert set(quiet.history) == {"loss", "grad_norm"}


def test_a_layer_checks_again_whatever_differs_from_what_it_checked():
    layer = layers.LSTM(3, seed=0)
    layer(np.zeros((2, 4, 5), np.float32))
    layer(np.zeros((7, 9, 5), np.float32))  # another batch and length: fine
    with pytest.raises(RnnkitValueError, match="5 features"):
        layer(np.zeros((2, 4, 6), np.float32))
    with pytest.raises(RnnkitTypeError, match="floating dtype"):
        layer(np.zeros((2, 4, 5), np.int64))
    with pytest.raises(RnnkitValueError, match="rank 3"):
        layer(np.zeros((2, 5), np.float32))
    assert layer(np.zeros((2, 4, 5), np.float64)).dtype == np.float32  # cast, as before


def test_the_public_edge_still_names_bad_input():
    model = small_model()
    x, y = data(6)
    model.fit(x, y, verbose=0)
    bad = x.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(RnnkitValueError, match=r"x contains a non-finite value .* at index \(3, 2, 1\)"):
        model.fit(bad, y, verbose=0)
    with pytest.raises(RnnkitValueError, match=r"x contains a non-finite value"):
        model.predict_on_batch(bad)
    with pytest.raises(RnnkitValueError, match="3 features"):
        model.train_on_batch(np.zeros((4, 5, 4), np.float32), y[:4])
    with pytest.raises(RnnkitTypeError, match="real numbers"):
        model.predict_on_batch(np.zeros((4, 5, 3), np.complex64))
