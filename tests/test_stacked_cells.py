import importlib

import numpy as np
import pytest

from helpers import numeric_grad, random_mask, rel_error, weighted_sum
from rnnkit.cells.simple_rnn import SimpleRNNCell
from rnnkit.cells.stacked import StackedRNNCells
from rnnkit.errors import RnnkitTypeError, RnnkitValueError


def optional_cell(module, name):
    """A core cell class written by another engineer, or None while it has not landed."""
    try:
        return getattr(importlib.import_module(f"rnnkit.cells.{module}"), name)
    except (ImportError, AttributeError):
        return None


LSTMCell = optional_cell("lstm", "LSTMCell")
GRUCell = optional_cell("gru", "GRUCell")


def make_stack(kinds, dtype="float64"):
    cells = []
    for k, kind in enumerate(kinds):
        if kind == "rnn":
            cells.append(SimpleRNNCell(3 + k, dtype=dtype, seed=k))
        elif kind == "lstm":
            if LSTMCell is None:
                pytest.skip("rnnkit.cells.lstm has not landed")
            cells.append(LSTMCell(3 + k, dtype=dtype, seed=k))
        elif kind == "gru":
            if GRUCell is None:
                pytest.skip("rnnkit.cells.gru has not landed")
            cells.append(GRUCell(3 + k, dtype=dtype, seed=k))
    return StackedRNNCells(cells)


def random_state(rng, stack, batch):
    return tuple(tuple(rng.standard_normal((batch, s)) * 0.5 for s in sizes) for sizes in stack.state_size)


def flat(nested):
    return [a for group in nested for a in group]


STACKS = [["rnn", "rnn"], ["rnn", "lstm"], ["gru", "rnn", "lstm"], ["lstm", "gru"]]


@pytest.mark.parametrize("kinds", STACKS, ids="-".join)
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_finite_differences(kinds, masked):
    rng = np.random.default_rng(0)
    stack = make_stack(kinds)
    x = rng.standard_normal((3, 4, 2))
    state0 = random_state(rng, stack, 3)
    mask = random_mask(rng, 3, 4) if masked else None

    def run():
        return stack.forward(x, state0, mask, zero_output_for_mask=masked)

    outputs, final, cache = run()
    g_out = rng.standard_normal(outputs.shape)
    g_final = tuple(tuple(rng.standard_normal(s.shape) for s in group) for group in final)

    def loss():
        out, fin, _ = run()
        return weighted_sum([out, *flat(fin)], [g_out, *flat(g_final)])

    dx, d_state0, grads = stack.backward(g_out, g_final, cache)
    errors = {"inputs": rel_error(dx, numeric_grad(loss, x))}
    for k, group in enumerate(state0):
        for i, s in enumerate(group):
            errors[f"state0[{k}][{i}]"] = rel_error(d_state0[k][i], numeric_grad(loss, s))
    for name, grad in zip(stack.weight_names, grads):
        errors[name] = rel_error(grad, numeric_grad(loss, stack.params[name]))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("kinds", STACKS, ids="-".join)
def test_sequence_equals_step_loop(kinds):
    rng = np.random.default_rng(1)
    stack = make_stack(kinds)
    x = rng.standard_normal((2, 5, 3))
    state0 = random_state(rng, stack, 2)
    outputs, final, cache = stack.forward(x, state0)
    g_out = rng.standard_normal(outputs.shape)
    g_final = tuple(tuple(rng.standard_normal(s.shape) for s in group) for group in final)
    dx, d_state0, grads = stack.backward(g_out, g_final, cache)

    state, caches, outs = state0, [], []
    for t in range(5):
        out, state, c = stack.step_forward(x[:, t], state)
        outs.append(out)
        caches.append(c)
    assert rel_error(np.stack(outs, 1), outputs) < 1e-12
    for a, b in zip(flat(state), flat(final)):
        assert rel_error(a, b) < 1e-12

    d_state, step_dx, step_grads = g_final, [], [np.zeros_like(w) for w in stack.get_weights()]
    for t in range(4, -1, -1):
        d_in, d_state, g = stack.step_backward(g_out[:, t], d_state, caches[t])
        step_dx.insert(0, d_in)
        step_grads = [a + b for a, b in zip(step_grads, g)]
    assert rel_error(np.stack(step_dx, 1), dx) < 1e-12
    for a, b in zip(flat(d_state), flat(d_state0)):
        assert rel_error(a, b) < 1e-12
    for a, b in zip(step_grads, grads):
        assert rel_error(a, b) < 1e-12


@pytest.mark.parametrize("kinds", STACKS, ids="-".join)
def test_equals_cells_run_one_after_another(kinds):
    rng = np.random.default_rng(2)
    stack = make_stack(kinds)
    x = rng.standard_normal((3, 6, 2))
    mask = random_mask(rng, 3, 6)
    state0 = random_state(rng, stack, 3)
    outputs, final, cache = stack.forward(x, state0, mask)
    g_out = rng.standard_normal(outputs.shape)
    g_final = tuple(tuple(rng.standard_normal(s.shape) for s in group) for group in final)
    dx, d_state0, grads = stack.backward(g_out, g_final, cache)

    h, caches = x, []
    for cell, s0, fin in zip(stack.cells, state0, final):
        h, f, c = cell.forward(h, s0, mask)
        caches.append(c)
        for a, b in zip(f, fin):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(h, outputs)

    d, hand_grads = g_out, []
    for k in range(len(stack.cells) - 1, -1, -1):
        d, ds0, g = stack.cells[k].backward(d, g_final[k], caches[k])
        for a, b in zip(ds0, d_state0[k]):
            np.testing.assert_array_equal(a, b)
        hand_grads = list(g) + hand_grads
    np.testing.assert_array_equal(d, dx)
    for a, b in zip(hand_grads, grads):
        np.testing.assert_array_equal(a, b)


def test_structure_weights_and_config_round_trip():
    stack = StackedRNNCells([SimpleRNNCell(4, seed=0), SimpleRNNCell(2, activation="relu", seed=1)])
    assert stack.state_size == ((4,), (2,))
    assert stack.output_size == 2
    assert not stack.built
    outputs, final, _ = stack.forward(np.ones((2, 3, 5), np.float32))
    assert outputs.shape == (2, 3, 2) and outputs.dtype == np.float32
    assert stack.weight_names == ["cell_0/kernel", "cell_0/recurrent_kernel", "cell_0/bias",
                                  "cell_1/kernel", "cell_1/recurrent_kernel", "cell_1/bias"]
    assert [w.shape for w in stack.get_weights()] == [(5, 4), (4, 4), (4,), (4, 2), (2, 2), (2,)]
    assert stack.count_params() == 5 * 4 + 16 + 4 + 4 * 2 + 4 + 2
    assert stack.params["cell_1/kernel"] is stack.cells[1].params["kernel"]

    clone = StackedRNNCells.from_config(stack.get_config())
    assert clone.get_config() == stack.get_config()
    clone.build(5)
    clone.set_weights(stack.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(clone.forward(x)[0], stack.forward(x)[0])

    out, states = stack(x[:, 0], stack.get_initial_state(2))
    assert out.shape == (2, 2) and [len(s) for s in states] == [1, 1]


def test_masked_steps_keep_every_layer_state():
    stack = StackedRNNCells([SimpleRNNCell(3, seed=0), SimpleRNNCell(2, seed=1)])
    x = np.random.default_rng(0).standard_normal((1, 4, 2)).astype(np.float32)
    mask = np.array([[True, True, False, False]])
    _, final, _ = stack.forward(x, mask=mask)
    _, short, _ = stack.forward(x[:, :2])
    for a, b in zip(flat(final), flat(short)):
        np.testing.assert_array_equal(a, b)
    zeroed, _, _ = stack.forward(x, mask=mask, zero_output_for_mask=True)
    np.testing.assert_array_equal(zeroed[0, 2:], 0.0)


def test_bad_arguments_name_the_position():
    with pytest.raises(RnnkitValueError, match="cells must be a non-empty list"):
        StackedRNNCells([])
    with pytest.raises(RnnkitTypeError, match=r"cells\[1\] must be a recurrent cell"):
        StackedRNNCells([SimpleRNNCell(2), "lstm"])
    stack = StackedRNNCells([SimpleRNNCell(3), SimpleRNNCell(2)])
    x = np.zeros((2, 4, 5), np.float32)
    with pytest.raises(RnnkitValueError, match="inputs must have rank 3"):
        stack.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(RnnkitTypeError, match="floating dtype"):
        stack.forward(np.zeros((2, 4, 5), np.int32))
    with pytest.raises(RnnkitValueError, match="one state per cell"):
        stack.forward(x, [np.zeros((2, 3), np.float32)])
    with pytest.raises(RnnkitValueError, match=r"initial_state\[1\]\[0\] for SimpleRNNCell must have shape \(2, 2\)"):
        stack.forward(x, [(np.zeros((2, 3), np.float32),), (np.zeros((2, 3), np.float32),)])
    stack.forward(x)
    with pytest.raises(RnnkitValueError, match="must have 5 features"):
        stack.forward(np.zeros((2, 4, 6), np.float32))
    with pytest.raises(RnnkitValueError, match="expects 6 arrays"):
        stack.set_weights(stack.get_weights()[:-1])
    bad = stack.get_weights()
    bad[3] = np.zeros((4, 2))
    with pytest.raises(RnnkitValueError, match=r"cell_1|kernel must have shape \(3, 2\)"):
        stack.set_weights(bad)
    with pytest.raises(RnnkitValueError, match="recurrent_mask"):
        stack.forward(x, recurrent_mask=np.ones((2, 3)))
    prebuilt = SimpleRNNCell(2)
    prebuilt.build(7)
    with pytest.raises(RnnkitValueError, match=r"cells\[1\].*built for 7 input features"):
        StackedRNNCells([SimpleRNNCell(3), prebuilt]).forward(x)
