"""RepeatVector, Reshape, Permute: the shared layer check, output shapes with an unknown batch,
parity with Keras 3 (outputs and gradients), errors."""
import numpy as np
import pytest

from keras_compare import compare_with_keras, import_keras
from layer_checks import check_layer
from multi_layer_checks import check_output_shape
from rnnkit import layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError

CASES = [
    (layers.RepeatVector, {"n": 3}, (2, 4)),
    (layers.Reshape, {"target_shape": (3, 4)}, (2, 12)),
    (layers.Reshape, {"target_shape": (-1, 2)}, (2, 3, 4)),
    (layers.Reshape, {"target_shape": (12,)}, (2, 3, 4)),
    (layers.Permute, {"dims": (2, 1)}, (2, 3, 4)),
    (layers.Permute, {"dims": (3, 1, 2)}, (2, 3, 4, 5)),
]


@pytest.mark.parametrize("cls,kwargs,shape", CASES)
def test_shared_check_and_output_shape(cls, kwargs, shape):
    check_layer(cls, kwargs, shape)
    layer = cls(**kwargs)
    check_output_shape(layer, shape, layer(np.zeros(shape, np.float32)))


@pytest.mark.parametrize("cls,kwargs,shape", CASES)
def test_match_keras(cls, kwargs, shape):
    keras = import_keras()
    x = np.random.default_rng(0).standard_normal(shape)
    errors = compare_with_keras(cls(**kwargs), getattr(keras.layers, cls.__name__)(**kwargs), x)
    assert max(errors.values()) < 1e-5, errors
    unknown = (None,) + shape[1:]
    assert cls(**kwargs).compute_output_shape(unknown) == \
        getattr(keras.layers, cls.__name__)(**kwargs).compute_output_shape(unknown)


def test_reshape_with_unknown_axes():
    assert layers.Reshape((-1, 2)).compute_output_shape((None, None, 4)) == (None, None, 2)
    assert layers.Reshape((-1, 2)).compute_output_shape((None, 3, 4)) == (None, 6, 2)


def test_errors():
    with pytest.raises(RnnkitTypeError, match="n must be an int"):
        layers.RepeatVector(2.0)
    with pytest.raises(RnnkitValueError, match="n must be a positive integer"):
        layers.RepeatVector(0)
    with pytest.raises(RnnkitValueError, match="rank 2"):
        layers.RepeatVector(2)(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(RnnkitValueError, match="at most one -1"):
        layers.Reshape((-1, -1))
    with pytest.raises(RnnkitTypeError, match="target_shape must be a tuple"):
        layers.Reshape(3)
    with pytest.raises(RnnkitValueError, match="must have 10 entries per sample"):
        layers.Reshape((2, 5))(np.zeros((2, 12), np.float32))
    with pytest.raises(RnnkitValueError, match="cannot hold"):
        layers.Reshape((-1, 5))(np.zeros((2, 12), np.float32))
    with pytest.raises(RnnkitValueError, match="permutation"):
        layers.Permute((0, 1))
    with pytest.raises(RnnkitValueError, match="rank 3"):
        layers.Permute((2, 1))(np.zeros((2, 3), np.float32))
