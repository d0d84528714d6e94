"""SpatialDropout1D and GaussianNoise: the shared layer check in training (float64 finite differences
with the noise held fixed by the seed), what the noise looks like, inference is the identity as in
Keras 3, seeds, configs and errors."""
import numpy as np
import pytest

from keras_compare import compare_with_keras, import_keras
from layer_checks import check_layer
from rnnkit import layers
from rnnkit.errors import RnnkitValueError


@pytest.mark.parametrize("cls,kwargs", [(layers.SpatialDropout1D, {"rate": 0.4, "seed": 1}),
                                        (layers.GaussianNoise, {"stddev": 0.3, "seed": 1})])
@pytest.mark.parametrize("training", [True, False])
def test_shared_check(cls, kwargs, training):
    check_layer(cls, kwargs, (3, 4, 5), training=training)


def test_spatial_dropout_drops_whole_channels():
    layer = layers.SpatialDropout1D(0.5, seed=0)
    y = layer(np.ones((64, 7, 8), np.float32), training=True)
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert np.all(y == y[:, :1, :])  # one draw per (sample, channel), shared by every step
    assert 0.4 < (y[:, 0] == 0).mean() < 0.6
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)


def test_gaussian_noise_statistics_and_seed():
    x = np.zeros((200, 50), np.float32)
    y = layers.GaussianNoise(0.2, seed=3)(x, training=True)
    assert abs(y.std() - 0.2) < 0.01 and abs(y.mean()) < 0.01
    np.testing.assert_array_equal(y, layers.GaussianNoise(0.2, seed=3)(x, training=True))
    assert not np.array_equal(y, layers.GaussianNoise(0.2, seed=4)(x, training=True))
    upstream = np.random.default_rng(0).standard_normal(x.shape)
    layer = layers.GaussianNoise(0.2, seed=3)
    layer(x, training=True)
    np.testing.assert_array_equal(layer.backward(upstream), upstream.astype(np.float32))


@pytest.mark.parametrize("cls,kwargs", [(layers.SpatialDropout1D, {"rate": 0.4}),
                                        (layers.GaussianNoise, {"stddev": 0.3})])
def test_inference_matches_keras_and_config(cls, kwargs):
    keras = import_keras()
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    klayer = getattr(keras.layers, cls.__name__)(**kwargs)
    errors = compare_with_keras(cls(**kwargs), klayer, x)
    assert max(errors.values()) == 0.0, errors
    config, keras_config = cls(**kwargs).get_config(), klayer.get_config()
    assert set(keras_config) - {"dtype", "name"} <= set(config)
    assert "noise_shape" not in config


def test_errors():
    with pytest.raises(RnnkitValueError, match="rate must be a number in"):
        layers.SpatialDropout1D(1.5)
    with pytest.raises(RnnkitValueError, match="rank 3"):
        layers.SpatialDropout1D(0.5)(np.zeros((2, 3), np.float32))
    with pytest.raises(RnnkitValueError, match=r"stddev must be a number in \[0, 1\]"):
        layers.GaussianNoise(2.0)
    with pytest.raises(RnnkitValueError, match="needs a forward call first"):
        layers.GaussianNoise(0.1).backward(np.zeros((2, 3), np.float32))
