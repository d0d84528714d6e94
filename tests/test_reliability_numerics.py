"""Numerical stability: activations and softmax at pre-activations of ±1e4, crossentropies on
huge logits, and LSTM / GRU forward and backward over 10,000 time steps."""
import numpy as np
import pytest

from rnnkit import losses
from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell
from rnnkit.layers import Dense
from rnnkit.ops.activations import get_activation
from rnnkit.ops.softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

EXTREMES = np.array([-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "hard_sigmoid", "softplus", "softsign", "elu", "selu", "relu"])
def test_activations_and_derivatives_finite_at_1e4(name, dtype):
    act = get_activation(name)
    z = EXTREMES.astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # overflow raises, never hides as inf
        y = act(z)
        d = act.derivative(z, y)
    assert y.dtype == dtype and np.isfinite(y).all() and np.isfinite(d).all()
    if name == "sigmoid":
        assert y[0] == 0.0 and y[-1] == 1.0 and d[0] == 0.0 and d[-1] == 0.0
        np.testing.assert_allclose(y[5], 0.5)
    if name == "tanh":
        assert y[0] == -1.0 and y[-1] == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_at_1e4(dtype):
    z = np.array([[1e4, -1e4, 0.0, 1e4 - 1.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, 1e4, 1e4]], dtype)
    g = np.array([[0.3, -1.0, 2.0, 0.5]] * 3, dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = softmax(z)
        log_y = log_softmax(z)
        dz = softmax_backward(y, g)
        dlog = log_softmax_backward(log_y, g)
    for array in (y, log_y, dz, dlog):
        assert array.dtype == dtype and np.isfinite(array).all()
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[1], 0.25, rtol=1e-6)
    # log_softmax keeps the information softmax rounds away: -2e4 for the very unlikely class
    np.testing.assert_allclose(log_y[0, 1], -2e4 - np.log1p(np.exp(-1.0)), rtol=1e-6)
    np.testing.assert_allclose(log_y[0, 0], -np.log1p(np.exp(-1.0)), rtol=1e-5)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid", "tanh"])
def test_dense_forward_and_backward_finite_on_huge_preactivations(activation):
    layer = Dense(4, activation=activation, seed=0)
    x = np.array([[1e4, -1e4, 5e3], [-1e4, 1e4, 0.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = layer(x, training=True)
        dx = layer.backward(np.ones_like(y))
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    assert all(np.isfinite(g).all() for g in layer.get_gradients())


@pytest.mark.parametrize("loss", [losses.CategoricalCrossentropy(from_logits=True),
                                  losses.SparseCategoricalCrossentropy(from_logits=True),
                                  losses.BinaryCrossentropy(from_logits=True),
                                  losses.CategoricalCrossentropy(), losses.BinaryCrossentropy()])
def test_crossentropies_finite_on_extreme_predictions(loss):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], np.float32)
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        y_true = np.array([1, 0])
    else:
        y_true = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    y_pred = logits if loss.from_logits else np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
    value, grad = loss.value_and_gradient(y_true, y_pred)
    assert np.isfinite(value) and np.isfinite(grad).all(), (value, grad)
    if loss.from_logits and not isinstance(loss, losses.BinaryCrossentropy):
        assert value > 1e3  # the wrong class wins by 2e4: a large, finite loss, not a clipped one


def _long_run(cell, time, batch=4, features=3, backprop_segment=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, time, features)).astype(cell.dtype)
    out, final, cache = cell.forward(x, backprop_segment=backprop_segment)
    g = rng.standard_normal(out.shape).astype(cell.dtype) / time
    dx, d_state0, grads = cell.backward(g, None, cache)
    return out, final, dx, d_state0, grads


@pytest.mark.parametrize("make_cell", [lambda: LSTMCell(16, seed=0), lambda: GRUCell(16, seed=0),
                                       lambda: LSTMCell(8, use_peepholes=True, num_proj=4, seed=1),
                                       lambda: SimpleRNNCell(16, seed=0)],
                         ids=["lstm", "gru", "lstm_peephole_proj", "simple_rnn"])
def test_ten_thousand_steps_forward_and_backward_stay_finite(make_cell):
    cell = make_cell()
    with np.errstate(over="raise", invalid="raise"):
        out, final, dx, d_state0, grads = _long_run(cell, 10_000)
    arrays = [out, *final, dx, *d_state0, *grads]
    assert all(np.isfinite(a).all() for a in arrays)
    if getattr(cell, "num_proj", None) is None:  # every output is a tanh (times a gate): |h| <= 1
        assert np.abs(out).max() <= 1.0 + 1e-6
    # a gradient that reaches the weights at all (not vanished to exactly zero everywhere)
    assert all(np.abs(g).max() > 0 for g in grads)


def test_ten_thousand_steps_with_large_weights_and_inputs():
    """Saturating gates (weights ×50, inputs ×100) must saturate, not overflow."""
    cell = LSTMCell(8, seed=0)
    cell.build(3)
    cell.set_weights([w * 50 for w in cell.get_weights()])
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((2, 10_000, 3)) * 100).astype(np.float32)
    with np.errstate(over="raise", invalid="raise"):
        out, _, cache = cell.forward(x)
        dx, ds, grads = cell.backward(rng.standard_normal(out.shape).astype(np.float32), None, cache)
    assert np.isfinite(out).all() and np.isfinite(dx).all() and all(np.isfinite(g).all() for g in grads)


def test_ten_thousand_steps_checkpointed_equals_plain():
    cell = GRUCell(8, dtype="float64", seed=0)
    plain = _long_run(cell, 10_000, batch=2)
    seg = _long_run(cell, 10_000, batch=2, backprop_segment=100)
    np.testing.assert_allclose(seg[0], plain[0], atol=1e-12)
    np.testing.assert_allclose(seg[2], plain[2], atol=1e-12)
    for a, b in zip(seg[4], plain[4]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
