"""rnnkit's own GEMM for 2-D products (rnnkit._fast.kernels.matmul) and how it is split over threads.

Every product is checked against the float64 product of the same inputs, elementwise, within the
rounding bound of a k-term dot product: |C - C64| <= 2 k eps (|A| |B|). A wrong index, a dropped or
repeated term, or a block written in the wrong place is off by about |A| |B| / k or more, far above it.
Shapes walk each path (rk_gemm_blocked on one thread, split by rows or by columns) and their
thresholds; every memory layout a NumPy view can have goes through each path. Dense, which calls the
product through rnnkit.ops.products, must give the reference's results and write its kernel gradient
into the training loop's buffer.
"""
import numpy as np
import pytest

import rnnkit
from helpers import numeric_grad, rel_error
from rnnkit.cells import reference_only
from rnnkit.cells.dispatch import active_function
from rnnkit.layers import Dense
from rnnkit.ops import grad_sinks, products

fast = pytest.importorskip("rnnkit._fast")
if not fast.available():
    pytest.skip(fast.status(), allow_module_level=True)
from rnnkit._fast import kernels, threads  # noqa: E402

DTYPES = [np.float32, np.float64]


@pytest.fixture
def num_threads():
    """``set(n)`` sets rnnkit's thread count for the test; the default comes back afterwards."""
    yield rnnkit.set_num_threads
    rnnkit.set_num_threads(None)


@pytest.fixture(scope="module", autouse=True)
def blas_on_one_thread():
    """The float64 references on one BLAS thread: OpenBLAS's workers spin after each call and take the
    cores from rnnkit's threads (and from the next reference), which made this file several times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a test extra: without it the file is only slower
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def assert_product(got, a, b, reference=None):
    """``got`` is a @ b to within the rounding of a k-term dot product in a's dtype (``reference``: the
    (exact, bound) pair of :func:`exact_and_bound`, when already computed)."""
    assert got.shape == (a.shape[0], b.shape[1]) and got.dtype == a.dtype
    exact, bound = reference or exact_and_bound(a, b)
    error = np.abs(got - exact)
    worst = np.unravel_index(np.argmax(error - bound), error.shape)
    assert np.all(error <= bound), f"C{worst} off by {error[worst]:.3g}, allowed {bound[worst]:.3g}"


def exact_and_bound(a, b):
    """The float64 product and the error bound 2 k eps (|A| |B|) (+ tiny) of a product in a's dtype."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    eps, tiny = np.finfo(a.dtype).eps, np.finfo(a.dtype).tiny
    return a64 @ b64, 2 * a.shape[1] * eps * (np.abs(a64) @ np.abs(b64)) + tiny


def view(values, kind):
    """``values`` (a C array) laid out in memory as ``kind`` says; the view holds the same numbers."""
    rows, cols = values.shape
    if kind == "C":
        out = values.copy()
    elif kind == "F":
        out = np.asfortranarray(values)
    elif kind == "T":  # the transposed view of a C array: rows of `values` are columns in memory
        out = np.ascontiguousarray(values.T).T
    elif kind == "rows_step":  # x[::2, ::3]
        big = np.zeros((2 * rows, 3 * cols), values.dtype)
        big[::2, ::3] = values
        out = big[::2, ::3]
    elif kind == "cols_step":  # x[:, ::2]: no unit stride, so A and B are packed, never read in place
        big = np.zeros((rows, 2 * cols), values.dtype)
        big[:, ::2] = values
        out = big[:, ::2]
    elif kind == "padded":  # a block of a larger C array: unit column stride, row stride > cols
        big = np.zeros((rows + 3, cols + 5), values.dtype)
        big[1:-2, 2:-3] = values
        out = big[1:-2, 2:-3]
    elif kind == "rows_reversed":  # x[::-1]
        out = np.ascontiguousarray(values[::-1])[::-1]
    elif kind == "cols_reversed":  # x[:, ::-1]
        out = np.ascontiguousarray(values[:, ::-1])[:, ::-1]
    elif kind == "both_reversed":
        out = np.ascontiguousarray(values[::-1, ::-1])[::-1, ::-1]
    elif kind == "T_reversed":  # a transposed view walked backwards
        out = np.ascontiguousarray(values.T[::-1])[::-1].T
    elif kind == "read_only":
        out = values.copy()
        out.flags.writeable = False
    elif kind == "unaligned":  # strides multiples of the itemsize, data address not
        size = values.dtype.itemsize
        buffer = np.zeros(values.nbytes + size, np.uint8)
        out = buffer[size // 2:size // 2 + values.nbytes].view(values.dtype).reshape(rows, cols)
        out[...] = values
        assert not out.flags.aligned
    else:
        raise AssertionError(kind)
    assert np.array_equal(out, values)
    return out


# (m, k, n), each with the path kernels.matmul takes on 3 threads
PATHS = {
    "gemm_tiny": (5, 7, 3),
    "gemm_partial_tiles": (13, 40, 37),
    "blocked_direct_b": (50, 600, 37),  # 3 K blocks of RK_KC; M <= 96 reads B in place
    "blocked_m_over_96": (197, 520, 19),  # 3 row blocks of RK_MC, B packed
    "blocked_n_over_1024": (11, 513, 1030),  # 2 column blocks of RK_NC (1024)
    "split_columns": (64, 4096, 130),  # >= SPLIT_PRODUCT_MACS, n >= m: ragged column blocks
    "split_rows": (301, 4096, 40),  # n < m: row blocks, the last one ragged
}
LAYOUT_PAIRS = ([(kind, "C") for kind in ("F", "T", "rows_step", "cols_step", "padded", "rows_reversed",
                                          "cols_reversed", "both_reversed", "T_reversed", "read_only", "unaligned")]
                + [("C", kind) for kind in ("F", "T", "rows_step", "cols_step", "padded", "rows_reversed",
                                            "cols_reversed", "both_reversed", "T_reversed", "read_only", "unaligned")]
                + [("C", "C"), ("F", "F"), ("T", "T"), ("rows_reversed", "cols_reversed"),
                   ("both_reversed", "both_reversed"), ("cols_step", "rows_step"), ("T_reversed", "padded")])


@pytest.fixture(scope="module")
def path_cases():
    """{(dtype, path): (a, b, (exact, bound))}: the inputs of each path and their checked product, made once."""
    rng = np.random.default_rng(0)
    cases = {}
    for dtype in DTYPES:
        for name, (m, k, n) in PATHS.items():
            a, b = random(rng, (m, k), dtype), random(rng, (k, n), dtype)
            cases[dtype, name] = a, b, exact_and_bound(a, b)
    return cases


@pytest.mark.parametrize("a_kind,b_kind", LAYOUT_PAIRS)
def test_every_layout_on_every_path(num_threads, path_cases, a_kind, b_kind):
    num_threads(3)
    for (dtype, name), (a_values, b_values, reference) in path_cases.items():
        a, b = view(a_values, a_kind), view(b_values, b_kind)
        got = kernels.matmul(a, b)
        assert got.flags.c_contiguous, name
        assert_product(got, a_values, b_values, reference)
        assert np.array_equal(a, a_values) and np.array_equal(b, b_values), f"{name}: inputs changed"


def test_broadcast_inputs_with_zero_strides():
    rng = np.random.default_rng(1)
    for dtype in DTYPES:
        for m, k, n in PATHS.values():
            a = np.broadcast_to(random(rng, (1, k), dtype), (m, k))  # row stride 0
            b = np.broadcast_to(random(rng, (k, 1), dtype), (k, n))  # column stride 0
            assert_product(kernels.matmul(a, b), a, b)


def test_the_paths_and_thresholds_are_where_the_shapes_say(monkeypatch, num_threads):
    """The shapes of the sweep below really straddle the split threshold (recorded: the C calls that ran)."""
    ran = []
    real_fn = kernels._fn
    monkeypatch.setattr(kernels, "_fn", lambda name, dtype: ran.append(name) or real_fn(name, dtype))
    num_threads(2)
    split = threads.SPLIT_PRODUCT_MACS
    cases = [((7, 512, 5), 1), ((255, 512, 257), 1), ((256, 512, 256), 2),  # just below / = SPLIT_PRODUCT_MACS
             ((63, 4096, 130), 1), ((64, 4096, 128), 2)]
    assert 63 * 4096 * 130 < split <= 64 * 4096 * 128 and 255 * 512 * 257 < split <= 256 * 512 * 256
    a = np.zeros((256, 4096), np.float32)
    for (m, k, n), parts in cases:
        ran.clear()
        kernels.matmul(a[:m, :k], np.zeros((k, n), np.float32))
        assert ran == ["rk_gemm_blocked"], (m, k, n)
        assert threads.product_split(m, n, k, kernels.pack_width(np.dtype(np.float32)))[0] == parts


SHAPES = [(1, 1, 1), (1, 5, 1), (2, 3, 1), (1, 1, 9), (6, 16, 32), (7, 17, 33), (12, 32, 64), (5, 256, 17),
          (6, 257, 31), (97, 300, 257), (7, 512, 5), (7, 513, 5), (1, 700, 300), (300, 700, 1), (1, 2000, 1),
          (96, 600, 16), (97, 600, 16), (255, 256, 257), (256, 256, 256), (63, 4096, 130), (64, 4096, 128),
          (13, 300, 1100), (100, 520, 2100)]  # several NC (1024) blocks of columns


@pytest.mark.parametrize("dtype", DTYPES)
def test_shapes_around_every_block_size_and_threshold(dtype):
    rng = np.random.default_rng(2)
    for m, k, n in SHAPES:
        a, b = random(rng, (m, k), dtype), random(rng, (k, n), dtype)
        assert_product(kernels.matmul(a, b), a, b)


@pytest.mark.parametrize("a_dtype,b_dtype", [(np.float32, np.float64), (np.float64, np.float32), (np.int32, np.int32),
                                             (np.int64, np.int64), (np.float16, np.float16), (np.int64, np.float32)])
def test_other_and_mixed_dtypes_give_numpys_product(a_dtype, b_dtype):
    rng = np.random.default_rng(3)
    for m, k, n in [(3, 4, 5), (40, 600, 30)]:
        a = rng.integers(-5, 6, (m, k)).astype(a_dtype)
        b = rng.integers(-5, 6, (k, n)).astype(b_dtype)
        got, want = kernels.matmul(a, b), np.matmul(a, b)
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(0, 5, 3), (4, 0, 3), (4, 5, 0), (0, 0, 0), (0, 600, 300)])
def test_empty_axes_give_numpys_product(dtype, m, k, n):
    a, b = np.ones((m, k), dtype), np.ones((k, n), dtype)
    got, want = kernels.matmul(a, b), np.matmul(a, b)
    assert got.shape == want.shape == (m, n) and got.dtype == want.dtype and np.array_equal(got, want)
    out = np.full((m, n), np.nan, dtype)
    assert kernels.matmul(a, b, out=out) is out and np.array_equal(out, want)  # k = 0: zeros written


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", ["gemm_tiny", "blocked_direct_b", "split_columns", "split_rows"])
def test_a_suitable_out_is_written_into(num_threads, dtype, path):
    num_threads(3)
    m, k, n = PATHS[path]
    rng = np.random.default_rng(4)
    a, b = random(rng, (m, k), dtype), random(rng, (k, n), dtype)
    out = np.full((m, n), np.nan, dtype)
    assert kernels.matmul(a, b, out=out) is out
    assert_product(out, a, b)


def unsuitable_outs(m, n, dtype):
    other = np.float32 if dtype == np.float64 else np.float64
    read_only = np.full((m, n), 7, dtype)
    read_only.flags.writeable = False
    size = np.dtype(dtype).itemsize
    unaligned = np.zeros((m * n + 1) * size, np.uint8)[1:1 + m * n * size].view(dtype).reshape(m, n)
    unaligned[...] = 7
    return {"strided": np.full((m, 2 * n), 7, dtype)[:, ::2], "fortran": np.full((m, n), 7, dtype, order="F"),
            "wrong_dtype": np.full((m, n), 7, other), "wrong_shape": np.full((m, n + 1), 7, dtype),
            "read_only": read_only, "unaligned": unaligned, "reversed": np.full((m, n), 7, dtype)[::-1]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", ["gemm_tiny", "split_columns"])
def test_an_unsuitable_out_is_left_alone_and_a_new_array_returned(num_threads, dtype, path):
    num_threads(3)
    m, k, n = PATHS[path]
    rng = np.random.default_rng(5)
    a, b = random(rng, (m, k), dtype), random(rng, (k, n), dtype)
    for why, out in unsuitable_outs(m, n, dtype).items():
        before = out.copy()
        got = kernels.matmul(a, b, out=out)
        assert got is not out and not np.shares_memory(got, out), why
        assert_product(got, a, b)
        assert np.array_equal(out, before), f"{why}: the caller's out was written"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path,by_rows", [("split_rows", True), ("split_columns", False), ("split_cube", False)])
def test_results_do_not_depend_on_the_thread_count(num_threads, dtype, path, by_rows):
    m, k, n = PATHS.get(path, (256, 512, 256))
    rng = np.random.default_rng(6)
    a, b = random(rng, (m, k), dtype), random(rng, (k, n), dtype)
    panel = kernels.pack_width(np.dtype(dtype))
    results = []
    for count in (1, 2, 3):
        num_threads(count)
        parts, rows = threads.product_split(m, n, k, panel)
        assert rows == by_rows and parts == count  # every shape here has more than 3 blocks
        for b_view in (b, b[:, ::-1]):  # column blocks of a reversed B start from its last column
            results.append(kernels.matmul(a, b_view))
    assert_product(results[0], a, b)
    assert_product(results[1], a, b[:, ::-1])
    for count in (1, 2):
        assert np.array_equal(results[2 * count], results[0]), f"{count + 1} threads differ from 1"
        assert np.array_equal(results[2 * count + 1], results[1]), f"{count + 1} threads differ from 1 (reversed B)"


def test_row_ranges_cover_the_extent_cut_at_multiples():
    for multiple in (1, 6, 8, 16):
        for extent in range(1, 140):
            for parts in range(1, min(extent, 7) + 1):
                ranges = threads.row_ranges(extent, parts, multiple)
                assert len(ranges) == parts
                assert ranges[0][0] == 0 and ranges[-1][1] == extent
                assert all(lo < hi for lo, hi in ranges), (extent, parts, multiple, ranges)
                assert all(prev[1] == nxt[0] for prev, nxt in zip(ranges, ranges[1:]))
                if extent >= parts * multiple:  # every range can get whole multiples
                    assert all(lo % multiple == 0 for lo, _ in ranges), (extent, parts, multiple, ranges)
    assert threads.row_ranges(50, 3, 6) == [(0, 18), (18, 36), (36, 50)]


def test_product_split_stays_within_threads_and_blocks(num_threads):
    split = threads.SPLIT_PRODUCT_MACS
    for count in (1, 2, 3, 5):
        num_threads(count)
        for panel in (8, 16):
            for m, n, k in [(1, 1, 1), (6, 6, split), (5, 40, split), (40, 5, split), (12, 2 * panel, split),
                            (300, 40, 1024), (64, 130, 1024), (63, 130, 1024), (4096, 4096, 4096), (7, 4096, 4096)]:
                parts, by_rows = threads.product_split(m, n, k, panel)
                blocks = m // threads.MIN_ROWS if by_rows else n // panel
                assert by_rows == (n < m)
                assert 1 <= parts <= max(1, min(count, blocks)), (count, panel, m, n, k)
                if m * n * k < split:
                    assert parts == 1
                elif count > 1 and blocks > 1:
                    assert parts > 1, (count, panel, m, n, k)
                extent, multiple = (m, threads.MIN_ROWS) if by_rows else (n, panel)
                if parts > 1:  # the blocks kernels.matmul hands out start on a tile or panel boundary
                    assert all(lo % multiple == 0 for lo, _ in threads.row_ranges(extent, parts, multiple))


def test_run_rows_runs_every_range_once_in_order(num_threads):
    num_threads(3)
    seen = []
    results = threads.run_rows(lambda lo, hi: seen.append((lo, hi)) or (lo, hi), 50, 3, 6)
    assert results == threads.row_ranges(50, 3, 6) and sorted(seen) == results


def test_a_field_of_a_structured_array():
    rng = np.random.default_rng(7)
    records = np.zeros((7, 5), dtype=[("x", np.float32), ("flag", np.uint8)])
    records["x"] = rng.standard_normal((7, 5))
    a, b = records["x"], random(rng, (5, 4), np.float32)
    assert a.strides == (25, 5)
    assert_product(kernels.matmul(a, b), a, b)


def test_dense_on_a_field_of_a_structured_array():
    rng = np.random.default_rng(7)
    records = np.zeros((7, 5), dtype=[("x", np.float32), ("flag", np.uint8)])
    records["x"] = rng.standard_normal((7, 5))
    layer = Dense(3, seed=0)
    got = layer(records["x"])
    np.testing.assert_allclose(got, records["x"].copy() @ layer.kernel.value + layer.bias.value, rtol=1e-5, atol=1e-6)


def test_mismatched_inner_dimensions_raise_like_numpy():
    a, b = np.ones((3, 4), np.float32), np.ones((6, 5), np.float32)  # b longer: no read past its end
    with pytest.raises(ValueError):
        np.matmul(a, b)
    with pytest.raises(ValueError):
        kernels.matmul(a, b)


# Dense through rnnkit.ops.products: the compiled product against the reference (NumPy's @)

def dense_case(dtype, shape, units, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(units, activation="tanh", seed=seed, dtype=np.dtype(dtype).name)
    x = random(rng, shape, dtype)
    layer(x)
    layer.bias.value[...] = random(rng, (units,), dtype)
    upstream = random(rng, shape[:-1] + (units,), dtype)
    return layer, x, upstream


def dense_run(layer, x, upstream):
    y = layer(x)
    dx = layer.backward(upstream)
    return [y, dx, *layer.get_gradients()]


def test_dense_products_run_on_the_compiled_matmul_outside_reference_only():
    assert active_function(products.matmul2d) is kernels.matmul
    with reference_only():
        assert active_function(products.matmul2d) is products.matmul2d


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,units", [((5, 7), 3), ((3, 4, 7), 3),
                                         ((600, 130), 120),  # dW = x.T (130 x 600) dz: blocked, split by rows
                                         ((4, 150, 130), 120),
                                         ((9, 600), 33)])  # forward depth 600: blocked
def test_dense_equals_the_reference(num_threads, dtype, shape, units):
    num_threads(3)
    layer, x, upstream = dense_case(dtype, shape, units, seed=8)
    compiled = dense_run(layer, x, upstream)
    with reference_only():
        reference = dense_run(layer, x, upstream)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for name, got, want in zip(["outputs", "inputs grad", "kernel grad", "bias grad"], compiled, reference):
        assert got.shape == want.shape and got.dtype == want.dtype == dtype, name
        assert rel_error(got, want) < tolerance, name


def test_dense_gradients_on_the_compiled_path_match_finite_differences():
    layer, x, upstream = dense_case(np.float64, (3, 4, 5), 3, seed=9)

    def loss():
        return float(np.sum(layer(x) * upstream))

    dx, d_kernel, d_bias = dense_run(layer, x, upstream)[1:]
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_error(d_kernel, numeric_grad(loss, layer.kernel.value)) < 1e-6
    assert rel_error(d_bias, numeric_grad(loss, layer.bias.value)) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,units", [((3, 4, 7), 3), ((4, 150, 130), 120)])
def test_dense_writes_its_gradients_into_the_sinks(num_threads, dtype, shape, units):
    num_threads(3)
    layer, x, upstream = dense_case(dtype, shape, units, seed=10)
    with reference_only():
        want = dense_run(layer, x, upstream)[2:]
    kernel_sink = np.full(layer.kernel.value.shape, np.nan, dtype)
    bias_sink = np.full(layer.bias.value.shape, np.nan, dtype)
    layer(x)
    with grad_sinks.writing_gradients_into({id(layer.kernel.value): kernel_sink, id(layer.bias.value): bias_sink}):
        layer.backward(upstream)
    d_kernel, d_bias = layer.get_gradients()
    assert d_kernel is kernel_sink and d_bias is bias_sink
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert rel_error(kernel_sink, want[0]) < tolerance and rel_error(bias_sink, want[1]) < tolerance
