"""Lambda: functions built from rnnkit's differentiable operations (each checked by float64 finite
differences through the shared layer checks), an explicit (function, backward) pair, clear errors for
what cannot be differentiated, configs that never run stored code, and parity with Keras 3."""
import numpy as np
import pytest

from keras_compare import compare_with_keras, import_keras
from layer_checks import check_layer
from multi_layer_checks import check_multi_input_layer
from rnnkit import layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.layers import lambda_trace

SHAPE = (3, 4, 5)
CONSTANT = np.random.default_rng(9).standard_normal((5, 2))

FUNCTIONS = {
    "last_step": lambda x: x[:, -1, :],
    "scale": lambda x: x * 400.0 - 1.0,
    "expand_dims": lambda x: np.expand_dims(x, axis=-1),
    "sum_time": lambda x: np.sum(x, axis=1),
    "mean_keepdims": lambda x: x.mean(axis=(1, 2), keepdims=True) + x,
    "max_time": lambda x: np.max(x, axis=1),
    "min_method": lambda x: x.min(axis=-1),
    "elementwise": lambda x: np.tanh(x) * np.exp(-x * x) + np.sqrt(np.square(x) + 1.0) - abs(x) / 3,
    "logs_and_powers": lambda x: np.log1p(x ** 2) + np.log(np.exp(x) + 2.0) + 2.0 ** x + np.expm1(x / 4),
    "trig": lambda x: np.sin(x) * np.cos(2 * x),
    "divide": lambda x: x / (x * x + 1.0) + 1.0 / (2.0 + np.tanh(x)),
    "matmul_constant": lambda x: x @ CONSTANT,
    "self_attention_scores": lambda x: x @ np.swapaxes(x, 1, 2),
    "transpose_reshape": lambda x: x.transpose(0, 2, 1).reshape(SHAPE[0], -1) * 2,
    "T_and_flip": lambda x: np.flip(x.T, axis=0) + 0,
    "moveaxis_squeeze": lambda x: np.squeeze(np.moveaxis(x[:, :1], 1, -1), axis=-1),
    "concat_stack": lambda x: np.concatenate([x[:, :2], np.stack([x[:, 0], x[:, -1]], axis=1) * 3], axis=1),
    "fancy_index_repeats": lambda x: x[:, [0, 0, 2], 1:4],
    "where_clip": lambda x: np.where(x > 0, x, 0.1 * x) + np.clip(x, -0.5, 0.5),
    "maximum_minimum": lambda x: np.maximum(x, 0.2) + np.minimum(x[:, :1], x),
    "cumsum": lambda x: np.cumsum(x, axis=1) + np.cumsum(x).reshape(x.shape),
    "ravel": lambda x: x.ravel() * 1.5,
    "traced_exponent": lambda x: np.power(np.exp(x), x),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_traced_functions(name):
    fn = FUNCTIONS[name]
    check_layer(layers.Lambda, {"function": fn, "name": name}, SHAPE, from_config_kwargs={
        "custom_objects": {name: fn}})


def test_a_numpy_ufunc_as_the_function():
    check_layer(layers.Lambda, {"function": np.tanh}, (2, 3), from_config_kwargs={
        "custom_objects": {"tanh": np.tanh}})


def _product_plus_tanh(xs):
    return xs[0] * xs[1] + np.tanh(xs[0]) - xs[2][:, :1]


def test_multi_input_traced():
    check_multi_input_layer(layers.Lambda, {"function": _product_plus_tanh}, [SHAPE, SHAPE, SHAPE],
                            from_config_kwargs={"custom_objects": {"_product_plus_tanh": _product_plus_tanh}})


def test_multiple_outputs_and_unused_input():
    def fn(xs):
        return [xs[0] * 2.0, np.sum(xs[0], axis=-1)]

    check_multi_input_layer(layers.Lambda, {"function": fn}, [SHAPE, SHAPE],
                            from_config_kwargs={"custom_objects": {"fn": fn}})


def _cube(x, power=3.0):
    return x ** power


def _cube_backward(inputs, outputs, d_outputs, power=3.0):
    return d_outputs * power * inputs ** (power - 1)


def test_explicit_backward_pair_and_arguments():
    kwargs = {"function": (_cube, _cube_backward), "arguments": {"power": 5.0}}
    objects = {"_cube": _cube, "_cube_backward": _cube_backward}
    errors = check_layer(layers.Lambda, kwargs, (2, 3), from_config_kwargs={"custom_objects": objects})
    assert errors["inputs"] < 1e-6
    config = layers.Lambda(**kwargs).get_config()
    assert config["backward"]["config"] == "_cube_backward" and config["arguments"] == {"power": 5.0}
    with pytest.raises(RnnkitValueError, match=r"custom_objects=\{'_cube': fn\}"):
        layers.Lambda.from_config(config)
    layer = layers.Lambda(_cube, backward=lambda i, o, d: d[:, :1])
    layer(np.ones((2, 3), np.float32))
    with pytest.raises(RnnkitValueError, match="one gradient per input"):
        layer.backward(np.ones((2, 3), np.float32))


def test_branching_on_a_comparison_is_fine():
    layer = layers.Lambda(lambda x: x * 2 if x.sum() > 0 else -x)  # comparisons give plain (constant) arrays
    np.testing.assert_array_equal(layer.backward(layer(np.ones((1, 2), np.float32)) * 0 + 1), [[2.0, 2.0]])


def test_mask_and_training_arguments():
    seen = {}

    def fn(x, mask=None, training=None):
        seen.update(mask=mask, training=training)
        return x * 2

    layer = layers.Lambda(fn, mask=lambda inputs, mask: mask)
    mask = np.array([[True, False]])
    layer(np.ones((1, 2, 3), np.float32), training=True, mask=mask)
    assert seen["mask"] is mask and seen["training"] is True
    assert layer.compute_mask(None, mask) is mask
    assert layers.Lambda(fn).compute_mask(None, mask) is None


@pytest.mark.parametrize("fn,what", [
    (lambda x: np.sort(x, axis=1), "numpy.sort"),
    (lambda x: np.asarray(x) * 2, "converting to a plain NumPy array"),
    (lambda x: x if x else -x, "truth value"),
    (lambda x: np.add.reduce(x, axis=1), "numpy.add.reduce"),
    (lambda x: np.sum(x, axis=1, where=x.value > 0), "where= argument"),
    (lambda x: np.ones((3, 4)), "compute its output from its inputs"),
])
def test_what_cannot_be_differentiated_is_a_clear_error(fn, what):
    with pytest.raises(RnnkitTypeError, match=what) as info:
        layers.Lambda(fn)(np.ones((3, 4), np.float32))
    assert "no autodiff" in str(info.value) or "compute its output" in str(info.value)


def test_output_shape():
    assert layers.Lambda(lambda x: x[:, -1]).compute_output_shape((None, 7, 3)) == (None, 3)
    assert layers.Lambda(lambda x: x @ np.swapaxes(x, 1, 2)).compute_output_shape((None, None, 3)) == \
        (None, None, None)
    assert layers.Lambda(lambda x: x, output_shape=(4,)).compute_output_shape((None, 4)) == (None, 4)
    assert layers.Lambda(lambda x: x, output_shape=lambda s: s[:1]).compute_output_shape((None, 4)) == (None,)
    assert layers.Lambda(lambda xs: xs[0] + xs[1]).compute_output_shape([(None, 2), (None, 2)]) == (None, 2)


def test_config_never_runs_stored_code():
    layer = layers.Lambda(lambda x: x * 2, name="doubler")
    config = layer.get_config()
    assert config["function"] == {"class_name": "__lambda__", "config": {}}
    with pytest.raises(RnnkitValueError, match="never runs code stored in a config"):
        layers.Lambda.from_config(config)
    assert layers.Lambda.from_config(config, custom_objects={"doubler": lambda x: x * 3})(
        np.ones((1, 2), np.float32)).tolist() == [[3.0, 3.0]]
    keras_style = dict(config, function={"class_name": "__lambda__", "config": {
        "code": "4wEAAAAAAAAAAAAAAAIAAAADAAAA8wwAAACXAHwAZAF6BQAAUwCpAk7pAgAAAA==", "defaults": None,
        "closure": None}})
    with pytest.raises(RnnkitValueError, match="never runs code"):
        layers.Lambda.from_config(keras_style)
    named = dict(config, function={"module": "os", "class_name": "function", "config": "system",
                                   "registered_name": "function"})
    with pytest.raises(RnnkitValueError, match="never imports code named in a config"):
        layers.Lambda.from_config(named)


def test_bad_arguments():
    with pytest.raises(RnnkitTypeError, match="function of Lambda must be callable"):
        layers.Lambda("x * 2")
    with pytest.raises(RnnkitTypeError, match="arguments of Lambda must be a dict"):
        layers.Lambda(lambda x: x, arguments=[1])
    with pytest.raises(RnnkitTypeError, match="output_shape must be a tuple"):
        layers.Lambda(lambda x: x, output_shape="big")


def test_supported_list_names_real_numpy_functions():
    assert "np.tanh" in lambda_trace.SUPPORTED and "np.concatenate" in lambda_trace.SUPPORTED


@pytest.mark.parametrize("name,keras_fn", [
    ("last_step", lambda ops: lambda x: x[:, -1, :]),
    ("elementwise", lambda ops: lambda x: ops.tanh(x) * ops.exp(-x * x) + ops.sqrt(ops.square(x) + 1.0)
     - ops.abs(x) / 3),
    ("max_time", lambda ops: lambda x: ops.max(x, axis=1)),
    ("self_attention_scores", lambda ops: lambda x: ops.matmul(x, ops.swapaxes(x, 1, 2))),
    ("concat_stack", lambda ops: lambda x: ops.concatenate(
        [x[:, :2], ops.stack([x[:, 0], x[:, -1]], axis=1) * 3], axis=1)),
])
def test_matches_keras_lambda(name, keras_fn):
    keras = import_keras()
    x = np.random.default_rng(0).standard_normal(SHAPE)
    errors = compare_with_keras(layers.Lambda(FUNCTIONS[name]), keras.layers.Lambda(keras_fn(keras.ops)), x)
    assert max(errors.values()) < 1e-5, errors
