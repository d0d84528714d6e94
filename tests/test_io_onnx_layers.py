"""ONNX converters of the merge, attention, normalization and reshaping layers, each run in ONNX Runtime
against rnnkit's layer on the same inputs and masks (< 1e-5 float32)."""
import numpy as np
import pytest

from onnx_checks import assert_converter_matches

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

B, T, F = 3, 5, 4


def _x(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _mask(seed, shape=(B, T)):
    mask = np.random.default_rng(seed).random(shape) > 0.35
    mask[0] = True
    mask[1] = False  # a sample masked everywhere
    return mask


def _layers(module):
    return pytest.importorskip(f"rnnkit.layers.{module}")


MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


@pytest.mark.parametrize("masked", ["none", "some", "all"])
@pytest.mark.parametrize("name", MERGES)
def test_elementwise_merges(name, masked):
    merge = _layers("merge")
    count = 2 if name == "Subtract" else 3
    inputs = [_x(i, (B, T, F)) for i in range(count)]
    masks = {"none": None, "some": [_mask(0), None, _mask(2)][:count],
             "all": [_mask(i) for i in range(count)]}[masked]
    assert_converter_matches(getattr(merge, name)(), inputs, masks)


@pytest.mark.parametrize("name", MERGES)
def test_merges_align_ranks_and_broadcast(name):
    merge = _layers("merge")
    assert_converter_matches(getattr(merge, name)(), [_x(0, (B, T, F)), _x(1, (B, F))], [_mask(0), None])
    assert_converter_matches(getattr(merge, name)(), [_x(0, (B, T, F)), _x(1, (B, 1, F))])


@pytest.mark.parametrize("axis", [-1, 1])
def test_concatenate_with_masks(axis):
    concatenate = _layers("concatenate")
    inputs = [_x(0, (B, T, F)), _x(1, (B, T, F))]
    for masks in (None, [_mask(0), None], [_mask(0), _mask(1)]):
        assert_converter_matches(concatenate.Concatenate(axis=axis), inputs, masks)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("axes, shapes", [(2, [(B, T, F), (B, 6, F)]), ((1, 1), [(B, T, F), (B, T, 2)]),
                                          (1, [(B, F), (B, F)]), ((2, 1), [(B, T, F), (B, F, 3)])])
def test_dot(axes, shapes, normalize):
    dot = _layers("dot")
    inputs = [_x(0, shapes[0]), _x(1, shapes[1])]
    inputs[1][0] = 0.0  # a zero vector: the normalization's floor
    assert_converter_matches(dot.Dot(axes, normalize=normalize), inputs)


ATTENTION = {
    "dot": lambda a: a.Attention(),
    "dot_scaled": lambda a: a.Attention(use_scale=True),
    "concat": lambda a: a.Attention(score_mode="concat"),
    "concat_scaled": lambda a: a.Attention(score_mode="concat", use_scale=True),
    "additive": lambda a: a.AdditiveAttention(),
    "additive_unscaled": lambda a: a.AdditiveAttention(use_scale=False),
}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("key", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("case", sorted(ATTENTION))
def test_attention(case, masked, key, causal):
    attention = _layers("attention")
    layer = ATTENTION[case](attention)
    inputs = [_x(0, (B, T, F)), _x(1, (B, 6, 3))] + ([_x(2, (B, 6, F))] if key else [])
    if not key:
        inputs[1] = _x(1, (B, 6, F))
    masks = [_mask(0), _mask(1, (B, 6))] + ([None] if key else []) if masked else None
    layer(inputs)  # build, then give the learned scalars values other than their initial 1
    for weight in layer.weights:
        weight.assign(np.random.default_rng(3).uniform(0.5, 1.5, weight.shape).astype(np.float32))
    assert_converter_matches(layer, inputs, masks, use_causal_mask=causal, return_attention_scores=True)


@pytest.mark.parametrize("opset", [14, 21])  # ReduceMean's axes: an attribute, then an input
@pytest.mark.parametrize("options", [{}, {"axis": [1, 2]}, {"axis": 1}, {"center": False}, {"scale": False},
                                     {"rms_scaling": True}])
def test_layer_normalization(options, opset):
    normalization = _layers("layer_normalization")
    with pytest.warns(UserWarning) if options.get("rms_scaling") else _no_warning():
        layer = normalization.LayerNormalization(**options)
    x = _x(0, (B, T, F)) * 3 + 1
    layer(x)
    for weight in layer.weights:
        weight.assign(_x(4, weight.shape))
    assert_converter_matches(layer, [x], [_mask(0)], opset=opset)


@pytest.mark.parametrize("options", [{}, {"axis": 1}, {"center": False, "scale": False}])
def test_batch_normalization_inference(options):
    normalization = _layers("batch_normalization")
    layer = normalization.BatchNormalization(**options)
    x = _x(0, (B, T, F))
    layer(x)
    for weight in layer.weights:
        weight.assign(np.abs(_x(5, weight.shape)) + 0.1)
    assert_converter_matches(layer, [x])


def test_reshape_permute_repeat_vector():
    assert_converter_matches(_layers("reshape").Reshape((-1, 2)), [_x(0, (B, T, F))])
    assert_converter_matches(_layers("reshape").Reshape((F, T)), [_x(0, (B, T, F))])
    assert_converter_matches(_layers("permute").Permute((2, 1)), [_x(0, (B, T, F))])
    assert_converter_matches(_layers("repeat_vector").RepeatVector(4), [_x(0, (B, F))])


def test_a_sequential_model_with_them_exports():
    import onnxruntime as ort

    import rnnkit
    from rnnkit import layers
    from rnnkit.io.onnx import to_model_proto

    normalization, reshape = _layers("layer_normalization"), _layers("reshape")
    repeat_vector, batch_normalization = _layers("repeat_vector"), _layers("batch_normalization")
    model = rnnkit.Sequential([layers.LSTM(6, seed=0), repeat_vector.RepeatVector(T),
                               layers.GRU(4, return_sequences=True, seed=1), normalization.LayerNormalization(),
                               batch_normalization.BatchNormalization(), reshape.Reshape((-1,)), layers.Dense(2)])
    model.build((None, T, F))
    x = _x(0, (B, T, F))
    session = ort.InferenceSession(to_model_proto(model).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], model(x), rtol=0, atol=1e-5)


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
