"""Prepared small inference calls (rnnkit/_fast/stream.py): the same numbers as the general compiled
call, bit for bit, and never stale: weights changed in place or replaced, other shapes, other
threads, states handed back as arrays of the caller's own."""
import threading

import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from test_fast_kernels import GATES, default_options, fast_kernels, make_case

pytestmark = pytest.mark.skipif(not rnnkit._fast.available(), reason="compiled kernels unavailable")
stream = pytest.importorskip("rnnkit._fast.stream")


def run(cell, case, options, general=False):
    """The compiled forward under no_grad; ``general``: with an ``out`` array, which plans never serve."""
    x, state0, params, _, _ = case
    out = np.empty(x.shape[:2] + (params["recurrent_kernel"].shape[0],), x.dtype) if general else None
    with rnnkit.no_grad():
        outputs, final, cache = fast_kernels.COMPILED_OPS[cell][0](x, state0, params, None, None, out=out, **options)
    assert cache is None
    return [outputs, *final]


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch,time", [(1, 1), (2, 5), (1, 64)])
@pytest.mark.parametrize("units", [6, 16])  # 16: whole panels, U and W read in place (RK_LDB); 6: packed
def test_plan_equals_general_call_bit_for_bit(cell, dtype, batch, time, units):
    stream.forget()
    case = make_case(cell, dtype, np.random.default_rng(batch * time), batch, time, 5, units)
    options = default_options(cell)
    first = run(cell, case, options)  # builds the plan
    assert len(stream._local.plans) == 1
    in_place = GATES[cell] * units % fast_kernels.pack_width(np.dtype(dtype)) == 0
    assert (stream._local.plans[0].packs == ()) == in_place
    again = run(cell, case, options)  # runs it
    want = run(cell, case, options, general=True)
    for a, b, c in zip(first, again, want):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("units", [6, 16])
def test_weights_changed_in_place_are_used_at_the_next_call(cell, units):
    stream.forget()
    case = make_case(cell, np.float32, np.random.default_rng(0), 1, 1, 5, units)
    options = default_options(cell)
    run(cell, case, options)
    case[2]["recurrent_kernel"] *= 0.5  # as an optimizer step writes them
    case[2]["kernel"][0] += 1.0
    for a, b in zip(run(cell, case, options), run(cell, case, options, general=True)):
        np.testing.assert_array_equal(a, b)


def test_replaced_weights_and_other_shapes_get_their_own_plan():
    stream.forget()
    case = make_case("lstm", np.float32, np.random.default_rng(1), 1, 1, 5, 6)
    options = default_options("lstm")
    run("lstm", case, options)
    case[2]["kernel"] = case[2]["kernel"] * 2.0  # a new array under the same name
    for a, b in zip(run("lstm", case, options), run("lstm", case, options, general=True)):
        np.testing.assert_array_equal(a, b)
    longer = make_case("lstm", np.float32, np.random.default_rng(2), 1, 3, 5, 6)
    for a, b in zip(run("lstm", longer, options), run("lstm", longer, options, general=True)):
        np.testing.assert_array_equal(a, b)
    assert len(stream._local.plans) <= stream.KEPT


def test_results_are_the_callers_own_arrays():
    stream.forget()
    case = make_case("gru", np.float32, np.random.default_rng(3), 1, 1, 5, 6)
    options = default_options("gru")
    first = run("gru", case, options)
    kept = [a.copy() for a in first]
    run("gru", make_case("gru", np.float32, np.random.default_rng(4), 1, 1, 5, 6)[:1] + case[1:], options)
    for a, b in zip(first, kept):  # a later call does not write into earlier results
        np.testing.assert_array_equal(a, b)


def test_threads_each_run_their_own_plans():
    layer = layers.LSTM(8, stateful=False, seed=0)
    xs = [np.random.default_rng(k).standard_normal((1, 1, 4)).astype(np.float32) for k in range(4)]
    layer(xs[0])
    with rnnkit.no_grad():
        want = [layer(x) for x in xs]
    results, errors = {}, []

    def work(k):
        try:
            with rnnkit.no_grad():
                results[k] = [layer(xs[k]) for _ in range(200)]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        for got in results[k]:
            np.testing.assert_array_equal(got, want[k])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_stateful_streaming_equals_one_whole_sequence(kind):
    """One step at a time under no_grad carries the state exactly as one call over the sequence."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 12, 4)).astype(np.float32)
    streaming = getattr(layers, kind)(7, stateful=True, return_sequences=True, seed=1)
    whole = getattr(layers, kind)(7, return_sequences=True, seed=1)
    with rnnkit.no_grad():
        steps = np.concatenate([streaming(x[:, t:t + 1]) for t in range(12)], axis=1)
        np.testing.assert_allclose(steps, whole(x), rtol=1e-6, atol=1e-6)
        state = [s.copy() for s in streaming.states]
        streaming.reset_states()
        assert all(not s.any() for s in streaming.states)
        again = np.concatenate([streaming(x[:, t:t + 1]) for t in range(12)], axis=1)
    np.testing.assert_array_equal(steps, again)
    for a, b in zip(state, streaming.states):
        np.testing.assert_array_equal(a, b)


def test_states_of_another_shape_take_the_general_path():
    """A state to broadcast is served as before; a bad one still gets the general call's named error."""
    stream.forget()
    case = make_case("lstm", np.float32, np.random.default_rng(6), 3, 1, 5, 6)
    x, state0, params, _, _ = case
    options = default_options("lstm")
    one_row = tuple(s[:1] for s in state0)
    with rnnkit.no_grad():
        got = fast_kernels.lstm_forward(x, one_row, params, **options)
        want = fast_kernels.lstm_forward(x, tuple(np.repeat(s[:1], 3, axis=0) for s in state0), params, **options)
        for a, b in zip([got[0], *got[1]], [want[0], *want[1]]):
            np.testing.assert_array_equal(a, b)
        with pytest.raises(rnnkit.errors.RnnkitValueError, match=r"state0\[0\]"):
            fast_kernels.lstm_forward(x, (np.zeros((2, 6), np.float32), state0[1]), params, **options)
