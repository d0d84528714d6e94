"""dynamic_rnn / bidirectional_dynamic_rnn against PyTorch on packed (variable-length) batches.

PyTorch's packed sequences have TF1's sequence_length semantics: outputs past a
sequence's length are zero (after padding), the final state is the state at
the last valid step, and the reverse direction reads each sequence reversed
within its own length. Values and every gradient are compared in float64.
"""
import numpy as np
import pytest

import rnnkit.nn as nn
from helpers import rel_error
from rnnkit.io.torch_weights import lstm_from_torch, rnn_from_torch, torch_layer_weights
from rnnkit.nn import rnn_cell

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

B, T, I = 4, 5, 3
LENGTHS = [5, 2, 1, 4]  # PyTorch refuses length 0; the other tests cover it


def tensor(array):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def run_torch(module, x, state0):
    """Packed forward; returns padded outputs, the final state and the input/state leaves."""
    x_t = tensor(x)
    packed = pack_padded_sequence(x_t, LENGTHS, batch_first=True, enforce_sorted=False)
    out, final = module(packed, state0)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    return out, final, x_t


def weight_grads_keras(module, layer, reverse, projection):
    """PyTorch weight gradients in rnnkit's (Keras's) layout and order."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    grad = {key: getattr(module, key + suffix).grad.numpy()
            for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    grads = [grad["weight_ih"].T, grad["weight_hh"].T, grad["bias_ih"]]  # bias_ih.grad == bias_hh.grad
    if projection:
        grads.append(getattr(module, "weight_hr" + suffix).grad.numpy().T)
    return grads


@pytest.mark.parametrize("num_proj", [None, 2])
def test_bidirectional_lstm_matches_torch_packed(num_proj):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    H = 4
    P = num_proj or H
    module = torch.nn.LSTM(I, H, batch_first=True, bidirectional=True, proj_size=num_proj or 0).double()
    cells = []
    for reverse in (False, True):
        cell = rnn_cell.LSTMCell(H, num_proj=num_proj, forget_bias=0.0, dtype="float64")
        cell.build(I)
        cell.set_weights(lstm_from_torch(**torch_layer_weights(module, 0, reverse)))
        cells.append(cell)
    x = rng.standard_normal((B, T, I))
    h0, c0 = rng.standard_normal((2, B, P)), rng.standard_normal((2, B, H))
    h0_t, c0_t = tensor(h0), tensor(c0)
    out, (hn, cn), x_t = run_torch(module, x, (h0_t, c0_t))

    (out_fw, out_bw), (st_fw, st_bw), cache = nn.bidirectional_dynamic_rnn(
        cells[0], cells[1], x, LENGTHS, rnn_cell.LSTMStateTuple(c0[0], h0[0]),
        rnn_cell.LSTMStateTuple(c0[1], h0[1]), return_cache=True)
    assert rel_error(np.concatenate([out_fw, out_bw], -1), out.detach().numpy()) < 1e-12
    assert rel_error(np.stack([st_fw.h, st_bw.h]), hn.detach().numpy()) < 1e-12
    assert rel_error(np.stack([st_fw.c, st_bw.c]), cn.detach().numpy()) < 1e-12

    g_out, g_h, g_c = rng.standard_normal(out.shape), rng.standard_normal(hn.shape), rng.standard_normal(cn.shape)
    loss = (out * torch.tensor(g_out)).sum() + (hn * torch.tensor(g_h)).sum() + (cn * torch.tensor(g_c)).sum()
    loss.backward()
    dx, (d0_fw, d0_bw), (grads_fw, grads_bw) = nn.bidirectional_dynamic_rnn_backward(
        cache, (g_out[..., :P], g_out[..., P:]),
        (rnn_cell.LSTMStateTuple(g_c[0], g_h[0]), rnn_cell.LSTMStateTuple(g_c[1], g_h[1])))
    assert rel_error(dx, x_t.grad.numpy()) < 1e-10
    assert rel_error(np.stack([d0_fw.h, d0_bw.h]), h0_t.grad.numpy()) < 1e-10
    assert rel_error(np.stack([d0_fw.c, d0_bw.c]), c0_t.grad.numpy()) < 1e-10
    for reverse, grads in ((False, grads_fw), (True, grads_bw)):
        for ours, theirs in zip(grads, weight_grads_keras(module, 0, reverse, num_proj is not None)):
            assert rel_error(ours, theirs) < 1e-10


def test_multi_rnn_cell_matches_two_layer_torch_lstm():
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    H = 3
    module = torch.nn.LSTM(I, H, num_layers=2, batch_first=True).double()
    cells = []
    for layer in range(2):
        cell = rnn_cell.BasicLSTMCell(H, forget_bias=0.0, dtype="float64")
        cell.build(I if layer == 0 else H)
        cell.set_weights(lstm_from_torch(**torch_layer_weights(module, layer)))
        cells.append(cell)
    multi = rnn_cell.MultiRNNCell(cells)
    x = rng.standard_normal((B, T, I))
    h0, c0 = rng.standard_normal((2, B, H)), rng.standard_normal((2, B, H))
    h0_t, c0_t = tensor(h0), tensor(c0)
    out, (hn, cn), x_t = run_torch(module, x, (h0_t, c0_t))
    state0 = tuple(rnn_cell.LSTMStateTuple(c0[k], h0[k]) for k in range(2))
    outputs, state, cache = nn.dynamic_rnn(multi, x, LENGTHS, state0, return_cache=True)
    assert rel_error(outputs, out.detach().numpy()) < 1e-12
    assert rel_error(np.stack([s.h for s in state]), hn.detach().numpy()) < 1e-12
    assert rel_error(np.stack([s.c for s in state]), cn.detach().numpy()) < 1e-12

    g_out, g_h = rng.standard_normal(out.shape), rng.standard_normal(hn.shape)
    ((out * torch.tensor(g_out)).sum() + (hn * torch.tensor(g_h)).sum()).backward()
    d_state = tuple(rnn_cell.LSTMStateTuple(None, g_h[k]) for k in range(2))
    dx, d_state0, grads = nn.dynamic_rnn_backward(cache, g_out, d_state)
    assert rel_error(dx, x_t.grad.numpy()) < 1e-10
    assert rel_error(np.stack([s.h for s in d_state0]), h0_t.grad.numpy()) < 1e-10
    assert rel_error(np.stack([s.c for s in d_state0]), c0_t.grad.numpy()) < 1e-10
    theirs = weight_grads_keras(module, 0, False, False) + weight_grads_keras(module, 1, False, False)
    for a, b in zip(grads, theirs):
        assert rel_error(a, b) < 1e-10


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_basic_rnn_cell_matches_torch_rnn(activation):
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    module = torch.nn.RNN(I, 4, nonlinearity=activation, batch_first=True).double()
    cell = rnn_cell.BasicRNNCell(4, activation=activation, dtype="float64")
    cell.build(I)
    cell.set_weights(rnn_from_torch(**torch_layer_weights(module)))
    x, h0 = rng.standard_normal((B, T, I)), rng.standard_normal((1, B, 4))
    h0_t = tensor(h0)
    out, hn, x_t = run_torch(module, x, h0_t)
    outputs, state, cache = nn.dynamic_rnn(cell, x, np.array(LENGTHS), h0[0], return_cache=True)
    assert rel_error(outputs, out.detach().numpy()) < 1e-12
    assert rel_error(state, hn[0].detach().numpy()) < 1e-12
    g_out = rng.standard_normal(out.shape)
    (out * torch.tensor(g_out)).sum().backward()
    dx, dh0, grads = nn.dynamic_rnn_backward(cache, g_out)
    assert rel_error(dx, x_t.grad.numpy()) < 1e-10
    assert rel_error(dh0, h0_t.grad.numpy()[0]) < 1e-10
    for a, b in zip(grads, weight_grads_keras(module, 0, False, False)):
        assert rel_error(a, b) < 1e-10
