"""Keras 3's probabilistic losses beyond the cross-entropies of :mod:`rnnkit.losses`, with their
explicit derivatives: KL divergence, Poisson, the focal cross-entropies and the generalized
cross-entropy.

Per row of ``y_pred`` (the last axis, of size ``K``, is reduced): the loss value and its
derivative with respect to that row; :class:`rnnkit.losses.Loss` weights and reduces. ``eps``
is Keras's ``epsilon()`` (1e-7); a clipped value passes no derivative (as autodiff through
``clip`` gives).
"""
import numbers

import numpy as np

from ._validate import describe
from .errors import RnnkitValueError
from .losses_base import EPSILON, ElementwiseLoss, Loss, _label_smoothing, _last_axis, _log_softmax, _sigmoid, check_labels


class KLDivergence(ElementwiseLoss):
    """``l = sum_k t_k log(t_k / p_k)`` with ``t`` and ``p`` clipped to ``[eps, 1]`` (Keras);
    ``dl/dp_k = -t_k / p_k`` where ``eps <= p_k <= 1``, else 0."""

    default_name = "kl_divergence"

    def _rows(self, y_true, y_pred):
        t = np.clip(y_true, EPSILON, 1.0)
        p = np.clip(y_pred, EPSILON, 1.0)
        inside = (y_pred >= EPSILON) & (y_pred <= 1.0)
        return np.sum(t * np.log(t / p), axis=-1), np.where(inside, -t / p, 0.0)


class Poisson(ElementwiseLoss):
    """``l = mean_k (p_k - t_k log(p_k + eps))``; ``dl/dp_k = (1 - t_k / (p_k + eps)) / K``."""

    default_name = "poisson"

    def _rows(self, y_true, y_pred):
        shifted = y_pred + EPSILON
        values = np.mean(y_pred - y_true * np.log(shifted), axis=-1)
        return values, (1.0 - y_true / shifted) / y_pred.shape[-1]


def _gamma(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < float("inf"):
        raise RnnkitValueError(f"gamma must be a number >= 0, got {describe(value)}")
    return float(value)


def _focal_factor(base, gamma):
    """``(base^gamma, d base^gamma / d base)`` for ``base`` in [0, 1] (0 at base = 0 when gamma > 1)."""
    if gamma == 0.0:
        return np.ones_like(base), np.zeros_like(base)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(base > 0, gamma * np.power(base, gamma - 1.0), float(gamma == 1.0))
    return np.power(base, gamma), slope


class BinaryFocalCrossentropy(ElementwiseLoss):
    """Binary cross-entropy scaled by the focal factor ``(1 - p_t)^gamma`` (Keras 3's formula).

    With ``q`` the probability (``sigmoid(z)`` for logits), ``o = clip(q, eps, 1 - eps)``:
    ``bce = -(t log o + (1 - t) log(1 - o))``, ``p_t = t q + (1 - t)(1 - q)``,
    ``e = (1 - p_t)^gamma bce`` (times ``t alpha + (1 - t)(1 - alpha)`` with class balancing);
    the row loss is ``mean_k e_k``.

    Args:
        apply_class_balancing: weight positives by ``alpha`` and negatives by ``1 - alpha``.
        alpha: the balancing weight of the positive class.
        gamma: the focusing exponent (0 gives the binary cross-entropy).
        from_logits, label_smoothing: as :class:`rnnkit.losses.BinaryCrossentropy`.
        axis: -1.
    """

    default_name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.apply_class_balancing = bool(apply_class_balancing)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
            raise RnnkitValueError(f"alpha must be a number in [0, 1], got {describe(alpha)}")
        self.alpha = float(alpha)
        self.gamma = _gamma(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing)
        self.axis = _last_axis(axis)

    def _rows(self, y_true, y_pred):
        t = y_true
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        q = _sigmoid(y_pred) if self.from_logits else y_pred
        o = np.clip(q, EPSILON, 1.0 - EPSILON)
        inside = (q >= EPSILON) & (q <= 1.0 - EPSILON)
        bce = -(t * np.log(o) + (1.0 - t) * np.log(1.0 - o))
        d_bce = np.where(inside, (1.0 - t) / (1.0 - o) - t / o, 0.0)
        factor, slope = _focal_factor(1.0 - (t * q + (1.0 - t) * (1.0 - q)), self.gamma)
        elements = factor * bce
        d_elements = -slope * (2.0 * t - 1.0) * bce + factor * d_bce
        if self.apply_class_balancing:
            balance = t * self.alpha + (1.0 - t) * (1.0 - self.alpha)
            elements, d_elements = elements * balance, d_elements * balance
        if self.from_logits:
            d_elements = d_elements * q * (1.0 - q)
        return elements.mean(axis=-1), d_elements / y_pred.shape[-1]

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma, "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class CategoricalFocalCrossentropy(ElementwiseLoss):
    """Categorical cross-entropy scaled by ``alpha (1 - o_k)^gamma`` per class (Keras 3's formula).

    With ``y`` the probabilities (``softmax(z)`` for logits), ``o = clip(y / sum y, eps, 1 - eps)``:
    ``l = sum_k alpha_k (1 - o_k)^gamma (-t_k log o_k)``.

    Args:
        alpha: a number, or one weight per class.
        gamma: the focusing exponent.
        from_logits, label_smoothing: as :class:`rnnkit.losses.CategoricalCrossentropy`.
        axis: -1.
    """

    default_name = "categorical_focal_crossentropy"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        weights = np.asarray(alpha, dtype=object)
        if weights.ndim > 1 or not all(isinstance(a, numbers.Real) and not isinstance(a, bool)
                                       and np.isfinite(a) for a in weights.reshape(-1)):
            raise RnnkitValueError(f"alpha must be a number or a list of numbers (one per class), got "
                                   f"{describe(alpha)}")
        self.alpha = float(alpha) if weights.ndim == 0 else [float(a) for a in alpha]
        self.gamma = _gamma(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing)
        self.axis = _last_axis(axis)

    def _rows(self, y_true, y_pred):
        classes = y_pred.shape[-1]
        alpha = np.asarray(self.alpha, dtype=np.float64)
        if alpha.ndim and alpha.shape != (classes,):
            raise RnnkitValueError(f"alpha has {alpha.shape[0]} weights but y_pred has {classes} classes")
        t = y_true
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / classes
        y = np.exp(_log_softmax(y_pred)) if self.from_logits else y_pred
        total = y.sum(axis=-1, keepdims=True)
        p = y / total
        o = np.clip(p, EPSILON, 1.0 - EPSILON)
        inside = (p >= EPSILON) & (p <= 1.0 - EPSILON)
        cce = -t * np.log(o)
        factor, slope = _focal_factor(1.0 - o, self.gamma)
        values = np.sum(alpha * factor * cce, axis=-1)
        d_p = np.where(inside, alpha * (-slope * cce - factor * t / o), 0.0)
        d_y = (d_p - np.sum(d_p * p, axis=-1, keepdims=True)) / total
        if self.from_logits:
            d_y = y * (d_y - np.sum(d_y * y, axis=-1, keepdims=True))
        return values, d_y

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class CategoricalGeneralizedCrossEntropy(Loss):
    """Generalized cross-entropy against integer labels (Keras 3): ``l = (1 - p_y^q) / q`` with
    ``p_y`` the predicted probability of the label; ``dl/dp_y = -p_y^(q - 1)``, 0 for the other classes.

    Args:
        q: in (0, 1): towards 0 the cross-entropy, at 1 the mean absolute error.

    Shapes: ``y_pred`` ``(batch, ..., classes)``; ``y_true`` integer labels ``y_pred.shape[:-1]``.
    """

    default_name = "categorical_generalized_cross_entropy"

    def __init__(self, q=0.5, reduction="sum_over_batch_size", name=None):
        super().__init__(name=name, reduction=reduction)
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 < q < 1.0:
            raise RnnkitValueError(f"q must be a number in the interval (0, 1), got {describe(q)}")
        self.q = float(q)

    def _prepare(self, y_true, y_pred):
        labels = np.asarray(y_true)
        if labels.ndim == y_pred.ndim and labels.shape[-1:] == (1,):
            labels = labels[..., 0]
        if y_pred.ndim < 1 or labels.shape != y_pred.shape[:-1]:
            raise RnnkitValueError(f"y_true must have shape y_pred.shape[:-1] = {y_pred.shape[:-1]} (integer "
                                   f"labels), got y_true of shape {np.shape(y_true)} and y_pred of shape "
                                   f"{y_pred.shape}")
        return check_labels("y_true", labels, y_pred.shape[-1]), y_pred

    def _rows(self, labels, y_pred):
        p = np.take_along_axis(y_pred, labels[..., None], -1)[..., 0]
        d_values = np.zeros(y_pred.shape)
        with np.errstate(divide="ignore"):
            np.put_along_axis(d_values, labels[..., None], -np.power(p, self.q - 1.0)[..., None], axis=-1)
        return (1.0 - np.power(p, self.q)) / self.q, d_values

    def get_config(self):
        return {**super().get_config(), "q": self.q}


__all__ = ["KLDivergence", "Poisson", "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy",
           "CategoricalGeneralizedCrossEntropy"]
