"""rnnkit.regularizers: Keras 3's formulas and defaults, gradients against finite differences, names,
configs and named errors."""
import numpy as np
import pytest

from helpers import numeric_grad, rel_error
from keras_reference import keras_or_skip
from rnnkit import regularizers as R
from rnnkit.errors import RnnkitTypeError, RnnkitValueError

ALL = [R.L1(0.03), R.L2(0.02), R.L1L2(0.01, 0.05), R.OrthogonalRegularizer(0.1),
       R.OrthogonalRegularizer(0.2, mode="columns")]


@pytest.fixture(scope="module")
def keras():
    return keras_or_skip()


def _away_from_zero(shape, seed):
    """Entries with |x| >= 0.1, so the L1 kink at 0 is never within a finite-difference step."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 1.0, shape) * rng.choice([-1.0, 1.0], shape)
    return x


def test_formulas_by_hand():
    x = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert R.L1(0.5)(x) == pytest.approx(0.5 * 6)
    assert R.L2(0.5)(x) == pytest.approx(0.5 * 14)  # no 1/2 factor: Keras's formula
    assert R.L1L2(0.1, 0.2)(x) == pytest.approx(0.6 + 2.8)
    # two orthogonal unit rows: no penalty; parallel rows: factor * 0.5 * 2 * 1 / 1
    assert R.OrthogonalRegularizer(0.3)(np.eye(2)) == pytest.approx(0.0)
    assert R.OrthogonalRegularizer(0.3)(np.array([[1.0, 0.0], [2.0, 0.0]])) == pytest.approx(0.3)


@pytest.mark.parametrize("regularizer", ALL, ids=repr)
def test_gradient_matches_finite_differences(regularizer):
    x = _away_from_zero((5, 4), seed=1)
    err = rel_error(regularizer.gradient(x), numeric_grad(lambda: regularizer(x), x))
    assert err < 1e-6, err


def test_l1_gradient_is_zero_at_zero_like_keras():
    assert np.all(R.L1(0.1).gradient(np.zeros(3)) == 0)


def test_orthogonal_zero_row_is_left_alone():
    x = _away_from_zero((4, 3), seed=2)
    x[1] = 0.0
    reg = R.OrthogonalRegularizer(0.5)
    assert np.isfinite(reg(x)) and np.all(np.isfinite(reg.gradient(x)))


@pytest.mark.parametrize("regularizer", ALL, ids=repr)
def test_values_match_keras(keras, regularizer):
    x = _away_from_zero((6, 4), seed=3).astype(np.float32)
    kreg = keras.regularizers.get({"class_name": type(regularizer).__name__, "config": regularizer.get_config()})
    expected = float(keras.ops.convert_to_numpy(kreg(keras.ops.convert_to_tensor(x))))
    assert regularizer(x) == pytest.approx(expected, rel=1e-5)


def test_string_names_and_defaults():
    assert R.get("l1").get_config() == {"l1": 0.01}
    assert R.get("l2").get_config() == {"l2": 0.01}
    assert R.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}  # as Keras documents the string
    assert R.get("L1L2").get_config() == {"l1": 0.0, "l2": 0.0}  # Keras 3's class default
    assert R.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert isinstance(R.get("orthogonal_regularizer"), R.OrthogonalRegularizer)
    assert isinstance(R.get("L2"), R.L2)
    assert R.get(None) is None
    assert isinstance(R.get(R.L1), R.L1)
    reg = R.L2(0.3)
    assert R.get(reg) is reg
    assert R.l1_l2 is R.L1L2 and R.l1 is R.L1 and R.l2 is R.L2


def test_config_round_trip_and_keras_form():
    for reg in ALL:
        back = R.deserialize(R.serialize(reg))
        assert type(back) is type(reg) and back.get_config() == reg.get_config()
    keras_form = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.1}, "registered_name": None}
    assert R.get(keras_form).get_config() == {"l2": 0.1}
    assert R.serialize(None) is None


def test_keras_regularizer_strings_match(keras):
    for name in ("l1", "l2", "L1L2", "l1l2", "orthogonal_regularizer"):
        mine, theirs = R.get(name).get_config(), keras.regularizers.get(name).get_config()
        assert mine.keys() == theirs.keys()
        assert all(mine[k] == pytest.approx(theirs[k]) if isinstance(mine[k], float) else mine[k] == theirs[k]
                   for k in mine)


@pytest.mark.parametrize("call, match", [
    (lambda: R.L1(-0.1), "l1 must be a finite number >= 0"),
    (lambda: R.L2(float("nan")), "l2 must be a finite number >= 0"),
    (lambda: R.L1L2(l1="a"), "l1 must be"),
    (lambda: R.OrthogonalRegularizer(mode="diagonal"), "mode"),
    (lambda: R.get("l3"), "regularizer must be one of"),
    (lambda: R.get({"class_name": "Nope", "config": {}}), "unknown regularizer class_name 'Nope'"),
    (lambda: R.get({"config": {}}), "'class_name'"),
    (lambda: R.OrthogonalRegularizer()(np.ones(3)), "rank 2"),
    (lambda: R.OrthogonalRegularizer()(np.ones((1, 3))), "at least 2 rows"),
])
def test_bad_input_is_a_named_value_error(call, match):
    with pytest.raises(RnnkitValueError, match=match):
        call()


def test_a_regularizer_without_gradient_is_refused():
    class Penalty(R.Regularizer):
        def __call__(self, x):
            return float(np.sum(x ** 4))

    with pytest.raises(RnnkitTypeError, match="no gradient"):
        R.get(Penalty())
    with pytest.raises(RnnkitTypeError, match="no gradient"):
        R.get(lambda x: 0.01 * np.sum(x ** 2))  # Keras accepts a function; here its gradient is missing
    with pytest.raises(RnnkitTypeError, match="must be a name"):
        R.get(3)


class Quartic(R.Regularizer):
    """A user's regularizer: k · Σ x⁴ with its gradient (test_saving_registration registers it too)."""

    def __init__(self, k=0.1):
        self.k = k

    def __call__(self, x):
        return float(self.k * np.sum(x ** 4))

    def gradient(self, x):
        return 4 * self.k * x ** 3

    def get_config(self):
        return {"k": self.k}


def test_a_custom_regularizer_with_gradient_is_taken():
    reg = R.get(Quartic(0.2))
    x = _away_from_zero((3, 2), seed=4)
    assert rel_error(reg.gradient(x), numeric_grad(lambda: reg(x), x)) < 1e-6
