"""Property-based tests of the cell face: rnnkit.cells and rnnkit.nn.dynamic_rnn over random
shapes (batch 0 or 1, time 0 or 1 included), dtypes, scales from 0 to 1e4, fully masked rows,
sequence lengths of 0 and gradient checkpointing — and over junk arguments."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit import cells, nn
from rnnkit.nn import rnn_cell
from test_properties_support import JUNK, PROPERTY_SETTINGS, all_finite, documented, sequences

# a NumPy overflow/invalid/complex-cast warning is a silent numerical problem: fail on it
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

CELL_KINDS = {
    "simple_tanh": lambda d: cells.SimpleRNNCell(3, dtype=d, seed=0),
    "simple_relu": lambda d: cells.SimpleRNNCell(2, activation="relu", dtype=d, seed=0),
    "lstm": lambda d: cells.LSTMCell(3, dtype=d, seed=0),
    "lstm_variants": lambda d: cells.LSTMCell(3, use_peepholes=True, num_proj=2, cell_clip=1.0, proj_clip=0.5,
                                              dtype=d, seed=0),
    "gru": lambda d: cells.GRUCell(2, dtype=d, seed=0),
    "gru_reset_before": lambda d: cells.GRUCell(3, reset_after=False, dtype=d, seed=0),
    "mgu": lambda d: cells.MGUCell(3, dtype=d, seed=0),
    "stacked": lambda d: cells.StackedRNNCells([cells.LSTMCell(2, dtype=d, seed=0), cells.GRUCell(3, dtype=d, seed=1)]),
}


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(sorted(CELL_KINDS)), data=sequences(), zero_out=st.booleans(),
       segment=st.one_of(st.none(), st.integers(1, 4)))
def test_cell_forward_backward_finite_on_valid_inputs(kind, data, zero_out, segment):
    x, mask = data
    cell = CELL_KINDS[kind](x.dtype)
    extra = {} if segment is None else {"backprop_segment": segment}
    outputs, final, cache = cell.forward(x, None, mask, zero_output_for_mask=zero_out, **extra)
    batch, time, features = x.shape
    assert outputs.shape == (batch, time, cell.output_size) and outputs.dtype == x.dtype
    rng = np.random.default_rng(0)
    d_out = rng.standard_normal(outputs.shape).astype(x.dtype)
    dx, d_state0, grads = cell.backward(d_out, None, cache)
    assert dx.shape == x.shape
    assert [g.shape for g in grads] == [w.shape for w in cell.get_weights()]
    assert all_finite(outputs, final, dx, d_state0, grads)
    if mask is not None and time and zero_out:
        assert not outputs[~mask].any()  # masked steps output exact zeros


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(sorted(CELL_KINDS)), x=JUNK, mask=st.one_of(st.none(), JUNK),
       state=st.one_of(st.none(), JUNK), segment=st.one_of(st.none(), st.integers(-2, 3), JUNK))
def test_cell_forward_on_junk_works_or_raises_documented_error(kind, x, mask, state, segment):
    cell = CELL_KINDS[kind]("float32")
    cell.build(3)  # so a wrong feature count is an error, not a first build
    extra = {"backprop_segment": segment}
    result = documented(lambda: cell.forward(x, state, mask, **extra))
    if result is not None:
        outputs, final, cache = result
        assert np.asarray(x).shape[-1] == 3 and outputs.shape[:2] == np.asarray(x).shape[:2]
        assert all_finite(outputs, final)


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(["simple_tanh", "lstm", "gru"]), batch=st.integers(0, 3), units=st.integers(1, 3),
       inputs=JUNK)
def test_one_step_call_works_or_raises_documented_error(kind, batch, units, inputs):
    cell = CELL_KINDS[kind]("float64")
    cell.build(2)
    states = cell.check_state(None, batch)
    result = documented(lambda: cell(inputs, states))
    if result is not None:
        output, new_states = result
        assert output.shape == (batch, cell.output_size) and all_finite(output, new_states)


TF1_CELLS = {
    "basic_rnn": lambda: rnn_cell.BasicRNNCell(3, seed=0),
    "basic_lstm": lambda: rnn_cell.BasicLSTMCell(2, seed=0),
    "lstm_proj": lambda: rnn_cell.LSTMCell(3, use_peepholes=True, num_proj=2, seed=0),
    "gru": lambda: rnn_cell.GRUCell(2, seed=0),
    "multi": lambda: rnn_cell.MultiRNNCell([rnn_cell.GRUCell(2, seed=0), rnn_cell.BasicLSTMCell(3, seed=1)]),
}


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(sorted(TF1_CELLS)), data=sequences(), time_major=st.booleans(),
       lengths_seed=st.integers(0, 100), use_lengths=st.booleans(), bidirectional=st.booleans())
def test_dynamic_rnn_finite_with_zero_lengths_and_empty_batches(kind, data, time_major, lengths_seed,
                                                                use_lengths, bidirectional):
    x, _ = data
    batch, time, _ = x.shape
    lengths = None
    if use_lengths:
        lengths = np.random.default_rng(lengths_seed).integers(0, time + 1, size=batch)
    inputs = np.swapaxes(x, 0, 1) if time_major else x
    if bidirectional:
        (out_fw, out_bw), states, cache = nn.bidirectional_dynamic_rnn(
            TF1_CELLS[kind](), TF1_CELLS[kind](), inputs, sequence_length=lengths, time_major=time_major,
            return_cache=True)
        dx, d0, grads = nn.bidirectional_dynamic_rnn_backward(cache, (np.ones_like(out_fw), np.ones_like(out_bw)))
        outputs = out_fw
    else:
        outputs, states, cache = nn.dynamic_rnn(TF1_CELLS[kind](), inputs, sequence_length=lengths,
                                                time_major=time_major, return_cache=True)
        dx, d0, grads = nn.dynamic_rnn_backward(cache, np.ones_like(outputs))
    assert dx.shape == inputs.shape
    assert all_finite(outputs, states, dx, d0, grads)
    if lengths is not None and time:
        out_bm = np.swapaxes(outputs, 0, 1) if time_major else outputs
        past_end = np.arange(time)[None, :] >= lengths[:, None]
        assert not out_bm[past_end].any()  # TF1: zeros past each sequence's length


@PROPERTY_SETTINGS
@given(inputs=JUNK, lengths=st.one_of(st.none(), JUNK, st.lists(st.integers(-2, 8), max_size=4)),
       time_major=st.booleans(), dtype=st.one_of(st.none(), st.sampled_from(["float32", "int32", "bogus"])))
def test_dynamic_rnn_on_junk_works_or_raises_documented_error(inputs, lengths, time_major, dtype):
    result = documented(lambda: nn.dynamic_rnn(rnn_cell.GRUCell(2, seed=0), inputs, sequence_length=lengths,
                                               time_major=time_major, dtype=dtype))
    if result is not None:
        outputs, state = result
        assert all_finite(outputs, state)
