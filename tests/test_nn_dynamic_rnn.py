import numpy as np
import pytest

import rnnkit.nn as nn
from helpers import numeric_grad, rel_error, weighted_sum
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.nn import rnn_cell
from tf1_checks import leaves, like, random_state

B, T, I = 4, 4, 2
LENGTHS = np.array([T, 2, 0, 3])  # full length, partial, empty, partial


def make_cell(kind, seed=0):
    f64 = {"dtype": "float64", "seed": seed}
    makers = {
        "basic_rnn": lambda: rnn_cell.BasicRNNCell(3, **f64),
        "basic_rnn_relu": lambda: rnn_cell.BasicRNNCell(3, activation="relu", **f64),
        "basic_lstm": lambda: rnn_cell.BasicLSTMCell(3, **f64),
        "basic_lstm_flat": lambda: rnn_cell.BasicLSTMCell(3, state_is_tuple=False, **f64),
        "lstm_peep_proj": lambda: rnn_cell.LSTMCell(3, use_peepholes=True, num_proj=2, cell_clip=1.5,
                                                    proj_clip=2.0, **f64),
        "gru": lambda: rnn_cell.GRUCell(3, **f64),
        "multi_rnn_lstm": lambda: rnn_cell.MultiRNNCell([rnn_cell.BasicRNNCell(3, **f64),
                                                         rnn_cell.LSTMCell(2, **f64)]),
        "multi_gru_lstm_rnn": lambda: rnn_cell.MultiRNNCell([rnn_cell.GRUCell(2, **f64),
                                                             rnn_cell.BasicLSTMCell(3, **f64),
                                                             rnn_cell.BasicRNNCell(2, **f64)]),
        "multi_flat": lambda: rnn_cell.MultiRNNCell([rnn_cell.GRUCell(2, **f64),
                                                     rnn_cell.LSTMCell(3, state_is_tuple=False, **f64)],
                                                    state_is_tuple=False),
    }
    return makers[kind]()


CELLS = ["basic_rnn", "basic_rnn_relu", "basic_lstm", "basic_lstm_flat", "lstm_peep_proj", "gru",
         "multi_rnn_lstm", "multi_gru_lstm_rnn", "multi_flat"]


GRADIENT_CASES = [(kind, False) for kind in CELLS] + [("basic_lstm_flat", True), ("multi_gru_lstm_rnn", True)]


@pytest.mark.parametrize("kind, time_major", GRADIENT_CASES,
                         ids=[f"{k}-{'time_major' if tm else 'batch_major'}" for k, tm in GRADIENT_CASES])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_dynamic_rnn_gradients_match_finite_differences(kind, lengths, time_major):
    rng = np.random.default_rng(0)
    cell = make_cell(kind)
    x = rng.standard_normal((T, B, I) if time_major else (B, T, I))
    state0 = random_state(rng, cell, B)

    def run():
        return nn.dynamic_rnn(cell, x, lengths, state0, time_major=time_major, return_cache=True)

    outputs, state, cache = run()
    g_out = rng.standard_normal(outputs.shape)
    g_state = like(state, lambda s: rng.standard_normal(s.shape))

    def loss():
        out, st, _ = run()
        return weighted_sum([out, *leaves(st)], [g_out, *leaves(g_state)])

    dx, d_state0, grads = nn.dynamic_rnn_backward(cache, g_out, g_state)
    errors = {"inputs": rel_error(dx, numeric_grad(loss, x))}
    for k, (s, ds) in enumerate(zip(leaves(state0), leaves(d_state0))):
        errors[f"state0 leaf {k}"] = rel_error(ds, numeric_grad(loss, s))
    assert len(grads) == len(cell.weights)
    for variable, grad in zip(cell.weights, grads):
        errors[variable.name] = rel_error(grad, numeric_grad(loss, variable.value))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("kinds", [("basic_lstm", "gru"), ("multi_rnn_lstm", "lstm_peep_proj"),
                                   ("basic_rnn", "multi_flat")])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_bidirectional_gradients_match_finite_differences(kinds, lengths):
    rng = np.random.default_rng(1)
    cell_fw, cell_bw = make_cell(kinds[0], seed=1), make_cell(kinds[1], seed=2)
    x = rng.standard_normal((B, T, I))
    s_fw, s_bw = random_state(rng, cell_fw, B), random_state(rng, cell_bw, B)

    def run():
        return nn.bidirectional_dynamic_rnn(cell_fw, cell_bw, x, lengths, s_fw, s_bw, return_cache=True)

    (out_fw, out_bw), (st_fw, st_bw), cache = run()
    g_fw, g_bw = rng.standard_normal(out_fw.shape), rng.standard_normal(out_bw.shape)
    gs_fw = like(st_fw, lambda s: rng.standard_normal(s.shape))
    gs_bw = like(st_bw, lambda s: rng.standard_normal(s.shape))

    def loss():
        (o_f, o_b), (a, b), _ = run()
        return weighted_sum([o_f, o_b, *leaves(a), *leaves(b)], [g_fw, g_bw, *leaves(gs_fw), *leaves(gs_bw)])

    dx, (d0_fw, d0_bw), (grads_fw, grads_bw) = nn.bidirectional_dynamic_rnn_backward(
        cache, (g_fw, g_bw), (gs_fw, gs_bw))
    errors = {"inputs": rel_error(dx, numeric_grad(loss, x))}
    for tag, s0, d0 in (("fw", s_fw, d0_fw), ("bw", s_bw, d0_bw)):
        for k, (s, ds) in enumerate(zip(leaves(s0), leaves(d0))):
            errors[f"state0 {tag} {k}"] = rel_error(ds, numeric_grad(loss, s))
    for tag, cell, grads in (("fw", cell_fw, grads_fw), ("bw", cell_bw, grads_bw)):
        for variable, grad in zip(cell.weights, grads):
            errors[f"{tag} {variable.name}"] = rel_error(grad, numeric_grad(loss, variable.value))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("kind", CELLS)
def test_step_loop_equals_dynamic_rnn(kind):
    rng = np.random.default_rng(2)
    cell = make_cell(kind)
    x = rng.standard_normal((B, 5, I))
    state0 = random_state(rng, cell, B)
    outputs, state = nn.dynamic_rnn(cell, x, initial_state=state0)
    loop_state, loop_outputs = state0, []
    for t in range(5):
        out, loop_state = cell(x[:, t], loop_state)
        loop_outputs.append(out)
    assert rel_error(np.stack(loop_outputs, 1), outputs) < 1e-12
    for a, b in zip(leaves(loop_state), leaves(state)):
        assert rel_error(a, b) < 1e-12


def take(structure, b):
    return like(structure, lambda s: s[b:b + 1])


@pytest.mark.parametrize("kind", ["basic_lstm", "multi_gru_lstm_rnn", "multi_flat"])
def test_sequence_length_zero_outputs_and_last_valid_state(kind):
    rng = np.random.default_rng(3)
    cell = make_cell(kind)
    x = rng.standard_normal((B, T, I))
    state0 = random_state(rng, cell, B)
    outputs, state = nn.dynamic_rnn(cell, x, LENGTHS, state0)
    for b, length in enumerate(LENGTHS):
        np.testing.assert_array_equal(outputs[b, length:], 0.0)
        loop_state = take(state0, b)
        for t in range(length):
            out, loop_state = cell(x[b:b + 1, t], loop_state)
            np.testing.assert_allclose(out[0], outputs[b, t], rtol=1e-12, atol=1e-14)
        for a, s in zip(leaves(loop_state), leaves(take(state, b))):
            np.testing.assert_allclose(a, s, rtol=1e-12, atol=1e-14)
    for a, s in zip(leaves(take(state, 2)), leaves(take(state0, 2))):  # the length-0 row
        np.testing.assert_array_equal(a, s)


def test_bidirectional_backward_direction_reverses_within_each_length():
    rng = np.random.default_rng(4)
    cell_fw, cell_bw = make_cell("gru", 1), make_cell("basic_lstm", 2)
    x = rng.standard_normal((B, T, I))
    (out_fw, out_bw), (st_fw, st_bw) = nn.bidirectional_dynamic_rnn(cell_fw, cell_bw, x, LENGTHS)
    ref_fw, ref_st_fw = nn.dynamic_rnn(cell_fw, x, LENGTHS)
    np.testing.assert_array_equal(out_fw, ref_fw)
    np.testing.assert_array_equal(st_fw, ref_st_fw)
    for b, length in enumerate(LENGTHS):
        np.testing.assert_array_equal(out_bw[b, length:], 0.0)
        if length == 0:
            continue
        rev, st = nn.dynamic_rnn(cell_bw, x[b:b + 1, :length][:, ::-1])
        np.testing.assert_allclose(out_bw[b, :length], rev[0, ::-1], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(st_bw.h[b], st.h[0], rtol=1e-12, atol=1e-14)
    (tm_fw, tm_bw), _ = nn.bidirectional_dynamic_rnn(cell_fw, cell_bw, x.transpose(1, 0, 2), LENGTHS,
                                                      time_major=True)
    np.testing.assert_array_equal(tm_bw.transpose(1, 0, 2), out_bw)


def test_backward_accepts_partial_gradients():
    rng = np.random.default_rng(5)
    cell = make_cell("lstm_peep_proj")
    x = rng.standard_normal((B, T, I))
    outputs, state, cache = nn.dynamic_rnn(cell, x, LENGTHS, return_cache=True)
    g_h = rng.standard_normal(state.h.shape)
    dx_a, d0_a, grads_a = nn.dynamic_rnn_backward(cache, None, rnn_cell.LSTMStateTuple(c=None, h=g_h))
    dx_b, d0_b, grads_b = nn.dynamic_rnn_backward(
        cache, np.zeros_like(outputs), rnn_cell.LSTMStateTuple(np.zeros_like(state.c), g_h))
    np.testing.assert_array_equal(dx_a, dx_b)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_array_equal(a, b)
    assert isinstance(d0_a, rnn_cell.LSTMStateTuple)
    dx, d0, grads = nn.dynamic_rnn_backward(cache)
    assert np.all(dx == 0) and all(np.all(g == 0) for g in grads)


def test_float32_default_and_dtype_argument():
    cell = rnn_cell.GRUCell(3)
    outputs, state = nn.dynamic_rnn(cell, np.ones((2, 3, 4), np.float32))
    assert outputs.dtype == np.float32 and state.dtype == np.float32
    cell64 = rnn_cell.BasicRNNCell(3)
    outputs, state = nn.dynamic_rnn(cell64, np.ones((2, 3, 4), np.float32), dtype=np.float64)
    assert cell64.dtype == np.float64 and outputs.dtype == np.float64


def test_bad_inputs_name_the_argument():
    cell = rnn_cell.BasicLSTMCell(3)
    x = np.zeros((2, 5, 4), np.float32)
    with pytest.raises(RnnkitTypeError, match="cell must be an rnnkit.nn.rnn_cell cell"):
        nn.dynamic_rnn("lstm", x)
    with pytest.raises(RnnkitValueError, match="inputs must have rank 3"):
        nn.dynamic_rnn(cell, np.zeros((2, 4), np.float32))
    with pytest.raises(RnnkitTypeError, match="inputs must have a floating dtype"):
        nn.dynamic_rnn(cell, np.zeros((2, 5, 4), np.int32))
    with pytest.raises(RnnkitValueError, match=r"sequence_length must have shape \(batch,\) = \(2,\)"):
        nn.dynamic_rnn(cell, x, sequence_length=[5, 5, 5])
    with pytest.raises(RnnkitValueError, match=r"in \[0, 5\].*sequence_length\[1\] = 6"):
        nn.dynamic_rnn(cell, x, sequence_length=[5, 6])
    with pytest.raises(RnnkitValueError, match=r"sequence_length\[0\] = -1"):
        nn.dynamic_rnn(cell, x, sequence_length=np.array([-1, 2]))
    with pytest.raises(RnnkitTypeError, match="sequence_length must hold integers"):
        nn.dynamic_rnn(cell, x, sequence_length=[2.5, 1.0])
    with pytest.raises(RnnkitValueError, match=r"initial_state must be LSTMStateTuple\(c, h\)"):
        nn.dynamic_rnn(cell, x, initial_state=np.zeros((2, 3), np.float32))
    with pytest.raises(RnnkitValueError, match=r"initial_state.c must have shape \(2, 3\)"):
        nn.dynamic_rnn(cell, x, initial_state=(np.zeros((3, 3), np.float32), np.zeros((2, 3), np.float32)))
    with pytest.raises(RnnkitTypeError, match="dtype must be float32 or float64"):
        nn.dynamic_rnn(cell, x, dtype="int8")
    nn.dynamic_rnn(cell, x)
    with pytest.raises(RnnkitValueError, match="inputs must have 4 features"):
        nn.dynamic_rnn(cell, np.zeros((2, 5, 7), np.float32))
    multi = rnn_cell.MultiRNNCell([rnn_cell.BasicRNNCell(2), rnn_cell.BasicLSTMCell(3)])
    with pytest.raises(RnnkitValueError, match="initial_state must be a tuple of 2 states"):
        nn.dynamic_rnn(multi, x, initial_state=np.zeros((2, 2), np.float32))
    with pytest.raises(RnnkitValueError, match=r"initial_state\[1\].h must have shape \(2, 3\)"):
        nn.dynamic_rnn(multi, x, initial_state=(np.zeros((2, 2)), (np.zeros((2, 3)), np.zeros((2, 2)))))
    with pytest.raises(RnnkitValueError, match=r"initial_state_bw must be LSTMStateTuple"):
        nn.bidirectional_dynamic_rnn(rnn_cell.GRUCell(2), cell, x, initial_state_bw=np.zeros((2, 3)))
    with pytest.raises(RnnkitTypeError, match="cell_bw must be"):
        nn.bidirectional_dynamic_rnn(cell, None, x)
    _, _, cache = nn.dynamic_rnn(cell, x, return_cache=True)
    with pytest.raises(RnnkitValueError, match=r"d_outputs must have the \(batch-major\) shape"):
        nn.dynamic_rnn_backward(cache, np.zeros((2, 4, 3)))
    with pytest.raises(RnnkitValueError, match=r"d_state.h must have shape"):
        nn.dynamic_rnn_backward(cache, None, (None, np.zeros((2, 4))))
    _, _, bicache = nn.bidirectional_dynamic_rnn(cell, rnn_cell.GRUCell(2), x, return_cache=True)
    with pytest.raises(RnnkitValueError, match=r"d_outputs must be None or a pair"):
        nn.bidirectional_dynamic_rnn_backward(bicache, np.zeros((2, 5, 3)))
    with pytest.raises(RnnkitValueError, match=r"d_outputs\[1\] must have"):
        nn.bidirectional_dynamic_rnn_backward(bicache, (None, np.zeros((2, 5, 3))))
