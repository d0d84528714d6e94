"""Conv1D: the shared layer check (float64 finite differences on the input, kernel and bias) over
paddings, strides, dilations, groups, data formats and activations; parity with Keras 3 on outputs
and gradients with the same weights; output shapes; errors."""
import numpy as np
import pytest

from keras_compare import compare_with_keras, import_keras
from layer_checks import check_layer
from multi_layer_checks import check_output_shape
from rnnkit import layers
from rnnkit.errors import RnnkitValueError

CASES = [
    ({"filters": 3, "kernel_size": 2}, (2, 6, 4)),
    ({"filters": 3, "kernel_size": 3, "padding": "same"}, (2, 6, 4)),
    ({"filters": 3, "kernel_size": 4, "padding": "same", "strides": 2}, (2, 7, 4)),
    ({"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 7, 4)),
    ({"filters": 2, "kernel_size": 3, "strides": 3}, (2, 8, 3)),
    ({"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same", "activation": "tanh"}, (2, 5, 6)),
    ({"filters": 3, "kernel_size": 2, "data_format": "channels_first", "activation": "relu"}, (2, 4, 6)),
    ({"filters": 3, "kernel_size": 2, "use_bias": False, "activation": "softmax"}, (2, 5, 3)),
    ({"filters": 2, "kernel_size": 5, "padding": "same", "dilation_rate": 2}, (2, 4, 3)),
]


@pytest.mark.parametrize("kwargs,shape", CASES)
def test_gradients_and_output_shape(kwargs, shape):
    check_layer(layers.Conv1D, dict(kwargs, seed=1, bias_initializer="random_normal"), shape)
    layer = layers.Conv1D(**kwargs)
    check_output_shape(layer, shape, layer(np.zeros(shape, np.float32)))


@pytest.mark.parametrize("kwargs,shape", CASES)
def test_matches_keras(kwargs, shape):
    keras = import_keras()
    rng = np.random.default_rng(0)
    layer = layers.Conv1D(**kwargs, bias_initializer="random_normal", seed=2)
    klayer = keras.layers.Conv1D(**kwargs)
    errors = compare_with_keras(layer, klayer, rng.standard_normal(shape))
    assert max(errors.values()) < 1e-5, errors
    unknown = (None,) + shape[1:]
    assert layer.compute_output_shape(unknown) == klayer.compute_output_shape(unknown)
    config, keras_config = layer.get_config(), klayer.get_config()
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
                "activation", "use_bias"):
        assert config[key] == keras_config[key], key


def test_causal_output_sees_only_the_past():
    layer = layers.Conv1D(2, 3, padding="causal", dilation_rate=2, seed=0)
    x = np.random.default_rng(0).standard_normal((1, 9, 3)).astype(np.float32)
    changed = x.copy()
    changed[:, 5:] += 1.0
    np.testing.assert_array_equal(layer(x)[:, :5], layer(changed)[:, :5])


def test_weights_like_keras_and_unknown_length():
    layer = layers.Conv1D(8, 3, groups=2)
    layer(np.zeros((1, 5, 4), np.float32))
    assert [w.shape for w in layer.weights] == [(3, 2, 8), (8,)]
    assert layer.count_params() == 3 * 2 * 8 + 8
    assert layer.compute_output_shape((None, None, 4)) == (None, None, 8)


def test_errors():
    with pytest.raises(RnnkitValueError, match="filters must be a positive integer"):
        layers.Conv1D(0, 3)
    with pytest.raises(RnnkitValueError, match="kernel_size must be an int"):
        layers.Conv1D(2, (3, 3))
    with pytest.raises(RnnkitValueError, match="padding must be one of"):
        layers.Conv1D(2, 3, padding="full")
    with pytest.raises(RnnkitValueError, match="cannot be combined"):
        layers.Conv1D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(RnnkitValueError, match="divisible by groups"):
        layers.Conv1D(3, 3, groups=2)
    with pytest.raises(RnnkitValueError, match="must be divisible by groups=2"):
        layers.Conv1D(4, 3, groups=2)(np.zeros((1, 5, 3), np.float32))
    with pytest.raises(RnnkitValueError, match="too short"):
        layers.Conv1D(2, 4)(np.zeros((1, 3, 2), np.float32))
    with pytest.raises(RnnkitValueError, match="data_format must be one of"):
        layers.Conv1D(2, 3, data_format="NWC")
    layer = layers.Conv1D(2, 2, data_format="channels_first")
    layer(np.zeros((1, 3, 5), np.float32))
    with pytest.raises(RnnkitValueError, match="must have 3 channels"):
        layer(np.zeros((1, 4, 5), np.float32))
