import numpy as np
import pytest

from helpers import cell_gradient_errors, random_mask, step_loop_errors
from rnnkit.cells import SimpleRNNCell
from rnnkit.errors import RnnkitValueError

ACTIVATIONS = ["tanh", "relu", "sigmoid", "linear"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("outputs_loss", [True, False])
def test_gradients_match_finite_differences(activation, masked, outputs_loss):
    rng = np.random.default_rng(1)
    cell = SimpleRNNCell(4, activation=activation, dtype="float64", seed=3)
    x = rng.standard_normal((3, 5, 2))
    mask = random_mask(rng, 3, 5) if masked else None
    errors = cell_gradient_errors(cell, x, mask=mask, outputs_loss=outputs_loss)
    assert max(errors.values()) < 1e-6, errors


def test_zero_output_for_mask_gradients():
    rng = np.random.default_rng(2)
    cell = SimpleRNNCell(3, dtype="float64", seed=0)
    x = rng.standard_normal((3, 6, 2))
    errors = cell_gradient_errors(cell, x, mask=random_mask(rng, 3, 6), zero_output_for_mask=True)
    assert max(errors.values()) < 1e-6, errors


def test_no_bias_gradients():
    cell = SimpleRNNCell(3, use_bias=False, dtype="float64", seed=0)
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    errors = cell_gradient_errors(cell, x)
    assert cell.weight_names == ["kernel", "recurrent_kernel"]
    assert max(errors.values()) < 1e-6, errors


def test_step_loop_equals_sequence_forward_and_backward():
    rng = np.random.default_rng(4)
    cell = SimpleRNNCell(5, dtype="float64", seed=1)
    x = rng.standard_normal((2, 6, 3))
    errors = step_loop_errors(cell, x, (rng.standard_normal((2, 5)),))
    assert max(errors.values()) < 1e-12, errors


def test_tutorial_hand_computed_step():
    # One-hot "b", kernel row for b = [-2.3, 0.8, 1.1], bias [0.5, 0.3, -0.2], zero state.
    cell = SimpleRNNCell(3, dtype="float64")
    cell.build(5)
    kernel = np.zeros((5, 3))
    kernel[1] = [-2.3, 0.8, 1.1]
    cell.set_weights([kernel, np.zeros((3, 3)), np.array([0.5, 0.3, -0.2])])
    out, (h,) = cell(np.array([[0.0, 1.0, 0.0, 0.0, 0.0]]), cell.get_initial_state(1))
    np.testing.assert_allclose(h[0], np.tanh([-1.8, 1.1, 0.9]), rtol=1e-12)
    np.testing.assert_allclose(out[0], [-0.9468, 0.8005, 0.7163], atol=1e-4)


def test_parameter_count_matches_keras():
    cell = SimpleRNNCell(3)
    cell.build(5)
    assert cell.count_params() == 27


def test_bad_constructor_arguments_name_the_argument():
    with pytest.raises(RnnkitValueError, match="activation must be one of"):
        SimpleRNNCell(3, activation="tanhh")
    with pytest.raises(RnnkitValueError, match="units must be a positive integer"):
        SimpleRNNCell(0)
