"""rnnkit's SimpleRNNCell against torch.nn.RNN (tanh and relu), weights converted with io.torch_weights."""
import numpy as np
import pytest

from helpers import rel_error
from torch_compare import single_state_errors
from rnnkit.cells import SimpleRNNCell
from rnnkit.io.torch_weights import rnn_from_torch, torch_layer_weights

torch = pytest.importorskip("torch")

B, T, I, H = 4, 7, 5, 6
TOL = 1e-5


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_outputs_state_and_every_gradient_match_torch(nonlinearity, bias):
    torch.manual_seed(0)
    module = torch.nn.RNN(I, H, num_layers=1, nonlinearity=nonlinearity, bias=bias, batch_first=True)
    cell = SimpleRNNCell(H, activation=nonlinearity, use_bias=bias, dtype="float32")
    cell.build(I)
    cell.set_weights(rnn_from_torch(**torch_layer_weights(module)))

    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    g_out = rng.standard_normal((B, T, H)).astype(np.float32)
    g_h = rng.standard_normal((B, H)).astype(np.float32)

    errors, grads = single_state_errors(module, cell, x, h0, g_out, g_h)
    assert max(errors.values()) < TOL, errors
    assert rel_error(grads[0], module.weight_ih_l0.grad.numpy().T) < TOL
    assert rel_error(grads[1], module.weight_hh_l0.grad.numpy().T) < TOL
    if bias:
        # the two PyTorch biases enter as a sum, so each gets the gradient of rnnkit's one bias
        assert rel_error(grads[2], module.bias_ih_l0.grad.numpy()) < TOL
        assert rel_error(grads[2], module.bias_hh_l0.grad.numpy()) < TOL
    else:
        assert len(grads) == 2
