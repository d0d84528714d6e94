import numpy as np
import pytest

from helpers import numeric_grad, rel_error
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.layers import Dense
from rnnkit.ops.softmax import log_softmax, log_softmax_backward, softmax, softmax_backward


def test_parameter_counts_match_keras():
    a = Dense(64)
    a.build((None, 64))
    b = Dense(5, activation="softmax")
    b.build((None, 3))
    assert a.count_params() == 4160
    assert b.count_params() == 20
    assert [w.shape for w in b.get_weights()] == [(3, 5), (5,)]


def test_softmax_is_stable_and_normalised():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    y = softmax(z)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(-1), 1.0)
    np.testing.assert_allclose(y[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(y[1], [1 / 3] * 3)
    ly = log_softmax(z)
    assert np.all(np.isfinite(ly))
    np.testing.assert_allclose(ly[0], [0.0, -2e4, -1e4])


@pytest.mark.parametrize("fn,back", [(softmax, softmax_backward), (log_softmax, log_softmax_backward)])
def test_softmax_vector_jacobian_products(fn, back):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 3, 4))
    g = rng.standard_normal((2, 3, 4))
    analytic = back(fn(z), g)
    numeric = numeric_grad(lambda: float(np.sum(fn(z) * g)), z)
    assert rel_error(analytic, numeric) < 1e-8


def test_dense_on_any_rank_and_shapes():
    layer = Dense(4, activation="relu", seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6)).astype(np.float32)
    y = layer(x)
    assert y.shape == (2, 3, 5, 4) == layer.compute_output_shape(x.shape)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, np.maximum(x @ layer.kernel.value + layer.bias.value, 0), rtol=1e-6)
    mask = np.ones((2, 3), bool)
    assert layer.compute_mask(x, mask) is mask


def test_dense_input_and_weight_errors():
    layer = Dense(3, name="head")
    with pytest.raises(RnnkitValueError, match="needs a forward call first"):
        layer.backward(np.zeros((1, 3)))
    with pytest.raises(RnnkitValueError, match=r"inputs of layer 'head' must have rank >= 2, got array of shape \(4,\)"):
        layer(np.zeros(4, np.float32))
    with pytest.raises(RnnkitTypeError, match="floating dtype"):
        layer(np.zeros((2, 4), np.int64))
    with pytest.raises(RnnkitValueError, match="not built"):
        layer.count_params()
    layer(np.zeros((2, 4), np.float32))
    with pytest.raises(RnnkitValueError, match=r"'head' must have 4 features.*\(2, 5\)"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(RnnkitValueError, match=r"head/kernel has shape \(4, 3\), got an array of shape \(3, 3\)"):
        layer.set_weights([np.zeros((3, 3)), np.zeros(3)])
    with pytest.raises(RnnkitValueError, match="expects 2 arrays"):
        layer.set_weights([np.zeros((4, 3))])
    with pytest.raises(RnnkitValueError, match="activation must be one of"):
        Dense(3, activation="softmaxx")
