"""RNN(cell) with a user-written cell: the documented example runs, BPTT through the user's backward_step
matches finite differences and the built-in SimpleRNN, rnnkit.testing.check_cell names a wrong gradient,
and a cell that breaks the contract gets a named error."""
import re
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from helpers import numeric_grad, rel_error
from rnnkit import layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.testing import check_cell

DOC = Path(__file__).resolve().parent.parent / "docs" / "custom_cells.md"


class MinimalCell(layers.Layer):
    """h = tanh(x W + h U + b), its cache from call."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, self.units), "orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs, states):
        h = np.tanh(inputs @ self.kernel + states[0] @ self.recurrent_kernel.value + self.bias.value)
        return h, [h], (inputs, states[0], h)

    def backward_step(self, d_output, d_states, cache):
        inputs, h_prev, h = cache
        dz = (d_output + d_states[0]) * (1 - h * h)
        return dz @ self.kernel.value.T, [dz @ self.recurrent_kernel.value.T], [inputs.T @ dz, h_prev.T @ dz,
                                                                                 dz.sum(0)]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class LeakyPairCell(layers.Layer):
    """Two states, no cache from call (backward_step recomputes from StepCache), output size != state sizes:
    a = tanh(x W + b_state U), b = 0.5 b_state + 0.5 a, output = a V."""

    def __init__(self, units, out, **kwargs):
        super().__init__(**kwargs)
        self.units, self.out = units, out
        self.state_size = [units, units]
        self.output_size = out

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.u = self.add_weight(shape=(self.units, self.units), name="u")
        self.v = self.add_weight(shape=(self.units, self.out), name="v")

    def call(self, inputs, states):
        a = np.tanh(inputs @ self.w.value + states[1] @ self.u.value)
        return a @ self.v.value, [a, 0.5 * states[1] + 0.5 * a]

    def backward_step(self, d_output, d_states, cache):
        inputs, (_, b_prev), _, (a, _) = cache
        da = d_output @ self.v.value.T + d_states[0] + 0.5 * d_states[1]
        dz = da * (1 - a * a)
        d_b_prev = dz @ self.u.value.T + 0.5 * d_states[1]
        return dz @ self.w.value.T, [np.zeros_like(a), d_b_prev], [inputs.T @ dz, b_prev.T @ dz, a.T @ d_output]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "out": self.out}


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_documented_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in _python_blocks(DOC.read_text()):
        exec(compile(block, str(DOC), "exec"), namespace)
    assert (tmp_path / "minimal_rnn.rnnkit").exists()


@pytest.mark.parametrize("cell", [lambda: MinimalCell(3, dtype="float64"), lambda: LeakyPairCell(3, 2, dtype="float64")])
def test_check_cell_passes_correct_cells(cell):
    errors = check_cell(cell(), (2, 5, 4))
    assert max(errors.values()) < 1e-6 and "inputs" in errors and "states[0]" in errors


def test_check_cell_names_the_wrong_weight_and_input():
    class Wrong(MinimalCell):
        def backward_step(self, d_output, d_states, cache):
            d_inputs, d_states_prev, d_weights = super().backward_step(d_output, d_states, cache)
            d_weights[1] = d_weights[1].T  # a transposed recurrent gradient
            return d_inputs * 2, d_states_prev, d_weights

    with pytest.raises(AssertionError, match=r"for inputs \(relative error .*\), recurrent_kernel") as info:
        check_cell(Wrong(3, dtype="float64"), (2, 4, 3))
    assert "'bias', 'kernel', 'states[0]'" in str(info.value)


def test_check_cell_needs_float64_and_a_shape():
    with pytest.raises(RnnkitValueError, match="check_cell needs a float64 cell"):
        check_cell(MinimalCell(3), (2, 4, 3))
    with pytest.raises(RnnkitValueError, match="input_shape must be \\(batch, time, features\\)"):
        check_cell(MinimalCell(3, dtype="float64"), (2, 4))


def test_rnn_of_a_custom_cell_equals_simple_rnn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 4))
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False
    for kwargs in ({"return_sequences": True}, {"go_backwards": True}, {"return_state": True},
                   {"return_sequences": True, "backprop_segment": 2}):
        custom = layers.RNN(MinimalCell(5, dtype="float64"), dtype="float64", **kwargs)
        builtin = layers.SimpleRNN(5, dtype="float64", **kwargs)
        custom.build(x.shape)
        builtin.build(x.shape)
        weights = [w + rng.normal(size=w.shape) * 0.1 for w in custom.get_weights()]
        custom.set_weights(weights)
        builtin.set_weights(weights)
        out_c, out_b = custom(x, mask=mask, training=True), builtin(x, mask=mask, training=True)
        out_c, out_b = (out_c, out_b) if isinstance(out_c, list) else ([out_c], [out_b])
        for a, b in zip(out_c, out_b):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        upstream = [rng.normal(size=a.shape) for a in out_c]
        np.testing.assert_allclose(custom.backward(*upstream), builtin.backward(*upstream), rtol=1e-10, atol=1e-12)
        for a, b in zip(custom.get_gradients(), builtin.get_gradients()):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_layer_gradients_with_two_states_against_finite_differences():
    rng = np.random.default_rng(1)
    layer = layers.RNN(LeakyPairCell(3, 2, dtype="float64"), return_sequences=True, return_state=True,
                       dtype="float64")
    x = rng.normal(size=(2, 5, 4))
    state0 = [rng.normal(size=(2, 3)), rng.normal(size=(2, 3))]
    outputs = layer(x, initial_state=state0)
    weights = [rng.normal(size=o.shape) for o in outputs]

    def loss():
        return float(sum(np.sum(o * w) for o, w in zip(layer(x, initial_state=state0), weights)))

    layer(x, initial_state=state0)
    dx = layer.backward(*weights)
    grads, d_state0 = layer.get_gradients(), layer.initial_state_gradients
    assert rel_error(dx, numeric_grad(loss, x)) < 1e-6
    for state, grad in zip(state0, d_state0):
        assert rel_error(grad, numeric_grad(loss, state)) < 1e-6
    for variable, grad in zip(layer.weights, grads):
        assert rel_error(grad, numeric_grad(loss, variable.value)) < 1e-6, variable.name


def test_a_model_with_custom_cells_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(16, 5, 3)).astype(np.float32), rng.normal(size=(16, 1)).astype(np.float32)
    model = rnnkit.Sequential([layers.Input((5, 3)), layers.Bidirectional(layers.RNN(LeakyPairCell(4, 2))),
                               layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    names = [v.name for v in model.weights]
    assert len(set(names)) == len(names), names  # the two directions' cells keep distinct weight names
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "m.rnnkit"
    model.save(path)
    np.testing.assert_allclose(rnnkit.load_model(path).predict(x), model.predict(x), rtol=1e-6)


def test_cells_that_break_the_contract_get_named_errors():
    class NoBackward(layers.Layer):
        state_size = 2

        def call(self, inputs, states):
            return states[0], states

    with pytest.raises(RnnkitTypeError, match="NoBackward cannot run in rnnkit's RNN: it has no backward_step. "
                                              "rnnkit has no automatic differentiation"):
        layers.RNN(NoBackward())

    class WrongOutput(MinimalCell):
        def call(self, inputs, states):
            h, new, cache = super().call(inputs, states)
            return h[:, :1], new, cache

    with pytest.raises(RnnkitValueError, match="WrongOutput.call returned an output of shape \\(2, 1\\), "
                                               "expected \\(2, 3\\)"):
        layers.RNN(WrongOutput(3))(np.ones((2, 4, 3), np.float32))

    class TooFewGrads(MinimalCell):
        def backward_step(self, d_output, d_states, cache):
            d_inputs, d_prev, d_weights = super().backward_step(d_output, d_states, cache)
            return d_inputs, d_prev, d_weights[:2]

    layer = layers.RNN(TooFewGrads(3))
    out = layer(np.ones((2, 4, 3), np.float32))
    with pytest.raises(RnnkitValueError, match="returned 2 weight gradients, expected 3"):
        layer.backward(np.ones_like(out))
    with pytest.raises(RnnkitValueError, match="recurrent_dropout needs one of rnnkit's cells"):
        layers.RNN(MinimalCell(3), recurrent_dropout=0.5)
