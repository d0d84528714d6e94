"""DropoutWrapper, ResidualWrapper, DeviceWrapper: TF1's semantics, finite differences, step == sequence."""
import numpy as np
import pytest

from helpers import rel_error
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.nn import dynamic_rnn, dynamic_rnn_backward, rnn_cell, static_rnn
from rnnkit.nn.rnn_cell import DeviceWrapper, DropoutWrapper, LSTMStateTuple, ResidualWrapper
from tf1_checks import leaves, random_state, static_rnn_gradient_errors

F64 = {"dtype": "float64"}
LENGTHS = np.array([4, 2, 0])

DROPOUT_CASES = {
    "input_output": {"input_keep_prob": 0.7, "output_keep_prob": 0.6},
    "state": {"state_keep_prob": 0.6},
    "all": {"input_keep_prob": 0.8, "output_keep_prob": 0.7, "state_keep_prob": 0.6},
    "variational": {"input_keep_prob": 0.8, "output_keep_prob": 0.7, "state_keep_prob": 0.6,
                    "variational_recurrent": True},
    "visitor_drops_c_too": {"state_keep_prob": 0.6, "dropout_state_filter_visitor": lambda s: True},
}
INNER = {
    "lstm": lambda: rnn_cell.LSTMCell(3, use_peepholes=True, seed=1, **F64),
    "gru": lambda: rnn_cell.GRUCell(2, seed=2, **F64),
    "multi": lambda: rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(2, seed=3, **F64),
                                            rnn_cell.BasicRNNCell(2, seed=4, **F64)]),
}


GRADIENT_CASES = ([(case, "lstm", lengths) for case in sorted(DROPOUT_CASES) for lengths in (None, LENGTHS)]
                  + [(case, inner, LENGTHS) for case in ("all", "variational") for inner in ("gru", "multi")])


@pytest.mark.parametrize("case, inner, lengths", GRADIENT_CASES,
                         ids=[f"{c}-{i}-{'full' if n is None else 'lengths'}" for c, i, n in GRADIENT_CASES])
def test_dropout_wrapper_gradients_match_finite_differences(case, inner, lengths):
    cell = INNER[inner]()

    def make():  # the same seed gives the same masks for every loss evaluation
        return DropoutWrapper(cell, seed=7, **DROPOUT_CASES[case])

    errors = static_rnn_gradient_errors(make, lengths=lengths, weights_of=lambda c: cell.weights)
    assert max(errors.values()) < 1e-6, errors


def test_dropout_masks_follow_tf1():
    rng = np.random.default_rng(0)
    inner = rnn_cell.BasicLSTMCell(50, seed=0, **F64)
    x = rng.standard_normal((40, 6, 30))
    reference, ref_state = dynamic_rnn(inner, x)
    out, state = dynamic_rnn(DropoutWrapper(inner, output_keep_prob=0.75, seed=1), x)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(out[kept], reference[kept] / 0.75, rtol=1e-12)  # v / keep_prob where kept
    np.testing.assert_array_equal(state.c, ref_state.c)  # output dropout leaves the state alone
    # state dropout: the default filter never touches c; h (the state passed on) is dropped
    _, state = dynamic_rnn(DropoutWrapper(inner, state_keep_prob=0.5, seed=2), x)
    assert np.all(state.c != 0) and abs((state.h == 0).mean() - 0.5) < 0.05
    # variational: one mask shared by every step and every sequence of the batch
    out, _ = dynamic_rnn(DropoutWrapper(inner, output_keep_prob=0.5, variational_recurrent=True, seed=3), x)
    pattern = out[0, 0] != 0
    assert np.all((out != 0) == pattern)
    # fresh masks for every call without variational_recurrent, the same seed gives the same bits
    a, _ = dynamic_rnn(DropoutWrapper(inner, input_keep_prob=0.5, seed=4), x)
    b, _ = dynamic_rnn(DropoutWrapper(inner, input_keep_prob=0.5, seed=4), x)
    wrapper = DropoutWrapper(inner, input_keep_prob=0.5, seed=4)
    dynamic_rnn(wrapper, x)
    c, _ = dynamic_rnn(wrapper, x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_keep_prob_one_is_the_plain_cell_and_probabilities_can_change():
    rng = np.random.default_rng(1)
    inner = rnn_cell.GRUCell(3, seed=0, **F64)
    x = rng.standard_normal((2, 4, 3))
    wrapper = DropoutWrapper(inner, output_keep_prob=0.3, seed=0)
    reference, _ = dynamic_rnn(inner, x)
    assert not np.array_equal(dynamic_rnn(wrapper, x)[0], reference)
    wrapper.output_keep_prob = 1.0  # TF1 fed keep_prob=1.0 to evaluate
    np.testing.assert_array_equal(dynamic_rnn(wrapper, x)[0], reference)
    assert wrapper.weights == inner.weights and wrapper.get_weights()[0].shape == (3, 9)
    assert wrapper.state_size == 3 and wrapper.output_size == 3 and wrapper.wrapped_cell is inner


def test_variational_step_calls_keep_their_masks_and_equal_the_sequence():
    rng = np.random.default_rng(2)
    inner = rnn_cell.LSTMCell(3, seed=0, **F64)
    wrapper = DropoutWrapper(inner, input_keep_prob=0.7, output_keep_prob=0.6, state_keep_prob=0.5,
                             variational_recurrent=True, seed=5)
    x = rng.standard_normal((2, 5, 4))
    state0 = random_state(rng, wrapper, 2)
    outputs, state, cache = dynamic_rnn(wrapper, x, initial_state=state0, return_cache=True)
    loop_state, loop_outputs = state0, []
    for t in range(5):  # single steps reuse the masks the sequence call drew
        out, loop_state = wrapper(x[:, t], loop_state)
        loop_outputs.append(out)
    assert rel_error(np.stack(loop_outputs, 1), outputs) < 1e-12
    for a, b in zip(leaves(loop_state), leaves(state)):
        assert rel_error(a, b) < 1e-12
    wrapper.reset_dropout_mask()
    assert not np.array_equal(wrapper(x[:, 0], state0)[0], loop_outputs[0])


def test_custom_visitor_and_state_is_tuple_false():
    rng = np.random.default_rng(3)
    inner = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(20, seed=0, **F64), rnn_cell.GRUCell(20, seed=1, **F64)])
    x = rng.standard_normal((30, 3, 4))

    def only_the_gru(substate):  # a tuple of two states: drop the second only
        if isinstance(substate, LSTMStateTuple):
            return False
        if isinstance(substate, tuple):
            return (False, True)
        return True

    _, state = dynamic_rnn(DropoutWrapper(inner, state_keep_prob=0.5, seed=0,
                                          dropout_state_filter_visitor=only_the_gru), x)
    _, reference = dynamic_rnn(inner, x)
    np.testing.assert_array_equal(state[0].c, reference[0].c)
    np.testing.assert_array_equal(state[0].h, reference[0].h)
    assert abs((state[1] == 0).mean() - 0.5) < 0.1
    flat = rnn_cell.BasicLSTMCell(20, state_is_tuple=False, seed=2, **F64)  # one array: TF1 drops c and h
    _, state = dynamic_rnn(DropoutWrapper(flat, state_keep_prob=0.5, seed=1), x)
    assert (state[:, :20] == 0).mean() > 0.3


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("inner", ["lstm_proj", "gru"])
def test_residual_wrapper(inner, lengths):
    make_inner = {"lstm_proj": lambda: rnn_cell.LSTMCell(3, num_proj=2, seed=0, **F64),
                  "gru": lambda: rnn_cell.GRUCell(2, seed=1, **F64)}[inner]
    cell = make_inner()
    wrapper = ResidualWrapper(cell)
    errors = static_rnn_gradient_errors(lambda: wrapper, lengths=lengths, weights_of=lambda c: cell.weights)
    assert max(errors.values()) < 1e-6, errors
    x = np.random.default_rng(0).standard_normal((3, 4, 2))
    out, state = dynamic_rnn(wrapper, x, lengths)
    ref, ref_state = dynamic_rnn(cell, x, lengths)
    valid = np.ones((3, 4), bool) if lengths is None else np.arange(4)[None] < lengths[:, None]
    np.testing.assert_allclose(out, np.where(valid[..., None], ref + x, 0.0), rtol=1e-12)
    for a, b in zip(leaves(state), leaves(ref_state)):
        np.testing.assert_array_equal(a, b)


def test_residual_fn_with_its_backward():
    cell = rnn_cell.GRUCell(2, seed=1, **F64)
    wrapper = ResidualWrapper(cell, residual_fn=lambda x, y: 2.0 * x + y * y,
                              residual_fn_backward=lambda x, y, d: (2.0 * d, 2.0 * y * d))
    errors = static_rnn_gradient_errors(lambda: wrapper, weights_of=lambda c: cell.weights)
    assert max(errors.values()) < 1e-6, errors
    bare = ResidualWrapper(rnn_cell.GRUCell(2, seed=1, **F64), residual_fn=lambda x, y: x - y)
    _, _, cache = dynamic_rnn(bare, np.ones((1, 2, 2)), return_cache=True)
    with pytest.raises(RnnkitValueError, match="residual_fn_backward"):
        dynamic_rnn_backward(cache, np.ones((1, 2, 2)))


def test_device_wrapper_changes_nothing():
    rng = np.random.default_rng(4)
    cell = rnn_cell.BasicLSTMCell(3, seed=0, **F64)
    wrapper = DeviceWrapper(cell, "/gpu:0")
    x = rng.standard_normal((2, 3, 2))
    a, sa, cache_a = dynamic_rnn(wrapper, x, return_cache=True)
    b, sb, cache_b = dynamic_rnn(cell, x, return_cache=True)
    np.testing.assert_array_equal(a, b)
    g = rng.standard_normal(a.shape)
    for u, v in zip(dynamic_rnn_backward(cache_a, g)[2], dynamic_rnn_backward(cache_b, g)[2]):
        np.testing.assert_array_equal(u, v)
    assert wrapper.device == "/gpu:0" and wrapper.weights == cell.weights


def test_wrappers_stack_in_multi_rnn_cell_with_static_rnn():
    """The TF1 tutorial pattern: MultiRNNCell([DropoutWrapper(LSTMCell) ...]) through static_rnn."""
    layers = [rnn_cell.BasicLSTMCell(3, seed=k, **F64) for k in range(2)]

    def make():
        return rnn_cell.MultiRNNCell([DropoutWrapper(layers[0], output_keep_prob=0.7, state_keep_prob=0.8, seed=1),
                                      ResidualWrapper(DropoutWrapper(layers[1], input_keep_prob=0.6, seed=2))])

    errors = static_rnn_gradient_errors(make, features=3, lengths=LENGTHS,
                                        weights_of=lambda c: layers[0].weights + layers[1].weights)
    assert max(errors.values()) < 1e-6, errors
    outputs, state = static_rnn(make(), [np.ones((3, 3))] * 2)
    assert outputs[1].shape == (3, 3) and isinstance(state[1], LSTMStateTuple)


@pytest.mark.parametrize("call, error, words", [
    (lambda: DropoutWrapper("lstm"), RnnkitTypeError, "cell"),
    (lambda: DropoutWrapper(rnn_cell.GRUCell(2), input_keep_prob=0.0), RnnkitValueError, "input_keep_prob"),
    (lambda: DropoutWrapper(rnn_cell.GRUCell(2), output_keep_prob=1.5), RnnkitValueError, "output_keep_prob"),
    (lambda: DropoutWrapper(rnn_cell.GRUCell(2), state_keep_prob="0.5"), RnnkitValueError, "state_keep_prob"),
    (lambda: DropoutWrapper(rnn_cell.GRUCell(2), variational_recurrent=1), RnnkitValueError, "variational"),
    (lambda: DropoutWrapper(rnn_cell.GRUCell(2), dropout_state_filter_visitor=3), RnnkitTypeError, "visitor"),
    (lambda: DropoutWrapper(rnn_cell.GRUCell(2), dtype="int32"), RnnkitTypeError, "dtype"),
    (lambda: dynamic_rnn(DropoutWrapper(rnn_cell.GRUCell(2), input_size=5), np.ones((1, 2, 3))),
     RnnkitValueError, "input_size=5"),
    (lambda: dynamic_rnn(DropoutWrapper(rnn_cell.BasicLSTMCell(2), state_keep_prob=0.5,
                                        dropout_state_filter_visitor=lambda s: "yes"), np.ones((1, 2, 3))),
     RnnkitTypeError, "visitor"),
    (lambda: dynamic_rnn(ResidualWrapper(rnn_cell.GRUCell(2)), np.ones((1, 2, 3))), RnnkitValueError,
     "ResidualWrapper"),
    (lambda: ResidualWrapper(rnn_cell.GRUCell(2), residual_fn=5), RnnkitTypeError, "residual_fn"),
    (lambda: DeviceWrapper(rnn_cell.GRUCell(2), device=0), RnnkitTypeError, "device"),
])
def test_named_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
