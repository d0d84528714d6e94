"""The whole-buffer passes of a training step (rnnkit/ops/vector_ops.py) and their compiled twins
(rnnkit/_fast/vector.py, C in vector_ops.h), and the code that calls them.

* adam_update: the twin must give the reference's values bit for bit (the same operations, no FMA
  contraction) on every length around the vector widths, on special values, and in any split over
  threads; whatever the C does not take falls back to the reference.
* sum_of_squares: float64 squares (float32 near its maximum never overflows), NaN/Inf propagate;
  the twin adds in its own order, so it is compared within 1e-12.
* scatter_add_rows: the twin adds in np.add.at's order (bit for bit); ids out of range raise.
* the users: Adam/AdamW (amsgrad) trajectories compiled vs reference_only(), Embedding's gradient
  (np.add.at, grad sinks, finite differences), clipnorm / global_clipnorm and fit's grad_norm
  against float64 NumPy norms.

A spy on the twin module's ``reference`` tells whether the C ran or the twin fell back.
"""
import types

import numpy as np
import pytest

import rnnkit
from helpers import numeric_grad, rel_error, weighted_sum
from rnnkit import optimizers
from rnnkit.callbacks import Callback
from rnnkit.cells import reference_only
from rnnkit.cells.dispatch import active_function
from rnnkit.layers import Dense, Embedding, SimpleRNN
from rnnkit.ops import grad_sinks, vector_ops
from rnnkit.variables import Variable

try:
    from rnnkit import _fast
    FAST = _fast.available()
    WHY_NOT = "" if FAST else _fast.status()
except ImportError as error:  # pragma: no cover - the package always ships _fast's Python side
    FAST, WHY_NOT = False, str(error)
needs_fast = pytest.mark.skipif(not FAST, reason=f"compiled path not available: {WHY_NOT}")
if FAST:
    from rnnkit._fast import threads, vector

DTYPES = [np.float32, np.float64]
NAMES = ("sum_of_squares", "adam_update", "scatter_add_rows")


@pytest.fixture
def num_threads():
    """``set(n)`` sets rnnkit's thread count for the test; the default comes back afterwards."""
    yield rnnkit.set_num_threads
    rnnkit.set_num_threads(None)


@pytest.fixture
def fallbacks(monkeypatch):
    """The names of the reference functions the compiled twins hand a call to, in call order."""
    calls = []

    def spy(name):
        real = getattr(vector_ops, name)

        def run(*args):
            calls.append(name)
            return real(*args)
        return run

    monkeypatch.setattr(vector, "reference", types.SimpleNamespace(**{name: spy(name) for name in NAMES}))
    return calls


@pytest.fixture(params=["compiled", "reference"])
def path(request):
    """Run the test body on the compiled path (skipped without it) or inside reference_only()."""
    if request.param == "compiled":
        if not FAST:
            pytest.skip(f"compiled path not available: {WHY_NOT}")
        yield request.param
    else:
        with reference_only():
            yield request.param


def assert_same(got, want, what=""):
    """Equal values, NaN where NaN, and the same sign on every non-NaN (so -0.0 is not +0.0)."""
    assert got.dtype == want.dtype and got.shape == want.shape, what
    differ = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    assert not differ.any(), f"{what}: {int(differ.sum())} of {got.size} values differ"
    numbers = ~np.isnan(want)
    assert np.array_equal(np.signbit(got[numbers]), np.signbit(want[numbers])), what


# ---------------------------------------------------------------------------------------- adam_update

def adam_scalars(dtype, t=3, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """alpha, c1, c2, epsilon as Adam._update makes them: scalars of the arrays' dtype."""
    f = np.dtype(dtype).type
    lr, step = f(lr), f(t)
    alpha = lr * np.sqrt(1 - np.power(f(beta_2), step)) / (1 - np.power(f(beta_1), step))
    return f(alpha), f(1 - beta_1), f(1 - beta_2), f(epsilon)


def adam_arrays(rng, n, dtype, amsgrad):
    """g, w, m, v, v_hat (None without amsgrad): v_hat both above and below the new v."""
    g = (rng.standard_normal(n) * 3).astype(dtype)
    w = rng.standard_normal(n).astype(dtype)
    m = (rng.standard_normal(n) * 0.1).astype(dtype)
    v = (np.abs(rng.standard_normal(n)) * 0.1).astype(dtype)
    v_hat = (v * rng.uniform(0.5, 1.5, n)).astype(dtype) if amsgrad else None
    return [g, w, m, v, v_hat]


def copies(arrays):
    return [None if a is None else a.copy() for a in arrays]


def work_for(arrays):
    return [np.empty_like(arrays[1]), np.empty_like(arrays[1])]


def run_reference_adam(arrays, scalars):
    """The reference update on copies of ``arrays``; returns the updated copies."""
    out = copies(arrays)
    with np.errstate(all="ignore"):
        vector_ops.adam_update(*out, *scalars, work_for(out))
    return out


def assert_adam_equal(got, want):
    for name, a, b in zip(("g", "w", "m", "v", "v_hat"), got, want):
        if b is None:
            assert a is None
        else:
            assert_same(a, b, name)


def special_values(dtype):
    """Values that overflow g², underflow, are signed zeros, infinite or NaN, in ``dtype``."""
    info = np.finfo(dtype)
    big = np.sqrt(info.max) * 4  # g * g overflows to inf
    return np.array([big, -big, info.max, -info.max, info.tiny / 4, -info.tiny / 4, 0.0, -0.0,
                     np.inf, -np.inf, np.nan, 1.0], dtype)


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("n", [0, 1, 7, 63, 64, 65, 1000])
def test_compiled_adam_update_is_the_reference_bit_for_bit(fallbacks, dtype, amsgrad, n):
    arrays = adam_arrays(np.random.default_rng(n), n, dtype, amsgrad)
    scalars = adam_scalars(dtype)
    want = run_reference_adam(arrays, scalars)
    got = copies(arrays)
    vector.adam_update(*got, *scalars, work_for(got))
    assert fallbacks == []  # the C ran
    assert_adam_equal(got, want)
    assert n == 0 or not np.array_equal(got[1], arrays[1])  # the update did change the weights


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_compiled_adam_update_on_special_values(fallbacks, dtype, amsgrad):
    rng = np.random.default_rng(1)
    n = 200  # the vectorised body and a tail
    arrays = adam_arrays(rng, n, dtype, amsgrad)
    special = special_values(dtype)
    for k, array in enumerate(arrays):  # every special value in every array, at spread positions
        if array is not None:
            spots = rng.choice(n, size=(3, special.size), replace=False)
            for row in spots:
                array[row] = special
            array[[-1, 0]] = special[[k % special.size, (k + 3) % special.size]]
    arrays[2][:5] = arrays[3][:5] = 0  # a zero gradient on zero moments gives a zero step
    arrays[0][:5] = 0
    if amsgrad:
        arrays[4][:5] = 0
    scalars = adam_scalars(dtype)
    want = run_reference_adam(arrays, scalars)
    got = copies(arrays)
    with np.errstate(all="ignore"):
        vector.adam_update(*got, *scalars, work_for(got))
    assert fallbacks == []
    assert_adam_equal(got, want)
    assert np.array_equal(got[1][:5], arrays[1][:5])  # zero step: weights unchanged
    assert np.isnan(got[1]).any() and np.isinf(got[3]).any()  # the special values did reach the outputs


@pytest.mark.parametrize("compiled", [pytest.param(True, marks=needs_fast), False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_amsgrad_maximum_lets_nan_win_as_np_maximum(compiled, dtype):
    f = np.dtype(dtype).type
    g = np.array([0.5, 0.5, 0.5, 0.5, 0.0, 0.5] * 12, dtype)  # 72 values: the body and a tail
    w = np.ones_like(g)
    m = np.zeros_like(g)
    v = np.array([0.1, np.nan, 0.1, 0.1, 0.0, 2.0] * 12, dtype)
    v_hat = np.array([np.nan, 0.1, 5.0, 0.0, -0.0, 0.1] * 12, dtype)
    v_new = v + (g * g - v) * f(0.001)
    arrays = [g, w, m, v, v_hat]
    scalars = adam_scalars(dtype)
    update = vector.adam_update if compiled else vector_ops.adam_update
    got = copies(arrays)
    with np.errstate(all="ignore"):
        update(*got, *scalars, work_for(got))
    assert_same(got[4], np.maximum(v_hat, v_new), "v_hat")  # NaN on either side wins; otherwise the larger
    assert np.isnan(got[4][0::6]).all() and np.isnan(got[4][1::6]).all()
    assert np.isnan(got[1][0::6]).all() and np.isnan(got[1][1::6]).all()  # w <- NaN where v_hat is NaN
    assert np.isfinite(got[1][2::6]).all() and (got[1][2::6] < 1).all()
    assert np.array_equal(got[1][4::6], w[4::6])  # zeros: no step
    assert_adam_equal(got, run_reference_adam(arrays, scalars))


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_long_adam_update_is_split_over_threads_and_still_identical(num_threads, fallbacks, monkeypatch,
                                                                    dtype, amsgrad):
    n = 3 * vector.SPLIT_VALUES + 37  # not a multiple of the 64-value alignment
    arrays = adam_arrays(np.random.default_rng(7), n, dtype, amsgrad)
    scalars = adam_scalars(dtype, t=11)
    want = run_reference_adam(arrays, scalars)
    splits, run_rows = [], threads.run_rows

    def spy(fn, batch, parts, multiple):
        splits.append((batch, parts, multiple))
        return run_rows(fn, batch, parts, multiple)

    monkeypatch.setattr(threads, "run_rows", spy)
    for count in (1, 2, 3):
        num_threads(count)
        got = copies(arrays)
        vector.adam_update(*got, *scalars, work_for(got))
        assert_adam_equal(got, want)
        assert splits[-1] == (n, count, 64)
        for lo, hi in threads.row_ranges(n, count, 64):
            assert lo % 64 == 0 and lo < hi
    assert fallbacks == []
    # just under the threshold: one range, whatever the thread count
    short = [None if a is None else a[:vector.SPLIT_VALUES - 1].copy() for a in arrays]
    want = run_reference_adam(short, scalars)
    vector.adam_update(*short, *scalars, work_for(short))
    assert splits[-1] == (vector.SPLIT_VALUES - 1, 1, 64)
    assert_adam_equal(short, want)


def _fallback_cases(dtype):
    """(label, arrays) the C does not take: each must give the reference's result through the reference."""
    rng = np.random.default_rng(3)
    n = 100
    cases = []
    base = adam_arrays(rng, 2 * n, dtype, True)
    cases.append(("non-contiguous", [a[::2] for a in base]))
    arrays = adam_arrays(rng, n, dtype, True)
    arrays[0] = arrays[0][:1].copy()  # a length-1 gradient: the reference broadcasts it
    cases.append(("mismatched length", arrays))
    cases.append(("float16", [a.astype(np.float16) for a in adam_arrays(rng, n, dtype, True)]))
    arrays = adam_arrays(rng, n, dtype, True)
    arrays[0].flags.writeable = False
    cases.append(("read-only gradient", arrays))
    arrays = adam_arrays(rng, n, dtype, True)
    arrays[0] = arrays[0].astype(np.float64 if dtype == np.float32 else np.float32)
    cases.append(("gradient of another dtype", arrays))
    return cases


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_update_falls_back_to_the_reference(fallbacks, dtype):
    scalars = adam_scalars(dtype)
    # the cases twice (the same seed): one set for the reference on copies, the other updated as given
    for (label, arrays), (_, given) in zip(_fallback_cases(dtype), _fallback_cases(dtype)):
        want = run_reference_adam(arrays, scalars)
        del fallbacks[:]
        vector.adam_update(*given, *scalars, work_for(given))
        assert fallbacks == ["adam_update"], label
        assert_adam_equal(given, want)
        assert not np.array_equal(given[1], arrays[1]), label


# ------------------------------------------------------------------------------------- sum_of_squares

def float64_squares(x):
    return float(np.sum(np.asarray(x, np.float64) ** 2))


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000, 10**6])
def test_compiled_sum_of_squares_matches_the_reference(fallbacks, dtype, n):
    x = (np.random.default_rng(n).standard_normal(n) * 2).astype(dtype)
    want = vector_ops.sum_of_squares(x)
    got = vector.sum_of_squares(x)
    assert type(got) is float
    assert fallbacks == ([] if n else ["sum_of_squares"])  # an empty array goes to the reference
    if n == 0:
        assert got == want == 0.0
    else:
        assert abs(got - want) <= 1e-12 * want and abs(got - float64_squares(x)) <= 1e-12 * want


@pytest.mark.parametrize("compiled", [pytest.param(True, marks=needs_fast), False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_of_squares_propagates_nan_and_inf(compiled, dtype):
    squares = vector.sum_of_squares if compiled else vector_ops.sum_of_squares
    for n in (1, 8, 18, 1000):
        for at in {0, n // 2, n - 1}:  # in a lane of the 8-way sum and in the tail
            x = np.ones(n, dtype)
            x[at] = np.nan
            assert np.isnan(squares(x)), (n, at)
            x[at] = -np.inf
            assert squares(x) == np.inf, (n, at)
            x[(at + 1) % n] = np.nan
            assert n == 1 or np.isnan(squares(x)), (n, at)


@pytest.mark.parametrize("compiled", [pytest.param(True, marks=needs_fast), False])
def test_sum_of_squares_of_large_float32_does_not_overflow(compiled):
    squares = vector.sum_of_squares if compiled else vector_ops.sum_of_squares
    x = np.full(1001, 3e38, np.float32)
    x[::2] *= -1
    got = squares(x)
    with np.errstate(over="ignore"):
        assert np.isfinite(got) and np.isinf(np.sum(np.square(x)))  # float32 squares would overflow
    assert got == pytest.approx(1001 * float(np.float32(3e38)) ** 2, rel=1e-12)


@needs_fast
def test_sum_of_squares_falls_back_to_the_reference(fallbacks):
    rng = np.random.default_rng(4)
    base = rng.standard_normal(2001)
    cases = [base[::2], base.astype(np.float32)[1::3], base.astype(np.float16), (base * 10).astype(np.int64)]
    for x in cases:
        del fallbacks[:]
        got = vector.sum_of_squares(x)
        assert fallbacks == ["sum_of_squares"], x.dtype
        assert got == vector_ops.sum_of_squares(x)
        assert got == pytest.approx(float64_squares(x), rel=1e-12)
    grid = rng.standard_normal((40, 30))  # contiguous 2-D: the C sums it whole, as the reference
    assert vector.sum_of_squares(grid) == pytest.approx(float64_squares(grid), rel=1e-12)


# ----------------------------------------------------------------------------------- scatter_add_rows

def scatter_case(rng, dtype, vocabulary=13, width=5, count=200):
    dst = rng.standard_normal((vocabulary, width)).astype(dtype)  # not zeros: the rows are added
    ids = rng.integers(0, vocabulary - 2, count)  # the last two rows get nothing
    ids[:20] = 3  # a long run of one id
    rows = rng.standard_normal((count, width)).astype(dtype) * rng.choice([1e-4, 1.0, 1e4], (count, 1)).astype(dtype)
    return dst, ids.astype(np.int64), rows


def np_add_at(dst, ids, rows):
    want = dst.copy()
    np.add.at(want, ids, rows)
    return want


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", [1, 5, 17])
def test_compiled_scatter_add_rows_is_np_add_at_bit_for_bit(fallbacks, dtype, width):
    dst, ids, rows = scatter_case(np.random.default_rng(width), dtype, width=width)
    want = np_add_at(dst, ids, rows)
    got = dst.copy()
    vector.scatter_add_rows(got, ids, rows)
    assert fallbacks == []
    assert_same(got, want)
    assert np.array_equal(got[-2:], dst[-2:])
    # the order of additions matters in float32: np.add.at adds in id order, as the C does
    empty = np.empty(0, np.int64)
    vector.scatter_add_rows(got, empty, np.empty((0, width), dtype))
    assert_same(got, want)


@pytest.mark.parametrize("compiled", [pytest.param(True, marks=needs_fast), False])
def test_scatter_add_rows_refuses_ids_past_the_end(compiled):
    scatter = vector.scatter_add_rows if compiled else vector_ops.scatter_add_rows
    dst, ids, rows = scatter_case(np.random.default_rng(5), np.float64)
    ids[7] = dst.shape[0]
    before = dst.copy()
    with pytest.raises(IndexError, match=r"ids must lie in \[0, 13\), got 0\.\.13"):
        scatter(dst, ids, rows)
    assert np.array_equal(dst, before)  # checked before anything is added


@needs_fast
def test_compiled_scatter_add_rows_refuses_negative_ids():
    dst, ids, rows = scatter_case(np.random.default_rng(6), np.float32)
    ids[-1] = -1
    before = dst.copy()
    with pytest.raises(IndexError, match=r"ids must lie in \[0, 13\), got -1\.\.10"):
        vector.scatter_add_rows(dst, ids, rows)
    assert np.array_equal(dst, before)


@pytest.mark.parametrize("function, ids_dtype", [
    ("reference", np.int64), ("reference", np.int32),
    pytest.param("compiled", np.int32, marks=needs_fast)])  # int32 ids: the twin hands them to the reference
def test_scatter_add_rows_refuses_negative_ids_on_every_path(function, ids_dtype):
    scatter = vector.scatter_add_rows if function == "compiled" else vector_ops.scatter_add_rows
    dst, ids, rows = scatter_case(np.random.default_rng(6), np.float32)
    ids[-1] = -1
    with pytest.raises(IndexError):
        scatter(dst, ids.astype(ids_dtype), rows)


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_rows_falls_back_to_the_reference(fallbacks, dtype):
    rng = np.random.default_rng(8)
    dst, ids, rows = scatter_case(rng, dtype)
    wide = np.repeat(rows, 2, axis=1)
    cases = {"int32 ids": (dst, ids.astype(np.int32), rows),
             "non-contiguous rows": (dst, ids, wide[:, ::2]),
             "non-contiguous ids": (dst, np.repeat(ids, 2)[::2], rows),
             "Fortran-ordered dst": (np.asfortranarray(dst), ids, rows),
             "float16": (dst.astype(np.float16), ids, rows.astype(np.float16))}
    for label, (table, where, values) in cases.items():
        want = np_add_at(table, where, values)
        got = table.copy(order="K")
        del fallbacks[:]
        vector.scatter_add_rows(got, where, values)
        assert fallbacks == ["scatter_add_rows"], label
        assert_same(got, want, label)
    with pytest.raises(IndexError):  # the fallback still refuses ids past the end
        vector.scatter_add_rows(dst.copy(), np.array([0, 13], np.int32), rows[:2])


# ------------------------------------------------------------------------------------------ optimizers

OPTIMIZERS = {
    "adam": lambda: optimizers.Adam(0.01),
    "adam_amsgrad": lambda: optimizers.Adam(0.01, beta_1=0.8, amsgrad=True),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.05),
    "adamw_amsgrad": lambda: optimizers.AdamW(0.01, amsgrad=True),
}


def trajectory(make, dtype, shapes, steps):
    """Weights and slots after each of ``steps`` apply_gradients calls (variable 1 skips odd steps)."""
    rng = np.random.default_rng(11)
    variables = [Variable(rng.standard_normal(s).astype(dtype), f"layer/w{i}") for i, s in enumerate(shapes)]
    opt = make()
    states = []
    for t in range(steps):
        grads = [rng.standard_normal(s).astype(dtype) * 2 for s in shapes]
        pairs = [(g, v) for i, (g, v) in enumerate(zip(grads, variables)) if not (i == 1 and t % 2)]
        opt.apply_gradients(pairs)
        slots = ("momentum", "velocity", "velocity_hat") if getattr(opt, "amsgrad", False) else ("momentum", "velocity")
        states.append([v.numpy().copy() for v in variables]
                      + [opt.get_slot(v, s).copy() for v in variables for s in slots])
    return states


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_adam_trajectories_compiled_equal_reference_only(num_threads, fallbacks, dtype, name):
    num_threads(2)
    shapes = [(3, 4), (70,), (5,), (vector.SPLIT_VALUES // 100 + 1, 100)]  # the last one makes the buffer split
    assert active_function(vector_ops.adam_update) is vector.adam_update
    compiled = trajectory(OPTIMIZERS[name], dtype, shapes, steps=4)
    assert "adam_update" not in fallbacks
    with reference_only():
        assert active_function(vector_ops.adam_update) is vector_ops.adam_update
        reference = trajectory(OPTIMIZERS[name], dtype, shapes, steps=4)
    for t, (got, want) in enumerate(zip(compiled, reference)):
        for k, (a, b) in enumerate(zip(got, want)):
            assert_same(a, b, f"step {t}, array {k}")
    assert not np.array_equal(compiled[-1][0], compiled[0][0])


@needs_fast
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_with_clipnorm_differs_only_by_the_norms_order_of_additions(dtype):
    # clipnorm scales by 1 / ||g||, and the compiled sum of squares adds in its own order: the
    # trajectories may differ in the last bits (float64), no more
    make = lambda: optimizers.AdamW(0.01, amsgrad=True, clipnorm=1.0)  # noqa: E731
    shapes = [(3, 4), (70,), (5,), (300, 40)]
    compiled = trajectory(make, dtype, shapes, steps=4)
    with reference_only():
        reference = trajectory(make, dtype, shapes, steps=4)
    tolerance = 1e-12 if dtype == np.float64 else 1e-6
    for t, (got, want) in enumerate(zip(compiled, reference)):
        for k, (a, b) in enumerate(zip(got, want)):
            assert rel_error(a, b) < tolerance, f"step {t}, array {k}"


# ------------------------------------------------------------------------------------------- Embedding

def embedding_case(dtype, seed=0, vocabulary=9, width=4):
    rng = np.random.default_rng(seed)
    layer = Embedding(vocabulary, width, dtype=np.dtype(dtype).name, seed=seed)
    ids = rng.integers(1, vocabulary - 2, (3, 7))  # rows 0 and the last two get no gradient
    ids[0, :4] = 2  # repeated ids
    upstream = rng.standard_normal((3, 7, width))
    layer(ids)
    return layer, ids, upstream


def np_embedding_gradient(layer, ids, upstream):
    want = np.zeros(layer.embeddings.value.shape, layer.embeddings.value.dtype)
    np.add.at(want, ids.reshape(-1), upstream.reshape(-1, want.shape[1]).astype(want.dtype))
    return want


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_gradient_is_np_add_at(path, dtype):
    layer, ids, upstream = embedding_case(dtype)
    assert layer.backward(upstream) is None
    (grad,) = layer.get_gradients()
    assert_same(grad, np_embedding_gradient(layer, ids, upstream))
    if path == "compiled":
        assert active_function(vector_ops.scatter_add_rows) is vector.scatter_add_rows


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_writes_its_gradient_into_the_sink(path, dtype):
    layer, ids, upstream = embedding_case(dtype, seed=1)
    sink = np.full(layer.embeddings.value.shape, np.nan, dtype)  # garbage from an earlier step
    sink[0] = -0.0
    with grad_sinks.writing_gradients_into({id(layer.embeddings.value): sink}):
        layer.backward(upstream)
    (grad,) = layer.get_gradients()
    assert grad is sink
    want = np_embedding_gradient(layer, ids, upstream)
    assert_same(sink, want)
    unused = np.setdiff1d(np.arange(sink.shape[0]), ids)
    assert unused.size and np.all(sink[unused] == 0) and not np.signbit(sink[unused]).any()
    # outside the block (or with a sink of the wrong layout) the gradient is a new array
    other = np.full(sink.shape, np.nan, dtype, order="F")
    with grad_sinks.writing_gradients_into({id(layer.embeddings.value): other}):
        layer.backward(upstream)
    assert layer.get_gradients()[0] is not other and np.isnan(other).all()
    assert_same(layer.get_gradients()[0], want)


def test_embedding_gradient_matches_finite_differences(path):
    layer, ids, upstream = embedding_case(np.float64, seed=2)

    def loss():
        return weighted_sum([layer(ids)], [upstream])

    layer(ids)
    layer.backward(upstream)
    (grad,) = layer.get_gradients()
    assert rel_error(grad, numeric_grad(loss, layer.embeddings.value)) < 1e-6


# -------------------------------------------------------------------------------------------- clipping

def clip_case(dtype):
    """Gradients with one variable's norm far above float32's squares (they overflow there)."""
    rng = np.random.default_rng(12)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(50) * 1e25, rng.standard_normal(7) * 0.01,
             rng.standard_normal((9, 8))]
    return [g.astype(dtype) for g in grads]


def float64_norm(grads):
    return float(np.sqrt(sum(np.sum(np.asarray(g, np.float64) ** 2) for g in grads)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipnorm_clips_each_variable_by_its_float64_norm(path, dtype):
    grads = clip_case(dtype)
    clip = 1.5
    variables = [Variable(np.zeros(g.shape, dtype), f"w{i}") for i, g in enumerate(grads)]
    opt = optimizers.SGD(1.0, clipnorm=clip)
    opt.apply_gradients(zip(grads, variables))
    assert opt.last_grad_norm == pytest.approx(float64_norm(grads), rel=1e-6)
    for g, v in zip(grads, variables):
        norm = float64_norm([g])
        want = -np.asarray(g, np.float64) * min(1.0, clip / norm)
        assert np.all(np.isfinite(v.value)) and rel_error(v.value, want) < 1e-6
    assert opt.last_clip_count == 3  # the 0.01-scaled one is below 1.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_clipnorm_uses_the_float64_global_norm(path, dtype):
    grads = clip_case(dtype)
    clip = 2.0
    norm = float64_norm(grads)
    variables = [Variable(np.zeros(g.shape, dtype), f"w{i}") for i, g in enumerate(grads)]
    opt = optimizers.SGD(1.0, global_clipnorm=clip)
    opt.apply_gradients(zip(grads, variables))
    assert np.isfinite(norm) and opt.last_grad_norm == pytest.approx(norm, rel=1e-6)
    for g, v in zip(grads, variables):
        want = -np.asarray(g, np.float64) * (clip / norm)
        assert rel_error(v.value, want) < 1e-6


class _NormsBeforeEachBatch(Callback):
    """The float64 global norm of the model's gradients on the whole data, before each (only) batch."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.norms = x, y, []

    def on_train_batch_begin(self, batch, logs=None):
        _, grads, _ = self.model.compute_loss_and_gradients(self.x, self.y)
        self.norms.append(float64_norm(grads))


def test_fit_reports_the_float64_gradient_norm_with_clipnorm(path):
    rng = np.random.default_rng(13)
    x = rng.integers(0, 12, (16, 6))
    y = rng.standard_normal((16, 1)).astype(np.float32) * 3
    model = rnnkit.Sequential([Embedding(12, 4, input_shape=(6,), seed=5), SimpleRNN(3, seed=6), Dense(1, seed=7)])
    model.compile(optimizer=optimizers.Adam(0.05, clipnorm=0.01), loss="mse")
    norms = _NormsBeforeEachBatch(x, y)
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[norms])
    assert len(norms.norms) == 3 and len(set(norms.norms)) == 3  # the weights moved between epochs
    assert history.history["grad_norm"] == pytest.approx(norms.norms, rel=1e-6)
    assert history.history["clipped_steps"] == [1.0, 1.0, 1.0]
