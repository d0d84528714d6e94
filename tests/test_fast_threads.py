"""Threads in the compiled path (rnnkit/_fast/threads.py): batch rows split over threads give the
one-thread results bit for bit, BLAS's thread setting is never changed, grad mode reaches the
workers, and results do not depend on what other threads do at the same time."""
import threading

import numpy as np
import pytest

import rnnkit
from rnnkit import ops
from rnnkit import num_threads
from rnnkit._fast import blas, threads
from rnnkit.errors import RnnkitValueError
from test_fast_kernels import GATES, REFERENCE_OPS, default_options, fast_kernels, make_case


@pytest.fixture
def split_everything(monkeypatch):
    """Every call with at least 2 x MIN_ROWS rows split over 3 threads."""
    monkeypatch.setattr(threads, "SPLIT_MACS", 0)
    rnnkit.set_num_threads(3)
    yield
    rnnkit.set_num_threads(None)


def run(cell, case, options, grads):
    x, state0, params, mask, rmask = case
    forward, backward = fast_kernels.COMPILED_OPS[cell]
    outputs, final, cache = forward(x, state0, params, mask, rmask, **options)
    if grads is None:
        return [outputs, *final], cache
    dx, d_state0, weight_grads = backward(grads[0], grads[1], cache)
    return [outputs, *final, dx, *d_state0, *weight_grads.values()], cache


def one_thread(fn):
    rnnkit.set_num_threads(1)
    try:
        return fn()
    finally:
        rnnkit.set_num_threads(3)


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch,masked,recurrent_masked", [(12, False, False), (19, True, True), (40, False, True)])
def test_split_rows_equal_one_thread_bit_for_bit(split_everything, cell, dtype, batch, masked, recurrent_masked):
    rng = np.random.default_rng(batch)
    case = make_case(cell, dtype, rng, batch, 7, 4, 13, masked=masked, recurrent_masked=recurrent_masked)
    options = default_options(cell)
    grads = (rng.standard_normal((batch, 7, 13)).astype(dtype),
             [rng.standard_normal((batch, 13)).astype(dtype) for _ in range(2 if cell == "lstm" else 1)])
    assert threads.parts_for(batch, 7, 13, GATES[cell]) == min(3, batch // threads.MIN_ROWS)
    want, _ = one_thread(lambda: run(cell, case, options, grads))
    got, _ = run(cell, case, options, grads)
    assert all(np.array_equal(a, b) for a, b in zip(want, got))
    with rnnkit.no_grad():
        want_inference, _ = one_thread(lambda: run(cell, case, options, None))
        got_inference, cache = run(cell, case, options, None)
    assert cache is None
    assert all(np.array_equal(a, b) for a, b in zip(want_inference, got_inference))
    assert all(np.array_equal(a, b) for a, b in zip(want[:len(got_inference)], got_inference))


def test_row_ranges_cover_the_batch_in_tiles():
    for batch in range(1, 50):
        for parts in range(1, min(batch, 5) + 1):
            ranges = threads.row_ranges(batch, parts)
            assert len(ranges) == parts and ranges[0][0] == 0 and ranges[-1][1] == batch
            assert all(lo < hi for lo, hi in ranges) and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert threads.row_ranges(64, 2) == [(0, 30), (30, 64)]  # cuts on whole 6-row tiles


def test_policy_small_calls_stay_on_one_thread(monkeypatch):
    monkeypatch.setattr(num_threads, "_override", 8)
    assert threads.parts_for(32, 8, 64, 4) == 1  # LSTM(64) on 8x8 digits, batch 32
    assert threads.parts_for(64, 100, 256, 4) == 8 and threads.parts_for(16, 50, 64, 1) == 1
    assert threads.parts_for(11, 10 ** 6, 512, 4) == 1  # too few rows to give two threads a tile each
    assert threads.product_split(64, 256, 256, 16)[0] == 1  # 4M multiply-adds: one thread
    assert threads.product_split(6400, 2048, 512, 16) == (8, True)  # rows: each thread packs B (512 x 2048)


def test_set_num_threads_and_environment(monkeypatch):
    monkeypatch.setenv("RNNKIT_NUM_THREADS", "3")
    assert rnnkit.get_num_threads() == 3
    rnnkit.set_num_threads(5)
    try:
        assert rnnkit.get_num_threads() == 5
    finally:
        rnnkit.set_num_threads(None)
    monkeypatch.delenv("RNNKIT_NUM_THREADS")
    assert rnnkit.get_num_threads() == num_threads.default_threads() >= 1
    for bad in (0, -1, 2.0, "2", True):
        with pytest.raises(RnnkitValueError, match="set_num_threads"):
            rnnkit.set_num_threads(bad)
    monkeypatch.setenv("RNNKIT_NUM_THREADS", "many")
    with pytest.raises(RnnkitValueError, match="RNNKIT_NUM_THREADS"):
        rnnkit.get_num_threads()


def test_an_error_in_one_range_propagates_after_all_ranges_finished():
    finished = []

    def rows(lo, hi):
        if lo > 0:
            raise RuntimeError("second range failed")
        finished.append((lo, hi))
        return 0

    with pytest.raises(RuntimeError, match="second range failed"):
        threads.run_rows(rows, 24, 2)
    assert finished == [(0, 12)]  # the other range raised


def test_grad_mode_reaches_the_worker_threads():
    seen = {}

    def rows(lo, hi):
        seen[lo] = ops.is_grad_enabled()
        return 0

    with rnnkit.no_grad():
        threads.run_rows(rows, 24, 3)
    assert seen == {0: False, 6: False, 12: False} or set(seen.values()) == {False}
    threads.run_rows(rows, 24, 3)
    assert set(seen.values()) == {True}


def blas_threads():
    count = blas.thread_count_function()
    if count is None:
        pytest.skip("NumPy's BLAS thread count cannot be read here")
    return count


def test_the_users_blas_setting_is_never_changed(split_everything):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    count = blas_threads()
    rng = np.random.default_rng(0)
    x, state0, params, _, _ = make_case("lstm", np.float32, rng, 48, 20, 16, 64)
    forward, backward = fast_kernels.COMPILED_OPS["lstm"]

    def calls():
        outputs, _, cache = forward(x, state0, params, **default_options("lstm"))
        backward(outputs, None, cache)

    for limit in (1, 2):
        with threadpoolctl.threadpool_limits(limit, user_api="blas"):
            workers = [threading.Thread(target=calls) for _ in range(4)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            assert count() == limit


def make_model(seed, x):
    """A built model (weights drawn here, on the calling thread: the global seed is not per thread)."""
    rnnkit.set_random_seed(seed)
    model = rnnkit.Sequential([rnnkit.layers.LSTM(24, return_sequences=True), rnnkit.layers.GRU(18),
                               rnnkit.layers.Dense(5)])
    model.compile(optimizer="adam", loss="mse")
    model.predict(x[:1], verbose=0)
    return model


def test_results_do_not_depend_on_other_threads(monkeypatch):
    """Several threads hammer predict / fit / NumPy matmuls at once; each result equals, bit for bit,
    the same computation run alone; BLAS's thread count is what it was."""
    monkeypatch.setattr(threads, "SPLIT_MACS", 1 << 12)  # these small models split too
    count = blas.thread_count_function()
    blas_before = count() if count else None
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 9, 6)).astype(np.float32)
    y = rng.standard_normal((40, 5)).astype(np.float32)
    models = {name: [make_model(3 if name == "predict" else 4, x) for _ in range(7)] for name in ("predict", "fit")}

    def predict():
        return models["predict"].pop().predict(x, batch_size=20, verbose=0)

    def fit():
        model = models["fit"].pop()
        model.fit(x, y, batch_size=20, epochs=2, verbose=0, shuffle=False)
        return np.concatenate([w.ravel() for w in model.get_weights()])

    a = rng.standard_normal((300, 300))

    def matmuls():
        return a @ a @ a

    alone = {"predict": predict(), "fit": fit(), "matmuls": matmuls()}
    results, errors = [], []

    def worker(name, fn):
        try:
            for _ in range(3):
                results.append((name, fn()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    jobs = [("predict", predict), ("fit", fit), ("matmuls", matmuls)] * 2
    workers = [threading.Thread(target=worker, args=job) for job in jobs]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    assert len(results) == 3 * len(jobs)
    for name, value in results:
        assert np.array_equal(value, alone[name]), name
    if count:
        assert count() == blas_before


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
