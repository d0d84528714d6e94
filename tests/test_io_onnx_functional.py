"""ONNX export of functional models (rnnkit.Model over rnnkit.Input): an encoder-decoder whose encoder
states become the decoder's initial states, several inputs and outputs, a shared layer, a nested
model and masks, each run in ONNX Runtime against rnnkit (< 1e-5 float32)."""
import numpy as np
import pytest

import rnnkit
from rnnkit import layers

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
if not hasattr(rnnkit, "Model") or not hasattr(rnnkit, "Input"):
    pytest.skip("functional models (rnnkit.Model, rnnkit.Input) are not in this build yet", allow_module_level=True)

B, T, F = 3, 7, 4
TOL = 1e-5


def _x(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _compare(model, inputs, tmp_path, **kwargs):
    """Export with model.export, run in ONNX Runtime by input name; returns the largest difference."""
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx", **kwargs)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == list(model.input_names)
    theirs = session.run(None, dict(zip(names, inputs)))
    ours = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    ours = list(ours) if isinstance(ours, (list, tuple)) else [ours]
    assert [a.shape for a in theirs] == [b.shape for b in ours]
    return max(float(np.abs(a - b).max()) for a, b in zip(theirs, ours))


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm_projection", "bidirectional_lstm"])
def test_encoder_states_into_a_decoder(cell, tmp_path):
    rnnkit.layers.reset_name_counters()
    source = rnnkit.Input(shape=(None, F), name="source")
    target = rnnkit.Input(shape=(None, 3), name="target")
    if cell == "bidirectional_lstm":
        encoded = layers.Bidirectional(layers.LSTM(5, return_state=True, seed=1))(source)
        states = encoded[1:3]  # the forward direction's h, c
        decoder = layers.LSTM(5, return_sequences=True, seed=2)
    else:
        make = {"lstm": lambda **k: layers.LSTM(5, **k), "gru": lambda **k: layers.GRU(5, **k),
                "lstm_projection": lambda **k: layers.LSTM(5, num_proj=2, **k)}[cell]
        encoded = make(return_state=True, seed=1)(source)
        states = encoded[1:]
        decoder = make(return_sequences=True, seed=2)
    decoded = decoder(target, initial_state=states)
    outputs = [layers.TimeDistributed(layers.Dense(2, activation="softmax", seed=3))(decoded), states[0]]
    model = rnnkit.Model([source, target], outputs)
    assert _compare(model, [_x(0, (B, T, F)), _x(1, (B, 5, 3))], tmp_path) < TOL


def test_a_shared_layer_and_a_nested_model(tmp_path):
    rnnkit.layers.reset_name_counters()
    inner = rnnkit.Sequential([layers.GRU(4, return_sequences=True, seed=1), layers.Dense(3, seed=2)])
    inner.build((None, None, F))
    shared = layers.LSTM(5, seed=3)
    a, b = rnnkit.Input(shape=(None, F), name="a"), rnnkit.Input(shape=(None, F), name="b")
    # the same LSTM on both inputs, and a nested model in front of another recurrent layer
    first = shared(a)
    second = layers.LSTM(5, seed=4)(inner(b))
    model = rnnkit.Model([a, b], [first, second, shared(b)])
    assert _compare(model, [_x(0, (B, T, F)), _x(1, (B, 6, F))], tmp_path) < TOL


@pytest.mark.parametrize("mask_handling", ["sequence_lens", "exact"])
def test_masks_through_the_graph(mask_handling, tmp_path):
    rnnkit.layers.reset_name_counters()
    ids = rnnkit.Input(shape=(None,), dtype="int64", name="ids")
    embedded = layers.Embedding(10, F, mask_zero=True, seed=0)(ids)
    sequence = layers.Bidirectional(layers.LSTM(5, return_sequences=True, seed=1))(embedded)
    last = layers.GRU(3, seed=2)(sequence)
    model = rnnkit.Model(ids, [last, layers.TimeDistributed(layers.Dense(2, seed=3))(sequence)])
    values = np.random.default_rng(0).integers(1, 10, (4, T))
    for row, length in enumerate([T, 4, 1, 0]):
        values[row, length:] = 0
    assert _compare(model, [values], tmp_path, mask_handling=mask_handling) < TOL


def test_attention_encoder_decoder_with_merges(tmp_path):
    attention = pytest.importorskip("rnnkit.layers.attention")
    merge = pytest.importorskip("rnnkit.layers.merge")
    concatenate = pytest.importorskip("rnnkit.layers.concatenate")
    normalization = pytest.importorskip("rnnkit.layers.layer_normalization")
    rnnkit.layers.reset_name_counters()
    source = rnnkit.Input(shape=(None,), dtype="int64", name="source")
    target = rnnkit.Input(shape=(None, 3), name="target")
    encoded, h, c = layers.LSTM(6, return_sequences=True, return_state=True, seed=1)(
        layers.Embedding(12, F, mask_zero=True, seed=0)(source))
    decoded = layers.LSTM(6, return_sequences=True, seed=2)(target, initial_state=[h, c])
    context = attention.Attention(use_scale=True)([decoded, encoded], use_causal_mask=True)
    joined = concatenate.Concatenate()([decoded, context])
    mixed = merge.Add()([normalization.LayerNormalization()(decoded), context])
    outputs = [layers.TimeDistributed(layers.Dense(5, activation="softmax", seed=3))(joined), mixed]
    model = rnnkit.Model([source, target], outputs)
    ids = np.random.default_rng(0).integers(1, 12, (B, T))
    ids[1, 4:] = 0
    ids[2, 2:] = 0
    assert _compare(model, [ids, _x(1, (B, 5, 3))], tmp_path) < TOL
