"""static_rnn / static_bidirectional_rnn: TF1's step-list API over dynamic_rnn, and their backward functions."""
import numpy as np
import pytest

from helpers import numeric_grad, rel_error, weighted_sum
from rnnkit import contrib
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.nn import (dynamic_rnn, rnn_cell, static_bidirectional_rnn, static_bidirectional_rnn_backward,
                       static_rnn, static_rnn_backward)
from tf1_checks import leaves, like, random_state, static_rnn_gradient_errors

F64 = {"dtype": "float64"}
LENGTHS = np.array([4, 2, 0])


def cells():
    return {
        "basic_rnn": lambda: rnn_cell.BasicRNNCell(3, seed=0, **F64),
        "basic_lstm": lambda: rnn_cell.BasicLSTMCell(3, seed=1, **F64),
        "lstm_flat_proj": lambda: rnn_cell.LSTMCell(3, num_proj=2, use_peepholes=True, state_is_tuple=False,
                                                    seed=2, **F64),
        "gru": lambda: rnn_cell.GRUCell(2, seed=3, **F64),
        "multi": lambda: rnn_cell.MultiRNNCell([rnn_cell.GRUCell(2, seed=4, **F64),
                                                rnn_cell.BasicLSTMCell(3, seed=5, **F64)]),
    }


@pytest.mark.parametrize("kind", sorted(cells()))
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_static_rnn_gradients_match_finite_differences(kind, lengths):
    cell = cells()[kind]()
    errors = static_rnn_gradient_errors(lambda: cell, lengths=lengths)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("kind", sorted(cells()))
def test_static_rnn_equals_dynamic_rnn_and_a_step_loop(kind):
    rng = np.random.default_rng(1)
    cell = cells()[kind]()
    x = rng.standard_normal((3, 5, 2))
    cell.build(2)
    state0 = random_state(rng, cell, 3)
    outputs, state = static_rnn(cell, list(x.transpose(1, 0, 2)), state0, sequence_length=[5, 3, 0])
    dyn_out, dyn_state = dynamic_rnn(cell, x, [5, 3, 0], state0)
    np.testing.assert_array_equal(np.stack(outputs, 1), dyn_out)
    for a, b in zip(leaves(state), leaves(dyn_state)):
        np.testing.assert_array_equal(a, b)
    loop_state = state0
    for t in range(5):
        out, loop_state = cell(x[:, t], loop_state)
        np.testing.assert_allclose(out[0], outputs[t][0], rtol=1e-12, atol=1e-14)


def test_sequence_length_semantics_of_tf1():
    """Zeros past each length, the state copied through: the final state is the one at the length."""
    rng = np.random.default_rng(2)
    cell = rnn_cell.LSTMCell(4, seed=0, **F64)
    steps = [rng.standard_normal((3, 2)) for _ in range(4)]
    outputs, state = static_rnn(cell, steps, sequence_length=LENGTHS)
    for b, length in enumerate(LENGTHS):
        for t in range(length, 4):
            np.testing.assert_array_equal(outputs[t][b], 0.0)
        if length:
            _, alone = static_rnn(cell, [s[b:b + 1] for s in steps[:length]])
            np.testing.assert_allclose(state.h[b], alone.h[0], rtol=1e-12)
            np.testing.assert_allclose(state.c[b], alone.c[0], rtol=1e-12)
    np.testing.assert_array_equal(state.c[2], 0.0)  # length 0: the (zero) initial state


def test_static_bidirectional_rnn_outputs_and_gradients():
    rng = np.random.default_rng(3)
    cell_fw, cell_bw = rnn_cell.GRUCell(2, seed=1, **F64), rnn_cell.BasicLSTMCell(3, seed=2, **F64)
    steps = [rng.standard_normal((3, 2)) for _ in range(4)]
    cell_fw.build(2)
    cell_bw.build(2)
    s_fw, s_bw = random_state(rng, cell_fw, 3), random_state(rng, cell_bw, 3)

    def run():
        return static_bidirectional_rnn(cell_fw, cell_bw, steps, s_fw, s_bw, sequence_length=LENGTHS,
                                        return_cache=True)

    outputs, st_fw, st_bw, cache = run()
    assert len(outputs) == 4 and outputs[0].shape == (3, 5)
    dyn_fw, _ = dynamic_rnn(cell_fw, np.stack(steps, 1), LENGTHS, s_fw)
    np.testing.assert_array_equal(np.stack(outputs, 1)[..., :2], dyn_fw)
    g_out = [rng.standard_normal(o.shape) for o in outputs]
    g_fw = like(st_fw, lambda s: rng.standard_normal(s.shape))
    g_bw = like(st_bw, lambda s: rng.standard_normal(s.shape))

    def loss():
        outs, a, b, _ = run()
        return weighted_sum([*outs, *leaves(a), *leaves(b)], [*g_out, *leaves(g_fw), *leaves(g_bw)])

    d_steps, (d0_fw, d0_bw), (grads_fw, grads_bw) = static_bidirectional_rnn_backward(cache, g_out, g_fw, g_bw)
    errors = {f"x{t}": rel_error(d, numeric_grad(loss, x)) for t, (d, x) in enumerate(zip(d_steps, steps))}
    for tag, s0, d0 in (("fw", s_fw, d0_fw), ("bw", s_bw, d0_bw)):
        for k, (s, ds) in enumerate(zip(leaves(s0), leaves(d0))):
            errors[f"{tag} state {k}"] = rel_error(ds, numeric_grad(loss, s))
    for tag, cell, grads in (("fw", cell_fw, grads_fw), ("bw", cell_bw, grads_bw)):
        for variable, grad in zip(cell.weights, grads):
            errors[f"{tag} {variable.name}"] = rel_error(grad, numeric_grad(loss, variable.value))
    assert max(errors.values()) < 1e-6, errors


def test_partial_gradients_and_contrib_aliases():
    rng = np.random.default_rng(4)
    cell = rnn_cell.BasicLSTMCell(3, seed=0, **F64)
    steps = [rng.standard_normal((2, 2)) for _ in range(3)]
    outputs, state, cache = static_rnn(cell, steps, return_cache=True)
    g = rng.standard_normal(outputs[-1].shape)
    d_a, _, grads_a = static_rnn_backward(cache, [None, None, g])
    d_b, _, grads_b = static_rnn_backward(cache, [np.zeros_like(outputs[0])] * 2 + [g], None)
    for a, b in zip(d_a + grads_a, d_b + grads_b):
        np.testing.assert_array_equal(a, b)
    d_none, d0, grads = static_rnn_backward(cache)
    assert all(np.all(d == 0) for d in d_none) and all(np.all(w == 0) for w in grads)
    assert contrib.rnn.static_rnn is static_rnn and contrib.rnn.BasicLSTMCell is rnn_cell.BasicLSTMCell


def test_float32_default():
    outputs, state = static_rnn(rnn_cell.GRUCell(3), [np.ones((2, 4), np.float32)] * 2)
    assert outputs[0].dtype == np.float32 and state.dtype == np.float32


@pytest.mark.parametrize("call, error, words", [
    (lambda c: static_rnn(c, np.ones((2, 3, 4))), RnnkitTypeError, "list of T arrays"),
    (lambda c: static_rnn(c, []), RnnkitValueError, "must not be empty"),
    (lambda c: static_rnn(c, [np.ones((2, 4)), np.ones((3, 4))]), RnnkitValueError, "inputs[1]"),
    (lambda c: static_rnn(c, [np.ones((2, 4), int)]), RnnkitTypeError, "inputs[0]"),
    (lambda c: static_rnn(c, [np.ones((2, 4))], sequence_length=[1, 2]), RnnkitValueError, "sequence_length"),
    (lambda c: static_rnn("cell", [np.ones((2, 4))]), RnnkitTypeError, "cell"),
    (lambda c: static_rnn_backward({}, None), RnnkitValueError, "cache"),
    (lambda c: static_rnn_backward(static_rnn(c, [np.ones((2, 4))], return_cache=True)[2], [None, None]),
     RnnkitValueError, "d_outputs"),
])
def test_named_errors(call, error, words):
    with pytest.raises(error) as info:
        call(rnn_cell.GRUCell(3))
    assert words in str(info.value)
