"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot): the shared
multi-input check (float64 finite differences, config round trip, output shapes), masks as
Keras 3.15 uses them, parity with Keras 3 on outputs and gradients, and errors."""
import numpy as np
import pytest

from keras_compare import compare_with_keras, import_keras
from multi_layer_checks import check_multi_input_layer
from rnnkit import layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError

ELEMENTWISE = [layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum, layers.Minimum]
B, T, F = 3, 4, 5


def _masks(rng, count, shape=(B, T)):
    masks = [rng.random(shape) > 0.4 for _ in range(count)]
    masks[0][0] = False  # a row masked in the first input only
    if count > 1:
        masks[-1][1] = False
        masks[0][1, :2] = False  # entries masked in every input
    return masks


@pytest.fixture(scope="module")
def keras():
    return import_keras()


@pytest.mark.parametrize("cls", ELEMENTWISE)
@pytest.mark.parametrize("shapes", [
    [(B, T, F), (B, T, F)],
    [(B, 1, F), (B, T, F)],  # size-1 axes broadcast
    [(B, F), (B, T, F)],  # lower ranks gain axes after the batch axis, as Keras
])
def test_elementwise_gradients(cls, shapes):
    check_multi_input_layer(cls, {}, shapes)


@pytest.mark.parametrize("cls", [c for c in ELEMENTWISE if c is not layers.Subtract])
def test_three_inputs(cls):
    check_multi_input_layer(cls, {}, [(B, F), (B, F), (B, F)])


@pytest.mark.parametrize("cls", ELEMENTWISE)
@pytest.mark.parametrize("with_none", [False, True])
def test_masked_gradients(cls, with_none):
    rng = np.random.default_rng(1)
    count = 2 if cls is layers.Subtract else 3
    masks = _masks(rng, count)
    if with_none:
        masks[1] = None
    check_multi_input_layer(cls, {}, [(B, T, F)] * count, mask=masks)


@pytest.mark.parametrize("cls", ELEMENTWISE)
@pytest.mark.parametrize("with_none", [False, True])
def test_elementwise_match_keras_with_masks(keras, cls, with_none):
    rng = np.random.default_rng(2)
    count = 2 if cls is layers.Subtract else 3
    xs = [rng.standard_normal((B, T, F)) for _ in range(count)]
    masks = _masks(rng, count)
    if with_none:
        masks[1] = None
    errors = compare_with_keras(cls(), getattr(keras.layers, cls.__name__)(), xs, tensor_masks=masks)
    assert max(errors.values()) < 1e-5, errors
    mine = cls().compute_mask(xs, masks)
    theirs = getattr(keras.layers, cls.__name__)().compute_mask(xs, masks)
    if theirs is None:
        assert mine is None
    else:
        np.testing.assert_array_equal(mine, np.asarray(theirs))


@pytest.mark.parametrize("cls", ELEMENTWISE)
def test_elementwise_match_keras_broadcasting(keras, cls):
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((B, F)), rng.standard_normal((B, T, F))]
    errors = compare_with_keras(cls(), getattr(keras.layers, cls.__name__)(), xs)
    assert max(errors.values()) < 1e-5, errors


def test_multiply_and_extrema_use_masks_as_keras():
    x1 = np.array([[[1.0], [2.0], [3.0]]], np.float32)
    x2 = np.array([[[5.0], [-1.0], [7.0]]], np.float32)
    masks = [np.array([[True, False, False]]), np.array([[False, True, False]])]
    np.testing.assert_array_equal(layers.Multiply()([x1, x2], mask=masks)[0, :, 0], [1.0, -1.0, 0.0])
    # where every input is masked, Keras 3.15's loop leaves the first input's value
    np.testing.assert_array_equal(layers.Maximum()([x1, x2], mask=masks)[0, :, 0], [1.0, -1.0, 3.0])
    np.testing.assert_array_equal(layers.Minimum()([x1, x2], mask=masks)[0, :, 0], [1.0, -1.0, 3.0])
    np.testing.assert_array_equal(layers.Add().compute_mask([x1, x2], masks), [[True, True, False]])
    assert layers.Add().compute_mask([x1, x2], [masks[0], None]) is None


@pytest.mark.parametrize("axis,shapes", [
    (-1, [(B, T, 2), (B, T, 3), (B, T, 1)]),
    (1, [(B, 2, F), (B, 3, F)]),
    (-1, [(B, 2), (B, 4)]),
])
def test_concatenate_gradients(axis, shapes):
    check_multi_input_layer(layers.Concatenate, {"axis": axis}, shapes)


@pytest.mark.parametrize("axis,shapes", [(-1, [(B, T, 2), (B, T, 3)]), (1, [(B, 2, F), (B, 3, F)])])
def test_concatenate_matches_keras_with_masks(keras, axis, shapes):
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal(s) for s in shapes]
    masks = [rng.random(s[:-1]) > 0.5 for s in shapes]
    errors = compare_with_keras(layers.Concatenate(axis=axis), keras.layers.Concatenate(axis=axis), xs)
    assert max(errors.values()) < 1e-5, errors
    for ms in (masks, [masks[0], None]):
        mine = layers.Concatenate(axis=axis).compute_mask(xs, ms)
        theirs = keras.layers.Concatenate(axis=axis).compute_mask(xs, ms)
        np.testing.assert_array_equal(mine, np.asarray(theirs))


DOT_CASES = [
    (2, [(B, T, F), (B, 3, F)]),  # attention scores (B, Tq, Tv)
    ((1, 1), [(B, T, F), (B, T, 2)]),
    ((2, 1), [(B, T, F), (B, F, 2)]),
    (-1, [(B, F), (B, F)]),  # rank-1 result becomes (B, 1)
    ((1, 2), [(B, F), (B, T, F)]),
    ((1, 1), [(B, T, F), (B, T)]),
    ((3, 1), [(B, 2, 3, F), (B, F, 2)]),
]


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("axes,shapes", DOT_CASES)
def test_dot_gradients(axes, shapes, normalize):
    check_multi_input_layer(layers.Dot, {"axes": axes, "normalize": normalize}, shapes)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("axes,shapes", DOT_CASES)
def test_dot_matches_keras(keras, axes, shapes, normalize):
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal(s) for s in shapes]
    errors = compare_with_keras(layers.Dot(axes, normalize=normalize), keras.layers.Dot(axes, normalize=normalize), xs)
    assert max(errors.values()) < 1e-5, errors
    assert layers.Dot(axes).compute_output_shape([(None,) + s[1:] for s in shapes]) == \
        keras.layers.Dot(axes).compute_output_shape([(None,) + s[1:] for s in shapes])


def test_dot_normalize_floors_a_zero_norm_as_keras():
    x = np.zeros((1, 3), np.float32)
    y = np.ones((1, 3), np.float32)
    layer = layers.Dot(1, normalize=True)
    assert layer([x, y])[0, 0] == 0.0
    dx, dy = layer.backward(np.ones((1, 1), np.float32))
    np.testing.assert_allclose(dx, y / np.sqrt(3) / 1e-7, rtol=1e-6)  # the 1/ε branch
    np.testing.assert_array_equal(dy, 0.0)


def test_merge_output_shapes_as_keras(keras):
    cases = [[(None, T, F), (None, T, F)], [(None, 1, F), (None, T, F)], [(None, F), (None, T, F)],
             [(4, F), (None, F)]]
    for cls in ELEMENTWISE:
        for shapes in cases:
            if cls is layers.Subtract and len(shapes) != 2:
                continue
            assert cls().compute_output_shape(shapes) == getattr(keras.layers, cls.__name__)().compute_output_shape(
                shapes), (cls, shapes)
    assert layers.Concatenate(axis=1).compute_output_shape([(None, 2, F), (None, None, F)]) == (None, None, F)


def test_merge_errors():
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(RnnkitTypeError, match="must be a list of at least 1 arrays"):
        layers.Add()(a)
    with pytest.raises(RnnkitValueError, match="exactly 2 arrays, got a list of 3"):
        layers.Subtract()([a, a, a])
    with pytest.raises(RnnkitValueError, match="share the batch size"):
        layers.Add()([a, np.zeros((3, 3), np.float32)])
    with pytest.raises(RnnkitValueError, match="shapes that broadcast"):
        layers.Add()([a, np.zeros((2, 4), np.float32)])
    with pytest.raises(RnnkitTypeError, match=r"inputs\[1\] must have a floating dtype"):
        layers.Add()([a, np.zeros((2, 3), np.int64)])
    with pytest.raises(RnnkitValueError, match="must match on every axis but the concatenation axis"):
        layers.Concatenate(axis=1)([a, np.zeros((2, 4), np.float32)[:, None]])
    with pytest.raises(RnnkitValueError, match=r"mask\[1\] .* must have the shape"):
        layers.Add()([a[:, None], a[:, None]], mask=[np.ones((2, 1), bool), np.ones((2, 3), bool)])
    with pytest.raises(RnnkitValueError, match="axes must be an int or a pair"):
        layers.Dot(axes=(1, 2, 3))
    with pytest.raises(RnnkitValueError, match="non-batch axis"):
        layers.Dot(axes=0)([a, a])
    with pytest.raises(RnnkitValueError, match="equal sizes on the dot axes"):
        layers.Dot(axes=1)([a, np.zeros((2, 4), np.float32)])
    with pytest.raises(RnnkitValueError, match="needs a forward call first"):
        layers.Add().backward(a)


def test_functional_forms():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(layers.add([a, b]), a + b)
    np.testing.assert_array_equal(layers.subtract([a, b]), a - b)
    np.testing.assert_array_equal(layers.multiply([a, b]), a * b)
    np.testing.assert_array_equal(layers.average([a, b]), (a + b) / 2)
    np.testing.assert_array_equal(layers.maximum([a, b]), np.maximum(a, b))
    np.testing.assert_array_equal(layers.minimum([a, b]), np.minimum(a, b))
    np.testing.assert_array_equal(layers.concatenate([a, b], axis=0), np.concatenate([a, b]))
    np.testing.assert_allclose(layers.dot([a, b], axes=1), (a * b).sum(axis=1, keepdims=True), rtol=1e-6)
