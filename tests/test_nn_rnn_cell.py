import numpy as np
import pytest

import rnnkit.nn as nn
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.nn import rnn_cell
from rnnkit.ops.activations import sigmoid


# ---------------------------------------------------------------- tutorial snippets, as written
def test_tutorial_basic_rnn_cell():
    cell = rnn_cell.BasicRNNCell(num_units=128)
    assert cell.state_size == 128 and cell.output_size == 128
    h0 = cell.zero_state(32, np.float32)
    assert h0.shape == (32, 128) and h0.dtype == np.float32
    inputs = np.random.default_rng(0).standard_normal((32, 100)).astype(np.float32)
    output, h1 = cell.call(inputs, h0)
    assert output.shape == (32, 128) and h1.shape == (32, 128)
    np.testing.assert_array_equal(output, h1)
    assert [v.shape for v in cell.trainable_variables] == [(100, 128), (128, 128), (128,)]


def test_tutorial_lstm_cell():
    cell = rnn_cell.LSTMCell(num_units=128)
    inputs = np.random.default_rng(0).standard_normal((4, 48)).astype(np.float32)
    output, s1 = cell(inputs, cell.zero_state(4, np.float32))
    assert output.shape == (4, 128)
    assert s1.h.shape == (4, 128) and s1.c.shape == (4, 128)
    np.testing.assert_array_equal(output, s1.h)
    assert isinstance(s1, rnn_cell.LSTMStateTuple) and s1.dtype == np.float32


def test_tutorial_basic_lstm_cell_state_tuple():
    cell = rnn_cell.BasicLSTMCell(num_units=16, forget_bias=1.0, state_is_tuple=True, activation=None)
    assert cell.state_size == rnn_cell.LSTMStateTuple(c=16, h=16)
    c, h = cell.zero_state(3, np.float32)
    output, state = cell(np.ones((3, 5), np.float32), (c, h))
    assert isinstance(state, rnn_cell.LSTMStateTuple)
    assert state.c.shape == (3, 16) and state.h.shape == (3, 16)


def test_tutorial_multi_rnn_cell_and_dynamic_rnn():
    cells = [rnn_cell.BasicLSTMCell(32), rnn_cell.GRUCell(16)]
    multi = rnn_cell.MultiRNNCell(cells)
    assert multi.state_size == (rnn_cell.LSTMStateTuple(32, 32), 16)
    assert multi.output_size == 16
    inputs = np.random.default_rng(0).standard_normal((8, 10, 20)).astype(np.float32)
    outputs, state = nn.dynamic_rnn(multi, inputs, dtype=np.float32)
    assert outputs.shape == (8, 10, 16) and outputs.dtype == np.float32
    assert state[0].c.shape == (8, 32) and state[1].shape == (8, 16)
    tm_outputs, tm_state = nn.dynamic_rnn(multi, inputs.transpose(1, 0, 2), time_major=True)
    assert tm_outputs.shape == (10, 8, 16)
    np.testing.assert_allclose(tm_outputs.transpose(1, 0, 2), outputs, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- TF1 defaults and math
def test_tf1_initial_biases():
    gru = rnn_cell.GRUCell(4, seed=0)
    gru.build(3)
    np.testing.assert_array_equal(gru.get_weights()[2], [1.0] * 8 + [0.0] * 4)
    custom = rnn_cell.GRUCell(4, bias_initializer="zeros", seed=0)
    custom.build(3)
    np.testing.assert_array_equal(custom.get_weights()[2], 0.0)
    for cell in (rnn_cell.LSTMCell(4), rnn_cell.BasicLSTMCell(4), rnn_cell.BasicRNNCell(4)):
        cell.build(3)
        np.testing.assert_array_equal(cell.get_weights()[2], 0.0)


def test_dtype_follows_first_inputs_unless_given():
    cell = rnn_cell.BasicRNNCell(3)
    cell(np.ones((2, 4)), cell.zero_state(2, np.float64))
    assert cell.get_weights()[0].dtype == np.float64 and cell.dtype == np.float64
    fixed = rnn_cell.BasicRNNCell(3, dtype="float32")
    output, _ = fixed(np.ones((2, 4)), np.zeros((2, 3)))
    assert output.dtype == np.float32


def tf1_lstm_step(x, c, h, w, forget_bias, cell_clip, proj_clip):
    """TF1 LSTMCell.call written from its documented equations, with Keras-layout weights."""
    kernel, recurrent, bias, p_i, p_f, p_o, proj = w
    z = x @ kernel + h @ recurrent + bias
    i, f, j, o = np.split(z, 4, axis=1)  # Keras's block order i, f, c, o; TF1 calls the candidate j
    c_new = sigmoid(f + forget_bias + p_f * c) * c + sigmoid(i + p_i * c) * np.tanh(j)
    c_new = np.clip(c_new, -cell_clip, cell_clip)
    m = sigmoid(o + p_o * c_new) * np.tanh(c_new)
    return c_new, np.clip(m @ proj, -proj_clip, proj_clip)


def test_lstm_cell_matches_tf1_equations():
    rng = np.random.default_rng(0)
    cell = rnn_cell.LSTMCell(5, use_peepholes=True, cell_clip=0.6, num_proj=3, proj_clip=0.4,
                             forget_bias=1.0, dtype="float64", seed=1)
    cell.build(4)
    weights = [rng.standard_normal(w.shape) for w in cell.get_weights()]
    cell.set_weights(weights)
    x, c, h = rng.standard_normal((2, 4)), rng.standard_normal((2, 5)), rng.standard_normal((2, 3))
    output, state = cell(x, rnn_cell.LSTMStateTuple(c, h))
    c_ref, h_ref = tf1_lstm_step(x, c, h, weights, 1.0, 0.6, 0.4)
    np.testing.assert_allclose(state.c, c_ref, rtol=1e-12)
    np.testing.assert_allclose(state.h, h_ref, rtol=1e-12)
    np.testing.assert_array_equal(output, state.h)
    assert cell.state_size == rnn_cell.LSTMStateTuple(5, 3) and cell.output_size == 3
    assert [v.name for v in cell.weights][-4:] == [
        "lstm_cell/peephole_i", "lstm_cell/peephole_f", "lstm_cell/peephole_o", "lstm_cell/projection_kernel"]


def test_gru_cell_matches_tf1_equations():
    rng = np.random.default_rng(1)
    cell = rnn_cell.GRUCell(4, dtype="float64", seed=0)
    cell.build(3)
    weights = [rng.standard_normal(w.shape) for w in cell.get_weights()]
    cell.set_weights(weights)
    kernel, recurrent, bias = weights
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    # TF1: [r, u] = σ([x, h] W_g + b_g); c = tanh([x, r ⊙ h] W_c + b_c); h' = u ⊙ h + (1 - u) ⊙ c
    u = sigmoid(x @ kernel[:, :4] + h @ recurrent[:, :4] + bias[:4])
    r = sigmoid(x @ kernel[:, 4:8] + h @ recurrent[:, 4:8] + bias[4:8])
    c = np.tanh(x @ kernel[:, 8:] + (r * h) @ recurrent[:, 8:] + bias[8:])
    output, new_h = cell(x, h)
    np.testing.assert_allclose(new_h, u * h + (1 - u) * c, rtol=1e-12)


def test_basic_lstm_forget_bias_is_a_constant_not_a_weight():
    rng = np.random.default_rng(2)
    a = rnn_cell.BasicLSTMCell(3, forget_bias=1.0, dtype="float64", seed=0)
    b = rnn_cell.BasicLSTMCell(3, forget_bias=0.0, dtype="float64", seed=0)
    a.build(2)
    b.build(2)
    weights = a.get_weights()
    weights[2][3:6] += 1.0  # the forget block of the Keras-order bias
    b.set_weights(weights)
    x, state = rng.standard_normal((2, 2)), a.zero_state(2, np.float64)
    np.testing.assert_allclose(a(x, state)[1].c, b(x, state)[1].c, rtol=1e-12)


def test_state_is_tuple_false_concatenates_c_then_h():
    rng = np.random.default_rng(3)
    tup = rnn_cell.LSTMCell(4, num_proj=2, dtype="float64", seed=0)
    flat = rnn_cell.LSTMCell(4, num_proj=2, state_is_tuple=False, dtype="float64", seed=0)
    assert flat.state_size == 6 and flat.zero_state(3, np.float64).shape == (3, 6)
    x = rng.standard_normal((3, 5))
    c, h = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    out_t, state_t = tup(x, rnn_cell.LSTMStateTuple(c, h))
    out_f, state_f = flat(x, np.concatenate([c, h], 1))
    np.testing.assert_array_equal(out_t, out_f)
    np.testing.assert_array_equal(state_f, np.concatenate([state_t.c, state_t.h], 1))

    multi = rnn_cell.MultiRNNCell([rnn_cell.BasicRNNCell(2, dtype="float64", seed=0), flat], state_is_tuple=False)
    with pytest.raises(RnnkitValueError, match=r"cells\[1\] \(lstm_cell\) was built for 5 input features"):
        multi(x, multi.zero_state(3, np.float64))
    below = rnn_cell.BasicRNNCell(2, dtype="float64", seed=0)
    top = rnn_cell.LSTMCell(4, num_proj=2, state_is_tuple=False, dtype="float64", seed=0)
    multi = rnn_cell.MultiRNNCell([below, top], state_is_tuple=False)
    assert multi.state_size == 8
    state0 = rng.standard_normal((3, 8))
    out, state = multi(x, state0)
    h1, _ = below(x, state0[:, :2])
    out_top, state_top = top(h1, state0[:, 2:])
    np.testing.assert_array_equal(out, out_top)
    np.testing.assert_array_equal(state, np.concatenate([h1, state_top], 1))


def test_multi_rnn_cell_shares_weights_with_its_cells():
    cells = [rnn_cell.BasicRNNCell(3, seed=0), rnn_cell.BasicRNNCell(2, seed=1)]
    multi = rnn_cell.MultiRNNCell(cells)
    assert multi.weights == [] and multi.get_weights() == []
    multi(np.ones((1, 4), np.float32), multi.zero_state(1, np.float32))
    assert [v.name for v in multi.weights] == [
        "multi_rnn_cell/cell_0/basic_rnn_cell/kernel", "multi_rnn_cell/cell_0/basic_rnn_cell/recurrent_kernel",
        "multi_rnn_cell/cell_0/basic_rnn_cell/bias", "multi_rnn_cell/cell_1/basic_rnn_cell/kernel",
        "multi_rnn_cell/cell_1/basic_rnn_cell/recurrent_kernel", "multi_rnn_cell/cell_1/basic_rnn_cell/bias"]
    assert multi.weights[3].value is cells[1].weights[0].value
    new = [w + 1.0 for w in multi.get_weights()]
    multi.set_weights(new)
    np.testing.assert_array_equal(cells[1].get_weights()[0], new[3])
    assert multi.count_params() == 4 * 3 + 9 + 3 + 3 * 2 + 4 + 2


# ---------------------------------------------------------------- errors
def test_bad_arguments_name_the_argument():
    with pytest.raises(RnnkitValueError, match="activation must be one of"):
        rnn_cell.BasicRNNCell(3, activation="tanhh")
    with pytest.raises(RnnkitValueError, match="activation must be one of"):
        rnn_cell.LSTMCell(3, activation="relu6x")
    with pytest.raises(RnnkitValueError, match="units must be a positive integer"):
        rnn_cell.GRUCell(0)
    with pytest.raises(RnnkitTypeError, match="dtype must be float32 or float64"):
        rnn_cell.BasicRNNCell(3, dtype="int32")
    with pytest.raises(RnnkitValueError, match="state_is_tuple must be True or False"):
        rnn_cell.BasicLSTMCell(3, state_is_tuple="yes")
    with pytest.raises(RnnkitValueError, match="cells must be a non-empty list"):
        rnn_cell.MultiRNNCell([])
    with pytest.raises(RnnkitTypeError, match=r"cells\[1\] must be an rnnkit.nn.rnn_cell cell"):
        rnn_cell.MultiRNNCell([rnn_cell.BasicRNNCell(2), "gru"])
    with pytest.raises(RnnkitValueError, match=r"cells\[0\].*state_is_tuple=False"):
        rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(2)], state_is_tuple=False)
    with pytest.raises(RnnkitValueError, match="call it once or call build"):
        rnn_cell.BasicRNNCell(2).set_weights([])

    cell = rnn_cell.BasicLSTMCell(3)
    state = cell.zero_state(2, np.float32)
    with pytest.raises(RnnkitValueError, match="inputs must have rank 2"):
        cell(np.ones((2, 1, 4), np.float32), state)
    with pytest.raises(RnnkitTypeError, match="inputs must have a floating dtype"):
        cell(np.ones((2, 4), np.int64), state)
    with pytest.raises(RnnkitValueError, match=r"state must be LSTMStateTuple\(c, h\)"):
        cell(np.ones((2, 4), np.float32), state.c)
    with pytest.raises(RnnkitValueError, match=r"state.h must have shape \(2, 3\)"):
        cell(np.ones((2, 4), np.float32), rnn_cell.LSTMStateTuple(state.c, np.zeros((2, 4), np.float32)))
    cell(np.ones((2, 4), np.float32), state)
    with pytest.raises(RnnkitValueError, match="inputs must have 4 features"):
        cell(np.ones((2, 5), np.float32), state)
    rnn = rnn_cell.BasicRNNCell(3)
    with pytest.raises(RnnkitValueError, match=r"state must be one array of shape \(2, 3\)"):
        rnn(np.ones((2, 4), np.float32), (np.zeros((2, 3)),))
    with pytest.raises(RnnkitValueError, match="batch_size must be a positive integer"):
        rnn.zero_state(0, np.float32)
