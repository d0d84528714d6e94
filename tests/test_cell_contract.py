"""What every cell shares: Keras's masking rule and the checks on forward's arguments."""
import numpy as np
import pytest

from rnnkit.cells import GRUCell, LSTMCell, MGUCell, SimpleRNNCell
from rnnkit.errors import RnnkitTypeError, RnnkitValueError

CELLS = [SimpleRNNCell, LSTMCell, GRUCell, MGUCell]


@pytest.mark.parametrize("cls", CELLS)
def test_masked_steps_keep_state_and_repeat_output(cls):
    rng = np.random.default_rng(0)
    cell = cls(2, seed=0)
    x = rng.standard_normal((1, 4, 3)).astype(np.float32)
    mask = np.array([[True, False, True, False]])
    outputs, final, _ = cell.forward(x, mask=mask)
    np.testing.assert_array_equal(outputs[0, 1], outputs[0, 0])
    np.testing.assert_array_equal(outputs[0, 3], outputs[0, 2])
    np.testing.assert_array_equal(final[0][0], outputs[0, 2])
    zeroed, _, _ = cell.forward(x, mask=mask, zero_output_for_mask=True)
    np.testing.assert_array_equal(zeroed[0, 1], 0.0)
    np.testing.assert_array_equal(zeroed[0, 2], outputs[0, 2])


@pytest.mark.parametrize("cls", CELLS)
def test_bad_forward_arguments_name_the_argument(cls):
    cell = cls(3)
    with pytest.raises(RnnkitValueError, match="inputs must have rank 3"):
        cell.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(RnnkitTypeError, match="floating dtype"):
        cell.forward(np.zeros((2, 3, 4), np.int64))
    cell.forward(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(RnnkitValueError, match="must have 4 features"):
        cell.forward(np.zeros((2, 3, 5), np.float32))
    wrong_state = [np.zeros((2, 4), np.float32)] * len(cell.state_size)
    with pytest.raises(RnnkitValueError, match=rf"initial_state\[0\] for {cls.__name__} must have shape \(2, 3\)"):
        cell.forward(np.zeros((2, 3, 4), np.float32), wrong_state)
    with pytest.raises(RnnkitValueError, match=r"mask must have shape"):
        cell.forward(np.zeros((2, 3, 4), np.float32), mask=np.ones((2, 4), bool))
