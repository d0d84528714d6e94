"""The shared layer check on Dropout, Masking, TimeDistributed, Flatten, Activation; Embedding's own checks."""
import numpy as np
import pytest

from helpers import numeric_grad, rel_error
from layer_checks import check_layer
from rnnkit import Sequential, layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError


@pytest.mark.parametrize("cls,kwargs,shape,training", [
    (layers.Dropout, {"rate": 0.4, "seed": 1}, (3, 4, 5), True),
    (layers.Dropout, {"rate": 0.4, "noise_shape": (None, 1, 5), "seed": 1}, (3, 4, 5), True),
    (layers.Masking, {"mask_value": 0.0}, (3, 4, 5), False),
    (layers.Flatten, {}, (3, 4, 5), False),
    (layers.Activation, {"activation": "tanh"}, (3, 4, 5), False),
    (layers.Activation, {"activation": "softmax"}, (3, 4, 5), False),
])
def test_shared_check(cls, kwargs, shape, training):
    check_layer(cls, kwargs, shape, training=training)


def test_time_distributed_dense():
    inner = layers.Dense(3, activation="relu", seed=2, dtype="float64")
    errors = check_layer(layers.TimeDistributed, {"layer": inner}, (2, 4, 5))
    assert set(errors) == {"inputs", inner.kernel.name, inner.bias.name}


def test_dropout_mask_and_scale():
    layer = layers.Dropout(0.5, seed=0)
    x = np.ones((200, 10), np.float32)
    y = layer(x, training=True)
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < (y == 0).mean() < 0.6
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_masking_skips_padded_steps_in_the_next_recurrent_layer():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    padded = x.copy()
    padded[1, 3:] = 0.0
    model = Sequential([layers.Masking(0.0, input_shape=(5, 3)), layers.LSTM(4, seed=0)])
    short = Sequential([layers.LSTM(4, seed=0, input_shape=(3, 3))])
    short.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(padded)[1], short.predict(x[1:2, :3])[0], rtol=1e-6)


def test_embedding_gradient_and_mask():
    rng = np.random.default_rng(0)
    layer = layers.Embedding(6, 3, mask_zero=True, dtype="float64", seed=0)
    ids = np.array([[1, 2, 2, 0], [5, 0, 0, 0]])
    out = layer(ids)
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    upstream = rng.standard_normal(out.shape)
    assert layer.backward(upstream) is None
    numeric = numeric_grad(lambda: float(np.sum(layer(ids) * upstream)), layer.embeddings.value)
    assert rel_error(layer.get_gradients()[0], numeric) < 1e-9
    assert layers.Embedding.from_config(layer.get_config()).get_config() == layer.get_config()


def test_embedding_refuses_bad_ids():
    layer = layers.Embedding(4, 2)
    with pytest.raises(RnnkitValueError, match=r"ids in \[0, 4\), got 7 at index \(0, 1\)"):
        layer(np.array([[1, 7]]))
    with pytest.raises(RnnkitTypeError, match="integer ids"):
        layer(np.array([[0.5, 1.0]]))
