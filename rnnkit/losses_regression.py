"""Keras 3's regression losses with their explicit derivatives (exported by :mod:`rnnkit.losses`).

Each class gives, per row of ``y_pred`` (the last axis is reduced), the loss value and its
derivative with respect to that row; :class:`rnnkit.losses.Loss` weights and reduces. ``K`` is
the size of the last axis and ``eps`` Keras's ``epsilon()`` (1e-7). Where Keras clips or takes
a maximum, the derivative is that of the branch taken (what autodiff gives).
"""
import numpy as np

from .losses_base import EPSILON, ElementwiseLoss, _last_axis


class MeanAbsolutePercentageError(ElementwiseLoss):
    """``l = 100 mean_k |t_k - p_k| / max(|t_k|, eps)``; ``dl/dp_k = 100 sign(p_k - t_k) / (K max(|t_k|, eps))``."""

    default_name = "mean_absolute_percentage_error"

    def _rows(self, y_true, y_pred):
        scale = np.maximum(np.abs(y_true), EPSILON)
        diff = y_pred - y_true
        width = y_pred.shape[-1]
        return 100.0 * np.mean(np.abs(diff) / scale, axis=-1), 100.0 * np.sign(diff) / (scale * width)


class MeanSquaredLogarithmicError(ElementwiseLoss):
    """``l = mean_k (log(max(p_k, eps) + 1) - log(max(t_k, eps) + 1))^2``.

    ``dl/dp_k = 2 d_k / (K (p_k + 1))`` where ``p_k > eps`` (``d_k`` the difference of logs), else 0.
    """

    default_name = "mean_squared_logarithmic_error"

    def _rows(self, y_true, y_pred):
        shifted = np.maximum(y_pred, EPSILON) + 1.0
        diff = np.log(shifted) - np.log(np.maximum(y_true, EPSILON) + 1.0)
        d_values = np.where(y_pred > EPSILON, 2.0 * diff / shifted, 0.0) / y_pred.shape[-1]
        return np.mean(diff * diff, axis=-1), d_values


class CosineSimilarity(ElementwiseLoss):
    """``l = -sum_k u_k v_k`` with ``u = p / max(|p|, eps)`` and ``v = t / max(|t|, eps)`` (Keras's
    ``normalize``): -1 for parallel vectors, 1 for opposite ones.

    ``dl/dp = -(v - u (u . v)) / |p|`` where ``|p| > eps``, else ``-v / eps``.

    Args:
        axis: -1 (the last axis; the only one rnnkit reduces over).
    """

    default_name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.axis = _last_axis(axis)

    def _rows(self, y_true, y_pred):
        p_norm = np.maximum(np.sqrt(np.sum(y_pred * y_pred, axis=-1, keepdims=True)), EPSILON)
        t_norm = np.maximum(np.sqrt(np.sum(y_true * y_true, axis=-1, keepdims=True)), EPSILON)
        u, v = y_pred / p_norm, y_true / t_norm
        cosine = np.sum(u * v, axis=-1, keepdims=True)
        clipped = p_norm <= EPSILON
        d_values = np.where(clipped, -v / EPSILON, -(v - u * cosine) / p_norm)
        return -cosine[..., 0], d_values

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _softplus(z):
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


class LogCosh(ElementwiseLoss):
    """``l = mean_k log(cosh(x_k))`` with ``x = p - t``, computed as ``x + softplus(-2x) - log 2``
    (no overflow for large ``|x|``); ``dl/dp_k = tanh(x_k) / K``."""

    default_name = "log_cosh"

    def _rows(self, y_true, y_pred):
        x = y_pred - y_true
        values = np.mean(x + _softplus(-2.0 * x) - np.log(2.0), axis=-1)
        return values, np.tanh(x) / y_pred.shape[-1]


__all__ = ["MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "CosineSimilarity", "LogCosh"]
