import numpy as np
import pytest

from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.layers import GRU, LSTM, RNN, Bidirectional, Dense, LSTMCell, SimpleRNN, SimpleRNNCell


def _x(shape, dtype=np.float64):
    return np.random.default_rng(1).standard_normal(shape).astype(dtype)


def test_tutorial_parameter_counts():
    lstm = LSTM(64, return_sequences=True, activation="relu", input_shape=(5, 126))
    lstm(np.zeros((1, 5, 126), np.float32))
    small = LSTM(12)
    small.build((None, 3, 80))
    rnn, head = SimpleRNN(3), Dense(5, activation="softmax")
    y = head(rnn(np.eye(5, dtype=np.float32)[:, None, :]))
    assert (lstm.count_params(), small.count_params()) == (48896, 4464)
    assert (rnn.count_params(), head.count_params()) == (27, 20)
    assert y.shape == (5, 5)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-6)
    assert [w.shape for w in lstm.get_weights()] == [(126, 256), (64, 256), (256,)]
    np.testing.assert_array_equal(lstm.get_weights()[2][64:128], 1.0)  # unit_forget_bias
    gru = GRU(4)
    gru.build((None, 2, 3))
    assert [w.shape for w in gru.get_weights()] == [(3, 12), (4, 12), (2, 12)]


def test_tutorial_worked_step():
    layer = SimpleRNN(3, dtype="float64")
    layer.build((None, 1, 5))
    kernel = np.zeros((5, 3))
    kernel[1] = [-2.3, 0.8, 1.1]
    layer.set_weights([kernel, np.zeros((3, 3)), np.array([0.5, 0.3, -0.2])])
    h = layer(np.array([[[0.0, 1.0, 0.0, 0.0, 0.0]]]))
    np.testing.assert_allclose(h[0], np.tanh([-1.8, 1.1, 0.9]), rtol=1e-12)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_layer_equals_its_cell_and_return_forms(cls):
    x = _x((2, 6, 3))
    layer = cls(4, return_sequences=True, return_state=True, seed=0, dtype="float64")
    seq, *states = layer(x)
    outputs, final, _ = layer.cell.forward(x)
    np.testing.assert_array_equal(seq, outputs)
    for a, b in zip(states, final):
        np.testing.assert_array_equal(a, b)
    last = cls(4, seed=0, dtype="float64")(x)
    np.testing.assert_array_equal(last, seq[:, -1])
    shapes = layer.compute_output_shape(x.shape)
    assert shapes[0] == seq.shape and shapes[1:] == [s.shape for s in states]


def test_go_backwards_keeps_reversed_order():
    x = _x((2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    fwd = SimpleRNN(4, return_sequences=True, seed=0, dtype="float64")
    bwd = SimpleRNN(4, return_sequences=True, go_backwards=True, seed=0, dtype="float64")
    np.testing.assert_array_equal(bwd(x, mask=mask), fwd(x[:, ::-1], mask=mask[:, ::-1]))


def test_mask_matches_truncated_sequences():
    x = _x((2, 6, 3))
    layer = LSTM(4, return_state=True, seed=0, dtype="float64")
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    out, h, c = layer(x, mask=mask)
    short, hs, cs = layer(x[:1, :4])
    np.testing.assert_allclose(out[0], short[0], rtol=1e-12)
    np.testing.assert_allclose(c[0], cs[0], rtol=1e-12)
    assert layer.compute_mask(x, mask) == [None, None, None]
    seq_layer = LSTM(4, return_sequences=True)
    assert seq_layer.compute_mask(x, mask) is mask


def test_stacked_cells_return_flat_states():
    cells = [SimpleRNNCell(3, seed=0, dtype="float64"), LSTMCell(2, seed=1, dtype="float64")]
    layer = RNN(cells, return_state=True, name="rnn")
    out, h1, h2, c2 = layer(_x((2, 4, 5)))
    assert (out.shape, h1.shape, h2.shape, c2.shape) == ((2, 2), (2, 3), (2, 2), (2, 2))
    assert [v.name for v in layer.weights][:2] == ["rnn/cell_0/kernel", "rnn/cell_0/recurrent_kernel"]
    assert layer.count_params() == 27 + 4 * 2 * (2 + 3 + 1)


# ------------------------------------------------------------------ dropout
def test_dropout_masks_are_constant_over_time_and_reproducible():
    x = _x((8, 7, 5))
    layer = GRU(6, dropout=0.4, recurrent_dropout=0.3, return_sequences=True, seed=11, dtype="float64")
    y = layer(x, training=True)
    input_mask, recurrent_mask = layer.dropout_masks
    assert input_mask.shape == (8, 5) and recurrent_mask.shape == (8, 6)
    assert set(np.unique(input_mask)) <= {0.0, 1 / 0.6}
    assert set(np.unique(recurrent_mask)) <= {0.0, 1 / 0.7}
    assert 0 < (input_mask == 0).mean() < 1 and 0 < (recurrent_mask == 0).mean() < 1
    # the same two masks at every step: the layer equals its cell run on x * mask with that recurrent mask
    expected, _, _ = layer.cell.forward(x * input_mask[:, None, :], recurrent_mask=recurrent_mask)
    np.testing.assert_array_equal(y, expected)
    twin = GRU(6, dropout=0.4, recurrent_dropout=0.3, return_sequences=True, seed=11, dtype="float64")
    np.testing.assert_array_equal(twin(x, training=True), y)
    for a, b in zip(twin.dropout_masks, layer.dropout_masks):
        np.testing.assert_array_equal(a, b)
    second = layer(x, training=True)
    assert not np.array_equal(second, y)  # fresh masks on the next call


def test_dropout_is_off_at_inference():
    x = _x((3, 4, 5))
    layer = LSTM(3, dropout=0.5, recurrent_dropout=0.5, seed=2, dtype="float64")
    plain = LSTM(3, seed=2, dtype="float64")
    np.testing.assert_array_equal(layer(x), plain(x))
    assert layer.dropout_masks == (None, None)


def test_stacked_recurrent_dropout_gives_one_mask_per_cell():
    layer = RNN([SimpleRNNCell(3), LSTMCell(2, num_proj=1)], recurrent_dropout=0.5, seed=0)
    layer(_x((4, 3, 2), np.float32), training=True)
    assert [m.shape for m in layer.dropout_masks[1]] == [(4, 3), (4, 1)]


# ------------------------------------------------------------------ stateful
def test_stateful_carries_state_across_calls():
    x = _x((2, 8, 3))
    full = LSTM(4, return_sequences=True, seed=0, dtype="float64")
    stateful = LSTM(4, return_sequences=True, stateful=True, seed=0, dtype="float64")
    a, b = stateful(x[:, :5]), stateful(x[:, 5:])
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), full(x), rtol=1e-12)
    stateful.reset_states()
    assert all(np.all(s == 0) for s in stateful.states)
    np.testing.assert_allclose(stateful(x[:, :5]), a, rtol=1e-12)
    h, c = np.ones((2, 4)), np.full((2, 4), 0.5)
    stateful.reset_states([h, c])
    np.testing.assert_array_equal(stateful.states[0], h)
    out, _, _ = LSTM(4, return_sequences=True, return_state=True, seed=0, dtype="float64")(x[:, :2],
                                                                                           initial_state=[h, c])
    np.testing.assert_allclose(stateful(x[:, :2]), out, rtol=1e-12)


def test_stateful_errors():
    layer = SimpleRNN(2, stateful=True)
    layer(np.zeros((3, 2, 1), np.float32))
    with pytest.raises(RnnkitValueError, match="batch size 3"):
        layer(np.zeros((4, 2, 1), np.float32))
    with pytest.raises(RnnkitValueError, match=r"states\[0\] of layer .* must have shape \(3, 2\)"):
        layer.reset_states([np.zeros((3, 5))])
    plain = SimpleRNN(2)
    plain.reset_states()  # a no-op, so a model may reset every layer
    with pytest.raises(RnnkitValueError, match="needs a stateful layer"):
        plain.reset_states([np.zeros((1, 2))])


# ------------------------------------------------------------------ backward extras
def test_initial_state_gradients_only_when_passed():
    layer = SimpleRNN(3, dtype="float64", seed=0)
    x = _x((2, 4, 3))
    layer(x)
    layer.backward(np.ones((2, 3)))
    assert layer.initial_state_gradients is None
    layer(x, initial_state=np.zeros((2, 3)))
    layer.backward(np.ones((2, 3)))
    assert layer.initial_state_gradients[0].shape == (2, 3)


def test_backward_with_only_state_gradients():
    layer = LSTM(3, return_state=True, dtype="float64", seed=0)
    layer(_x((2, 4, 3)))
    dx = layer.backward(None, None, np.ones((2, 3)))
    assert dx.shape == (2, 4, 3) and np.abs(dx).sum() > 0


# ------------------------------------------------------------------ bidirectional
def test_bidirectional_structure_and_alignment():
    x = _x((2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    bi = Bidirectional(GRU(4, return_sequences=True, seed=0, dtype="float64", name="gru"), name="bi")
    y = bi(x, mask=mask)
    assert bi.forward_layer.name == "forward_gru" and bi.backward_layer.name == "backward_gru"
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    assert bi.forward_layer.zero_output_for_mask and bi.backward_layer.zero_output_for_mask
    assert [v.name for v in bi.weights][0] == "bi/forward_gru/kernel"
    assert [v.name for v in bi.weights][3] == "bi/backward_gru/kernel"
    assert bi.count_params() == 2 * 3 * (3 * 4 + 4 * 4 + 2 * 4)
    fwd = bi.forward_layer(x, mask=mask)
    bwd = bi.backward_layer(x, mask=mask)[:, ::-1]
    np.testing.assert_array_equal(y, np.concatenate([fwd, bwd], axis=-1))
    assert np.all(y[0, 3:] == 0)  # masked steps are zeros in both directions
    assert bi.compute_output_shape(x.shape) == (2, 5, 8)
    assert bi.compute_mask(x, mask) is mask


def test_bidirectional_states_and_merge_none():
    bi = Bidirectional(LSTM(2, return_state=True), merge_mode=None)
    outs = bi(_x((3, 4, 2), np.float32))
    assert [o.shape for o in outs] == [(3, 2)] * 6
    assert bi.compute_output_shape((3, 4, 2)) == [(3, 2)] * 6


def test_bidirectional_errors():
    with pytest.raises(RnnkitValueError, match="merge_mode must be one of"):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(RnnkitTypeError, match="layer must be an rnnkit RNN"):
        Bidirectional(Dense(2))
    with pytest.raises(RnnkitValueError, match="go_backwards=True"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(RnnkitValueError, match="return_sequences must equal"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True))
    bi = Bidirectional(LSTM(2))
    with pytest.raises(RnnkitValueError, match="list of 4 arrays"):
        bi(np.zeros((1, 2, 3), np.float32), initial_state=[np.zeros((1, 2))])


# ------------------------------------------------------------------ input checks
def test_recurrent_input_errors_name_argument_and_values():
    layer = GRU(3, name="gru_x")
    with pytest.raises(RnnkitValueError, match=r"inputs must have rank 3, got array of shape \(2, 3\)"):
        layer(np.zeros((2, 3), np.float32))
    with pytest.raises(RnnkitTypeError, match="floating dtype"):
        layer(np.zeros((2, 3, 4), np.int32))
    layer(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(RnnkitValueError, match=r"'gru_x' must have 4 features .*\(2, 3, 6\)"):
        layer(np.zeros((2, 3, 6), np.float32))
    with pytest.raises(RnnkitValueError, match=r"initial_state\[0\] of layer 'gru_x' must have shape \(2, 3\)"):
        layer(np.zeros((2, 3, 4), np.float32), initial_state=[np.zeros((2, 4))])
    with pytest.raises(RnnkitValueError, match=r"mask must have shape"):
        layer(np.zeros((2, 3, 4), np.float32), mask=np.ones((2, 4), bool))
    with pytest.raises(RnnkitValueError, match="dropout must be a number in"):
        GRU(3, dropout=1.5)
    with pytest.raises(RnnkitValueError, match="must match its cell's dtype"):
        RNN(SimpleRNNCell(2), dtype="float64")
    with pytest.raises(RnnkitTypeError, match="cell must be a recurrent cell"):
        RNN("lstm")
    with pytest.raises(RnnkitValueError, match=r"set_weights on layer 'gru_x': weight gru_x/bias has shape \(2, 9\)"):
        layer.set_weights([np.zeros((4, 9)), np.zeros((3, 9)), np.zeros(9)])


def test_bidirectional_directions_share_one_dropout_generator_but_start_differently():
    bi = Bidirectional(LSTM(3, seed=4, dropout=0.5))
    bi(_x((2, 3, 4), np.float32), training=True)
    assert bi.rng is bi.forward_layer.rng is bi.backward_layer.rng
    fwd_mask, bwd_mask = bi.forward_layer.dropout_masks[0], bi.backward_layer.dropout_masks[0]
    assert not np.array_equal(fwd_mask, bwd_mask)
    assert not np.array_equal(bi.forward_layer.get_weights()[0], bi.backward_layer.get_weights()[0])


def test_supports_tbptt_says_which_recurrent_layers_carry_their_state_forward():
    from rnnkit.layers import GRU, LSTM, Bidirectional, Dense
    assert LSTM(2).supports_tbptt and GRU(2).supports_tbptt
    assert not LSTM(2, go_backwards=True).supports_tbptt
    assert not Bidirectional(LSTM(2)).supports_tbptt
    assert Dense(2).supports_tbptt  # no state, so chunks of its input are fine (Layer's default)
