"""Keras 3's hinge losses with their explicit derivatives (exported by :mod:`rnnkit.losses`).

Per row of ``y_pred`` (the last axis, of size ``K``, is reduced): the loss value and its
derivative with respect to that row; :class:`rnnkit.losses.Loss` weights and reduces. At a
kink the derivative is that of the branch taken.
"""
import numpy as np

from .losses_base import ElementwiseLoss


def _hinge_labels(y_true):
    """Keras: labels that are all 0 or 1 (over the whole batch) become -1 / 1; others stay."""
    if np.all((y_true == 0) | (y_true == 1)):
        return 2.0 * y_true - 1.0
    return y_true


class Hinge(ElementwiseLoss):
    """``l = mean_k max(1 - t_k p_k, 0)`` with labels -1/1 (0/1 labels are converted, as Keras does);
    ``dl/dp_k = -t_k / K`` where the margin ``1 - t_k p_k`` is positive, else 0."""

    default_name = "hinge"

    def _rows(self, y_true, y_pred):
        t = _hinge_labels(y_true)
        margin = 1.0 - t * y_pred
        return np.mean(np.maximum(margin, 0.0), axis=-1), np.where(margin > 0, -t, 0.0) / y_pred.shape[-1]


class SquaredHinge(ElementwiseLoss):
    """``l = mean_k max(1 - t_k p_k, 0)^2`` (labels as :class:`Hinge`);
    ``dl/dp_k = -2 t_k max(1 - t_k p_k, 0) / K``."""

    default_name = "squared_hinge"

    def _rows(self, y_true, y_pred):
        t = _hinge_labels(y_true)
        margin = np.maximum(1.0 - t * y_pred, 0.0)
        return np.mean(margin * margin, axis=-1), -2.0 * t * margin / y_pred.shape[-1]


class CategoricalHinge(ElementwiseLoss):
    """``l = max(neg - pos + 1, 0)`` with ``pos = sum_k t_k p_k`` and ``neg = max_k (1 - t_k) p_k``
    (one-hot ``t``). Where ``l > 0``: ``dl/dp = (1 - t_j) e_j - t`` with ``j`` the arg-max of ``neg``."""

    default_name = "categorical_hinge"

    def _rows(self, y_true, y_pred):
        others = (1.0 - y_true) * y_pred
        pos = np.sum(y_true * y_pred, axis=-1)
        j = np.argmax(others, axis=-1)[..., None]
        values = np.maximum(np.take_along_axis(others, j, -1)[..., 0] - pos + 1.0, 0.0)
        d_values = -y_true.copy()
        np.put_along_axis(d_values, j, np.take_along_axis(d_values, j, -1) + np.take_along_axis(1.0 - y_true, j, -1),
                          axis=-1)
        return values, np.where((values > 0)[..., None], d_values, 0.0)


__all__ = ["Hinge", "SquaredHinge", "CategoricalHinge"]
