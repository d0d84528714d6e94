"""rnnkit.io.torch: torch -> rnnkit -> torch round trips compared by running both (< 1e-5 float32),
whole models with prefixes, safetensors into torch, and the cases torch cannot express as named errors."""
import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.io import safetensors as st
from rnnkit.io.torch import TorchConversionError, from_state_dict, load_state_dict, to_state_dict

torch = pytest.importorskip("torch")
nn = torch.nn
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

B, T, I, H, P = 3, 6, 5, 4, 2
TOL = 1e-5


def _torch_module(kind, seed, **kwargs):
    torch.manual_seed(seed)
    cls = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind]
    module = cls(I, H, batch_first=True, **kwargs)
    with torch.no_grad():  # biases away from torch's small default range, so a bias mix-up shows
        for value in module.parameters():
            value.uniform_(-0.8, 0.8)
    return module.eval()


def _inputs(seed=0, shape=(B, T, I)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _run_torch(module, x):
    with torch.no_grad():
        out = module(torch.from_numpy(x))
    return (out[0] if isinstance(out, tuple) else out).numpy()


def _to_torch(state_dict):
    return {key: torch.from_numpy(value) for key, value in state_dict.items()}


CASES = {
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": P}),
    "gru": ("GRU", {}),
    "lstm_no_bias": ("LSTM", {"bias": False}),
    "gru_no_bias": ("GRU", {"bias": False}),
    "rnn_no_bias": ("RNN", {"bias": False}),
}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_to_rnnkit_to_torch(case, num_layers, bidirectional):
    kind, kwargs = CASES[case]
    module = _torch_module(kind, 0, num_layers=num_layers, bidirectional=bidirectional, **kwargs)
    x = _inputs()
    expected = _run_torch(module, x)

    converted = from_state_dict(module.state_dict(), kind, nonlinearity=kwargs.get("nonlinearity", "tanh"))
    if num_layers > 1:
        assert isinstance(converted, rnnkit.Sequential) and len(converted.layers) == num_layers
    else:
        assert isinstance(converted, layers.Bidirectional if bidirectional else layers.Layer)
    ours = converted(x)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=0, atol=TOL)

    back = _torch_module(kind, 1, num_layers=num_layers, bidirectional=bidirectional, **kwargs)
    assert np.abs(_run_torch(back, x) - expected).max() > 1e-2  # a fresh module differs...
    state = to_state_dict(converted)
    assert sorted(state) == sorted(module.state_dict())
    back.load_state_dict(_to_torch(state))
    np.testing.assert_allclose(_run_torch(back, x), expected, rtol=0, atol=TOL)  # ...until loaded


def test_the_last_step_only_and_float64():
    module = _torch_module("GRU", 0, num_layers=2).double()
    x = _inputs().astype(np.float64)
    layer = from_state_dict(module.state_dict(), "GRU", return_sequences=False, dtype="float64", name="enc")
    assert layer.name == "enc" and layer.layers[-1].return_sequences is False
    np.testing.assert_allclose(layer(x), _run_torch(module, x)[:, -1], rtol=0, atol=1e-12)


def test_a_state_dict_of_numpy_arrays_or_grad_tensors_works_alike():
    module = _torch_module("LSTM", 0)
    module.train()  # parameters require grad: conversion must detach
    from_tensors = from_state_dict(dict(module.named_parameters()), "LSTM")
    from_arrays = from_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()}, "LSTM")
    for a, b in zip(from_tensors.get_weights(), from_arrays.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_linear_and_embedding_round_trip():
    torch.manual_seed(0)
    linear, embedding = nn.Linear(I, 3), nn.Embedding(7, I)
    x = _inputs()
    dense = from_state_dict(linear.state_dict(), "Linear")
    with torch.no_grad():
        np.testing.assert_allclose(dense(x), linear(torch.from_numpy(x)).numpy(), rtol=0, atol=TOL)
    ids = np.random.default_rng(0).integers(0, 7, (B, T))
    emb = from_state_dict(embedding.state_dict(), "Embedding")
    with torch.no_grad():
        np.testing.assert_array_equal(emb(ids), embedding(torch.from_numpy(ids)).numpy())
    assert sorted(to_state_dict(dense)) == ["bias", "weight"] and sorted(to_state_dict(emb)) == ["weight"]
    np.testing.assert_array_equal(to_state_dict(dense)["weight"], linear.weight.detach().numpy())


class _Net(nn.Module):
    """Embedding -> 2-layer bidirectional LSTM -> Linear on the final states h_n of both directions."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, I)
        self.rnn = nn.LSTM(I, H, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * H, 3)

    def forward(self, ids):
        _, (h_n, _) = self.rnn(self.embed(ids))
        return self.head(torch.cat([h_n[-2], h_n[-1]], dim=1))


def test_a_whole_model_both_ways():
    torch.manual_seed(0)
    net = _Net().eval()
    ids = np.random.default_rng(0).integers(0, 11, (B, T))
    with torch.no_grad():
        expected = net(torch.from_numpy(ids)).numpy()
    model = from_state_dict(net.state_dict(), [("Embedding", "embed"), ("LSTM", "rnn", {"return_sequences": False}),
                                               ("Linear", "head")])
    assert [type(l).__name__ for l in model.layers] == ["Embedding", "Bidirectional", "Bidirectional", "Dense"]
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, rtol=0, atol=TOL)

    names = [l.name for l in model.layers]
    prefixes = {names[0]: "embed", names[1]: "rnn", names[2]: "rnn", names[3]: "head"}
    state = to_state_dict(model, prefixes=prefixes)
    assert sorted(state) == sorted(net.state_dict())
    torch.manual_seed(1)
    fresh = _Net().eval()
    fresh.load_state_dict(_to_torch(state))
    with torch.no_grad():
        np.testing.assert_allclose(fresh(torch.from_numpy(ids)).numpy(), expected, rtol=0, atol=TOL)
    # without prefixes every weighted layer is its own module, under its layer name
    assert {key.split(".")[0] for key in to_state_dict(model)} == set(names)


def test_load_state_dict_into_an_existing_model_and_its_checks():
    torch.manual_seed(0)
    net = _Net().eval()
    model = from_state_dict(net.state_dict(), [("Embedding", "embed"), ("LSTM", "rnn", {"return_sequences": False}),
                                               ("Linear", "head")])
    names = [l.name for l in model.layers]
    prefixes = {names[0]: "embed", names[1]: "rnn", names[2]: "rnn", names[3]: "head"}
    before = model.get_weights()
    torch.manual_seed(3)
    other = _Net()
    load_state_dict(model, other.state_dict(), prefixes=prefixes)
    ids = np.random.default_rng(0).integers(0, 11, (B, T))
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(ids, verbose=0), other(torch.from_numpy(ids)).numpy(), atol=TOL)
    state = dict(other.state_dict())
    state.pop("head.bias")
    state["extra"] = torch.zeros(1)
    with pytest.raises(rnnkit.RnnkitValueError, match=r"missing keys \['head.bias'\], unexpected keys \['extra'\]"):
        load_state_dict(model, state, prefixes=prefixes)
    state = dict(other.state_dict(), **{"head.weight": torch.zeros(3, 5)})
    with pytest.raises(rnnkit.RnnkitValueError, match=r"state_dict\['head.weight'\] must have shape \(3, 8\)"):
        load_state_dict(model, state, prefixes=prefixes)
    model.set_weights(before)


def test_forget_bias_is_folded_into_the_torch_bias():
    layer = layers.LSTM(H, forget_bias=1.0, return_sequences=True, seed=0)
    x = _inputs()
    ours = layer(x)
    module = _torch_module("LSTM", 5)
    module.load_state_dict(_to_torch(to_state_dict(layer)))
    np.testing.assert_allclose(_run_torch(module, x), ours, rtol=0, atol=TOL)
    again = layers.LSTM(H, forget_bias=1.0, return_sequences=True, seed=9)
    again.build((None, None, I))
    load_state_dict(again, module.state_dict())
    np.testing.assert_allclose(again(x), ours, rtol=0, atol=TOL)


def test_rnnkit_to_safetensors_to_torch(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = rnnkit.Sequential([layers.Bidirectional(layers.GRU(H, return_sequences=True, seed=0),
                                                    input_shape=(None, I)),
                               layers.Bidirectional(layers.GRU(H, return_sequences=True, seed=1))])
    x = _inputs()
    st.save_file(to_state_dict(model), tmp_path / "gru.safetensors")
    module = _torch_module("GRU", 3, num_layers=2, bidirectional=True)
    module.load_state_dict(safetensors_torch.load_file(str(tmp_path / "gru.safetensors")))
    np.testing.assert_allclose(_run_torch(module, x), model(x), rtol=0, atol=TOL)


# ----------------------------------------------------------------------------- refusals

REFUSED = {
    "gru_reset_before": (lambda: layers.GRU(H, reset_after=False), "reset_after=False"),
    "lstm_peepholes": (lambda: layers.LSTM(H, use_peepholes=True), "no use_peepholes"),
    "lstm_coupled": (lambda: layers.LSTM(H, coupled_input_forget=True), "no coupled_input_forget"),
    "lstm_cell_clip": (lambda: layers.LSTM(H, cell_clip=3.0), "no cell_clip"),
    "lstm_proj_clip": (lambda: layers.LSTM(H, num_proj=P, proj_clip=1.0), "no proj_clip"),
    "lstm_relu": (lambda: layers.LSTM(H, activation="relu"), "uses tanh and sigmoid"),
    "gru_hard_sigmoid": (lambda: layers.GRU(H, recurrent_activation="hard_sigmoid"), "uses tanh and sigmoid"),
    "rnn_sigmoid": (lambda: layers.SimpleRNN(H, activation="sigmoid"), "'tanh' or 'relu'"),
    "go_backwards": (lambda: layers.LSTM(H, go_backwards=True), "go_backwards=True"),
    "bidirectional_sum": (lambda: layers.Bidirectional(layers.GRU(H), merge_mode="sum"), "merge_mode='concat'"),
    "stacked_cells": (lambda: layers.RNN([rnnkit.layers.GRUCell(H), rnnkit.layers.GRUCell(H)]),
                      "only SimpleRNN, LSTM and GRU cells"),
    "masking": (lambda: layers.Masking(), "no PyTorch counterpart"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_torch_cannot_express_is_a_named_error(case):
    make, message = REFUSED[case]
    layer = make()
    layer(_inputs())
    with pytest.raises(TorchConversionError, match=message):
        to_state_dict(layer)


def test_bad_state_dicts_are_named_errors():
    state = _torch_module("LSTM", 0, num_layers=2).state_dict()
    with pytest.raises(rnnkit.RnnkitValueError, match="hidden_size=5 was given but the state_dict's shapes say 4"):
        from_state_dict(state, "LSTM", hidden_size=5)
    with pytest.raises(rnnkit.RnnkitValueError, match=r"needs weight_ih_l0 of shape \(3·hidden_size, input_size\)"):
        from_state_dict(state, "GRU")  # 16 rows are not 3 gate blocks
    with pytest.raises(rnnkit.RnnkitValueError,
                       match=r"state_dict\['weight_hh_l0'\] must have shape \(16, 16\) for nn.RNN"):
        from_state_dict(state, "RNN")  # 16 rows read as 1 gate: 16 units, so weight_hh should be (16, 16)
    with pytest.raises(rnnkit.RnnkitValueError, match="not a torch nn.RNN weight"):
        from_state_dict({**state, "weight_hr_l0": torch.zeros(2, 4)}, "RNN")
    partial = {k: v for k, v in state.items() if k != "weight_hh_l1"}
    with pytest.raises(rnnkit.RnnkitValueError, match="layer 1 has .* expected"):
        from_state_dict(partial, "LSTM")
    with pytest.raises(rnnkit.RnnkitValueError, match="no keys starting with prefix 'rnn.'"):
        from_state_dict(state, "LSTM", prefix="rnn")
    with pytest.raises(rnnkit.RnnkitValueError, match="kind must be one of"):
        from_state_dict(state, "Transformer")
    with pytest.raises(rnnkit.RnnkitTypeError, match="must hold floats"):
        from_state_dict({"weight": np.zeros((2, 2), np.int64)}, "Linear")
