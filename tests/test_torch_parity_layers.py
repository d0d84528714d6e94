"""Two-layer bidirectional (and stacked) PyTorch RNN/LSTM/GRU modules against rnnkit layers.

PyTorch's ``nn.LSTM(num_layers=2, bidirectional=True)`` is rnnkit's
``Bidirectional(LSTM(..., return_sequences=True, return_state=True))`` twice, the
second reading the first's concatenated outputs; ``bidirectional=False`` is
``RNN([cell, cell])``. Weights are converted with rnnkit.io.torch_weights; the
loss is a random weighted sum of the outputs and every final state.
"""
import numpy as np
import pytest

from helpers import rel_error
from rnnkit.io import torch_weights
from rnnkit.layers import GRU, LSTM, RNN, Bidirectional, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell

torch = pytest.importorskip("torch")

# PyTorch warns that oneDNN lacks LSTM projections and falls back to its own kernel; that is fine here.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

B, T, I, H, P = 3, 6, 5, 4, 2
TOL = 1e-5

CASES = {
    "lstm": dict(module=lambda: torch.nn.LSTM(I, H, num_layers=2, batch_first=True, bidirectional=True),
                 layer=lambda: LSTM(H, return_sequences=True, return_state=True),
                 cell=lambda: LSTMCell(H), convert=torch_weights.lstm_from_torch, n_states=2),
    "lstm_proj": dict(module=lambda: torch.nn.LSTM(I, H, num_layers=2, batch_first=True, bidirectional=True,
                                                   proj_size=P),
                      layer=lambda: LSTM(H, num_proj=P, return_sequences=True, return_state=True),
                      cell=lambda: LSTMCell(H, num_proj=P), convert=torch_weights.lstm_from_torch, n_states=2),
    "gru": dict(module=lambda: torch.nn.GRU(I, H, num_layers=2, batch_first=True, bidirectional=True),
                layer=lambda: GRU(H, return_sequences=True, return_state=True),
                cell=lambda: GRUCell(H), convert=torch_weights.gru_from_torch, n_states=1),
    "rnn_tanh": dict(module=lambda: torch.nn.RNN(I, H, num_layers=2, batch_first=True, bidirectional=True),
                     layer=lambda: SimpleRNN(H, return_sequences=True, return_state=True),
                     cell=lambda: SimpleRNNCell(H), convert=torch_weights.rnn_from_torch, n_states=1),
    "rnn_relu": dict(module=lambda: torch.nn.RNN(I, H, num_layers=2, batch_first=True, bidirectional=True,
                                                 nonlinearity="relu"),
                     layer=lambda: SimpleRNN(H, activation="relu", return_sequences=True, return_state=True),
                     cell=lambda: SimpleRNNCell(H, activation="relu"), convert=torch_weights.rnn_from_torch,
                     n_states=1),
}


def _torch_states(module, rng):
    """Random initial states as torch expects them: h0 (and c0), shape (layers*dirs, B, size)."""
    dirs = 2 if module.bidirectional else 1
    h_size = getattr(module, "proj_size", 0) or module.hidden_size
    h0 = rng.standard_normal((module.num_layers * dirs, B, h_size)).astype(np.float32) * 0.5
    if isinstance(module, torch.nn.LSTM):
        c0 = rng.standard_normal((module.num_layers * dirs, B, module.hidden_size)).astype(np.float32) * 0.5
        return [h0, c0]
    return [h0]


def _run_torch(module, x, states, g_out, g_states):
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in states]
    out, final = module(xt, tuple(st) if len(st) == 2 else st[0])
    final = list(final) if isinstance(final, tuple) else [final]
    loss = (out * torch.tensor(g_out)).sum() + sum((f * torch.tensor(g)).sum() for f, g in zip(final, g_states))
    loss.backward()
    return out.detach().numpy(), [f.detach().numpy() for f in final], xt.grad.numpy(), [s.grad.numpy() for s in st]


def _check_weight_grads(case, module, layer_index, reverse, grads):
    """Compare rnnkit's gradient list with torch's, converted to Keras's layout."""
    suffix = f"_l{layer_index}" + ("_reverse" if reverse else "")
    tg = {k: getattr(module, k + suffix).grad.numpy()
          for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr") if hasattr(module, k + suffix)}
    if case["convert"] is torch_weights.gru_from_torch:
        expected = torch_weights.gru_from_torch(tg["weight_ih"], tg["weight_hh"], tg["bias_ih"], tg["bias_hh"])
    else:
        expected = case["convert"](tg["weight_ih"], tg["weight_hh"])  # kernel, recurrent_kernel
        expected.append(tg["bias_ih"])  # the summed bias gets each of torch's two bias gradients
        np.testing.assert_allclose(tg["bias_ih"], tg["bias_hh"], rtol=1e-6, atol=1e-7)
        if "weight_hr" in tg:
            expected.append(tg["weight_hr"].T)
    assert len(expected) == len(grads)
    return max(rel_error(g, e) for g, e in zip(grads, expected))


@pytest.mark.parametrize("name", list(CASES))
def test_two_layer_bidirectional_matches_torch(name):
    case = CASES[name]
    torch.manual_seed(0)
    module = case["module"]()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    states = _torch_states(module, rng)

    layers = [Bidirectional(case["layer"]()) for _ in range(2)]
    inputs = x
    outputs_per_layer = []
    for index, layer in enumerate(layers):
        layer.build(inputs.shape)
        layer.forward_layer.set_weights(case["convert"](**torch_weights.torch_layer_weights(module, index)))
        layer.backward_layer.set_weights(case["convert"](**torch_weights.torch_layer_weights(module, index, True)))
        # rnnkit's flat state order per layer: forward (h, c), then backward (h, c)
        init = [s[2 * index + d] for d in (0, 1) for s in states]
        result = layer(inputs, initial_state=init)
        outputs_per_layer.append(result)
        inputs = result[0]

    out = outputs_per_layer[-1][0]
    g_out = rng.standard_normal(out.shape).astype(np.float32)
    g_states = [rng.standard_normal(s.shape).astype(np.float32) for s in states]
    t_out, t_final, t_dx, t_dstates = _run_torch(module, x, states, g_out, g_states)

    errors = {"outputs": rel_error(out, t_out)}
    n = case["n_states"]
    for index, result in enumerate(outputs_per_layer):
        for d in (0, 1):
            for k in range(n):
                errors[f"final[{k}] l{index} d{d}"] = rel_error(result[1 + d * n + k], t_final[k][2 * index + d])

    # backward: top layer first; each layer gets the gradients of its own final states
    d = g_out
    for index in (1, 0):
        d_states = [g_states[k][2 * index + dr] for dr in (0, 1) for k in range(n)]
        d = layers[index].backward(d, *d_states)
        state_grads = layers[index].initial_state_gradients
        for dr in (0, 1):
            for k in range(n):
                errors[f"d_state0[{k}] l{index} d{dr}"] = rel_error(state_grads[dr * n + k],
                                                                    t_dstates[k][2 * index + dr])
        errors[f"weights l{index} fwd"] = _check_weight_grads(case, module, index, False,
                                                              layers[index].forward_layer.get_gradients())
        errors[f"weights l{index} bwd"] = _check_weight_grads(case, module, index, True,
                                                              layers[index].backward_layer.get_gradients())
    errors["inputs"] = rel_error(d, t_dx)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("name", list(CASES))
def test_two_layer_stack_matches_torch(name):
    case = CASES[name]
    torch.manual_seed(2)
    module = case["module"]()
    kwargs = {k: getattr(module, k) for k in ("input_size", "hidden_size", "num_layers", "batch_first")}
    if isinstance(module, torch.nn.LSTM):
        kwargs["proj_size"] = module.proj_size
    if isinstance(module, torch.nn.RNN):
        kwargs["nonlinearity"] = module.nonlinearity
    module = type(module)(**kwargs)  # one direction
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    states = _torch_states(module, rng)

    layer = RNN([case["cell"](), case["cell"]()], return_sequences=True, return_state=True)
    layer.build(x.shape)
    layer.set_weights([w for index in range(2)
                       for w in case["convert"](**torch_weights.torch_layer_weights(module, index))])
    n = case["n_states"]
    init = [s[index] for index in range(2) for s in states]
    out, *final = layer(x, initial_state=init)

    g_out = rng.standard_normal(out.shape).astype(np.float32)
    g_states = [rng.standard_normal(s.shape).astype(np.float32) for s in states]
    t_out, t_final, t_dx, t_dstates = _run_torch(module, x, states, g_out, g_states)
    dx = layer.backward(g_out, *[g_states[k][index] for index in range(2) for k in range(n)])

    errors = {"outputs": rel_error(out, t_out), "inputs": rel_error(dx, t_dx)}
    for index in range(2):
        for k in range(n):
            errors[f"final[{k}] l{index}"] = rel_error(final[index * n + k], t_final[k][index])
            errors[f"d_state0[{k}] l{index}"] = rel_error(layer.initial_state_gradients[index * n + k],
                                                          t_dstates[k][index])
    grads = layer.get_gradients()
    per_layer = len(grads) // 2
    for index in range(2):
        errors[f"weights l{index}"] = _check_weight_grads(case, module, index, False,
                                                          grads[index * per_layer:(index + 1) * per_layer])
    assert max(errors.values()) < TOL, errors
