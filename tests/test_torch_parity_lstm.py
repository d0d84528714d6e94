import numpy as np
import pytest

from helpers import rel_error
from rnnkit.cells import reference_only
from rnnkit.cells.lstm import LSTMCell
from rnnkit.io.torch_weights import lstm_from_torch, torch_layer_weights

torch = pytest.importorskip("torch")

BATCH, TIME, FEATURES, UNITS = 3, 7, 5, 6


@pytest.fixture(params=["reference", "active"])
def lstm_ops(request):
    """Run each parity test on the NumPy reference and on the ops in use (a compiled path, if any)."""
    if request.param == "reference":
        with reference_only():
            yield request.param
    else:
        yield request.param


def run_both(proj_size, seed):
    """Forward and backward of torch.nn.LSTM and of LSTMCell with converted weights, float32.

    Returns (rnnkit results, torch results), each a dict of NumPy arrays in rnnkit's layout.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    module = torch.nn.LSTM(FEATURES, UNITS, batch_first=True, proj_size=proj_size)
    with torch.no_grad():
        for p in module.parameters():  # wider than the default init, so the gates saturate a little
            p.uniform_(-0.6, 0.6)
    out_units = proj_size or UNITS
    x = rng.standard_normal((BATCH, TIME, FEATURES)).astype(np.float32)
    h0 = rng.standard_normal((BATCH, out_units)).astype(np.float32)
    c0 = rng.standard_normal((BATCH, UNITS)).astype(np.float32)
    # a random weighted-sum loss on the outputs and both final states
    g_out = rng.standard_normal((BATCH, TIME, out_units)).astype(np.float32)
    g_h = rng.standard_normal((BATCH, out_units)).astype(np.float32)
    g_c = rng.standard_normal((BATCH, UNITS)).astype(np.float32)

    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    t_out, (t_h, t_c) = module(tx, (th0[None], tc0[None]))
    loss = (t_out * torch.tensor(g_out)).sum() + (t_h[0] * torch.tensor(g_h)).sum() \
        + (t_c[0] * torch.tensor(g_c)).sum()
    loss.backward()
    grads = {key: getattr(module, key + "_l0").grad.numpy() for key in torch_layer_weights(module)}
    reference = {
        "outputs": t_out.detach().numpy(), "h": t_h[0].detach().numpy(), "c": t_c[0].detach().numpy(),
        "dx": tx.grad.numpy(), "dh0": th0.grad.numpy(), "dc0": tc0.grad.numpy(),
        "bias_ih": grads["bias_ih"], "bias_hh": grads["bias_hh"],
        **zip_names(proj_size, lstm_from_torch(grads["weight_ih"], grads["weight_hh"],
                                               weight_hr=grads.get("weight_hr"))),
    }

    cell = LSTMCell(UNITS, num_proj=proj_size or None, seed=0)
    cell.build(FEATURES)
    cell.set_weights(lstm_from_torch(**torch_layer_weights(module)))
    outputs, (h, c), cache = cell.forward(x, (h0, c0))
    dx, (dh0, dc0), weight_grads = cell.backward(g_out, (g_h, g_c), cache)
    ours = {"outputs": outputs, "h": h, "c": c, "dx": dx, "dh0": dh0, "dc0": dc0,
            **dict(zip(cell.weight_names, weight_grads))}
    return ours, reference


def zip_names(proj_size, weights):
    names = ["kernel", "recurrent_kernel"] + (["projection_kernel"] if proj_size else [])
    return dict(zip(names, weights))


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
@pytest.mark.parametrize("proj_size", [0, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torch_lstm(proj_size, seed, lstm_ops):
    ours, ref = run_both(proj_size, seed)
    assert ours["outputs"].dtype == np.float32 and ours["kernel"].dtype == np.float32
    errors = {key: rel_error(ours[key], ref[key]) for key in ours if key != "bias"}
    # torch adds its two biases, so the gradient of our one bias equals each of theirs
    errors["bias/bias_ih"] = rel_error(ours["bias"], ref["bias_ih"])
    errors["bias/bias_hh"] = rel_error(ours["bias"], ref["bias_hh"])
    expected = {"outputs", "h", "c", "dx", "dh0", "dc0", "kernel", "recurrent_kernel"}
    expected |= {"projection_kernel"} if proj_size else set()
    assert expected <= set(errors)
    assert max(errors.values()) < 1e-5, errors


def test_matches_torch_packed_variable_lengths(lstm_ops):
    """A prefix mask equals torch's packed sequences on the final state and valid outputs."""
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    module = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
    x = rng.standard_normal((BATCH, TIME, FEATURES)).astype(np.float32)
    lengths = np.array([TIME, 4, 1])
    mask = np.arange(TIME)[None, :] < lengths[:, None]
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths),
                                                     batch_first=True, enforce_sorted=False)
    t_out, (t_h, t_c) = module(packed)
    t_out, _ = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=True, total_length=TIME)
    cell = LSTMCell(UNITS)
    cell.build(FEATURES)
    cell.set_weights(lstm_from_torch(**torch_layer_weights(module)))
    outputs, (h, c), _ = cell.forward(x, mask=mask, zero_output_for_mask=True)
    assert rel_error(outputs, t_out.detach().numpy()) < 1e-5
    assert rel_error(h, t_h[0].detach().numpy()) < 1e-5
    assert rel_error(c, t_c[0].detach().numpy()) < 1e-5
