"""The minimal gated unit (rnnkit/ops/mgu.py, cells.MGUCell, layers.MGU): the worked example of
docs/adding_a_cell.md, checked like every cell (the shared contract, check_layer, the property tests
and the layer checks list it too): the equations step by step, finite differences, a step loop
against the sequence, configs, and a saved RNN(MGUCell) model that loads back."""
import numpy as np
import pytest

import rnnkit
from helpers import cell_gradient_errors, random_mask, step_loop_errors
from rnnkit import layers
from rnnkit.cells import MGUCell, StackedRNNCells, base


def built(rng, units=4, features=3, **kwargs):
    cell = MGUCell(units, dtype="float64", seed=2, **kwargs)
    cell.build(features)
    if cell.use_bias:  # zero biases would hide a bias routed to the wrong gate
        cell.params["bias"][...] = rng.standard_normal(cell.params["bias"].shape) * 0.5
    return cell


def naive_step(cell, x_t, h, recurrent_mask=None):
    """One step written from Zhou et al.'s equations, gate by gate."""
    W, U, H = cell.params["kernel"], cell.params["recurrent_kernel"], cell.units
    b = cell.params["bias"] if cell.use_bias else np.zeros(2 * H)
    h_in = h if recurrent_mask is None else h * recurrent_mask
    f = cell.recurrent_activation(x_t @ W[:, :H] + h_in @ U[:, :H] + b[:H])
    cand = cell.activation(x_t @ W[:, H:] + (f * h_in) @ U[:, H:] + b[H:])
    return (1 - f) * h + f * cand


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dropped", [False, True])
def test_forward_matches_the_equations(activation, dropped):
    rng = np.random.default_rng(0)
    cell = built(rng, activation=activation)
    x, h = rng.standard_normal((3, 5, 3)), rng.standard_normal((3, 4))
    rmask = (rng.random((3, 4)) > 0.3) / 0.7 if dropped else None
    outputs, (h_T,), _ = cell.forward(x, (h,), recurrent_mask=rmask)
    for t in range(5):
        h = naive_step(cell, x[:, t], h, rmask)
        np.testing.assert_allclose(outputs[:, t], h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_T, h, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("outputs_loss", [True, False])
@pytest.mark.parametrize("kwargs", [{}, {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
                                    {"use_bias": False}])
def test_gradients_match_finite_differences(masked, outputs_loss, kwargs):
    rng = np.random.default_rng(1)
    cell = built(rng, **kwargs)
    x = rng.standard_normal((3, 5, 3)) * (2.0 if kwargs else 1.0)  # saturate some hard_sigmoid gates
    errors = cell_gradient_errors(cell, x, mask=random_mask(rng, 3, 5) if masked else None,
                                  outputs_loss=outputs_loss)
    assert set(errors) == {"inputs", "state0[0]", *cell.weight_names}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_gradients_with_recurrent_dropout_and_zeroed_masked_outputs(zero_output_for_mask):
    rng = np.random.default_rng(2)
    cell = built(rng)
    rmask = (rng.random((3, 4)) > 0.3) / 0.7
    errors = cell_gradient_errors(cell, rng.standard_normal((3, 6, 3)), mask=random_mask(rng, 3, 6),
                                  zero_output_for_mask=zero_output_for_mask, recurrent_mask=rmask)
    assert max(errors.values()) < 1e-6, errors


def test_step_loop_equals_sequence_forward_and_backward():
    rng = np.random.default_rng(3)
    cell = built(rng, units=5)
    errors = step_loop_errors(cell, rng.standard_normal((2, 6, 3)), (rng.standard_normal((2, 5)),))
    assert max(errors.values()) < 1e-12, errors


def test_checkpointed_backward_equals_plain():
    rng = np.random.default_rng(4)
    cell = built(rng)
    x = rng.standard_normal((2, 9, 3))
    g = rng.standard_normal((2, 9, 4))
    plain = cell.backward(g, None, cell.forward(x)[2])
    segmented = cell.backward(g, None, cell.forward(x, backprop_segment=4)[2])
    for a, b in zip([plain[0], *plain[1], *plain[2]], [segmented[0], *segmented[1], *segmented[2]]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_weights_config_and_parameter_count():
    cell = MGUCell(4, activation="relu", use_bias=False, seed=3, name="m")
    cell.build(5)
    assert cell.weight_names == ["kernel", "recurrent_kernel"]
    assert [w.shape for w in cell.get_weights()] == [(5, 8), (4, 8)]
    clone = MGUCell.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
    clone.build(5)
    for a, b in zip(cell.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
    with_bias = MGUCell(4)
    with_bias.build(5)
    assert with_bias.count_params() == 2 * 4 * (5 + 4 + 1)


def test_registered_where_defined():
    assert base.cell_class("MGUCell") is MGUCell
    stack = StackedRNNCells([MGUCell(3, seed=0), MGUCell(2, seed=1)])
    assert [type(c) for c in StackedRNNCells.from_config(stack.get_config()).cells] == [MGUCell, MGUCell]


def test_a_saved_rnn_of_the_cell_loads_back(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 7, 3)).astype(np.float32)
    model = rnnkit.Sequential([layers.RNN(MGUCell(4, seed=0), return_sequences=True, input_shape=(7, 3)),
                               layers.MGU(3, seed=1), layers.Dense(2, seed=2)])
    model.compile("adam", "mse")
    model.fit(x, rng.standard_normal((6, 2)).astype(np.float32), epochs=2, verbose=0)
    path = tmp_path / "mgu.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path)
    assert type(loaded.layers[0].cell) is MGUCell and type(loaded.layers[1]) is layers.MGU
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
