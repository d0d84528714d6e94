"""Keras's masking rule, the same for every cell: a skipped step keeps the state and repeats the output."""
import numpy as np
import pytest

from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell


@pytest.mark.parametrize("cls", [SimpleRNNCell, LSTMCell, GRUCell])
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
