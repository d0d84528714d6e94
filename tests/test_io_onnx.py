"""ONNX export: every cell, variant, bidirectional, stacked and masked case run in ONNX Runtime and
compared with rnnkit (< 1e-5 float32), the operators used, dynamic axes, opsets, and named errors."""
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit import layers
from rnnkit.io.onnx import SUPPORTED_OPSETS, OnnxExportError, to_model_proto

from onnx_checks import run_converter

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

B, T, F = 3, 7, 4
TOL = 1e-5


def _session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _run_onnx(model, x, **kwargs):
    proto = to_model_proto(model, **kwargs)
    return _session(proto).run(None, {proto.graph.input[0].name: x}), proto


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _difference(model, x, **kwargs):
    theirs, proto = _run_onnx(model, x, **kwargs)
    ours = _as_list(model(x))
    assert len(theirs) == len(ours)
    for a, b in zip(theirs, ours):
        assert a.shape == b.shape
    return max(float(np.abs(a - b).max()) for a, b in zip(theirs, ours)), proto


def _op_types(proto):
    return {node.op_type for node in proto.graph.node}


def _sequences(seed=0, shape=(B, T, F)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _model(*stack, input_shape=(None, F)):
    rnnkit.layers.reset_name_counters()
    model = rnnkit.Sequential(list(stack))
    model.build((None, *input_shape))
    return model


# ----------------------------------------------------------------------------- every cell and variant

VARIANTS = {
    # name: (layer factory, ONNX op expected: the operator or Scan)
    "simple_rnn_tanh": (lambda **k: layers.SimpleRNN(5, seed=1, **k), "RNN"),
    "simple_rnn_relu": (lambda **k: layers.SimpleRNN(5, activation="relu", seed=1, **k), "RNN"),
    "simple_rnn_sigmoid": (lambda **k: layers.SimpleRNN(5, activation="sigmoid", seed=1, **k), "RNN"),
    "simple_rnn_linear": (lambda **k: layers.SimpleRNN(5, activation="linear", seed=1, **k), "RNN"),
    "simple_rnn_elu": (lambda **k: layers.SimpleRNN(5, activation="elu", seed=1, **k), "RNN"),
    "simple_rnn_softsign": (lambda **k: layers.SimpleRNN(5, activation="softsign", seed=1, **k), "RNN"),
    "simple_rnn_softplus": (lambda **k: layers.SimpleRNN(5, activation="softplus", seed=1, **k), "RNN"),
    "simple_rnn_selu": (lambda **k: layers.SimpleRNN(5, activation="selu", seed=1, **k), "Scan"),
    "simple_rnn_no_bias": (lambda **k: layers.SimpleRNN(5, use_bias=False, seed=1, **k), "RNN"),
    "lstm": (lambda **k: layers.LSTM(5, seed=1, bias_initializer="random_normal", **k), "LSTM"),
    "lstm_no_bias": (lambda **k: layers.LSTM(5, use_bias=False, seed=1, **k), "LSTM"),
    "lstm_forget_bias": (lambda **k: layers.LSTM(5, forget_bias=1.0, seed=1, **k), "LSTM"),
    "lstm_peepholes": (lambda **k: layers.LSTM(5, use_peepholes=True, seed=1, **k), "LSTM"),
    "lstm_hard_sigmoid": (lambda **k: layers.LSTM(5, recurrent_activation="hard_sigmoid", seed=1, **k), "LSTM"),
    "lstm_relu": (lambda **k: layers.LSTM(5, activation="relu", seed=1, **k), "LSTM"),
    "lstm_projection": (lambda **k: layers.LSTM(5, num_proj=3, seed=1, **k), "Scan"),
    "lstm_projection_clip": (lambda **k: layers.LSTM(5, num_proj=3, proj_clip=0.1, seed=1, **k), "Scan"),
    "lstm_cell_clip": (lambda **k: layers.LSTM(5, cell_clip=0.3, forget_bias=1.0, seed=1, **k), "Scan"),
    "lstm_coupled": (lambda **k: layers.LSTM(5, coupled_input_forget=True, seed=1, **k), "Scan"),
    "lstm_coupled_peepholes": (lambda **k: layers.LSTM(5, coupled_input_forget=True, use_peepholes=True, seed=1,
                                                       **k), "Scan"),
    "lstm_everything": (lambda **k: layers.LSTM(5, use_peepholes=True, num_proj=3, cell_clip=0.5, proj_clip=0.4,
                                                forget_bias=0.5, seed=1, **k), "Scan"),
    "lstm_selu": (lambda **k: layers.LSTM(5, activation="selu", seed=1, **k), "Scan"),
    "gru_reset_after": (lambda **k: layers.GRU(5, seed=1, bias_initializer="random_normal", **k), "GRU"),
    "gru_reset_before": (lambda **k: layers.GRU(5, reset_after=False, bias_initializer="random_normal", seed=1,
                                                **k), "GRU"),
    "gru_no_bias": (lambda **k: layers.GRU(5, use_bias=False, seed=1, **k), "GRU"),
    "gru_reset_before_no_bias": (lambda **k: layers.GRU(5, reset_after=False, use_bias=False, seed=1, **k), "GRU"),
    "gru_hard_sigmoid": (lambda **k: layers.GRU(5, recurrent_activation="hard_sigmoid", seed=1, **k), "GRU"),
    "gru_selu": (lambda **k: layers.GRU(5, activation="selu", seed=1, **k), "Scan"),
    "gru_reset_before_selu": (lambda **k: layers.GRU(5, activation="selu", reset_after=False, seed=1, **k), "Scan"),
}

SHAPES = {"last": {}, "sequences": {"return_sequences": True}, "backwards": {"go_backwards": True},
          "backwards_sequences": {"go_backwards": True, "return_sequences": True},
          "states": {"return_sequences": True, "return_state": True}}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_cell_and_variant_matches_onnxruntime(variant, shape):
    make, op_type = VARIANTS[variant]
    model = _model(make(**SHAPES[shape]))
    difference, proto = _difference(model, _sequences())
    assert difference < TOL
    assert op_type in _op_types(proto)


MERGES = ["concat", "sum", "mul", "ave", None]


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", MERGES, ids=str)
@pytest.mark.parametrize("variant", ["lstm_peepholes", "gru_reset_after", "simple_rnn_tanh", "lstm_projection",
                                     "gru_reset_before_selu"])
def test_bidirectional(variant, merge_mode, return_sequences):
    make, op_type = VARIANTS[variant]
    model = _model(layers.Bidirectional(make(return_sequences=return_sequences), merge_mode=merge_mode))
    difference, proto = _difference(model, _sequences())
    assert difference < TOL
    nodes = [n for n in proto.graph.node if n.op_type == op_type]
    if op_type != "Scan":  # both halves in one operator node
        assert len(nodes) == 1 and any(a.s == b"bidirectional" for a in nodes[0].attribute if a.name == "direction")


def test_bidirectional_with_states_and_a_custom_backward_layer():
    forward = layers.LSTM(5, return_sequences=True, return_state=True, seed=1)
    backward = layers.LSTM(5, return_sequences=True, return_state=True, go_backwards=True, use_peepholes=True, seed=2)
    model = _model(layers.Bidirectional(forward, backward_layer=backward))
    difference, proto = _difference(model, _sequences())
    assert difference < TOL and len(proto.graph.output) == 5  # output, h_f, c_f, h_b, c_b


def test_stacked_layers_and_stacked_cells():
    model = _model(layers.LSTM(6, return_sequences=True, seed=1),
                   layers.Bidirectional(layers.GRU(4, return_sequences=True, seed=2)),
                   layers.RNN([rnnkit.layers.LSTMCell(3, seed=3), rnnkit.layers.GRUCell(4, seed=4),
                               rnnkit.layers.SimpleRNNCell(2, seed=5)], return_sequences=True, return_state=True),
                   )
    difference, _ = _difference(model, _sequences())
    assert difference < TOL
    backwards = _model(layers.RNN([rnnkit.layers.LSTMCell(3, num_proj=2, seed=3), rnnkit.layers.GRUCell(4, seed=4)],
                                  go_backwards=True, return_sequences=True))
    assert _difference(backwards, _sequences())[0] < TOL


def test_dense_head_time_distributed_activation_dropout_flatten():
    model = _model(layers.GRU(6, return_sequences=True, seed=1), layers.Dropout(0.5),
                   layers.TimeDistributed(layers.Dense(3, activation="tanh", seed=2)), layers.Activation("softmax"),
                   layers.Flatten(), layers.Dense(4, activation="log_softmax", seed=3),
                   input_shape=(T, F))
    assert _difference(model, _sequences())[0] < TOL


# ----------------------------------------------------------------------------- masks

def _right_padded_ids(lengths, vocabulary=9, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocabulary, (len(lengths), T))
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


LENGTHS = [T, 3, 1, 0]  # full, partial, one step, fully padded


@pytest.mark.parametrize("mask_handling", ["sequence_lens", "exact"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("variant", ["lstm", "gru_reset_after", "gru_reset_before", "simple_rnn_tanh",
                                     "lstm_projection", "lstm_peepholes"])
def test_embedding_mask_zero_trailing_padding(variant, shape, mask_handling):
    make, _ = VARIANTS[variant]
    model = _model(layers.Embedding(9, F, mask_zero=True, seed=0), make(**SHAPES[shape]), input_shape=(None,))
    difference, proto = _difference(model, _right_padded_ids(LENGTHS), mask_handling=mask_handling)
    assert difference < TOL
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64


@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("mask_handling", ["sequence_lens", "exact"])
def test_masking_layer_post_padding_stacked_and_bidirectional(mask_handling, zero_output_for_mask):
    x = _sequences()
    for row, length in enumerate([T, 4, 0]):
        x[row, length:] = 0.0
    model = _model(layers.Masking(0.0),
                   layers.LSTM(5, return_sequences=True, zero_output_for_mask=zero_output_for_mask, seed=1),
                   layers.Bidirectional(layers.GRU(4, return_sequences=True, seed=2)),
                   layers.Bidirectional(layers.SimpleRNN(3, seed=3), merge_mode="sum"),
                   layers.Dense(2, seed=4))
    assert _difference(model, x, mask_handling=mask_handling)[0] < TOL


def test_a_mask_with_gaps_needs_exact_mask_handling():
    ids = _right_padded_ids([T, T, T])
    ids[:, 2] = 0   # a hole in the middle
    ids[1, 0] = 0   # and leading padding
    model = _model(layers.Embedding(9, F, mask_zero=True, seed=0), layers.LSTM(5, return_sequences=True, seed=1),
                   layers.Bidirectional(layers.GRU(3, seed=2)), input_shape=(None,))
    assert _difference(model, ids, mask_handling="exact")[0] < TOL
    # sequence_lens reads the mask as trailing padding: documented to differ
    assert _difference(model, ids, mask_handling="sequence_lens")[0] > 1e-3


# ----------------------------------------------------------------------------- graph properties

def test_dynamic_batch_and_time_and_model_export_writes_the_file(tmp_path):
    model = _model(layers.Bidirectional(layers.LSTM(5, return_sequences=True, seed=1)), layers.GRU(3, seed=2),
                   input_shape=(T, F))  # declared time length: the export still takes any
    path = tmp_path / "model.onnx"
    model.export(path, format="onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, time in [(1, 1), (5, 12), (2, T)]:
        x = _sequences(batch, (batch, time, F))
        (out,) = session.run(None, {session.get_inputs()[0].name: x})
        np.testing.assert_allclose(out, model(x), rtol=0, atol=TOL)
    dims = session.get_inputs()[0].shape
    assert dims[:2] == ["batch", "time"] and dims[2] == F
    assert onnx.load(str(path)).producer_name == "rnnkit"


@pytest.mark.parametrize("opset", SUPPORTED_OPSETS)
def test_every_supported_opset_runs(opset):
    model = _model(layers.Embedding(9, F, mask_zero=True, seed=0), layers.LSTM(5, return_sequences=True, seed=1),
                   layers.LSTM(4, num_proj=2, seed=2), layers.Dense(2, activation="softmax"), input_shape=(None,))
    difference, proto = _difference(model, _right_padded_ids(LENGTHS), opset=opset)
    assert difference < TOL and proto.opset_import[0].version == opset


def test_float64_models_export_as_double():
    model = _model(layers.GRU(5, dtype="float64", seed=1, return_sequences=True),
                   layers.LSTM(3, num_proj=2, dtype="float64", seed=2), layers.Dense(2, dtype="float64"))
    x = _sequences().astype(np.float64)  # float32 values: the same whether the graph reads float or double
    proto = to_model_proto(model)
    declared = onnx.helper.tensor_dtype_to_np_dtype(proto.graph.input[0].type.tensor_type.elem_type)
    (theirs,) = _session(proto).run(None, {proto.graph.input[0].name: x.astype(declared)})
    assert theirs.dtype == np.float64
    np.testing.assert_allclose(theirs, model(x), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- named errors

class _Custom(rnnkit.layers.Layer):
    def call(self, inputs, training=False, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def test_unexportable_layers_are_all_listed():
    from rnnkit.ops.activations import Activation, register_activation

    register_activation(Activation("cube_for_onnx_test", lambda z: z ** 3, lambda z, y: 3 * z ** 2))
    model = _model(_Custom(name="custom"), layers.LSTM(3, activation="cube_for_onnx_test", name="cubed"),
                   layers.Dense(2, activation="cube_for_onnx_test", name="head"))
    with pytest.raises(OnnxExportError) as info:
        to_model_proto(model)
    message = str(info.value)
    assert "'custom' (_Custom): no ONNX converter" in message
    assert "'cubed'" in message and "'head'" in message and "cube_for_onnx_test" in message


def test_bad_arguments_are_named_errors(tmp_path, monkeypatch):
    model = _model(layers.LSTM(3))
    with pytest.raises(rnnkit.RnnkitValueError, match="format must be 'onnx'"):
        model.export(tmp_path / "m", format="tf_saved_model")
    with pytest.raises(rnnkit.RnnkitValueError, match="input_signature must be None"):
        model.export(tmp_path / "m.onnx", input_signature=[(None, 3)])
    with pytest.raises(rnnkit.RnnkitValueError, match="opset must be one of"):
        model.export(tmp_path / "m.onnx", opset=7)
    with pytest.raises(rnnkit.RnnkitValueError, match="mask_handling must be one of"):
        model.export(tmp_path / "m.onnx", mask_handling="guess")
    with pytest.raises(rnnkit.RnnkitValueError, match="is not built"):
        rnnkit.Sequential([layers.LSTM(3)]).export(tmp_path / "m.onnx")
    with pytest.raises(rnnkit.RnnkitValueError, match="write ONNX with model.export"):
        model.save(tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "rnnkit\[onnx\]"'):
        model.export(tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- initial states (the converters)

INITIAL_STATE_LAYERS = {
    "lstm": lambda: layers.LSTM(5, return_sequences=True, return_state=True, seed=1),
    "lstm_peepholes_backwards": lambda: layers.LSTM(5, use_peepholes=True, go_backwards=True, return_state=True,
                                                    seed=1),
    "lstm_projection": lambda: layers.LSTM(5, num_proj=3, return_sequences=True, return_state=True, seed=1),
    "gru": lambda: layers.GRU(5, return_state=True, seed=1),
    "gru_reset_before_zero_output": lambda: layers.GRU(5, reset_after=False, return_sequences=True,
                                                       zero_output_for_mask=True, seed=1),
    "simple_rnn": lambda: layers.SimpleRNN(5, return_sequences=True, seed=1),
    "stacked_cells": lambda: layers.RNN([rnnkit.layers.LSTMCell(4, seed=1), rnnkit.layers.GRUCell(3, seed=2)],
                                        return_sequences=True, return_state=True),
    "bidirectional": lambda: layers.Bidirectional(layers.LSTM(4, return_sequences=True, return_state=True, seed=1)),
    "bidirectional_gru_last": lambda: layers.Bidirectional(layers.GRU(4, seed=1), merge_mode="sum"),
}


@pytest.mark.parametrize("mask_handling", ["sequence_lens", "exact"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("case", sorted(INITIAL_STATE_LAYERS))
def test_initial_states(case, masked, mask_handling):
    layer = INITIAL_STATE_LAYERS[case]()
    x = _sequences()
    layer(x)  # build
    rng = np.random.default_rng(5)
    sizes = (layer.forward_layer.state_sizes + layer.backward_layer.state_sizes
             if isinstance(layer, layers.Bidirectional) else layer.state_sizes)
    initial = [rng.standard_normal((B, size)).astype(np.float32) for size in sizes]
    mask = None
    if masked:
        mask = np.ones((B, T), bool)
        mask[1, 4:] = False
        mask[2, :] = False  # no valid step: outputs zeros, states stay the initial ones
    expected = _as_list(layer(x, mask=mask, initial_state=initial))
    theirs = run_converter(layer, [x], [mask], initial_state=initial, mask_handling=mask_handling)
    assert len(theirs) == len(expected)
    for a, b in zip(theirs, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
