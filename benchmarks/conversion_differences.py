"""The README's conversion table: the largest difference each conversion leaves, measured by running
both sides on the same random inputs (float32, batch 8, 20 steps, 4 features, 5 units).

    python benchmarks/conversion_differences.py

Rows: rnnkit -> ONNX -> ONNX Runtime (operators, Scan, masked), torch -> rnnkit and rnnkit -> torch
(state_dicts), rnnkit -> safetensors -> rnnkit / torch. Each cell is the largest absolute difference
over the cases of the row, and the largest output magnitude seen (differences are float32 rounding,
so they scale with it). Needs onnx, onnxruntime, torch and safetensors.
"""
import os
import tempfile

import numpy as np
import onnxruntime as ort
import torch

import rnnkit
from rnnkit import layers
from rnnkit.io import safetensors as st
from rnnkit.io.onnx import to_model_proto
from rnnkit.io.torch import from_state_dict, to_state_dict

B, T, F, H = 8, 20, 4, 5
RECURRENT = {
    "SimpleRNN tanh/relu/sigmoid/hard_sigmoid (RNN op)": [
        lambda a=a, **k: layers.SimpleRNN(H, activation=a, seed=1, **k)
        for a in ("tanh", "relu", "sigmoid", "hard_sigmoid")],
    "LSTM, peepholes, forget_bias, hard_sigmoid (LSTM op)": [
        lambda **k: layers.LSTM(H, seed=1, **k), lambda **k: layers.LSTM(H, use_peepholes=True, forget_bias=1.0, **k),
        lambda **k: layers.LSTM(H, recurrent_activation="hard_sigmoid", seed=1, **k)],
    "LSTM projection / cell_clip / coupled (Scan)": [
        lambda **k: layers.LSTM(H, num_proj=3, proj_clip=0.5, seed=1, **k),
        lambda **k: layers.LSTM(H, cell_clip=0.3, seed=1, **k),
        lambda **k: layers.LSTM(H, coupled_input_forget=True, use_peepholes=True, seed=1, **k)],
    "GRU reset_after / reset_before (GRU op)": [
        lambda **k: layers.GRU(H, seed=1, **k), lambda **k: layers.GRU(H, reset_after=False, seed=1, **k)],
    "SimpleRNN/GRU selu (Scan)": [
        lambda **k: layers.SimpleRNN(H, activation="selu", seed=1, **k),
        lambda **k: layers.GRU(H, activation="selu", **k)],
}
SHAPES = [{}, {"return_sequences": True}, {"go_backwards": True, "return_sequences": True},
          {"return_sequences": True, "return_state": True}]


def _sequential(*stack, input_shape=(None, F)):
    model = rnnkit.Sequential(list(stack))
    model.build((None, *input_shape))
    return model


def _outputs(values):
    return [np.asarray(v) for v in (values if isinstance(values, (list, tuple)) else [values])]


def _onnx_difference(model, x, **kwargs):
    session = ort.InferenceSession(to_model_proto(model, **kwargs).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    theirs, ours = session.run(None, {session.get_inputs()[0].name: x}), _outputs(model(x))
    return max(float(np.abs(a - b).max()) for a, b in zip(theirs, ours)), max(float(np.abs(b).max()) for b in ours)


def _row(table, name, difference, magnitude):
    old = table.get(name, (0.0, 0.0))
    table[name] = (max(old[0], difference), max(old[1], magnitude))


def onnx_rows(table):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    for name, makers in RECURRENT.items():
        for make in makers:
            for shape in SHAPES:
                _row(table, f"rnnkit -> ONNX: {name}", *_onnx_difference(_sequential(make(**shape)), x))
            for mode in ("concat", "sum", "mul", "ave", None):
                model = _sequential(layers.Bidirectional(make(return_sequences=True), merge_mode=mode))
                _row(table, "rnnkit -> ONNX: Bidirectional (every merge mode, every cell above)",
                     *_onnx_difference(model, x))
    ids = rng.integers(1, 9, (B, T))
    for row, length in enumerate([T, 13, 5, 1, 0, T, 7, 2]):
        ids[row, length:] = 0
    for mask_handling in ("sequence_lens", "exact"):
        for makers in RECURRENT.values():
            for shape in SHAPES:
                model = _sequential(layers.Embedding(9, F, mask_zero=True, seed=0), makers[0](**shape),
                                    input_shape=(None,))
                _row(table, f"rnnkit -> ONNX: masked, trailing padding ({mask_handling})",
                     *_onnx_difference(model, ids, mask_handling=mask_handling))
    model = _sequential(layers.LSTM(6, return_sequences=True, seed=1),
                        layers.Bidirectional(layers.GRU(4, return_sequences=True, seed=2)),
                        layers.TimeDistributed(layers.Dense(3, activation="softmax")), input_shape=(None, F))
    _row(table, "rnnkit -> ONNX: stacked + TimeDistributed(Dense)", *_onnx_difference(model, x))


def torch_rows(table):
    x = np.random.default_rng(1).standard_normal((B, T, F)).astype(np.float32)
    for kind, cls, options in [("RNN", torch.nn.RNN, [{}, {"nonlinearity": "relu"}]),
                               ("LSTM", torch.nn.LSTM, [{}, {"proj_size": 3}]), ("GRU", torch.nn.GRU, [{}])]:
        for extra in options:
            for num_layers in (1, 2):
                for bidirectional in (False, True):
                    torch.manual_seed(0)
                    module = cls(F, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=True, **extra)
                    with torch.no_grad():
                        expected = module(torch.from_numpy(x))[0].numpy()
                    converted = from_state_dict(module.state_dict(), kind,
                                                nonlinearity=extra.get("nonlinearity", "tanh"))
                    ours = converted(x)
                    _row(table, f"torch -> rnnkit: nn.{kind}", float(np.abs(ours - expected).max()),
                         float(np.abs(expected).max()))
                    module.load_state_dict({k: torch.from_numpy(v) for k, v in to_state_dict(converted).items()})
                    with torch.no_grad():
                        back = module(torch.from_numpy(x))[0].numpy()
                    _row(table, f"rnnkit -> torch: nn.{kind}", float(np.abs(back - ours).max()),
                         float(np.abs(ours).max()))


def safetensors_rows(table):
    from safetensors.torch import load_file

    x = np.random.default_rng(2).standard_normal((B, T, F)).astype(np.float32)
    model = _sequential(layers.Bidirectional(layers.LSTM(H, return_sequences=True, seed=1)),
                        layers.Bidirectional(layers.LSTM(H, return_sequences=True, seed=2)))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "w.safetensors")
        model.save_weights(path)
        clone = _sequential(layers.Bidirectional(layers.LSTM(H, return_sequences=True)),
                            layers.Bidirectional(layers.LSTM(H, return_sequences=True)))
        clone.load_weights(path)
        _row(table, "rnnkit -> safetensors -> rnnkit", float(np.abs(clone(x) - model(x)).max()),
             float(np.abs(model(x)).max()))
        st.save_file(to_state_dict(model), path)
        module = torch.nn.LSTM(F, H, num_layers=2, bidirectional=True, batch_first=True)
        module.load_state_dict(load_file(path))
        with torch.no_grad():
            theirs = module(torch.from_numpy(x))[0].numpy()
        _row(table, "rnnkit -> safetensors (torch names) -> torch", float(np.abs(theirs - model(x)).max()),
             float(np.abs(model(x)).max()))


def functional_rows(table):
    """An attention encoder-decoder using every merge and normalization layer (needs rnnkit.Model)."""
    L = rnnkit.layers
    rnnkit.layers.reset_name_counters()
    source = rnnkit.Input(shape=(None,), dtype="int64", name="source")
    target = rnnkit.Input(shape=(None, 3), name="target")
    encoded, h, c = L.LSTM(6, return_sequences=True, return_state=True, seed=1)(
        L.Embedding(12, F, mask_zero=True, seed=0)(source))
    decoded = L.LSTM(6, return_sequences=True, seed=2)(target, initial_state=[h, c])
    context = L.Attention(use_scale=True)([decoded, encoded])
    additive = L.AdditiveAttention()([decoded, encoded])
    joined = L.Concatenate()([decoded, context, additive])
    outputs = [L.TimeDistributed(L.Dense(5, activation="softmax", seed=3))(joined),
               L.Add()([L.LayerNormalization()(decoded), context]),
               L.Maximum()([L.Multiply()([decoded, context]), additive]),
               L.Dot(axes=2, normalize=True)([decoded, encoded]), L.BatchNormalization()(joined)]
    model = rnnkit.Model([source, target], outputs)
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 12, (B, T))
    for row, length in enumerate([T, 13, 5, 1, T, 7, 2, 9]):
        ids[row, length:] = 0
    y = rng.standard_normal((B, 15, 3)).astype(np.float32)
    session = ort.InferenceSession(to_model_proto(model).SerializeToString(), providers=["CPUExecutionProvider"])
    theirs, ours = session.run(None, {"source": ids, "target": y}), _outputs(model.predict([ids, y], verbose=0))
    _row(table, "rnnkit -> ONNX: functional attention encoder-decoder (merges, normalization)",
         max(float(np.abs(a - b).max()) for a, b in zip(theirs, ours)), max(float(np.abs(b).max()) for b in ours))


def main():
    table = {}
    onnx_rows(table)
    if hasattr(rnnkit, "Model") and hasattr(rnnkit.layers, "Attention"):
        functional_rows(table)
    torch_rows(table)
    safetensors_rows(table)
    width = max(map(len, table))
    print(f"{'conversion':{width}}  max |difference|  max |output|")
    for name, (difference, magnitude) in table.items():
        print(f"{name:{width}}  {difference:16.2g}  {magnitude:12.3g}")


if __name__ == "__main__":
    main()
