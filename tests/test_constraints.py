"""rnnkit.constraints: Keras 3's projections, names, configs and named errors."""
import numpy as np
import pytest

from keras_reference import keras_or_skip
from rnnkit import constraints as C
from rnnkit.errors import RnnkitValueError

CASES = [C.MaxNorm(), C.MaxNorm(0.7, axis=1), C.MaxNorm(1.5, axis=[0, 1]), C.NonNeg(), C.UnitNorm(),
         C.UnitNorm(axis=1), C.MinMaxNorm(), C.MinMaxNorm(0.5, 0.8, rate=0.3, axis=1)]


@pytest.fixture(scope="module")
def keras():
    return keras_or_skip()


def test_projections_by_hand():
    w = np.array([[3.0, 0.1], [4.0, 0.0]], np.float32)  # column norms 5 and 0.1
    np.testing.assert_allclose(C.MaxNorm(2)(w), [[1.2, 0.1], [1.6, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(C.UnitNorm()(w), axis=0), [1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(C.MinMaxNorm(1.0, 2.0)(w), axis=0), [2.0, 1.0], rtol=1e-5)
    np.testing.assert_array_equal(C.NonNeg()(np.array([-1.0, 2.0])), [0.0, 2.0])


@pytest.mark.parametrize("constraint", CASES, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_keras(keras, constraint, dtype):
    w = np.random.default_rng(0).normal(size=(5, 4)).astype(dtype) * 2
    kcon = keras.constraints.get({"class_name": type(constraint).__name__, "config": constraint.get_config()})
    expected = keras.ops.convert_to_numpy(kcon(keras.ops.convert_to_tensor(w)))
    got = constraint(w)
    assert got.dtype == w.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_names_defaults_and_configs():
    assert C.get("max_norm").get_config() == {"max_value": 2, "axis": 0}
    assert C.get("min_max_norm").get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    assert C.get("unit_norm").get_config() == {"axis": 0}
    assert isinstance(C.get("non_neg"), C.NonNeg) and isinstance(C.get("NonNeg"), C.NonNeg)
    assert C.get(None) is None
    for constraint in CASES:
        back = C.deserialize(C.serialize(constraint))
        assert type(back) is type(constraint) and back.get_config() == constraint.get_config()
    keras_form = {"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 3, "axis": 1},
                  "registered_name": None}
    assert C.get(keras_form).get_config() == {"max_value": 3, "axis": 1}
    clip = C.get(lambda w: np.clip(w, -1, 1))  # any function w -> w' works as a constraint (not saveable)
    np.testing.assert_array_equal(clip(np.array([3.0])), [1.0])


@pytest.mark.parametrize("call, match", [
    (lambda: C.MaxNorm(-1), "max_value must be a finite number"),
    (lambda: C.MinMaxNorm(2.0, 1.0), "min_value must be <= max_value"),
    (lambda: C.MinMaxNorm(rate=1.5), "rate must be a finite number in \\[0, 1\\]"),
    (lambda: C.UnitNorm(axis="rows"), "axis must be an int or a list of ints"),
    (lambda: C.get("max_norms"), "constraint must be one of"),
    (lambda: C.get({"class_name": "Clip", "config": {}}), "unknown constraint class_name 'Clip'"),
    (lambda: C.MaxNorm(axis=2).check_shape((3, 4), "weight dense/kernel"), "does not fit a weight of shape"),
])
def test_bad_input_is_a_named_value_error(call, match):
    with pytest.raises(RnnkitValueError, match=match):
        call()
