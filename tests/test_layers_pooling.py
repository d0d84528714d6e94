"""MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D: the shared layer check
(float64 finite differences), masks, parity with Keras 3 on outputs and gradients, output shapes."""
import numpy as np
import pytest

from helpers import numeric_grad, rel_error
from keras_compare import compare_with_keras, import_keras
from layer_checks import check_layer
from multi_layer_checks import check_output_shape
from rnnkit import layers
from rnnkit.errors import RnnkitValueError

POOL_CASES = [
    (layers.MaxPooling1D, {}, (2, 6, 3)),
    (layers.MaxPooling1D, {"pool_size": 3, "strides": 1}, (2, 6, 3)),
    (layers.MaxPooling1D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 3)),
    (layers.MaxPooling1D, {"pool_size": 2, "padding": "same"}, (2, 7, 3)),
    (layers.MaxPooling1D, {"pool_size": 4, "strides": 1, "padding": "same"}, (2, 7, 3)),  # padding (1, 2)
    (layers.MaxPooling1D, {"data_format": "channels_first"}, (2, 3, 6)),
    (layers.AveragePooling1D, {"pool_size": 2}, (2, 6, 3)),
    (layers.AveragePooling1D, {"pool_size": 3, "strides": 1}, (2, 6, 3)),
    (layers.AveragePooling1D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 3)),
    (layers.AveragePooling1D, {"pool_size": 2, "padding": "same"}, (2, 7, 3)),
    (layers.AveragePooling1D, {"pool_size": 4, "strides": 1, "padding": "same"}, (2, 7, 3)),  # padding (1, 2)
    (layers.AveragePooling1D, {"pool_size": 3, "data_format": "channels_first"}, (2, 3, 6)),
]
# Keras 3.15's torch backend pads asymmetric "same" windows by replicating the edge, which changes an
# average; rnnkit follows TensorFlow (padding never counts): the slow test compares those with TensorFlow.
ASYMMETRIC = [c for c in POOL_CASES if c[0] is layers.AveragePooling1D and c[1].get("pool_size") == 4]

GLOBAL_CASES = [
    (layers.GlobalAveragePooling1D, {}),
    (layers.GlobalAveragePooling1D, {"keepdims": True}),
    (layers.GlobalAveragePooling1D, {"data_format": "channels_first"}),
    (layers.GlobalMaxPooling1D, {}),
    (layers.GlobalMaxPooling1D, {"keepdims": True, "data_format": "channels_first"}),
]


@pytest.mark.parametrize("cls,kwargs,shape", POOL_CASES)
def test_pooling_gradients_and_output_shape(cls, kwargs, shape):
    check_layer(cls, kwargs, shape)
    layer = cls(**kwargs) if kwargs.get("pool_size") or cls is layers.MaxPooling1D else cls(2)
    check_output_shape(layer, shape, layer(np.zeros(shape, np.float32)))


@pytest.mark.parametrize("cls,kwargs,shape", [c for c in POOL_CASES if c not in ASYMMETRIC])
def test_pooling_matches_keras(cls, kwargs, shape):
    keras = import_keras()
    x = np.random.default_rng(0).standard_normal(shape)
    klayer = getattr(keras.layers, cls.__name__)(**kwargs)
    errors = compare_with_keras(cls(**kwargs), klayer, x)
    assert max(errors.values()) < 1e-5, errors
    assert cls(**kwargs).compute_output_shape((None,) + shape[1:]) == klayer.compute_output_shape((None,) + shape[1:])
    assert cls(**kwargs).get_config()["strides"] == klayer.get_config()["strides"]


@pytest.mark.slow
@pytest.mark.parametrize("cls,kwargs,shape", ASYMMETRIC)
def test_pooling_matches_keras_tensorflow(cls, kwargs, shape, tmp_path):
    from keras_compare import compare_with_keras_tensorflow

    x = np.random.default_rng(0).standard_normal(shape)
    errors = compare_with_keras_tensorflow(cls(**kwargs), cls.__name__, kwargs, x, tmp_path)
    assert max(errors.values()) < 1e-5, errors


def test_same_average_padding_never_counts():
    x = np.arange(1.0, 6.0, dtype=np.float32).reshape(1, 5, 1)
    y = layers.AveragePooling1D(4, strides=1, padding="same")(x)[0, :, 0]
    np.testing.assert_allclose(y, [2.0, 2.5, 3.5, 4.0, 4.5])  # windows [-,1,2,3], [1..4], [2..5], [3,4,5,-], [4,5,-,-]


@pytest.mark.parametrize("cls,kwargs", GLOBAL_CASES)
@pytest.mark.parametrize("mask", [False, True])
def test_global_pooling_gradients(cls, kwargs, mask):
    # a batch of 2: check_layer's masks then have no sample without steps (whose mean is NaN, as Keras)
    shape = (2, 5, 3) if mask else (4, 5, 3)
    if mask and kwargs.get("data_format") == "channels_first":
        return  # check_layer draws (B, shape[1]) masks; channels_first masks are (B, steps = shape[2])
    check_layer(cls, kwargs, shape, mask=mask and cls is layers.GlobalAveragePooling1D)
    layer = cls(**kwargs)
    check_output_shape(layer, shape, layer(np.zeros(shape, np.float32)))


def test_global_average_masked_channels_first_gradients():
    rng = np.random.default_rng(0)
    mask = rng.random((3, 6)) > 0.4
    mask[:, 0] = True
    layer = layers.GlobalAveragePooling1D(data_format="channels_first", dtype="float64")
    x = rng.standard_normal((3, 4, 6))
    upstream = rng.standard_normal((3, 4))
    layer(x, mask=mask)
    dx = layer.backward(upstream)
    assert rel_error(dx, numeric_grad(lambda: float(np.sum(layer(x, mask=mask) * upstream)), x)) < 1e-6


@pytest.mark.parametrize("cls,kwargs,masked", [(c, k, m) for c, k in GLOBAL_CASES for m in (False, True)
                                                if not (m and c is layers.GlobalMaxPooling1D)])  # Keras: no mask
def test_global_pooling_matches_keras(cls, kwargs, masked):
    keras = import_keras()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 3))
    steps = x.shape[2] if kwargs.get("data_format") == "channels_first" else x.shape[1]
    mask = None
    if masked:
        mask = rng.random((4, steps)) > 0.4
        mask[:, 0] = True
    klayer = getattr(keras.layers, cls.__name__)(**kwargs)
    errors = compare_with_keras(cls(**kwargs), klayer, x, masks=mask)
    assert max(errors.values()) < 1e-5, errors
    assert cls(**kwargs).compute_output_shape((None, 5, 3)) == klayer.compute_output_shape((None, 5, 3))


def test_global_average_mask_and_empty_row():
    x = np.array([[[1.0], [3.0], [100.0]], [[1.0], [2.0], [3.0]]], np.float32)
    mask = np.array([[True, True, False], [False, False, False]])
    layer = layers.GlobalAveragePooling1D()
    y = layer(x, mask=mask)
    assert y[0, 0] == 2.0 and np.isnan(y[1, 0])  # 0/0 as Keras
    assert layer.compute_mask(x, mask) is None


def test_errors():
    with pytest.raises(RnnkitValueError, match="padding must be one of"):
        layers.MaxPooling1D(padding="causal")
    with pytest.raises(RnnkitValueError, match="pool_size must be an int"):
        layers.AveragePooling1D(0)
    with pytest.raises(RnnkitValueError, match="too short"):
        layers.MaxPooling1D(4)(np.zeros((1, 3, 2), np.float32))
    with pytest.raises(RnnkitValueError, match="rank 3"):
        layers.GlobalMaxPooling1D()(np.zeros((2, 3), np.float32))
    with pytest.raises(RnnkitValueError, match=r"mask of layer .* \(batch, steps\)"):
        layers.GlobalAveragePooling1D()(np.zeros((2, 3, 4), np.float32), mask=np.ones((2, 4), bool))
