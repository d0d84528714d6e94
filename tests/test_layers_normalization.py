"""LayerNormalization and BatchNormalization: the shared layer check (float64 finite differences on
the input and every weight, in training and inference, with masks), parity with Keras 3 on outputs,
gradients and the moving statistics, and errors."""
import warnings

import numpy as np
import pytest

from helpers import numeric_grad, rel_error
from keras_compare import compare_with_keras, import_keras
from layer_checks import check_layer
from rnnkit import layers
from rnnkit.errors import RnnkitTypeError, RnnkitValueError

SHAPE = (4, 3, 5)
RANDOM = {"class_name": "random_normal", "config": {"mean": 0.5, "stddev": 0.3}}

LN_CASES = [
    {},
    {"axis": [1, 2]},
    {"axis": 1},
    {"axis": [-2]},
    {"center": False},
    {"scale": False},
    {"rms_scaling": True},
    {"epsilon": 0.5},
]


def _ln(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rms_scaling's deprecation warning, as Keras's
        return layers.LayerNormalization(**kwargs)


@pytest.mark.parametrize("kwargs", LN_CASES)
def test_layer_normalization_gradients(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_layer(layers.LayerNormalization, dict(kwargs, gamma_initializer=RANDOM, beta_initializer=RANDOM),
                    SHAPE, mask=True)


# Keras 3.15's torch backend hands a single non-trailing axis to F.layer_norm, which fails:
# test_layer_normalization_matches_keras_tensorflow (slow) covers those against TensorFlow.
@pytest.mark.parametrize("kwargs", [k for k in LN_CASES if k.get("axis") not in (1, [-2])])
def test_layer_normalization_matches_keras(kwargs):
    keras = import_keras()
    rng = np.random.default_rng(0)
    layer = _ln(kwargs)
    layer.build(SHAPE)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        klayer = keras.layers.LayerNormalization(**kwargs)
        errors = compare_with_keras(layer, klayer, rng.standard_normal(SHAPE) * 3 + 1)
    assert max(errors.values()) < 1e-5, errors


def test_layer_normalization_weights_config_and_warning():
    keras = import_keras()
    for kwargs in LN_CASES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer, klayer = _ln(kwargs), keras.layers.LayerNormalization(**kwargs)
        layer.build(SHAPE)
        klayer.build(SHAPE)
        assert [(w.name.split("/")[-1], w.shape) for w in layer.weights] == \
            [(w.name, tuple(w.shape)) for w in klayer.weights]
        for key in ("epsilon", "center", "scale", "rms_scaling"):
            assert layer.get_config()[key] == klayer.get_config()[key]
    with pytest.warns(UserWarning, match="rms_scaling"):
        layers.LayerNormalization(rms_scaling=True)


BN_CASES = [
    {},
    {"axis": 1},
    {"center": False},
    {"scale": False, "momentum": 0.5},
    {"renorm": True},
    {"renorm": True, "renorm_clipping": {"rmax": 1.2, "rmin": 0.8, "dmax": 0.1}, "renorm_momentum": 0.9},
]


def _bn_kwargs(kwargs):
    return dict(kwargs, gamma_initializer=RANDOM, beta_initializer=RANDOM, moving_mean_initializer=RANDOM,
                moving_variance_initializer={"class_name": "random_uniform", "config": {"minval": 0.5,
                                                                                          "maxval": 1.5}})


# renorm's r and d are constants in backward: test_batch_renormalization_gradients checks its training mode
@pytest.mark.parametrize("kwargs,training,mask", [(k, t, m) for k in BN_CASES for t, m in
                                                  [(True, False), (True, True), (False, False)]
                                                  if not (t and k.get("renorm"))])
def test_batch_normalization_gradients(kwargs, training, mask):
    check_layer(layers.BatchNormalization, _bn_kwargs(kwargs), SHAPE, training=training, mask=mask)


@pytest.mark.parametrize("clipping", [None, {"rmax": 1.05, "rmin": 0.95, "dmax": 0.05}])
@pytest.mark.parametrize("masked", [False, True])
def test_batch_renormalization_gradients(clipping, masked):
    """Keras stops the gradient at renorm's r and d, so the finite differences hold them at the values
    of the first call (a training call also moves the renorm statistics r and d come from)."""
    rng = np.random.default_rng(5)
    layer = layers.BatchNormalization(**_bn_kwargs({"renorm": True, "renorm_clipping": clipping}), dtype="float64")
    layer.build(SHAPE)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    x = rng.standard_normal(SHAPE) * 2 + 1
    mask = rng.random(SHAPE[:-1]) > 0.3 if masked else None
    first = {}
    correction = layer._renorm_correction

    def frozen(mean, variance):
        first.setdefault("rd", correction(mean, variance))
        return first["rd"]

    layer._renorm_correction = frozen
    upstream = rng.standard_normal(SHAPE)
    layer(x, training=True, mask=mask)
    dx = layer.backward(upstream)
    grads = layer.get_gradients()
    r, d = first["rd"]
    if clipping:
        assert np.any(r == 1.05) or np.any(r == 0.95) or np.any(np.abs(d) == 0.05)  # the clipping was active

    def loss():
        return float(np.sum(layer(x, training=True, mask=mask) * upstream))

    errors = {"inputs": rel_error(dx, numeric_grad(loss, x))}
    for variable, grad in zip(layer.trainable_weights, grads):
        errors[variable.name] = rel_error(grad, numeric_grad(loss, variable.value))
    assert max(errors.values()) < 1e-6, errors
    assert all(np.all(g == 0) for g in grads[2:])


def test_batch_normalization_2d_gradients():
    check_layer(layers.BatchNormalization, _bn_kwargs({}), (6, 3), training=True)


@pytest.mark.parametrize("kwargs", BN_CASES)
@pytest.mark.parametrize("training,masked", [(True, False), (True, True), (False, False)])
def test_batch_normalization_matches_keras(kwargs, training, masked):
    keras = import_keras()
    rng = np.random.default_rng(1)
    layer = layers.BatchNormalization(**kwargs)
    layer.build(SHAPE)
    weights = [rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()]
    layer.set_weights(weights)
    mask = rng.random(SHAPE[:-1]) > 0.3 if masked else None
    errors = compare_with_keras(layer, keras.layers.BatchNormalization(**kwargs), rng.standard_normal(SHAPE) * 2 + 1,
                                masks=mask, training=training)
    assert max(errors.values()) < 1e-5, errors


def test_batch_normalization_statistics():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((64, 3)) * [1.0, 2.0, 3.0] + [0.0, 1.0, -1.0]).astype(np.float32)
    layer = layers.BatchNormalization(momentum=0.5)
    y = layer(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-3), rtol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.value, 0.5 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.value, 0.5 + 0.5 * x.var(axis=0), rtol=1e-5)
    before = layer.get_weights()
    np.testing.assert_allclose(layer(x), (x - before[2]) / np.sqrt(before[3] + 1e-3), rtol=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights()))  # inference updates nothing
    layer.trainable = False  # a frozen layer normalizes with its moving statistics even in training (Keras 3)
    np.testing.assert_allclose(layer(x, training=True), layer(x), rtol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights()))
    assert [w.name for w in layer.non_trainable_weights][-2:] == [layer.name + "/moving_mean",
                                                                  layer.name + "/moving_variance"]


def test_batch_normalization_weights_and_config_as_keras():
    keras = import_keras()
    for kwargs in BN_CASES:
        layer, klayer = layers.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
        layer.build(SHAPE)
        klayer.build(SHAPE)
        assert [(w.name.split("/")[-1], w.shape, w.trainable) for w in layer.weights] == \
            [(w.name, tuple(w.shape), w.trainable) for w in klayer.weights]
        keras_config = klayer.get_config()
        for key, value in layer.get_config().items():
            if key not in ("name", "dtype") and not key.endswith("initializer"):
                assert keras_config[key] == value, key


def test_normalization_errors():
    with pytest.raises(RnnkitTypeError, match="axis must be an int or a list of ints"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(RnnkitValueError, match="axis must be an int in"):
        layers.LayerNormalization(axis=3)(np.zeros((2, 3), np.float32))
    with pytest.raises(RnnkitValueError, match="sizes"):
        layer = layers.LayerNormalization()
        layer(np.zeros((2, 3), np.float32))
        layer(np.zeros((2, 4), np.float32))
    with pytest.raises(RnnkitValueError, match="synchronized"):
        layers.BatchNormalization(synchronized=True)
    with pytest.raises(RnnkitValueError, match="renorm_clipping"):
        layers.BatchNormalization(renorm=True, renorm_clipping={"rmid": 1.0})
    with pytest.raises(RnnkitValueError, match="momentum must be a number in"):
        layers.BatchNormalization(momentum=2.0)
    with pytest.raises(RnnkitValueError, match="mask of layer"):
        layers.BatchNormalization()(np.zeros((2, 3, 4), np.float32), training=True, mask=np.ones((2, 4), bool))
    with pytest.raises(RnnkitValueError, match="4 features on axis -1"):
        layer = layers.BatchNormalization()
        layer(np.zeros((2, 4), np.float32))
        layer(np.zeros((2, 5), np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", [{"axis": 1}, {"axis": [-2]}, {"axis": [1, 2]}, {}])
def test_layer_normalization_matches_keras_tensorflow(kwargs, tmp_path):
    """Non-trailing axes against Keras on TensorFlow (gradients by tf.GradientTape)."""
    from keras_compare import compare_with_keras_tensorflow

    rng = np.random.default_rng(0)
    layer = _ln(kwargs)
    layer.build(SHAPE)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    errors = compare_with_keras_tensorflow(layer, "LayerNormalization", kwargs, rng.standard_normal(SHAPE) * 3 + 1,
                                           tmp_path)
    assert max(errors.values()) < 1e-5, errors
