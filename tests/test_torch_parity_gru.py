"""rnnkit's GRU (reset_after=True) against torch.nn.GRU, weights converted with io.torch_weights."""
import numpy as np
import pytest

from helpers import rel_error
from torch_compare import single_state_errors
from rnnkit.cells.gru import GRUCell
from rnnkit.io.torch_weights import gru_from_torch, torch_layer_weights

torch = pytest.importorskip("torch")

B, T, I, H = 4, 7, 5, 6
TOL = 1e-5


def _torch_grads(module):
    """The gradients of layer 0 in PyTorch's names, as NumPy arrays."""
    return {name: getattr(module, name + "_l0").grad.numpy()
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if hasattr(module, name + "_l0")}


def _pair(bias=True, seed=0):
    torch.manual_seed(seed)
    module = torch.nn.GRU(I, H, num_layers=1, bias=bias, batch_first=True)
    cell = GRUCell(H, use_bias=bias, dtype="float32")
    cell.build(I)
    cell.set_weights(gru_from_torch(**torch_layer_weights(module)))
    return module, cell


def _data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    g_out = rng.standard_normal((B, T, H)).astype(np.float32)
    g_h = rng.standard_normal((B, H)).astype(np.float32)
    return x, h0, g_out, g_h


@pytest.mark.parametrize("bias", [True, False])
def test_outputs_state_and_every_gradient_match_torch(bias):
    module, cell = _pair(bias)
    errors, grads = single_state_errors(module, cell, *_data(1))
    assert max(errors.values()) < TOL, errors
    expected = gru_from_torch(**_torch_grads(module))
    assert len(grads) == len(expected) == (3 if bias else 2)
    for name, ours, theirs in zip(cell.weight_names, grads, expected):
        assert rel_error(ours, theirs) < TOL, name


def test_right_padded_batch_matches_packed_sequence():
    # a packed sequence stops each row at its length and pads outputs with zeros:
    # rnnkit's mask with zero_output_for_mask=True
    module, cell = _pair(seed=2)
    x, h0, g_out, g_h = _data(3)
    lengths = np.array([T, 3, 1, 5])
    mask = np.arange(T)[None, :] < lengths[:, None]
    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0[None], requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=True,
                                                     enforce_sorted=False)
    t_packed, t_hn = module(packed, th0)
    t_out, _ = torch.nn.utils.rnn.pad_packed_sequence(t_packed, batch_first=True, total_length=T)
    ((t_out * torch.tensor(g_out)).sum() + (t_hn[0] * torch.tensor(g_h)).sum()).backward()

    outputs, (h_T,), cache = cell.forward(x, (h0,), mask, zero_output_for_mask=True)
    dx, (dh0,), grads = cell.backward(g_out, [g_h], cache)

    assert rel_error(outputs, t_out.detach().numpy()) < TOL
    assert rel_error(h_T, t_hn[0].detach().numpy()) < TOL
    assert rel_error(dx, tx.grad.numpy()) < TOL
    assert rel_error(dh0, th0.grad.numpy()[0]) < TOL
    for name, ours, theirs in zip(cell.weight_names, grads, gru_from_torch(**_torch_grads(module))):
        assert rel_error(ours, theirs) < TOL, name
