import numpy as np
import pytest

from helpers import cell_gradient_errors, numeric_grad, random_mask, rel_error, step_loop_errors, weighted_sum
from rnnkit.cells import reference_only
from rnnkit.cells.lstm import LSTMCell
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.ops.lstm import lstm_backward, lstm_forward

VARIANTS = {
    "plain": {},
    "relu": {"activation": "relu"},
    "hard_sigmoid": {"recurrent_activation": "hard_sigmoid"},
    "forget_bias": {"forget_bias": 1.0},
    "peepholes": {"use_peepholes": True},
    "coupled": {"coupled_input_forget": True},
    "coupled_peepholes": {"coupled_input_forget": True, "use_peepholes": True},
    "projection": {"num_proj": 3},
    "cell_clip": {"cell_clip": 0.15},
    "proj_clip": {"num_proj": 3, "proj_clip": 0.12},
    # relu with a cell clip of 0.15 keeps |h| below ~0.06, hence the smaller proj_clip
    "all": {"use_peepholes": True, "num_proj": 3, "cell_clip": 0.15, "proj_clip": 0.03,
            "forget_bias": 1.0, "activation": "relu", "recurrent_activation": "hard_sigmoid"},
    "all_coupled": {"use_peepholes": True, "coupled_input_forget": True, "num_proj": 3,
                    "cell_clip": 0.15, "proj_clip": 0.12, "forget_bias": 1.0},
}


@pytest.fixture(autouse=True)
def reference_lstm_ops():
    """These tests verify the NumPy reference (the spec), even where a compiled path is active."""
    with reference_only():
        yield


def make_cell(kwargs, units=4, input_dim=2, seed=3):
    """A float64 cell whose bias and peepholes are random too, so every term is exercised."""
    cell = LSTMCell(units, dtype="float64", seed=seed, **kwargs)
    cell.build(input_dim)
    rng = np.random.default_rng(seed + 100)
    for name, value in cell.params.items():
        if name == "bias" or name.startswith("peephole_"):
            value[...] = rng.uniform(-0.5, 0.5, value.shape)
    return cell


def assert_clips_some_entries(cell, x, mask):
    """A clip test only means something if some entries are clipped and some are not."""
    _, _, cache = cell.forward(x, None, mask)
    valid = np.ones(x.shape[:2], bool) if mask is None else mask
    for bound, unclipped in ((cell.cell_clip, cache.c_unclipped), (cell.proj_clip, cache.h_unclipped)):
        if bound is not None:
            unclipped = unclipped[valid.T]  # (T, B, ·), time-major like every op's per-step arrays
            assert 0 < np.count_nonzero(~unclipped) < unclipped.size, (bound, unclipped.mean())


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("outputs_loss", [True, False])
def test_gradients_match_finite_differences(variant, masked, outputs_loss):
    rng = np.random.default_rng(1)
    cell = make_cell(VARIANTS[variant])
    x = rng.standard_normal((3, 5, 2))
    mask = random_mask(rng, 3, 5) if masked else None
    assert_clips_some_entries(cell, x, mask)
    errors = cell_gradient_errors(cell, x, mask=mask, outputs_loss=outputs_loss)
    assert set(errors) == {"inputs", "state0[0]", "state0[1]", *cell.weight_names}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("variant", ["plain", "all", "all_coupled"])
def test_zero_output_for_mask_gradients(variant):
    rng = np.random.default_rng(2)
    cell = make_cell(VARIANTS[variant], units=3)
    x = rng.standard_normal((3, 6, 2))
    errors = cell_gradient_errors(cell, x, mask=random_mask(rng, 3, 6), zero_output_for_mask=True)
    assert max(errors.values()) < 1e-6, errors


def test_no_bias_gradients():
    cell = LSTMCell(3, use_bias=False, use_peepholes=True, dtype="float64", seed=0)
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    errors = cell_gradient_errors(cell, x)
    assert cell.weight_names == ["kernel", "recurrent_kernel", "peephole_i", "peephole_f", "peephole_o"]
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("variant", ["plain", "all"])
def test_kernel_gradients_with_recurrent_mask(variant):
    rng = np.random.default_rng(5)
    cell = make_cell(VARIANTS[variant])
    params, config = cell.params, cell.op_options()
    x = rng.standard_normal((3, 5, 2))
    mask = random_mask(rng, 3, 5)
    state0 = [rng.standard_normal((3, s)) * 0.5 for s in cell.state_size]
    rmask = rng.uniform(0.0, 2.0, (3, cell.state_size[0])) * (rng.random((3, cell.state_size[0])) > 0.3)

    def run():
        return lstm_forward(x, state0, params, mask, rmask, **config)

    outputs, final, cache = run()
    g_out, g_final = rng.standard_normal(outputs.shape), [rng.standard_normal(s.shape) for s in final]

    def loss():
        out, fin, _ = run()
        return weighted_sum([out, *fin], [g_out, *g_final])

    dx, d_state0, grads = lstm_backward(g_out, g_final, cache)
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    for s, ds in zip(state0, d_state0):
        assert rel_error(ds, numeric_grad(loss, s)) < 1e-6
    for name, value in params.items():
        assert rel_error(grads[name], numeric_grad(loss, value)) < 1e-6, name


def test_final_state_gradient_entries_may_be_none():
    rng = np.random.default_rng(6)
    cell = make_cell(VARIANTS["projection"])
    x = rng.standard_normal((2, 4, 2))
    outputs, final, cache = cell.forward(x)
    g_c = rng.standard_normal(final[1].shape)
    with_none = cell.backward(None, (None, g_c), cache)
    with_zeros = cell.backward(None, (np.zeros_like(final[0]), g_c), cache)
    for a, b in zip([with_none[0], *with_none[1], *with_none[2]], [with_zeros[0], *with_zeros[1], *with_zeros[2]]):
        np.testing.assert_array_equal(a, b)
    dx, d_state0, grads = cell.backward(None, None, cache)
    assert not np.any(dx) and not any(np.any(d) for d in d_state0) and not any(np.any(g) for g in grads)


@pytest.mark.parametrize("variant", ["plain", "all", "all_coupled"])
def test_step_loop_equals_sequence_forward_and_backward(variant):
    rng = np.random.default_rng(4)
    cell = make_cell(VARIANTS[variant], units=5, input_dim=3, seed=1)
    x = rng.standard_normal((2, 6, 3))
    state0 = tuple(rng.standard_normal((2, s)) * 0.5 for s in cell.state_size)
    errors = step_loop_errors(cell, x, state0)
    assert max(errors.values()) < 1e-12, errors


def test_one_step_matches_hand_written_equations():
    rng = np.random.default_rng(7)
    cell = make_cell({"use_peepholes": True, "num_proj": 2, "forget_bias": 0.7}, units=3)
    w = cell.params
    x = rng.standard_normal((2, 2))
    h0, c0 = rng.standard_normal((2, 2)), rng.standard_normal((2, 3))
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    z = x @ w["kernel"] + h0 @ w["recurrent_kernel"] + w["bias"]
    zi, zf, zc, zo = np.split(z, 4, axis=1)
    i = sig(zi + w["peephole_i"] * c0)
    f = sig(zf + 0.7 + w["peephole_f"] * c0)
    c = f * c0 + i * np.tanh(zc)
    o = sig(zo + w["peephole_o"] * c)
    h = (o * np.tanh(c)) @ w["projection_kernel"]
    out, (h1, c1) = cell(x, [h0, c0])
    np.testing.assert_allclose(out, h, rtol=1e-12)
    np.testing.assert_allclose(h1, h, rtol=1e-12)
    np.testing.assert_allclose(c1, c, rtol=1e-12)


def test_variants_reduce_to_the_plain_cell():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 5, 3))
    plain = make_cell({}, units=4, input_dim=3)
    expected, (h_ref, c_ref), _ = plain.forward(x)

    # forget_bias is the same as adding it to the forget block of the bias
    shifted = make_cell({"forget_bias": 1.0}, units=4, input_dim=3)
    bias = plain.params["bias"].copy()
    bias[4:8] -= 1.0
    shifted.set_weights([plain.params["kernel"], plain.params["recurrent_kernel"], bias])
    np.testing.assert_allclose(shifted.forward(x)[0], expected, rtol=1e-12)

    # an identity projection and a clip that never bites change nothing
    wide = make_cell({"num_proj": 4, "cell_clip": 1e6, "proj_clip": 1e6}, units=4, input_dim=3)
    wide.set_weights([*plain.get_weights(), np.eye(4)])
    out, (h, c), _ = wide.forward(x)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-12)

    # coupled: i = 1 - σ(a_f) = σ(-a_f), a 4-gate cell whose i block is minus its f block
    coupled = make_cell({"coupled_input_forget": True}, units=4, input_dim=3)
    k, r, b = coupled.get_weights()
    four = make_cell({}, units=4, input_dim=3)
    four.set_weights([np.concatenate([-k[:, :4], k], 1), np.concatenate([-r[:, :4], r], 1),
                      np.concatenate([-b[:4], b])])
    np.testing.assert_allclose(coupled.forward(x)[0], four.forward(x)[0], rtol=1e-12)


def test_masked_steps_keep_state_and_repeat_output():
    rng = np.random.default_rng(0)
    cell = LSTMCell(2, num_proj=3, seed=0)
    x = rng.standard_normal((1, 4, 3)).astype(np.float32)
    mask = np.array([[True, False, True, False]])
    outputs, (h, c), _ = cell.forward(x, mask=mask)
    _, (h2, c2), _ = cell.forward(x[:, [0, 2]])
    np.testing.assert_array_equal(outputs[0, 1], outputs[0, 0])
    np.testing.assert_array_equal(outputs[0, 3], outputs[0, 2])
    np.testing.assert_array_equal(h[0], outputs[0, 2])
    np.testing.assert_allclose(h, h2, rtol=1e-6)
    np.testing.assert_allclose(c, c2, rtol=1e-6)
    zeroed, _, _ = cell.forward(x, mask=mask, zero_output_for_mask=True)
    np.testing.assert_array_equal(zeroed[0, 1], 0.0)


def test_parameter_counts_match_keras():
    small, large = LSTMCell(12), LSTMCell(64)
    small.build(80)
    large.build(126)
    assert small.count_params() == 4464
    assert large.count_params() == 48896


def test_weight_shapes_order_and_initial_values():
    cell = LSTMCell(5, use_peepholes=True, num_proj=2, seed=0)
    cell.build(3)
    assert [(n, w.shape) for n, w in zip(cell.weight_names, cell.get_weights())] == [
        ("kernel", (3, 20)), ("recurrent_kernel", (2, 20)), ("bias", (20,)),
        ("peephole_i", (5,)), ("peephole_f", (5,)), ("peephole_o", (5,)), ("projection_kernel", (5, 2)),
    ]
    assert cell.state_size == (2, 5) and cell.output_size == 2
    assert all(w.dtype == np.float32 and w.flags["C_CONTIGUOUS"] for w in cell.get_weights())
    np.testing.assert_array_equal(cell.params["bias"], np.repeat([0.0, 1.0, 0.0, 0.0], 5))
    limit = np.sqrt(3.0 / 5)  # glorot_uniform on shape (H,)
    assert 0 < np.abs(cell.params["peephole_i"]).max() <= limit

    coupled = LSTMCell(4, use_peepholes=True, coupled_input_forget=True)
    coupled.build(6)
    assert [(n, w.shape) for n, w in zip(coupled.weight_names, coupled.get_weights())] == [
        ("kernel", (6, 12)), ("recurrent_kernel", (4, 12)), ("bias", (12,)),
        ("peephole_f", (4,)), ("peephole_o", (4,)),
    ]
    np.testing.assert_array_equal(coupled.params["bias"], np.repeat([1.0, 0.0, 0.0], 4))
    no_forget = LSTMCell(4, unit_forget_bias=False)
    no_forget.build(2)
    assert not np.any(no_forget.params["bias"])


def test_tutorial_shapes():
    # tf.nn.rnn_cell.LSTMCell(num_units=128) on inputs (4, 48)
    cell = LSTMCell(128, seed=0)
    out, (h, c) = cell(np.ones((4, 48), np.float32), cell.get_initial_state(4))
    assert out.shape == h.shape == c.shape == (4, 128)
    assert out.dtype == np.float32
    # LSTM(64, activation='relu') on (5, 126) sequences, random initial state
    rng = np.random.default_rng(0)
    relu = LSTMCell(64, activation="relu", seed=0)
    outputs, (h, c), _ = relu.forward(rng.standard_normal((2, 5, 126)).astype(np.float32),
                                      [rng.standard_normal((2, 64)).astype(np.float32)] * 2)
    assert outputs.shape == (2, 5, 64) and outputs.dtype == np.float32


def test_config_round_trip():
    cell = LSTMCell(6, activation="relu", recurrent_activation="hard_sigmoid", use_bias=True,
                    kernel_initializer="he_uniform", unit_forget_bias=False, forget_bias=1.0,
                    use_peepholes=True, coupled_input_forget=True, num_proj=3, cell_clip=2.0,
                    proj_clip=1.5, seed=4, dtype="float64", name="lstm_x")
    config = cell.get_config()
    assert {"units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
            "recurrent_initializer", "bias_initializer", "unit_forget_bias", "forget_bias",
            "use_peepholes", "coupled_input_forget", "num_proj", "cell_clip", "proj_clip", "seed",
            "dtype", "name", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
            "kernel_constraint", "recurrent_constraint", "bias_constraint"} == set(config)
    clone = LSTMCell.from_config(config)
    assert clone.get_config() == config
    cell.build(2)
    clone.build(2)
    for a, b in zip(cell.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_name_the_argument():
    with pytest.raises(RnnkitValueError, match="num_proj must be a positive integer"):
        LSTMCell(3, num_proj=0)
    with pytest.raises(RnnkitValueError, match="num_proj must be a positive integer"):
        LSTMCell(3, num_proj=2.5)
    with pytest.raises(RnnkitValueError, match="cell_clip must be a positive number or None"):
        LSTMCell(3, cell_clip=-1.0)
    with pytest.raises(RnnkitValueError, match="proj_clip must be a positive number or None"):
        LSTMCell(3, num_proj=2, proj_clip=0)
    with pytest.raises(RnnkitValueError, match="proj_clip needs num_proj"):
        LSTMCell(3, proj_clip=1.0)
    with pytest.raises(RnnkitValueError, match="activation must be one of"):
        LSTMCell(3, activation="tanhh")
    with pytest.raises(RnnkitValueError, match="activation must be one of"):
        LSTMCell(3, recurrent_activation="sigmod")
    with pytest.raises(RnnkitTypeError, match="activation must be a name"):
        LSTMCell(3, activation=np.tanh)
    with pytest.raises(RnnkitValueError, match="forget_bias must be a finite number"):
        LSTMCell(3, forget_bias="1.0")
    with pytest.raises(RnnkitValueError, match="units must be a positive integer"):
        LSTMCell(0)
    cell = LSTMCell(3, num_proj=2)
    x = np.zeros((2, 4, 5), np.float32)
    with pytest.raises(RnnkitValueError, match=r"initial_state\[0\] for LSTMCell must have shape \(2, 2\)"):
        cell.forward(x, [np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)])
    with pytest.raises(RnnkitValueError, match=r"initial_state for LSTMCell must be a list of 2 arrays"):
        cell.forward(x, [np.zeros((2, 2), np.float32)])
    with pytest.raises(RnnkitValueError, match="inputs must have rank 3"):
        cell.forward(np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("shape", [(2, 0, 4), (0, 3, 4)])
def test_empty_batch_or_time(shape):
    cell = LSTMCell(3, num_proj=2, use_peepholes=True, cell_clip=1.0, proj_clip=1.0)
    rng = np.random.default_rng(0)
    state0 = [rng.standard_normal((shape[0], s)).astype(np.float32) for s in cell.state_size]
    outputs, final, cache = cell.forward(np.zeros(shape, np.float32), state0)
    assert outputs.shape == (shape[0], shape[1], 2)
    for a, b in zip(final, state0):  # no step ran: the state passes through
        np.testing.assert_array_equal(a, b)
    g_final = [rng.standard_normal(s.shape).astype(np.float32) for s in final]
    dx, d_state0, grads = cell.backward(np.zeros(outputs.shape, np.float32), g_final, cache)
    assert dx.shape == shape
    for a, b in zip(d_state0, g_final):
        np.testing.assert_array_equal(a, b)
    assert [g.shape for g in grads] == [w.shape for w in cell.get_weights()]
    assert not any(np.any(g) for g in grads)


def test_kernel_refuses_mismatched_params():
    cell = make_cell({"use_peepholes": True})
    params = dict(cell.params)
    x, state0 = np.zeros((1, 2, 2)), cell.get_initial_state(1)
    with pytest.raises(RnnkitValueError, match="must have 3 gate blocks"):
        lstm_forward(x, state0, params, coupled_input_forget=True)
    coupled = make_cell({"use_peepholes": True, "coupled_input_forget": True})
    with pytest.raises(RnnkitValueError, match="unexpected weight 'peephole_i'"):
        lstm_forward(x, state0, {**coupled.params, "peephole_i": np.zeros(4)}, coupled_input_forget=True)
    with pytest.raises(RnnkitValueError, match=r"params\['recurrent_kernel'\] must have shape \(4, 16\)"):
        lstm_forward(x, state0, {**params, "recurrent_kernel": np.zeros((3, 16))})
    with pytest.raises(RnnkitValueError, match=r"params\['peephole_o'\] must have shape \(4,\)"):
        lstm_forward(x, state0, {**params, "peephole_o": np.zeros(5)})
