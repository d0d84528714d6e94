"""Keras 3's other losses (regression, hinge, probabilistic, focal), their functional forms, losses given
to compile as functions or classes, and user-written losses with call / call_gradient.

Each loss is checked against float64 central differences and against Keras 3 itself (torch backend):
the same reduced value and, through torch's autograd on Keras's formula, the same gradient, with
sample weights per sample and per row.
"""
import functools
import zlib

import numpy as np
import pytest

import rnnkit
from helpers import numeric_grad, rel_error
from keras_reference import keras_or_skip
from rnnkit import losses
from rnnkit.errors import RnnkitTypeError, RnnkitValueError


def _data(rng, name, shape):
    """(y_true, y_pred) in the domain each loss expects, away from its kinks."""
    classes = shape[-1]
    probs = rng.dirichlet(np.ones(classes), shape[:-1])
    labels = rng.integers(0, classes, shape[:-1])
    if name in ("kl_divergence", "categorical_focal", "categorical_focal_logits_smooth"):
        y_pred = probs if "logits" not in name else rng.standard_normal(shape) * 2
        return rng.dirichlet(np.ones(classes), shape[:-1]), y_pred
    if name == "categorical_hinge":
        return np.eye(classes)[labels], rng.standard_normal(shape)
    if name in ("hinge", "squared_hinge"):
        return rng.integers(0, 2, shape).astype(float), rng.standard_normal(shape)
    if name in ("binary_focal", "binary_focal_balanced_logits"):
        y_pred = rng.uniform(0.05, 0.95, shape) if "logits" not in name else rng.standard_normal(shape) * 2
        return rng.integers(0, 2, shape).astype(float), y_pred
    if name == "generalized_ce":
        return labels, probs
    if name in ("poisson", "msle"):
        return rng.poisson(2.0, shape).astype(float), rng.uniform(0.2, 4.0, shape)
    y_true = rng.standard_normal(shape)
    return y_true, y_true + rng.standard_normal(shape)


# name -> (class name, arguments): the same class and arguments in rnnkit and in Keras
LOSSES = {
    "mape": ("MeanAbsolutePercentageError", {}),
    "msle": ("MeanSquaredLogarithmicError", {}),
    "cosine": ("CosineSimilarity", {}),
    "log_cosh": ("LogCosh", {}),
    "hinge": ("Hinge", {}),
    "squared_hinge": ("SquaredHinge", {}),
    "categorical_hinge": ("CategoricalHinge", {}),
    "kl_divergence": ("KLDivergence", {}),
    "poisson": ("Poisson", {}),
    "binary_focal": ("BinaryFocalCrossentropy", {"gamma": 2.5}),
    "binary_focal_balanced_logits": ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.3,
                                                                 "from_logits": True, "label_smoothing": 0.1}),
    "categorical_focal": ("CategoricalFocalCrossentropy", {}),
    "categorical_focal_logits_smooth": ("CategoricalFocalCrossentropy", {"alpha": 0.4, "gamma": 1.5,
                                                                         "from_logits": True, "label_smoothing": 0.2}),
    "generalized_ce": ("CategoricalGeneralizedCrossEntropy", {"q": 0.7}),
}


def _ours(name):
    cls, kwargs = LOSSES[name]
    return getattr(losses, cls)(**kwargs)


SHAPES = [(5, 4), (3, 4, 3)]


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_matches_finite_differences(name, shape):
    rng = np.random.default_rng(zlib.crc32(f"fd{name}{shape}".encode()))
    loss = _ours(name)
    y_true, y_pred = _data(rng, name, shape)
    sw = rng.uniform(0.2, 2.0, shape[:-1])
    y_pred = np.array(y_pred, np.float64)
    numeric = numeric_grad(lambda: loss(y_true, y_pred, sample_weight=sw), y_pred)
    assert rel_error(loss.gradient(y_true, y_pred, sample_weight=sw), numeric) < 1e-6
    assert losses.check_loss_gradient(loss, y_true, y_pred, sample_weight=sw) < 1e-6


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weights", ["none", "per_sample", "per_row"])
def test_value_and_gradient_match_keras(name, shape, weights):
    keras = keras_or_skip()
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(f"keras{name}{shape}{weights}".encode()))
    loss = _ours(name)
    cls, kwargs = LOSSES[name]
    y_true, y_pred = _data(rng, name, shape)
    sw = None
    if weights == "per_sample":  # Keras broadcasts a (batch, 1) weight; rnnkit also takes (batch,)
        sw = rng.uniform(0.2, 2.0, (shape[0],) + (1,) * (len(shape) - 2))
    elif weights == "per_row":
        sw = rng.uniform(0.2, 2.0, shape[:-1])
    value, grad = loss.value_and_gradient(y_true, y_pred, sample_weight=sw)
    pred_t = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    # float64 in Keras too; its torch backend's ops.mean still sums in float32 (relative error ~1e-7)
    keras_loss = getattr(keras.losses, cls)(**kwargs, dtype="float64")
    keras_value = keras_loss(torch.tensor(y_true), pred_t, sample_weight=None if sw is None else torch.tensor(sw))
    keras_value.backward()
    assert value == pytest.approx(keras_value.item(), rel=1e-6, abs=1e-12)
    assert rel_error(grad, pred_t.grad.numpy()) < 1e-6


def test_functional_forms_match_keras_unreduced():
    keras = keras_or_skip()
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    shape = (4, 3)
    probs = rng.dirichlet(np.ones(3), 4)
    labels = rng.integers(0, 3, 4)
    onehot = np.eye(3)[labels]
    regression = (rng.standard_normal(shape), rng.standard_normal(shape))
    positive = (rng.poisson(2.0, shape).astype(float), rng.uniform(0.2, 3.0, shape))
    cases = [
        ("mean_squared_error", regression, {}), ("mean_absolute_error", regression, {}),
        ("mean_absolute_percentage_error", regression, {}), ("mean_squared_logarithmic_error", positive, {}),
        ("cosine_similarity", regression, {}), ("huber", regression, {"delta": 0.5}), ("log_cosh", regression, {}),
        ("hinge", (onehot, regression[1]), {}), ("squared_hinge", (onehot, regression[1]), {}),
        ("categorical_hinge", (onehot, regression[1]), {}), ("kl_divergence", (rng.dirichlet(np.ones(3), 4), probs), {}),
        ("poisson", positive, {}),
        ("categorical_crossentropy", (onehot, regression[1]), {"from_logits": True, "label_smoothing": 0.1}),
        ("sparse_categorical_crossentropy", (labels, probs), {}),
        ("binary_crossentropy", (onehot, probs), {"label_smoothing": 0.2}),
        ("binary_focal_crossentropy", (onehot, regression[1]), {"from_logits": True, "gamma": 3.0}),
        ("categorical_focal_crossentropy", (onehot, probs), {"alpha": 0.5}),
        ("categorical_generalized_cross_entropy", (labels, probs), {"q": 0.3}),
    ]
    for name, (y_true, y_pred), kwargs in cases:
        ours = getattr(losses, name)(y_true, y_pred, **kwargs)
        theirs = getattr(keras.losses, name)(torch.tensor(y_true), torch.tensor(y_pred), **kwargs)
        assert ours.shape == (4,), name
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6, atol=1e-7, err_msg=name)
    # the short names are the same functions
    assert losses.mse is losses.mean_squared_error and losses.kld is losses.kl_divergence
    assert losses.logcosh is losses.log_cosh and losses.mape is losses.mean_absolute_percentage_error


def test_sparse_ignore_class_masks_rows_like_keras():
    keras = keras_or_skip()
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((3, 5, 4))
    labels = rng.integers(0, 4, (3, 5))
    labels[0, 3:] = -1
    labels[2, 1:] = -1
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    value, grad = loss.value_and_gradient(labels, logits)
    pred_t = torch.tensor(logits, requires_grad=True)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1, dtype="float64")
    ref = keras_loss(torch.tensor(labels), pred_t)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-6)
    assert rel_error(grad, pred_t.grad.numpy()) < 1e-6
    assert np.all(grad[0, 3:] == 0.0)
    assert rel_error(grad, numeric_grad(lambda: loss(labels, logits), logits)) < 1e-7


def test_mean_with_sample_weight_divides_by_the_weights():
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    w = np.array([0.5, 1.0, 0.0, 2.0])
    rows = ((y_pred - y_true) ** 2).mean(-1)
    loss = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    assert loss(y_true, y_pred, sample_weight=w) == pytest.approx((rows * w).sum() / w.sum(), 1e-14)
    assert losses.check_loss_gradient(loss, y_true, y_pred, sample_weight=w) < 1e-7
    # the default reduction divides by the number of values, not by the weights (Keras 3's reduce_values)
    assert losses.MeanSquaredError()(y_true, y_pred, sample_weight=w) == pytest.approx((rows * w).sum() / 4, 1e-14)


# -- losses given to compile ------------------------------------------------------------


@pytest.mark.parametrize("identifier, cls, name", [
    (losses.sparse_categorical_crossentropy, losses.SparseCategoricalCrossentropy, "sparse_categorical_crossentropy"),
    (losses.mse, losses.MeanSquaredError, "mean_squared_error"),
    (losses.kullback_leibler_divergence, losses.KLDivergence, "kl_divergence"),
    (losses.KLDivergence, losses.KLDivergence, "kl_divergence"),
    ("kld", losses.KLDivergence, "kld"), ("MAPE", losses.MeanAbsolutePercentageError, "mean_absolute_percentage_error"),
    ("logcosh", losses.LogCosh, "logcosh"), ("categorical_focal_crossentropy", losses.CategoricalFocalCrossentropy,
                                            "categorical_focal_crossentropy"),
])
def test_get_maps_functions_classes_and_names(identifier, cls, name):
    loss = losses.get(identifier)
    assert type(loss) is cls and loss.name == name


def test_partial_of_a_functional_form_keeps_its_arguments():
    loss = losses.get(functools.partial(losses.sparse_categorical_crossentropy, from_logits=True))
    assert isinstance(loss, losses.SparseCategoricalCrossentropy) and loss.from_logits
    assert losses.get(functools.partial(losses.huber, delta=0.3)).delta == 0.3


def test_plain_function_loss_is_refused_with_the_way_out():
    def my_loss(y_true, y_pred):
        return losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)

    model = rnnkit.Sequential([rnnkit.layers.Dense(3, input_shape=(4,))])
    with pytest.raises(RnnkitTypeError, match="no automatic differentiation.*call_gradient"):
        model.compile("adam", loss=my_loss)
    with pytest.raises(RnnkitTypeError, match="'<lambda>'"):
        losses.get(lambda t, p: p)


def test_bad_axis_is_a_named_error():
    with pytest.raises(RnnkitValueError, match="axis must be -1"):
        losses.CategoricalCrossentropy(axis=1)
    with pytest.raises(RnnkitValueError, match="axis must be -1"):
        losses.cosine_similarity(np.ones((2, 3)), np.ones((2, 3)), axis=0)


# -- user-written losses --------------------------------------------------------------------


class HalfSquared(losses.Loss):
    def call(self, y_true, y_pred):
        return 0.5 * np.mean((y_pred - y_true) ** 2, axis=-1)

    def call_gradient(self, y_true, y_pred):
        return (y_pred - y_true) / y_pred.shape[-1]


class ElementwiseAbs4(losses.Loss):
    """One value per element (the shape of y_pred), as a Keras loss's call may return."""

    def call(self, y_true, y_pred):
        return (y_pred - y_true) ** 4

    def call_gradient(self, y_true, y_pred):
        return 4 * (y_pred - y_true) ** 3


class NoGradient(losses.Loss):
    def call(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true), axis=-1)


def test_user_loss_with_call_and_call_gradient_trains():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    mask = rng.uniform(size=(3, 4)) > 0.3
    for loss in (HalfSquared(), ElementwiseAbs4()):
        assert losses.check_loss_gradient(loss, y_true, y_pred, sample_weight=rng.uniform(size=3)) < 1e-7
        value, grad = loss.value_and_gradient(y_true, y_pred, mask=mask)
        assert rel_error(grad, numeric_grad(lambda: loss(y_true, y_pred, mask=mask), y_pred)) < 1e-7
    assert HalfSquared()(y_true, y_pred) == pytest.approx(0.5 * np.mean((y_pred - y_true) ** 2), 1e-14)
    model = rnnkit.Sequential([rnnkit.layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", loss=HalfSquared())
    x, y = rng.standard_normal((8, 3)).astype("float32"), rng.standard_normal((8, 2)).astype("float32")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_user_loss_without_call_gradient_is_a_named_error():
    with pytest.raises(RnnkitTypeError, match="NoGradient defines call\\(\\) but not call_gradient"):
        NoGradient()(np.zeros((2, 3)), np.ones((2, 3)))


def test_user_loss_with_a_badly_shaped_gradient_is_a_named_error():
    class Bad(HalfSquared):
        def call_gradient(self, y_true, y_pred):
            return np.zeros(y_pred.shape[:-1])

    with pytest.raises(RnnkitValueError, match="call_gradient must return an array of y_pred's shape"):
        Bad().gradient(np.zeros((2, 3)), np.ones((2, 3)))


def test_new_losses_round_trip_their_config():
    for name in LOSSES:
        loss = _ours(name)
        again = losses.get(losses.serialize(loss))
        assert type(again) is type(loss) and again.get_config() == loss.get_config()
