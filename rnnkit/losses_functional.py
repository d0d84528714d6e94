"""Keras's functional forms of the losses (``keras.losses.mean_squared_error(y_true, y_pred)``, ...),
exported by :mod:`rnnkit.losses`.

Each returns the unreduced loss, one value per row of ``y_pred`` (the last axis reduced), as
Keras's functions do; ``compile(loss=rnnkit.losses.sparse_categorical_crossentropy)`` trains with
the matching class (:data:`FUNCTION_CLASSES`), whose explicit gradient rnnkit has. A
``functools.partial`` of one of them (``partial(categorical_crossentropy, from_logits=True)``)
maps to the class with those arguments.
"""
import functools

import numpy as np

from ._validate import describe
from .errors import RnnkitTypeError
from .losses_base import (BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss, MeanAbsoluteError, MeanSquaredError,
                     SparseCategoricalCrossentropy, _last_axis)
from .losses_hinge import CategoricalHinge, Hinge, SquaredHinge
from .losses_probabilistic import (BinaryFocalCrossentropy, CategoricalFocalCrossentropy,
                                   CategoricalGeneralizedCrossEntropy, KLDivergence, Poisson)
from .losses_regression import CosineSimilarity, LogCosh, MeanAbsolutePercentageError, MeanSquaredLogarithmicError


def mean_squared_error(y_true, y_pred):
    """``mean((y_pred - y_true)^2, axis=-1)``."""
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_pred - y_true|, axis=-1)``."""
    return MeanAbsoluteError().call(y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 mean(|y_true - y_pred| / max(|y_true|, eps), axis=-1)``."""
    return MeanAbsolutePercentageError().call(y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2, axis=-1)``."""
    return MeanSquaredLogarithmicError().call(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis=-1)``."""
    return CosineSimilarity(axis=axis).call(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    """Huber loss, ``mean`` over the last axis (see :class:`rnnkit.losses.Huber`)."""
    return Huber(delta=delta).call(y_true, y_pred)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``."""
    return LogCosh().call(y_true, y_pred)


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)`` (0/1 labels become -1/1)."""
    return Hinge().call(y_true, y_pred)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)^2, axis=-1)``."""
    return SquaredHinge().call(y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)``."""
    return CategoricalHinge().call(y_true, y_pred)


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` on values clipped to [eps, 1]."""
    return KLDivergence().call(y_true, y_pred)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``."""
    return Poisson().call(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(y_true * log(y_pred), axis=-1)`` (see :class:`rnnkit.losses.CategoricalCrossentropy`)."""
    return CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis).call(
        y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """``-log(y_pred[y_true])`` per row; rows labelled ``ignore_class`` give 0."""
    _last_axis(axis)
    return SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore_class).call(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``mean(-(y_true log(y_pred) + (1 - y_true) log(1 - y_pred)), axis=-1)``."""
    return BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis).call(
        y_true, y_pred)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """The binary cross-entropy scaled by ``(1 - p_t)^gamma`` (see :class:`rnnkit.losses.BinaryFocalCrossentropy`)."""
    return BinaryFocalCrossentropy(apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                                   from_logits=from_logits, label_smoothing=label_smoothing, axis=axis).call(
        y_true, y_pred)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """The categorical cross-entropy scaled by ``alpha (1 - y_pred)^gamma``."""
    return CategoricalFocalCrossentropy(alpha=alpha, gamma=gamma, from_logits=from_logits,
                                        label_smoothing=label_smoothing, axis=axis).call(y_true, y_pred)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """``(1 - y_pred[y_true]^q) / q`` per row (integer labels)."""
    return CategoricalGeneralizedCrossEntropy(q=q).call(y_true, y_pred)


FUNCTION_CLASSES = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, cosine_similarity: CosineSimilarity,
    huber: Huber, log_cosh: LogCosh, hinge: Hinge, squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge, kl_divergence: KLDivergence, poisson: Poisson,
    categorical_crossentropy: CategoricalCrossentropy, sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy, binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy,
    categorical_generalized_cross_entropy: CategoricalGeneralizedCrossEntropy,
}
"""Each functional form and the Loss class ``compile`` trains it with."""

# Keras's short names (and tf.keras 2's) for the functional forms
mse = mean_squared_error
mae = mean_absolute_error
mape = mean_absolute_percentage_error
msle = mean_squared_logarithmic_error
kld = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
ALIASES = {"mse": mse, "mae": mae, "mape": mape, "msle": msle, "kld": kld,
           "kullback_leibler_divergence": kullback_leibler_divergence, "logcosh": logcosh}


def loss_from_function(function):
    """The Loss object ``compile(loss=function)`` trains with, or None when ``function`` is not one of
    the functional forms (or a ``functools.partial`` of one)."""
    keywords = {}
    if isinstance(function, functools.partial):
        if function.args:
            return None
        keywords, function = dict(function.keywords), function.func
    cls = FUNCTION_CLASSES.get(function) if _hashable(function) else None
    if cls is None:
        return None
    return cls(**keywords, name=function.__name__)


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return True


def no_gradient_error(function):
    """The error for a plain Python function given as a loss: rnnkit cannot differentiate it."""
    name = getattr(function, "__name__", type(function).__name__)
    return RnnkitTypeError(
        f"loss must be a name, a config dict, an rnnkit Loss or one of rnnkit.losses' functions, got the function "
        f"{name!r} ({describe(function)}): rnnkit computes gradients by hand (no automatic differentiation), so it "
        f"cannot differentiate an arbitrary Python function. Use the matching built-in loss (e.g. "
        f"rnnkit.losses.SparseCategoricalCrossentropy(from_logits=True)), or subclass rnnkit.losses.Loss with "
        f"call(y_true, y_pred) (the loss per row) and call_gradient(y_true, y_pred) (its derivative with respect to "
        f"y_pred) and check them with rnnkit.losses.check_loss_gradient")


def check_loss_gradient(loss, y_true, y_pred, sample_weight=None, eps=1e-6):
    """The relative error of ``loss``'s gradient against float64 central differences.

    ``loss`` is a Loss (e.g. your subclass with ``call`` / ``call_gradient``); ``y_pred`` is
    perturbed element by element. Returns ``max |g - n| / max(|g|, |n|)``; below 1e-6 means the
    derivative is right (keep ``y_pred`` away from kinks such as a hinge's margin).
    """
    if not isinstance(loss, Loss):
        raise RnnkitTypeError(f"loss must be an rnnkit Loss, got {describe(loss)}")
    y_pred = np.array(y_pred, dtype=np.float64)
    analytic = loss.gradient(y_true, y_pred, sample_weight=sample_weight)
    numeric = np.zeros_like(y_pred)
    for index in np.ndindex(y_pred.shape):
        old = y_pred[index]
        y_pred[index] = old + eps
        up = loss(y_true, y_pred, sample_weight=sample_weight)
        y_pred[index] = old - eps
        down = loss(y_true, y_pred, sample_weight=sample_weight)
        y_pred[index] = old
        numeric[index] = (up - down) / (2 * eps)
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
    return 0.0 if scale == 0.0 else float(np.abs(analytic - numeric).max() / scale)


__all__ = [function.__name__ for function in FUNCTION_CLASSES] + list(ALIASES) + ["check_loss_gradient"]
