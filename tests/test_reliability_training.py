"""fit's safety net: NaN/Inf in the data refused before training, non-finite loss or gradient
stops fit (naming epoch and batch) with the last finite weights kept, a switch to turn that
off, the global gradient norm of every epoch in History, and clipping counted."""
import warnings

import numpy as np
import pytest

import rnnkit
from rnnkit import Sequential, layers, losses, optimizers
from rnnkit.callbacks import Callback
from rnnkit.errors import RnnkitValueError


def _data(n=32, time=5, features=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, time, features)).astype(np.float32),
            rng.standard_normal((n, 1)).astype(np.float32))


def _rnn_model(seed=0, optimizer="sgd", **compile_kwargs):
    rnnkit.set_random_seed(seed)
    model = Sequential([layers.LSTM(4, input_shape=(5, 3), seed=seed), layers.Dense(1, seed=seed + 1)])
    model.compile(optimizer, "mse", **compile_kwargs)
    return model


class Recorder(Callback):
    """Weights after every training batch and the optimizer's global gradient norm of that batch."""

    def __init__(self):
        super().__init__()
        self.weights, self.norms, self.epochs_begun = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs_begun.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(self.model.get_weights())
        self.norms.append(self.model.optimizer.last_grad_norm)


# ---------------------------------------------------------------- bad data refused up front
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x", "y", "validation_data[0]", "validation_data[1]"])
def test_non_finite_data_refused_before_training_naming_array_and_index(bad, where):
    x, y = _data()
    vx, vy = _data(8, seed=1)
    arrays = {"x": x, "y": y, "validation_data[0]": vx, "validation_data[1]": vy}
    index = (3, 2, 1) if arrays[where].ndim == 3 else (3, 0)
    arrays[where][index] = bad
    model = _rnn_model()
    before = model.get_weights()
    recorder = Recorder()
    with pytest.raises(RnnkitValueError) as info:
        model.fit(x, y, validation_data=(vx, vy), epochs=2, verbose=0, callbacks=[recorder])
    message = str(info.value)
    assert message.startswith(f"{where} contains a non-finite value") and f"at index {index}" in message
    assert recorder.epochs_begun == [] and model.optimizer.iterations == 0
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_first_bad_index_is_reported_and_other_entry_points_check_too():
    x, y = _data()
    x[5, 1, 0] = np.nan
    x[2, 4, 2] = np.inf  # earlier in C order: this one is named
    model = _rnn_model()
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.predict(x), lambda: model.train_on_batch(x, y)):
        with pytest.raises(RnnkitValueError, match=r"x contains a non-finite value \(inf\) at index \(2, 4, 2\)"):
            call()


# ---------------------------------------------------------------- non-finite loss stops fit
def test_overflowing_sample_stops_fit_naming_epoch_and_batch_and_keeps_weights():
    x, y = _data()
    x[17] = 1e30  # finite, so the data check lets it through; the forward pass overflows on it
    rnnkit.set_random_seed(0)
    model = Sequential([layers.Flatten(input_shape=(5, 3)), layers.Dense(1, seed=0)])
    model.compile("sgd", "mse")
    recorder = Recorder()
    with pytest.warns(RuntimeWarning, match=r"fit stopped: non-finite loss or gradient at epoch 1, batch 3"):
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[recorder])
    assert model.stop_training and "epoch 1, batch 3" in model.stop_reason
    assert len(recorder.weights) == 2  # batches 1 and 2 finished; batch 3 never updated anything
    for got, want in zip(model.get_weights(), recorder.weights[-1]):
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, want)


def test_optimizer_overflow_on_finite_gradients_is_undone_and_stops_fit():
    """Gradients near 1e24 are finite, but Adam's g² overflows float32: the step is undone.

    A linear SimpleRNN keeps the gradient sizes independent of how tanh saturates (the compiled
    and the NumPy tanh round differently next to +-1, which a tanh network here depended on)."""
    rnnkit.set_random_seed(0)
    model = Sequential([layers.SimpleRNN(3, activation="linear", input_shape=(1, 1), seed=0),
                        layers.Dense(1, seed=1)])
    model.compile("adam", "mse")
    recorder = Recorder()
    x, y = np.array([[[1e12]]], np.float32), np.zeros((1, 1), np.float32)
    with pytest.warns(RuntimeWarning, match=r"optimizer step at epoch \d+, batch 1 made weights non-finite"):
        model.fit(x, y, epochs=5, verbose=0, callbacks=[recorder])
    assert model.stop_training
    for got, want in zip(model.get_weights(), recorder.weights[-1]):
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, want)


class NaNOnCall(losses.MeanSquaredError):
    """MSE whose ``nan_call``-th training evaluation returns a NaN loss and NaN gradient."""

    def __init__(self, nan_call):
        super().__init__()
        self.calls, self.nan_call = 0, nan_call

    def value_and_gradient(self, *args, **kwargs):
        value, grad = super().value_and_gradient(*args, **kwargs)
        self.calls += 1
        if self.calls == self.nan_call:
            return np.float32(np.nan), np.full_like(grad, np.nan)
        return value, grad


def test_nan_loss_in_a_later_epoch_stops_there_and_keeps_history_of_finished_epochs():
    x, y = _data()
    model = _rnn_model()
    model.compile("adam", NaNOnCall(nan_call=6))  # 4 batches per epoch: epoch 2, batch 2
    recorder = Recorder()
    with pytest.warns(RuntimeWarning, match=r"epoch 2, batch 2 \(loss=nan\)"):
        history = model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[recorder])
    assert history.epoch == [0] and np.isfinite(history.history["loss"]).all()
    assert recorder.epochs_begun == [0, 1] and len(recorder.weights) == 5
    assert model.optimizer.iterations == 5
    for got, want in zip(model.get_weights(), recorder.weights[-1]):
        np.testing.assert_array_equal(got, want)


def test_terminate_on_nan_switched_off_runs_on_skipping_the_bad_step():
    x, y = _data()
    model = _rnn_model()
    model.compile("sgd", NaNOnCall(nan_call=2), terminate_on_nan=False)
    recorder = Recorder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[recorder])
    messages = [str(w.message) for w in caught]
    assert messages == ["non-finite gradient at epoch 1, batch 2; update skipped"]
    assert history.epoch == [0, 1] and np.isnan(history.history["loss"][0]) and np.isfinite(history.history["loss"][1])
    assert model.optimizer.iterations == 7  # 8 batches, one skipped
    for got, want in zip(recorder.weights[1], recorder.weights[0]):  # the skipped step changed nothing
        np.testing.assert_array_equal(got, want)
    assert all(np.isfinite(w).all() for w in model.get_weights())


# ---------------------------------------------------------------- gradient norms and clipping
def test_history_records_the_mean_global_gradient_norm_of_every_epoch():
    x, y = _data()
    model = _rnn_model()
    recorder = Recorder()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[recorder])
    per_epoch = np.array(recorder.norms).reshape(3, 4).mean(axis=1)
    # fit sums squares in float64; the optimizer's norm is one float32 dot over its flat gradient buffer
    np.testing.assert_allclose(history.history["grad_norm"], per_epoch, rtol=1e-6)
    assert all(n > 0 for n in history.history["grad_norm"])


def test_exploding_gradients_are_visible_in_grad_norm():
    x, y = _data()
    model = _rnn_model()
    history = model.fit(x, y * 1e3, batch_size=8, epochs=1, verbose=0)
    calm = _rnn_model()
    calm_history = calm.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert history.history["grad_norm"][0] > 100 * calm_history.history["grad_norm"][0]


@pytest.mark.parametrize("clip, expected", [({"global_clipnorm": 1e-6}, 4.0), ({"clipnorm": 1e9}, 0.0),
                                            ({"clipvalue": 1e-6}, 4.0), ({}, None)])
def test_clipping_reports_how_often_it_fired(clip, expected):
    x, y = _data()
    model = _rnn_model(optimizer=optimizers.SGD(learning_rate=0.01, **clip))
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    if expected is None:
        assert "clipped_steps" not in history.history
    else:
        assert history.history["clipped_steps"] == [expected, expected]
        assert model.optimizer.clip_events == 2 * expected
