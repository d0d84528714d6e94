import numpy as np
import pytest

from helpers import cell_gradient_errors, random_mask, step_loop_errors
from rnnkit.cells.gru import GRUCell
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.ops.activations import get_activation


def _randomize_bias(cell, rng):
    # zero biases would hide a bias routed to the wrong gate or the wrong row
    cell.params["bias"][...] = rng.standard_normal(cell.params["bias"].shape) * 0.5


def _built_cell(rng, units=4, features=3, **kwargs):
    cell = GRUCell(units, dtype="float64", seed=2, **kwargs)
    cell.build(features)
    if cell.use_bias:
        _randomize_bias(cell, rng)
    return cell


def _dropout_masks(rng, batch, width, rate=0.3):
    return (rng.random((batch, width)) > rate) / (1.0 - rate)


def naive_step(cell, x_t, h, recurrent_masks=(None, None, None)):
    """One GRU step written gate by gate from the equations (Keras 3 GRUCell, implementation 1)."""
    W, U = cell.params["kernel"], cell.params["recurrent_kernel"]
    H = cell.units
    Wz, Wr, Wh = W[:, :H], W[:, H:2 * H], W[:, 2 * H:]
    Uz, Ur, Uh = U[:, :H], U[:, H:2 * H], U[:, 2 * H:]
    if cell.use_bias:
        b = cell.params["bias"]
        b_in, b_rec = (b[0], b[1]) if cell.reset_after else (b, np.zeros_like(b))
    else:
        b_in = b_rec = np.zeros(3 * H)
    hz, hr, hh = (h if m is None else h * m for m in recurrent_masks)
    sigma, f = cell.recurrent_activation, cell.activation
    z = sigma(x_t @ Wz + b_in[:H] + hz @ Uz + b_rec[:H])
    r = sigma(x_t @ Wr + b_in[H:2 * H] + hr @ Ur + b_rec[H:2 * H])
    if cell.reset_after:
        cand = f(x_t @ Wh + b_in[2 * H:] + r * (hh @ Uh + b_rec[2 * H:]))
    else:
        cand = f(x_t @ Wh + b_in[2 * H:] + (r * hh) @ Uh)
    return z * h + (1 - z) * cand


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("activation,recurrent_activation", [
    ("tanh", "sigmoid"), ("relu", "sigmoid"), ("linear", "sigmoid"), ("tanh", "hard_sigmoid")])
def test_forward_matches_gate_by_gate_equations(reset_after, activation, recurrent_activation):
    rng = np.random.default_rng(0)
    cell = _built_cell(rng, reset_after=reset_after, activation=activation,
                       recurrent_activation=recurrent_activation)
    x = rng.standard_normal((3, 5, 3))
    h = rng.standard_normal((3, 4))
    outputs, (h_T,), _ = cell.forward(x, (h,))
    for t in range(5):
        h = naive_step(cell, x[:, t], h)
        np.testing.assert_allclose(outputs[:, t], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_T, h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("per_gate", [False, True])
def test_recurrent_mask_acts_only_inside_the_recurrent_matmuls(reset_after, per_gate):
    rng = np.random.default_rng(1)
    cell = _built_cell(rng, reset_after=reset_after)
    x = rng.standard_normal((3, 4, 3))
    h = rng.standard_normal((3, 4))
    rmask = _dropout_masks(rng, 3, 12 if per_gate else 4)
    gate_masks = tuple(np.split(rmask, 3, axis=1)) if per_gate else (rmask,) * 3
    outputs, _, _ = cell.forward(x, (h,), recurrent_mask=rmask)
    for t in range(4):
        h = naive_step(cell, x[:, t], h, gate_masks)
        np.testing.assert_allclose(outputs[:, t], h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("outputs_loss", [True, False])
def test_gradients_match_finite_differences(reset_after, activation, masked, outputs_loss):
    rng = np.random.default_rng(3)
    cell = _built_cell(rng, reset_after=reset_after, activation=activation)
    x = rng.standard_normal((3, 5, 3))
    mask = random_mask(rng, 3, 5) if masked else None
    errors = cell_gradient_errors(cell, x, mask=mask, outputs_loss=outputs_loss)
    assert set(errors) == {"inputs", "state0[0]", "kernel", "recurrent_kernel", "bias"}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("reset_after", [True, False])
def test_hard_sigmoid_gradients(reset_after):
    rng = np.random.default_rng(4)
    cell = _built_cell(rng, reset_after=reset_after, recurrent_activation="hard_sigmoid")
    # scale so some gate pre-activations saturate (|a| > 3) and the zero-slope branch is exercised
    x = rng.standard_normal((3, 5, 3)) * 2.0
    errors = cell_gradient_errors(cell, x, mask=random_mask(rng, 3, 5))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("reset_after", [True, False])
def test_no_bias_gradients(reset_after):
    rng = np.random.default_rng(5)
    cell = _built_cell(rng, reset_after=reset_after, use_bias=False)
    errors = cell_gradient_errors(cell, rng.standard_normal((2, 4, 3)))
    assert cell.weight_names == ["kernel", "recurrent_kernel"]
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("reset_after", [True, False])
def test_zero_output_for_mask_gradients(reset_after):
    rng = np.random.default_rng(6)
    cell = _built_cell(rng, reset_after=reset_after)
    errors = cell_gradient_errors(cell, rng.standard_normal((3, 6, 3)), mask=random_mask(rng, 3, 6),
                                  zero_output_for_mask=True)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("per_gate", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_recurrent_mask_gradients(reset_after, per_gate, masked):
    rng = np.random.default_rng(7)
    cell = _built_cell(rng, reset_after=reset_after)
    x = rng.standard_normal((3, 5, 3))
    rmask = _dropout_masks(rng, 3, 12 if per_gate else 4)
    mask = random_mask(rng, 3, 5) if masked else None
    errors = cell_gradient_errors(cell, x, mask=mask, recurrent_mask=rmask)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("reset_after", [True, False])
def test_step_loop_equals_sequence_forward_and_backward(reset_after):
    rng = np.random.default_rng(8)
    cell = _built_cell(rng, units=5, reset_after=reset_after)
    x = rng.standard_normal((2, 6, 3))
    errors = step_loop_errors(cell, x, (rng.standard_normal((2, 5)),))
    assert max(errors.values()) < 1e-12, errors


def test_call_contract_and_float32():
    cell = GRUCell(3, seed=0)
    out, states = cell(np.ones((2, 5), np.float32), cell.get_initial_state(2))
    assert out.shape == (2, 3) and out.dtype == np.float32
    assert isinstance(states, list) and len(states) == 1
    np.testing.assert_array_equal(states[0], out)
    outputs, (h,), _ = cell.forward(np.ones((2, 4, 5), np.float32))
    assert outputs.dtype == np.float32 and h.dtype == np.float32


@pytest.mark.parametrize("reset_after,bias_shape,count", [(True, (2, 12), 3 * (5 * 4 + 4 * 4 + 2 * 4)),
                                                          (False, (12,), 3 * (5 * 4 + 4 * 4 + 4))])
def test_weight_shapes_and_parameter_count_match_keras(reset_after, bias_shape, count):
    cell = GRUCell(4, reset_after=reset_after)
    cell.build(5)
    assert cell.weight_names == ["kernel", "recurrent_kernel", "bias"]
    assert [w.shape for w in cell.get_weights()] == [(5, 12), (4, 12), bias_shape]
    assert cell.count_params() == count
    assert cell.state_size == (4,) and cell.output_size == 4
    no_bias = GRUCell(4, reset_after=reset_after, use_bias=False)
    no_bias.build(5)
    assert no_bias.count_params() == 3 * (5 * 4 + 4 * 4)


def test_config_round_trip():
    cell = GRUCell(6, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False,
                   kernel_initializer="he_normal", recurrent_initializer="glorot_uniform",
                   bias_initializer="ones", reset_after=False, seed=11, dtype="float64", name="g")
    config = cell.get_config()
    assert config["activation"] == "relu" and config["recurrent_activation"] == "hard_sigmoid"
    assert config["reset_after"] is False and config["seed"] == 11 and config["dtype"] == "float64"
    clone = GRUCell.from_config(config)
    assert clone.get_config() == config
    cell.build(3)
    clone.build(3)
    for a, b in zip(cell.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_activation_objects_are_accepted():
    cell = GRUCell(2, activation=get_activation("softsign"), recurrent_activation=None)
    assert cell.get_config()["activation"] == "softsign"
    assert cell.get_config()["recurrent_activation"] == "linear"


def test_bad_arguments_name_the_argument():
    cell = GRUCell(3)
    with pytest.raises(RnnkitValueError, match=r"recurrent_mask must have shape \(2, 3\).*\(2, 9\)"):
        cell.forward(np.zeros((2, 3, 4), np.float32), recurrent_mask=np.ones((2, 4), np.float32))
    with pytest.raises(RnnkitTypeError, match="recurrent_mask must have a floating dtype"):
        cell.forward(np.zeros((2, 3, 4), np.float32), recurrent_mask=np.ones((2, 3), bool))
    with pytest.raises(RnnkitValueError, match="activation must be one of"):
        GRUCell(3, activation="tanhh")
    with pytest.raises(RnnkitValueError, match="activation must be one of"):
        GRUCell(3, recurrent_activation="sigmoidd")
    with pytest.raises(RnnkitValueError, match="units must be a positive integer"):
        GRUCell(0)
    with pytest.raises(RnnkitValueError, match="reset_after must be True or False, got 'yes'"):
        GRUCell(3, reset_after="yes")
    with pytest.raises(RnnkitTypeError, match="dtype must be float32 or float64"):
        GRUCell(3, dtype="int32")


def test_missing_upstream_gradients_count_as_zeros():
    rng = np.random.default_rng(10)
    cell = _built_cell(rng)
    x = rng.standard_normal((2, 4, 3))
    outputs, final, cache = cell.forward(x)
    g_out = rng.standard_normal(outputs.shape)
    g_h = rng.standard_normal(final[0].shape)
    pairs = [((g_out, None), (g_out, [np.zeros_like(g_h)])),
             ((g_out, [None]), (g_out, [np.zeros_like(g_h)])),
             ((None, [g_h]), (np.zeros_like(g_out), [g_h]))]
    for given, explicit in pairs:
        a, b = cell.backward(*given, cache), cell.backward(*explicit, cache)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1][0], b[1][0])
        for ga, gb in zip(a[2], b[2]):
            np.testing.assert_array_equal(ga, gb)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("shape", [(2, 0, 3), (0, 4, 3)])
def test_empty_time_or_batch(reset_after, shape):
    cell = _built_cell(np.random.default_rng(11), reset_after=reset_after)
    h0 = np.ones((shape[0], 4))
    outputs, (h,), cache = cell.forward(np.zeros(shape), (h0,))
    assert outputs.shape == shape[:2] + (4,)
    np.testing.assert_array_equal(h, h0)
    dx, (dh0,), grads = cell.backward(np.zeros(outputs.shape), [np.ones_like(h0)], cache)
    assert dx.shape == shape
    np.testing.assert_array_equal(dh0, np.ones_like(h0))  # with no steps, h_T is h0
    assert [g.shape for g in grads] == [w.shape for w in cell.get_weights()]
    assert all(not g.any() for g in grads)
