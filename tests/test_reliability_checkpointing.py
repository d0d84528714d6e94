"""Gradient checkpointing through time (rnnkit.ops.checkpointing): same values and gradients as
plain BPTT for every cell kind, masks, recurrent dropout, ragged last segments and empty
sequences, with a forward cache that shrinks as promised."""
import numpy as np
import pytest

from helpers import cell_gradient_errors, random_mask, rel_error
from rnnkit import Sequential, layers
from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from rnnkit.errors import RnnkitValueError
from rnnkit.ops import checkpointing

CELLS = {
    "simple_rnn": lambda: SimpleRNNCell(4, dtype="float64", seed=1),
    "lstm": lambda: LSTMCell(4, dtype="float64", seed=2),
    "lstm_variants": lambda: LSTMCell(4, use_peepholes=True, num_proj=3, cell_clip=0.8, proj_clip=0.5,
                                      forget_bias=1.0, dtype="float64", seed=3),
    "gru": lambda: GRUCell(4, dtype="float64", seed=4),
    "gru_reset_before": lambda: GRUCell(4, reset_after=False, dtype="float64", seed=5),
}


def _plain_and_segmented(cell, x, state0, mask, backprop_segment, zero_output_for_mask, recurrent_mask=None, seed=0):
    rng = np.random.default_rng(seed)
    results = []
    for seg in (None, backprop_segment):
        out, final, cache = cell.forward(x, state0, mask, recurrent_mask=recurrent_mask,
                                         zero_output_for_mask=zero_output_for_mask, backprop_segment=seg)
        results.append((out, final, cache))
    g_out = rng.standard_normal(results[0][0].shape)
    g_state = [rng.standard_normal(s.shape) for s in results[0][1]]
    grads = [cell.backward(g_out, g_state, cache) for _, _, cache in results]
    return results, grads


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("backprop_segment", [1, 3, 7, 50])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_segmented_equals_plain_bptt(kind, backprop_segment, masked, zero_output_for_mask):
    rng = np.random.default_rng(7)
    cell = CELLS[kind]()
    x = rng.standard_normal((4, 13, 3))
    cell.build(3)
    state0 = [rng.standard_normal((4, s)) * 0.5 for s in cell.state_size]
    mask = random_mask(rng, 4, 13) if masked else None
    (plain, seg), (g_plain, g_seg) = _plain_and_segmented(cell, x, state0, mask, backprop_segment,
                                                          zero_output_for_mask)
    assert isinstance(seg[2], checkpointing.SegmentedCache)
    assert seg[2].segment_count == -(-13 // backprop_segment)
    np.testing.assert_allclose(seg[0], plain[0], rtol=0, atol=1e-13)
    for a, b in zip(seg[1], plain[1]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    dx_p, ds_p, gw_p = g_plain
    dx_s, ds_s, gw_s = g_seg
    errors = {"dx": rel_error(dx_s, dx_p)}
    errors.update({f"d_state0[{i}]": rel_error(a, b) for i, (a, b) in enumerate(zip(ds_s, ds_p))})
    errors.update({name: rel_error(a, b) for name, a, b in zip(cell.weight_names, gw_s, gw_p)})
    assert max(errors.values()) < 1e-12, errors


def test_segmented_with_recurrent_dropout_mask():
    rng = np.random.default_rng(3)
    cell = LSTMCell(5, dtype="float64", seed=0)
    cell.build(2)
    x = rng.standard_normal((3, 10, 2))
    rmask = (rng.random((3, 5)) > 0.3) / 0.7
    (plain, seg), (g_plain, g_seg) = _plain_and_segmented(cell, x, None, None, 4, False, recurrent_mask=rmask)
    np.testing.assert_allclose(seg[0], plain[0], atol=1e-13)
    for a, b in zip(g_seg[2], g_plain[2]):
        assert rel_error(a, b) < 1e-12


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm_variants", "gru"])
def test_segmented_gradients_match_finite_differences(kind, monkeypatch):
    """The checkpointed backward against central differences directly (not only against plain BPTT)."""
    rng = np.random.default_rng(11)
    cell = CELLS[kind]()
    original = cell.forward
    monkeypatch.setattr(cell, "forward", lambda *a, **k: original(*a, backprop_segment=2, **k))
    errors = cell_gradient_errors(cell, rng.standard_normal((3, 5, 2)), mask=random_mask(rng, 3, 5))
    assert max(errors.values()) < 1e-6, errors


def test_empty_and_one_step_sequences():
    cell = GRUCell(3, dtype="float64", seed=0)
    for time in (0, 1):
        x = np.random.default_rng(0).standard_normal((2, time, 4))
        out, final, cache = cell.forward(x, backprop_segment=5)
        assert out.shape == (2, time, 3)
        dx, ds, grads = cell.backward(np.ones_like(out), [np.ones((2, 3))], cache)
        assert dx.shape == x.shape and all(np.isfinite(g).all() for g in grads)
        if time == 0:  # the state passes through unchanged, so does its gradient
            np.testing.assert_array_equal(ds[0], np.ones((2, 3)))


def test_stacked_cells_through_the_generic_helper():
    """Any (forward, backward) pair works: here a StackedRNNCells' own methods, grads as a list."""
    rng = np.random.default_rng(5)
    stack = StackedRNNCells([LSTMCell(4, dtype="float64", seed=0), GRUCell(3, dtype="float64", seed=1)])
    x = rng.standard_normal((2, 9, 3))
    mask = random_mask(rng, 2, 9)

    def run(xs, state, m, zero):
        return stack.forward(xs, state, m, zero_output_for_mask=zero)

    out_p, fin_p, cache_p = stack.forward(x, None, mask)
    out_s, fin_s, cache_s = checkpointing.segmented_forward(run, stack.backward, x, stack.check_state(None, 2),
                                                            mask, backprop_segment=4)
    np.testing.assert_allclose(out_s, out_p, atol=1e-13)
    g = rng.standard_normal(out_p.shape)
    dx_p, _, gw_p = stack.backward(g, None, cache_p)
    dx_s, _, gw_s = checkpointing.segmented_backward(g, None, cache_s)
    assert rel_error(dx_s, dx_p) < 1e-12
    assert max(rel_error(a, b) for a, b in zip(gw_s, gw_p)) < 1e-12


@pytest.mark.parametrize("make", [lambda: LSTMCell(6, seed=0), lambda: GRUCell(6, seed=0),
                                  lambda: SimpleRNNCell(6, seed=0)], ids=["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("masked", [False, True])
def test_active_kernels_agree_with_reference_when_segmented(make, masked):
    """Whatever kernels are active (a compiled path may reuse scratch buffers between calls), the
    segmented backward equals the plain reference one."""
    rng = np.random.default_rng(2)
    cell = make()  # float32, the compiled path's usual dtype
    x = rng.standard_normal((3, 20, 4)).astype(np.float32)
    g = rng.standard_normal((3, 20, 6)).astype(np.float32)
    mask = random_mask(rng, 3, 20) if masked else None
    cell.build(4)
    state0 = cell.get_initial_state(3)
    ref_f, ref_b = cell.reference_ops
    out_r, _, cache_r = ref_f(x, state0, cell.params, mask, **cell.op_options())
    dx_r, _, grads_r = ref_b(g, None, cache_r)
    out, _, cache = cell.forward(x, state0, mask, backprop_segment=6)
    dx, _, grads = cell.backward(g, None, cache)
    np.testing.assert_allclose(out, out_r, atol=1e-5)
    assert rel_error(dx, dx_r) < 1e-4
    assert max(rel_error(a, grads_r[n]) for n, a in zip(cell.weight_names, grads)) < 1e-4


def test_cache_memory_shrinks_with_segments():
    rng = np.random.default_rng(0)
    cell = LSTMCell(32, seed=0)
    x = rng.standard_normal((8, 400, 16)).astype(np.float32)
    _, _, plain = cell.forward(x)
    _, _, seg = cell.forward(x, backprop_segment=20)
    plain_bytes, seg_bytes = checkpointing.cache_nbytes(plain), checkpointing.cache_nbytes(seg)
    # the plain cache holds ~13 H floats per step and sample; the segmented one the inputs plus
    # 20 boundary states (h, c)
    assert seg_bytes < plain_bytes / 5, (plain_bytes, seg_bytes)
    assert seg_bytes == x.nbytes + 20 * 2 * 8 * 32 * 4


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_backprop_segment_is_validated(bad):
    cell = SimpleRNNCell(2)
    with pytest.raises(RnnkitValueError, match="backprop_segment must be a positive integer"):
        cell.forward(np.zeros((1, 4, 3), np.float32), backprop_segment=bad)


# ---------------------------------------------------------------- the layer face: backprop_segment
LAYERS = {
    "LSTM": lambda **k: layers.LSTM(4, **k),
    "GRU": lambda **k: layers.GRU(3, **k),
    "SimpleRNN": lambda **k: layers.SimpleRNN(3, **k),
    "stacked": lambda **k: layers.RNN([cells_lstm(), cells_gru()], **k),
    "Bidirectional": lambda **k: layers.Bidirectional(layers.LSTM(3, **k)),
}


def cells_lstm():
    return LSTMCell(3, dtype="float64", seed=7)


def cells_gru():
    return GRUCell(2, dtype="float64", seed=8)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("options", [dict(return_sequences=True), dict(go_backwards=True),
                                     dict(return_sequences=True, dropout=0.3, recurrent_dropout=0.3)],
                         ids=["sequences", "backwards", "dropout"])
def test_layer_backprop_segment_equals_plain(kind, options):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 11, 2))
    mask = random_mask(rng, 3, 11)
    results = []
    for segment in (None, 4):
        layer = LAYERS[kind](dtype="float64", seed=3, backprop_segment=segment, **options)
        out = layer(x, training=True, mask=mask)
        g = np.random.default_rng(2).standard_normal(out.shape)
        results.append((out, layer.backward(g), layer.get_gradients()))
    (out_p, dx_p, grads_p), (out_s, dx_s, grads_s) = results
    np.testing.assert_allclose(out_s, out_p, atol=1e-13)
    assert rel_error(dx_s, dx_p) < 1e-12
    assert max(rel_error(a, b) for a, b in zip(grads_s, grads_p)) < 1e-12


def test_layer_backprop_segment_in_config_and_fit():
    layer = layers.LSTM(4, backprop_segment=5)
    assert layer.get_config()["backprop_segment"] == 5
    assert layers.LSTM.from_config(layer.get_config()).backprop_segment == 5
    assert layers.LSTM(4).get_config()["backprop_segment"] is None

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 30, 3)), rng.standard_normal((16, 1))
    weights = []
    for segment in (None, 6):
        model = Sequential([layers.GRU(5, input_shape=(30, 3), dtype="float64", seed=1, backprop_segment=segment),
                            layers.Dense(1, dtype="float64", seed=2)])
        model.compile("adam", "mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- the numbers in docs/memory.md
@pytest.mark.parametrize("kind, make, per_step, once", [
    ("simple_rnn", lambda: SimpleRNNCell(5, dtype="float64"), lambda i, h, p: i + 3 * h, lambda h, p: h),
    ("lstm", lambda: LSTMCell(5, dtype="float64"), lambda i, h, p: i + 13 * h, lambda h, p: 2 * h),
    ("lstm", lambda: LSTMCell(5, num_proj=2, dtype="float64"), lambda i, h, p: i + 12 * h + p,
     lambda h, p: h + p),
    ("gru", lambda: GRUCell(5, dtype="float64"), lambda i, h, p: i + 9 * h, lambda h, p: h),
], ids=["simple_rnn", "lstm", "lstm_proj", "gru"])
def test_reference_cache_floats_per_step_match_docs(kind, make, per_step, once):
    """docs/memory.md: floats kept per time step and sample by each reference kernel's cache."""
    batch, time, features = 3, 7, 4
    cell = make()
    cell.build(features)
    forward, _ = cell.reference_ops
    x = np.zeros((batch, time, features))
    _, _, cache = forward(x, cell.get_initial_state(batch), cell.params, **cell.op_options())
    h, p = cell.units, cell.output_size
    expected = batch * time * per_step(features, h, p) + batch * once(h, p)
    assert checkpointing.cache_nbytes(cache) == 8 * expected
