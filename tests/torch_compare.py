"""Run a one-layer PyTorch RNN/GRU and an rnnkit cell on the same data and loss, and compare."""
import numpy as np

from helpers import rel_error


def single_state_errors(module, cell, x, h0, g_out, g_h):
    """Loss = <outputs, g_out> + <h_T, g_h> through ``module`` (batch_first, one layer, state h only)
    and through ``cell``; returns (relative errors of outputs, h_T, dx, dh0; rnnkit's weight grads)."""
    import torch

    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0[None], requires_grad=True)
    t_out, t_hn = module(tx, th0)
    ((t_out * torch.tensor(g_out)).sum() + (t_hn[0] * torch.tensor(g_h)).sum()).backward()

    outputs, (h_T,), cache = cell.forward(x, (h0,))
    dx, (dh0,), grads = cell.backward(g_out, [g_h], cache)
    errors = {
        "outputs": rel_error(outputs, t_out.detach().numpy()),
        "h_T": rel_error(h_T, t_hn[0].detach().numpy()),
        "dx": rel_error(dx, tx.grad.numpy()),
        "dh0": rel_error(dh0, np.asarray(th0.grad.numpy()[0])),
    }
    return errors, grads
