"""rnnkit.no_grad: inference runs keep no cache, and give the same outputs as a training run.

The compiled kernels run separate inference loops under no_grad (input projection a few steps
at a time, no per-step cache); they must equal the NumPy reference to float32 rounding (float64
to 1e-12) wherever the ring of projected steps wraps, with masks and recurrent masks. Backward after such a forward must fail with an error that says why.
"""
import threading

import numpy as np
import pytest

import rnnkit
from helpers import rel_error
from rnnkit import ops
from rnnkit.errors import RnnkitValueError
from test_fast_kernels import GATES, REFERENCE_OPS, TOLERANCE, default_options, fast_kernels, make_case


def forward_both(cell, case, options):
    """Reference forward with gradients on, compiled forward under no_grad: (reference, compiled, cache)."""
    x, state0, params, mask, rmask = case
    outputs, final, _ = REFERENCE_OPS[cell][0](x, state0, params, mask, rmask, **options)
    with rnnkit.no_grad():
        got_outputs, got_final, cache = fast_kernels.COMPILED_OPS[cell][0](x, state0, params, mask, rmask, **options)
    return [outputs, *final], [got_outputs, *got_final], cache


# batch 200 makes the ring 3 steps long (512 rows per projection), so 7 steps wrap it twice
@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch,time,masked,recurrent_masked", [(200, 7, False, False), (200, 7, True, True),
                                                                (3, 11, True, False), (1, 1, False, True)])
def test_inference_loops_equal_reference(cell, dtype, batch, time, masked, recurrent_masked):
    rng = np.random.default_rng(batch + time)
    case = make_case(cell, dtype, rng, batch, time, 5, 6, masked=masked, recurrent_masked=recurrent_masked)
    options = dict(default_options(cell), zero_output_for_mask=masked and cell == "gru")
    want, got, cache = forward_both(cell, case, options)
    assert cache is None
    assert max(rel_error(a, b) for a, b in zip(want, got)) < TOLERANCE[dtype]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("batch,time,units", [(200, 7, 16), (5, 9, 19), (13, 3, 40)])
def test_lstm_inference_and_training_equal_reference(training, batch, time, units):
    """Units that fill whole GEMM panels and units that end in a partial one; rows in whole tiles and not."""
    rng = np.random.default_rng(time)
    case = make_case("lstm", np.float32, rng, batch, time, 5, units, recurrent_masked=True)
    options = dict(default_options("lstm"), forget_bias=1.0)
    if training:
        x, state0, params, _, rmask = case
        want = REFERENCE_OPS["lstm"][0](x, state0, params, None, rmask, **options)
        got = fast_kernels.lstm_forward(x, state0, params, None, rmask, **options)
        assert got[2] is not None and got[2]["gates"].shape == (time, batch, 4 * units)
        want, got = [want[0], *want[1]], [got[0], *got[1]]
    else:
        want, got, cache = forward_both("lstm", case, options)
        assert cache is None
    assert max(rel_error(a, b) for a, b in zip(want, got)) < TOLERANCE[np.float32]


def test_no_grad_nests_restores_and_is_per_thread():
    assert ops.is_grad_enabled()
    seen = []
    with rnnkit.no_grad():
        with rnnkit.no_grad():
            assert not ops.is_grad_enabled()
        assert not ops.is_grad_enabled()
        other = threading.Thread(target=lambda: seen.append(ops.is_grad_enabled()))
        other.start()
        other.join()
    assert ops.is_grad_enabled() and seen == [True]
    with pytest.raises(KeyError):
        with rnnkit.no_grad():
            raise KeyError("x")
    assert ops.is_grad_enabled()

    @rnnkit.no_grad()
    def inner():
        return ops.is_grad_enabled()

    assert inner() is False and ops.is_grad_enabled()


@pytest.mark.parametrize("cell_class", [rnnkit.cells.LSTMCell, rnnkit.cells.GRUCell, rnnkit.cells.SimpleRNNCell])
def test_cell_backward_after_no_grad_forward_says_why(cell_class):
    cell = cell_class(4, seed=0)
    x = np.ones((2, 3, 5), np.float32)
    outputs, final, cache = cell.forward(x)
    with rnnkit.no_grad():
        outputs2, final2, cache2 = cell.forward(x, backprop_segment=2)
    assert cache2 is None
    np.testing.assert_allclose(outputs2, outputs, rtol=1e-5, atol=1e-6)
    with pytest.raises(RnnkitValueError, match="no_grad"):
        cell.backward(np.ones_like(outputs), None, cache2)


def test_predict_runs_without_cache_and_equals_a_training_free_call():
    model = rnnkit.Sequential([rnnkit.layers.LSTM(8, return_sequences=True, input_shape=(6, 3)),
                               rnnkit.layers.GRU(5), rnnkit.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).standard_normal((70, 6, 3)).astype(np.float32)
    want = model(x)  # gradients on: keeps caches
    got = model.predict(x, batch_size=32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(RnnkitValueError, match="no_grad"):
        model.layers[0].backward(np.ones((6, 6, 8), np.float32))  # its last call was predict's
    model.fit(x, np.zeros((70, 2), np.float32), epochs=1, batch_size=35, verbose=0)  # training still works
