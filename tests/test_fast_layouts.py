"""Arrays of any memory layout give the same numbers on the compiled path (issue #11, defect 1).

The C loops read row-major memory. A Fortran-ordered initial state (``np.asfortranarray(h)``, or
``h.T.copy().T`` after a transpose) used to be copied with its Fortran order kept and read as if
it were row-major: outputs off by about 1.0, a wrong final state. Every array now crosses into C
through one helper (``rnnkit._fast.kernels.c_array``) that makes it C-contiguous with the expected
dtype and shape.
"""
import numpy as np
import pytest

from rnnkit import layers
from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell

fast = pytest.importorskip("rnnkit._fast")
if not fast.available():
    pytest.skip(fast.status(), allow_module_level=True)

CELLS = {"simple_rnn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell}


def fortran(array):
    """The same values, column-major: what a transpose round trip hands back."""
    return array.T.copy().T


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_fortran_ordered_initial_state_gives_the_c_ordered_results(kind):
    rng = np.random.default_rng(0)
    cell = CELLS[kind](5, seed=0)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    state0 = [rng.standard_normal((4, s)).astype(np.float32) for s in cell.state_size]
    want_out, want_final, cache = cell.forward(x, state0)
    got_out, got_final, got_cache = cell.forward(x, [fortran(s) for s in state0])
    assert not fortran(state0[0]).flags.c_contiguous
    np.testing.assert_allclose(got_out, want_out, rtol=1e-6, atol=1e-6)
    for a, b in zip(got_final, want_final):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    g_final = [rng.standard_normal(s.shape).astype(np.float32) for s in want_final]
    want = cell.backward(None, g_final, cache)
    got = cell.backward(None, [fortran(g) for g in g_final], got_cache)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fortran_ordered_initial_state_through_a_keras_layer():
    rng = np.random.default_rng(1)
    layer = layers.LSTM(4, return_sequences=True, seed=0)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    h, c = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    want = layer(x, initial_state=[h, c])
    got = layer(x, initial_state=[fortran(h), fortran(c)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- every layout into every compiled entry point
#
# Each array an entry point takes is handed over in a layout drawn independently: C order, Fortran
# order, a strided view (every other element of a larger array), negative strides on every axis,
# read-only, or the other float dtype (float64 into a float32 model; for masks: int8 instead of bool).
# The result must equal the NumPy reference (rnnkit.cells.reference_only) on C-ordered copies of the
# same arrays, and the caller's arrays must come back unchanged.

import contextlib  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from helpers import random_mask, rel_error  # noqa: E402
import rnnkit  # noqa: E402
from rnnkit import nn  # noqa: E402
from rnnkit._fast import threads  # noqa: E402
from rnnkit.cells import reference_only  # noqa: E402
from rnnkit.nn import rnn_cell  # noqa: E402
from test_fast_kernels import REFERENCE_OPS, compiled_twins, default_options, fast_kernels, make_case  # noqa: E402
from test_properties_support import PROPERTY_SETTINGS  # noqa: E402

LAYOUTS = ("c", "fortran", "strided", "negative", "readonly", "other_dtype")


def relayout(array, layout):
    """The values of ``array`` in ``layout`` (see above); None stays None."""
    if array is None:
        return None
    a = np.array(array)
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(tuple(2 * n + 1 for n in a.shape), a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "negative":
        return np.flip(np.flip(a).copy())
    if layout == "readonly":
        a.flags.writeable = False
        return a
    if layout == "other_dtype":
        if a.dtype.kind in "biu":  # a mask, sequence lengths
            return a.astype(np.int8 if a.dtype == bool else np.int32 if a.dtype == np.int64 else np.int64)
        return a.astype(np.float64 if a.dtype == np.float32 else np.float32)
    return a


def c_copies(value):
    """C-ordered copies of every array in a (nested) structure, same dtypes."""
    if isinstance(value, np.ndarray):
        return np.array(value, order="C")
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(c_copies(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(c_copies(v) for v in value)
    if isinstance(value, dict):
        return {k: c_copies(v) for k, v in value.items()}
    return value


def arrays(value):
    """Every array in a (nested) structure, in order."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in arrays(v)]
    return []


def assert_close(got, want, tol):
    got, want = arrays(got), arrays(want)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        assert rel_error(a, b) < tol, rel_error(a, b)


def draw_layouts(data, value):
    """``value`` (a nested structure) with each array in a layout drawn for it."""
    if isinstance(value, np.ndarray):
        return relayout(value, data.draw(st.sampled_from(LAYOUTS)))
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(draw_layouts(data, v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(draw_layouts(data, v) for v in value)
    if isinstance(value, dict):
        return {k: draw_layouts(data, v) for k, v in value.items()}
    return value


def unchanged(structure):
    """A check that the arrays of ``structure`` still hold what they hold now."""
    before = [a.copy() for a in arrays(structure)]
    return lambda: all(np.array_equal(a, b) for a, b in zip(arrays(structure), before))


def assert_layouts_give_the_reference(run, given_args, tol=1e-4):
    """``run(*given_args)`` on the compiled path equals it on the reference with C copies of the arrays,
    and leaves the caller's arrays as they were."""
    still = unchanged(given_args)
    got = run(*given_args)
    with reference_only():
        want = run(*c_copies(given_args))
    assert_close(got, want, tol)
    assert still()


def tolerance(*structures):
    return 1e-4 if any(a.dtype == np.float32 for s in structures for a in arrays(s)) else 1e-10


@contextlib.contextmanager
def rows_on_threads(count):
    """Calls of the compiled loops spread their batch rows over ``count`` threads (however small)."""
    saved = threads.SPLIT_MACS, threads.MIN_ROWS
    threads.SPLIT_MACS, threads.MIN_ROWS = 0, 1
    rnnkit.set_num_threads(count)
    try:
        yield
    finally:
        threads.SPLIT_MACS, threads.MIN_ROWS = saved
        rnnkit.set_num_threads(None)


SIZES = dict(batch=st.integers(1, 4), time=st.integers(1, 5), features=st.integers(1, 4), units=st.integers(1, 6))


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(sorted(CELLS)), dtype=st.sampled_from([np.float32, np.float64]), masked=st.booleans(),
       dropped=st.booleans(), split=st.booleans(), data=st.data(), **SIZES)
def test_compiled_ops_take_every_layout(kind, dtype, masked, dropped, split, data, batch, time, features, units):
    """The compiled ops themselves (forward and backward, rows on one thread or spread over three): x, each
    state, each weight,
    the mask, the recurrent mask, the output gradient and each state gradient."""
    rng = np.random.default_rng(batch * 100 + time * 10 + units)
    case = make_case(kind, dtype, rng, batch, time, features, units, masked=masked, recurrent_masked=dropped)
    upstream = (rng.standard_normal((batch, time, units)).astype(dtype),
                [rng.standard_normal((batch, units)).astype(dtype) for _ in case[1]])
    given_case, given_upstream = draw_layouts(data, case), draw_layouts(data, upstream)
    still = unchanged((given_case, given_upstream))
    options = default_options(kind)
    forward, backward = fast_kernels.COMPILED_OPS[kind]
    with rows_on_threads(3 if split else 1):
        outputs, final, cache = forward(*given_case, **options)
        got = [outputs, final, backward(*given_upstream, cache)]
    if all(a.dtype == dtype for a in arrays(given_case) if a.dtype.kind == "f"):  # else the reference runs
        assert fast_kernels._is_compiled(cache, kind)
    ref_forward, ref_backward = REFERENCE_OPS[kind]
    outputs, final, ref_cache = ref_forward(*c_copies(given_case), **options)
    want = [outputs, final, ref_backward(*c_copies(given_upstream), ref_cache)]
    assert_close(got, want, tolerance(given_case, given_upstream))
    assert still()


def run_cell(cell, x, state0, mask, upstream):
    outputs, final, cache = cell.forward(x, state0, mask)
    return [outputs, final, cell.backward(*upstream, cache)]


@PROPERTY_SETTINGS
@given(kind=st.sampled_from(sorted(CELLS)), masked=st.booleans(), data=st.data(), **SIZES)
def test_cells_forward_backward_and_one_step_take_every_layout(kind, masked, data, batch, time, features, units):
    """The cells' forward and backward (inputs, initial states, mask, output and state gradients) and their
    one-step call, float32 models."""
    assert compiled_twins(kind)
    rng = np.random.default_rng(batch * 100 + time * 10 + units)
    cell = CELLS[kind](units, seed=1)
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    state0 = [rng.standard_normal((batch, s)).astype(np.float32) for s in cell.state_size]
    mask = random_mask(rng, batch, time) if masked else None
    upstream = (rng.standard_normal((batch, time, units)).astype(np.float32),
                [rng.standard_normal((batch, s)).astype(np.float32) for s in cell.state_size])
    assert_layouts_give_the_reference(lambda *args: [run_cell(cell, *args), cell(args[0][:, 0], args[1])],
                                      draw_layouts(data, (x, state0, mask, upstream)))


KERAS_LAYERS = {
    "SimpleRNN": lambda: layers.SimpleRNN(4, return_sequences=True, return_state=True, seed=0),
    "LSTM": lambda: layers.LSTM(4, return_sequences=True, return_state=True, seed=0),
    "GRU": lambda: layers.GRU(4, return_sequences=True, return_state=True, seed=0),
    "LSTM_backwards": lambda: layers.LSTM(4, return_sequences=True, return_state=True, go_backwards=True, seed=0),
    "Bidirectional": lambda: layers.Bidirectional(layers.GRU(4, return_sequences=True, return_state=True, seed=0)),
    "Bidirectional_LSTM": lambda: layers.Bidirectional(
        layers.LSTM(4, return_sequences=True, return_state=True, seed=0), merge_mode=None),
}


def run_layer(layer, x, initial_state, mask, upstream):
    outputs = layer(x, mask=mask, initial_state=initial_state)
    dx = layer.backward(*upstream)
    return [outputs, dx, layer.get_gradients(), layer.initial_state_gradients]


@PROPERTY_SETTINGS
@given(name=st.sampled_from(sorted(KERAS_LAYERS)), masked=st.booleans(), data=st.data(),
       batch=st.integers(1, 4), time=st.integers(1, 5), features=st.integers(1, 4))
def test_keras_layers_and_bidirectional_take_every_layout(name, masked, data, batch, time, features):
    """Keras layers and Bidirectional: inputs, initial states, mask and every gradient passed to backward."""
    rng = np.random.default_rng(batch * 100 + time * 10 + features)
    layer = KERAS_LAYERS[name]()
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    mask = random_mask(rng, batch, time) if masked else None
    with reference_only():
        shapes = [o.shape for o in layer(x, mask=mask)]  # builds the layer; gives the shapes to draw for
    states = [rng.standard_normal(s).astype(np.float32) for s in shapes if len(s) == 2]
    upstream = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    assert_layouts_give_the_reference(lambda *args: run_layer(layer, *args),
                                      draw_layouts(data, (x, states, mask, upstream)))


TF1_CELLS = {
    "BasicRNNCell": lambda: rnn_cell.BasicRNNCell(4, seed=0),
    "GRUCell": lambda: rnn_cell.GRUCell(4, seed=0),
    "BasicLSTMCell": lambda: rnn_cell.BasicLSTMCell(4, seed=0),
    "BasicLSTMCell_concatenated": lambda: rnn_cell.BasicLSTMCell(4, state_is_tuple=False, seed=0),
    "MultiRNNCell": lambda: rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(3, seed=0), rnn_cell.GRUCell(4, seed=1)]),
}


def random_state(rng, structure, batch):
    """Random float32 arrays in a TF1 state structure of sizes."""
    if isinstance(structure, (int, np.integer)):
        return rng.standard_normal((batch, int(structure))).astype(np.float32)
    parts = [random_state(rng, s, batch) for s in structure]
    return type(structure)(*parts) if hasattr(structure, "_fields") else tuple(parts)


def run_tf1(cell, x, state, lengths, d_outputs, d_state):
    step = cell(x[:, 0], state)
    outputs, final, cache = nn.dynamic_rnn(cell, x, sequence_length=lengths, initial_state=state, return_cache=True)
    return [step, outputs, final, nn.dynamic_rnn_backward(cache, d_outputs, d_state)]


@PROPERTY_SETTINGS
@given(name=st.sampled_from(sorted(TF1_CELLS)), data=st.data(), batch=st.integers(1, 4), time=st.integers(1, 5),
       features=st.integers(1, 4), ragged=st.booleans())
def test_tf1_cells_and_dynamic_rnn_take_every_layout(name, data, batch, time, features, ragged):
    """TF1 cells' one-step call and dynamic_rnn (inputs, initial state structures, their gradients)."""
    rng = np.random.default_rng(batch * 100 + time * 10 + features)
    cell = TF1_CELLS[name]()
    cell.build(features)
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    state = random_state(rng, cell.state_size, batch)
    lengths = rng.integers(0, time + 1, batch) if ragged else None
    d_outputs = rng.standard_normal((batch, time, cell.output_size)).astype(np.float32)
    d_state = random_state(rng, cell.state_size, batch)
    assert_layouts_give_the_reference(lambda *args: run_tf1(cell, *args),
                                      draw_layouts(data, (x, state, lengths, d_outputs, d_state)))
