"""Two threads over the batch (rnnkit/_fast/batch_split.py) give the one-thread results.

Each half runs the whole compiled loop on its rows; outputs, final states and input
gradients are concatenated and weight gradients summed, so they must equal the unsplit
kernels to float32 rounding (float64 to 1e-12), with masks, recurrent masks and state
gradients, in training and under no_grad.
"""
import numpy as np
import pytest

import rnnkit
from helpers import rel_error
from rnnkit._fast import batch_split
from test_fast_kernels import GATES, REFERENCE_OPS, TOLERANCE, default_options, fast_kernels, make_case


def is_split(cache):
    return isinstance(cache, dict) and "split" in cache


@pytest.fixture
def always_split(monkeypatch):
    monkeypatch.setattr(batch_split, "MIN_MACS", 0)
    monkeypatch.delenv("RNNKIT_BATCH_SPLIT", raising=False)
    forward = fast_kernels.SPLIT_OPS["lstm"][0]
    probe = forward(np.zeros((2, 1, 1), np.float32), [np.zeros((2, 1), np.float32)] * 2,
                    {"kernel": np.zeros((1, 4), np.float32), "recurrent_kernel": np.zeros((1, 4), np.float32)})
    if not is_split(probe[2]):
        pytest.skip("BLAS runs on one thread here (or its thread count cannot be set): calls are never split")


def run(pair, case, options, grads):
    x, state0, params, mask, rmask = case
    forward, backward = pair
    outputs, final, cache = forward(x, state0, params, mask, rmask, **options)
    if grads is None:
        return [outputs, *final], cache
    dx, d_state0, weight_grads = backward(grads[0], grads[1], cache)
    return [outputs, *final, dx, *d_state0, *weight_grads.values()], cache


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch,masked,recurrent_masked", [(2, False, False), (7, True, True), (9, False, True)])
def test_split_equals_unsplit(always_split, cell, dtype, batch, masked, recurrent_masked):
    rng = np.random.default_rng(batch)
    case = make_case(cell, dtype, rng, batch, 6, 4, 5, masked=masked, recurrent_masked=recurrent_masked)
    options = default_options(cell)
    shape = (batch, 6, 5)
    grads = (rng.standard_normal(shape).astype(dtype),
             [rng.standard_normal((batch, 5)).astype(dtype) for _ in range(2 if cell == "lstm" else 1)])
    want, _ = run(fast_kernels.COMPILED_OPS[cell], case, options, grads)
    got, cache = run(fast_kernels.SPLIT_OPS[cell], case, options, grads)
    assert is_split(cache) and cache["cut"] == batch // 2
    assert max(rel_error(a, b) for a, b in zip(want, got)) < TOLERANCE[dtype]
    with rnnkit.no_grad():
        got, cache = run(fast_kernels.SPLIT_OPS[cell], case, options, None)
    assert cache is None
    assert max(rel_error(a, b) for a, b in zip(want, got)) < TOLERANCE[dtype]


def test_no_split_when_off_or_small_or_reference(always_split, monkeypatch):
    rng = np.random.default_rng(0)
    x, state0, params, _, _ = make_case("lstm", np.float32, rng, 4, 3, 2, 3)
    forward = fast_kernels.SPLIT_OPS["lstm"][0]
    assert is_split(forward(x, state0, params, **default_options("lstm"))[2])
    clipped = dict(default_options("lstm"), cell_clip=1.0)  # runs the NumPy reference: never split
    assert not is_split(forward(x, state0, params, **clipped)[2])
    assert not is_split(forward(x[:1], [s[:1] for s in state0], params, **default_options("lstm"))[2])
    monkeypatch.setenv("RNNKIT_BATCH_SPLIT", "0")
    assert not is_split(forward(x, state0, params, **default_options("lstm"))[2])
    monkeypatch.delenv("RNNKIT_BATCH_SPLIT")
    monkeypatch.setattr(batch_split, "MIN_MACS", 10 ** 9)
    assert not is_split(forward(x, state0, params, **default_options("lstm"))[2])


def test_blas_threads_come_back(always_split):
    blas = fast_kernels._BLAS_THREADS
    before = blas.count()
    rng = np.random.default_rng(1)
    x, state0, params, _, _ = make_case("gru", np.float32, rng, 6, 3, 2, 3)
    fast_kernels.SPLIT_OPS["gru"][0](x, state0, params, **default_options("gru"))
    assert blas.count() == before


@pytest.mark.parametrize("cell", list(GATES))
def test_compiled_forwards_write_into_out(cell):
    rng = np.random.default_rng(2)
    x, state0, params, _, _ = make_case(cell, np.float32, rng, 3, 4, 2, 5)
    forward = fast_kernels.COMPILED_OPS[cell][0]
    want = forward(x, state0, params, **default_options(cell))[0]
    out = np.full((3, 4, 5), np.nan, np.float32)
    got = forward(x, state0, params, out=out, **default_options(cell))[0]
    assert got is out and np.array_equal(out, want)
    if cell == "lstm":  # a configuration the compiled loop hands to the reference still fills out
        clipped = dict(default_options(cell), cell_clip=0.5)
        out[...] = np.nan
        got = forward(x, state0, params, out=out, **clipped)[0]
        assert got is out and np.array_equal(out, REFERENCE_OPS[cell][0](x, state0, params, **clipped)[0])


def test_an_error_in_a_half_propagates_and_blas_threads_come_back(always_split):
    blas = fast_kernels._BLAS_THREADS
    before = blas.count()
    calls = []

    def forward(x, state0, params, mask=None, recurrent_mask=None, **options):
        calls.append(len(x))
        if len(calls) == 2:
            raise RuntimeError("second half failed")
        return fast_kernels.lstm_forward(x, state0, params, mask, recurrent_mask, **options)

    split_forward, _ = batch_split.wrap(forward, fast_kernels.lstm_backward, lambda *args: True, blas)
    rng = np.random.default_rng(3)
    x, state0, params, _, _ = make_case("lstm", np.float32, rng, 4, 3, 2, 3)
    with pytest.raises(RuntimeError, match="second half failed"):
        split_forward(x, state0, params, **default_options("lstm"))
    assert sorted(calls) == [2, 2] and blas.count() == before
