"""The shared layer check (tests/layer_checks.py) on every exported layer class and many options."""
import pytest

from layer_checks import check_layer
from rnnkit.layers import GRU, LSTM, MGU, RNN, Bidirectional, Dense, GRUCell, LSTMCell, MGUCell, SimpleRNN, SimpleRNNCell

SHAPE = (3, 5, 4)
BI_SHAPE = (3, 4, 3)  # two layers per check: a smaller problem keeps the file fast

DENSE_CASES = [
    ({"units": 3}, (4, 2)),
    ({"units": 3, "activation": "tanh"}, (2, 5, 4)),
    ({"units": 4, "activation": "softmax"}, (3, 2)),
    ({"units": 4, "activation": "log_softmax", "use_bias": False}, (2, 3, 5)),
    ({"units": 2, "activation": "sigmoid"}, (2, 2, 2, 3)),
]


@pytest.mark.parametrize("kwargs,shape", DENSE_CASES)
def test_dense(kwargs, shape):
    check_layer(Dense, dict(kwargs, seed=1), shape)


RNN_OPTIONS = [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "return_state": True, "go_backwards": True},
    {"go_backwards": True},
]


@pytest.mark.parametrize("cls,kwargs", [
    (SimpleRNN, {"units": 3}),
    (SimpleRNN, {"units": 3, "activation": "relu", "use_bias": False}),
    (LSTM, {"units": 3}),
    (GRU, {"units": 3}),
    (GRU, {"units": 3, "reset_after": False}),
    (MGU, {"units": 3}),
])
@pytest.mark.parametrize("options", RNN_OPTIONS)
def test_recurrent_layers(cls, kwargs, options):
    check_layer(cls, dict(kwargs, seed=2, **options), SHAPE)


@pytest.mark.parametrize("cls,kwargs", [(SimpleRNN, {"units": 3}), (LSTM, {"units": 3}), (GRU, {"units": 2}),
                                        (MGU, {"units": 2})])
@pytest.mark.parametrize("options", [
    {"return_sequences": True},
    {"return_state": True},
    {"return_sequences": True, "zero_output_for_mask": True},
    {"return_sequences": True, "return_state": True, "go_backwards": True},
])
def test_recurrent_layers_masked_with_initial_state(cls, kwargs, options):
    check_layer(cls, dict(kwargs, seed=3, **options), SHAPE, mask=True, initial_state=True)


@pytest.mark.parametrize("kwargs", [
    {"forget_bias": 1.0},
    {"use_peepholes": True},
    {"coupled_input_forget": True},
    {"num_proj": 2},
    {"cell_clip": 0.3},
    {"num_proj": 2, "proj_clip": 0.2, "use_peepholes": True, "cell_clip": 0.5},
    {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
])
def test_lstm_variants(kwargs):
    check_layer(LSTM, dict(units=3, seed=4, return_sequences=True, return_state=True, **kwargs), SHAPE,
                mask=True, initial_state=True)


def test_gru_variants():
    check_layer(GRU, dict(units=3, seed=5, activation="relu", reset_after=False, use_bias=False,
                          return_state=True), SHAPE, initial_state=True)


def _cells():
    return [SimpleRNNCell(3, seed=1, dtype="float64"), LSTMCell(2, seed=2, dtype="float64"),
            GRUCell(3, seed=3, dtype="float64"), MGUCell(2, seed=4, dtype="float64")]


@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "return_state": True}, {"go_backwards": True}])
def test_rnn_over_one_cell(options):
    for cell in _cells():
        check_layer(RNN, dict(cell=cell, **options), SHAPE, mask=True, initial_state=True)


@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "return_state": True}])
def test_rnn_over_stacked_cells(options):
    check_layer(RNN, dict(cell=_cells(), **options), SHAPE, mask=True, initial_state=True)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("options", [{}, {"return_sequences": True}, {"return_sequences": True, "return_state": True}])
def test_bidirectional(merge_mode, options):
    layer = LSTM(2, seed=6, **options)
    check_layer(Bidirectional, {"layer": layer, "merge_mode": merge_mode}, BI_SHAPE, mask=True)


@pytest.mark.parametrize("inner", [lambda: GRU(2, seed=7, return_sequences=True, return_state=True),
                                   lambda: SimpleRNN(3, seed=8, return_state=True)])
def test_bidirectional_initial_state_and_other_cells(inner):
    check_layer(Bidirectional, {"layer": inner()}, BI_SHAPE, mask=True, initial_state=True)


def test_bidirectional_custom_backward_layer():
    forward = SimpleRNN(3, seed=1, return_sequences=True)
    backward = GRU(2, seed=2, return_sequences=True, go_backwards=True, dtype="float64")
    check_layer(Bidirectional, {"layer": forward, "backward_layer": backward}, BI_SHAPE, mask=True)


def test_bidirectional_over_stacked_rnn():
    layer = RNN(_cells(), return_sequences=True)
    check_layer(Bidirectional, {"layer": layer, "merge_mode": "sum"}, BI_SHAPE)


@pytest.mark.parametrize("cls,kwargs", [(SimpleRNN, {"units": 3}), (LSTM, {"units": 3}), (GRU, {"units": 3}),
                                        (MGU, {"units": 3})])
def test_dropout_gradients(cls, kwargs):
    check_layer(cls, dict(kwargs, seed=9, dropout=0.3, recurrent_dropout=0.4, return_sequences=True), SHAPE,
                mask=True, initial_state=True, training=True)


def test_stacked_dropout_gradients():
    check_layer(RNN, dict(cell=_cells(), dropout=0.2, recurrent_dropout=0.3, seed=1), SHAPE, training=True)


def test_bidirectional_dropout_gradients():
    layer = GRU(2, seed=3, dropout=0.3, recurrent_dropout=0.3, return_sequences=True)
    check_layer(Bidirectional, {"layer": layer, "merge_mode": "ave"}, BI_SHAPE, mask=True, training=True)
