"""Losses of the Keras model face, with Keras 3's formulas, reduction and explicit gradients.

Every loss computes one value per prediction row (the class/feature axis, the last
one, is reduced by the loss itself), weights it, and reduces with Keras's
``"sum_over_batch_size"``: the weighted values are summed and divided by how many
values there are (not by the sum of the weights: Keras 3's ``reduce_values``). For
``(batch, classes)`` predictions that is the batch size; for ``(batch, time, classes)``
predictions it is ``batch * time`` (the loss is the mean over batch AND time, as Keras
does for sequence outputs).

    L = (1 / N) * sum_i w_i * l_i        l_i = loss of row i, N = number of rows

``loss(y_true, y_pred, sample_weight=None)`` returns ``L`` as a Python float,
``loss.gradient(...)`` returns ``dL/dy_pred`` with the shape of ``y_pred`` and
``loss.call(y_true, y_pred)`` the unreduced ``l`` (Keras's ``call``).
``value_and_gradient`` returns ``L`` and its gradient from one pass (what a training step wants).

Probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` with ``EPSILON = 1e-7``
exactly as Keras does, and the gradient includes the clip: a probability outside
the interval gets no gradient through its logarithm (as autodiff through
``clip`` gives).

Sample weights: ``None``, a scalar, one weight per sample ``(batch,)`` (broadcast
over time for sequence outputs, where Keras 3 itself needs ``(batch, 1)``), or one
weight per row (e.g. ``(batch, time)``). An optional boolean ``mask`` with the shape of
the rows (e.g. ``(batch, time)`` from a Masking layer) is merged into the weights as
Keras's ``apply_mask`` does: kept rows are scaled by ``rows / kept``, so the loss is
``sum(w * l * mask) / kept``.

The other Keras 3 losses live beside this module (``losses_regression``, ``losses_hinge``,
``losses_probabilistic``) and Keras's functional forms (``rnnkit.losses.mean_squared_error(y_true,
y_pred)``, ...) in ``losses_functional``; all are exported here. ``compile`` takes a loss as a
name, an object, a class or one of those functions; any other function is refused, since rnnkit
cannot differentiate it: subclass :class:`Loss` with ``call`` and ``call_gradient`` instead.
"""
import numbers

import numpy as np

from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError

EPSILON = 1e-7
"""Keras's ``keras.config.epsilon()``: the clip margin for probabilities."""

_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight")


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _sigmoid(z):
    # Written through tanh so that |z| of 1e4 does not overflow exp.
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


#: dtype kinds of NumPy's numbers (timedelta counts as an integer there), and of its integers
_NUMBER_KINDS, _INTEGER_KINDS = frozenset("iufcm"), frozenset("ium")


def _as_float(name, value, like=None):
    """``value`` as a float array; booleans and integers become ``like``'s float dtype (Keras casts
    y_true to y_pred's dtype), float64 without ``like``."""
    array = np.asarray(value)
    kind = array.dtype.kind  # kinds rather than issubdtype: this runs for every batch
    if kind not in _NUMBER_KINDS and kind != "b":
        raise RnnkitTypeError(f"{name} must be a numeric array, got {describe(value)}")
    if kind != "f":
        array = array.astype(like.dtype if like is not None else np.float64)
    return array


def _same_rank(y_true, y_pred):
    """Keras's ``squeeze_or_expand_to_same_rank``: fix a rank difference of one trailing size-1 axis.

    Returns the adjusted pair; the caller reshapes the gradient back to ``y_pred``'s shape.
    """
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            y_pred = y_pred[..., None]
        else:
            y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            y_true = y_true[..., None]
        else:
            y_pred = y_pred[..., 0]
    return y_true, y_pred


class Loss:
    """Base class: weighting, masking and Keras's reduction over the values of a subclass.

    Built-in losses implement ``_rows(y_true, y_pred) -> (values, d_values)`` (both from one
    pass). A loss of your own implements Keras's ``call`` and, since rnnkit has no autodiff,
    its derivative ``call_gradient``::

        class HalfSquared(rnnkit.losses.Loss):
            def call(self, y_true, y_pred):            # one value per row: shape y_pred.shape[:-1]
                return 0.5 * np.mean((y_pred - y_true) ** 2, axis=-1)
            def call_gradient(self, y_true, y_pred):   # d call[row] / d y_pred[row]: shape y_pred.shape
                return (y_pred - y_true) / y_pred.shape[-1]

    ``call`` may also return one value per element (the shape of ``y_pred``); ``call_gradient``
    then gives each value's derivative by its own element. ``y_true`` and ``y_pred`` arrive as
    float arrays (as Keras casts them), shapes unchecked. Check the pair with
    :func:`check_loss_gradient`.

    Args:
        name: the name Keras gives the loss.
        reduction: ``"sum_over_batch_size"`` (Keras's default; ``"mean"`` is the same): the
            weighted sum divided by the number of values; ``"sum"``; ``"mean_with_sample_weight"``:
            the weighted sum divided by the sum of the weights.
    """

    default_name = "loss"

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in _REDUCTIONS:
            raise RnnkitValueError(f"reduction must be one of {list(_REDUCTIONS)}, got {describe(reduction)}")
        if name is not None and not isinstance(name, str):
            raise RnnkitTypeError(f"name must be a string or None, got {describe(name)}")
        self.reduction = reduction
        self.name = name or self.default_name

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        return self.value_and_gradient(y_true, y_pred, sample_weight, mask, need_gradient=False)[0]

    def call(self, y_true, y_pred):
        """The unreduced, unweighted losses, one per row (Keras's ``Loss.call``)."""
        y_true, y_pred = self._prepare(y_true, _as_float("y_pred", y_pred))
        return self._rows(y_true, y_pred)[0]

    def call_gradient(self, y_true, y_pred):
        """The derivative of :meth:`call`'s values with respect to ``y_pred``, row by row."""
        y_true, y_pred = self._prepare(y_true, _as_float("y_pred", y_pred))
        return self._rows(y_true, y_pred)[1]

    def per_row(self, y_true, y_pred):
        """Same as :meth:`call` (the name rnnkit used before)."""
        return self.call(y_true, y_pred)

    def gradient(self, y_true, y_pred, sample_weight=None, mask=None):
        """dL/dy_pred of the reduced loss L, same shape as ``y_pred``."""
        return self.value_and_gradient(y_true, y_pred, sample_weight, mask)[1]

    def value_and_gradient(self, y_true, y_pred, sample_weight=None, mask=None, need_gradient=True):
        """``(L, dL/dy_pred)`` from one pass; the gradient is None when ``need_gradient`` is False."""
        y_pred_in = _as_float("y_pred", y_pred)
        y_true, y_pred = self._prepare(y_true, y_pred_in)
        values, d_values = self._rows(y_true, y_pred)
        own_mask = self._loss_mask(y_true)
        if own_mask is not None:  # Keras: the loss's own mask (ignore_class) and the input's, both kept
            mask = own_mask if mask is None else own_mask & self._broadcast("mask", np.asarray(mask, bool),
                                                                            own_mask.shape)
        weights = self._row_weights(values.shape, sample_weight, mask)
        weighted = values if weights is None else values * weights
        if self.reduction == "sum":
            scale = 1.0
        elif self.reduction == "mean_with_sample_weight" and weights is not None:
            total = float(np.sum(weights))
            scale = 1.0 / total if total != 0.0 else 0.0  # Keras's divide_no_nan
        else:
            scale = 1.0 / values.size if values.size else 0.0
        loss = float(np.sum(weighted) * scale)
        if not need_gradient:
            return loss, None
        factor = np.full(values.shape, scale) if weights is None else weights * scale
        if values.ndim < d_values.ndim:  # one value per row: its weight scales the row's derivatives
            factor = factor[..., None]
        grad = d_values * factor
        return loss, grad.reshape(y_pred_in.shape).astype(y_pred_in.dtype, copy=False)

    # -- overridable pieces -------------------------------------------------------------

    def _prepare(self, y_true, y_pred):
        """The pair as :meth:`_rows` takes it; the base converts y_true to floats (as Keras does)."""
        y_true = _as_float("y_true", y_true, like=y_pred)
        if y_pred.ndim == 0:
            y_true, y_pred = np.reshape(y_true, (1,)), y_pred[None]
        return y_true, y_pred

    def _loss_mask(self, y_true):
        """Rows the loss itself leaves out (None: none), merged into ``mask``."""
        return None

    def _rows(self, y_true, y_pred):
        """(values, derivatives): a subclass's ``call`` and ``call_gradient``."""
        if type(self).call is Loss.call:
            raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred) and "
                                      f"call_gradient(y_true, y_pred)")
        if type(self).call_gradient is Loss.call_gradient:
            raise RnnkitTypeError(
                f"loss {type(self).__name__} defines call() but not call_gradient(): rnnkit has no automatic "
                f"differentiation, so a loss must also give the derivative of its values with respect to "
                f"y_pred (call_gradient(y_true, y_pred), same shape as y_pred); check the pair with "
                f"rnnkit.losses.check_loss_gradient")
        values = np.asarray(self.call(y_true, y_pred), dtype=np.float64)
        d_values = np.asarray(self.call_gradient(y_true, y_pred), dtype=np.float64)
        name = type(self).__name__
        if values.shape not in (y_pred.shape[:-1], y_pred.shape):
            raise RnnkitValueError(f"{name}.call must return one value per row {y_pred.shape[:-1]} or per "
                                   f"element {y_pred.shape} of y_pred, got shape {values.shape}")
        if d_values.shape != y_pred.shape:
            raise RnnkitValueError(f"{name}.call_gradient must return an array of y_pred's shape {y_pred.shape}, "
                                   f"got shape {d_values.shape}")
        return values, d_values

    def _row_weights(self, rows_shape, sample_weight, mask):
        """Keras's ``apply_mask``: the mask merged into the sample weights (kept rows rescaled by
        total/kept for the mean reductions, so the mean runs over the kept rows only)."""
        weights = None
        if sample_weight is not None:
            weights = self._broadcast("sample_weight", sample_weight, rows_shape)
        if mask is not None:
            keep = self._broadcast("mask", np.asarray(mask, dtype=bool), rows_shape).astype(np.float64)
            if self.reduction in ("sum_over_batch_size", "mean"):
                kept = keep.sum()
                keep = keep * (keep.size / kept) if kept > 0 else keep
            weights = keep if weights is None else weights * keep
        return weights

    @staticmethod
    def _broadcast(name, value, rows_shape):
        array = np.asarray(value, dtype=np.float64) if name != "mask" else np.asarray(value)
        if array.ndim == len(rows_shape) + 1 and array.shape[-1] == 1:
            array = array[..., 0]
        if 0 < array.ndim < len(rows_shape):
            # Per-sample weights line up with the leading (batch) axes, not the trailing ones.
            array = array.reshape(array.shape + (1,) * (len(rows_shape) - array.ndim))
        try:
            return np.broadcast_to(array, rows_shape)
        except ValueError:
            raise RnnkitValueError(
                f"{name} of shape {np.shape(value)} does not fit the losses of shape {rows_shape} "
                f"(expected a scalar, (batch,) or {rows_shape})"
            ) from None

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class ElementwiseLoss(Loss):
    """Base of the losses whose ``y_true`` has the shape of ``y_pred`` (after Keras's rank fix of one
    trailing size-1 axis, e.g. ``(batch,)`` labels against ``(batch, 1)`` predictions)."""

    def __init__(self, reduction="sum_over_batch_size", name=None):
        super().__init__(name=name, reduction=reduction)

    def _prepare(self, y_true, y_pred):
        y_true = _as_float("y_true", y_true, like=y_pred)
        y_true, y_pred = _same_rank(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            raise RnnkitValueError(
                f"y_true and y_pred must have the same shape for {type(self).__name__}, "
                f"got y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape}"
            )
        if y_pred.ndim == 0:
            y_true, y_pred = y_true[None], y_pred[None]
        return y_true, y_pred


class _CrossentropyBase(ElementwiseLoss):
    def __init__(self, from_logits=False, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        if not isinstance(from_logits, (bool, np.bool_)):
            raise RnnkitTypeError(f"from_logits must be True or False, got {describe(from_logits)}")
        self.from_logits = bool(from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


def _last_axis(axis):
    """Keras's ``axis`` argument of a loss: rnnkit reduces over the last axis only."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or axis != -1:
        raise RnnkitValueError(f"axis must be -1 (the last axis, the one rnnkit's losses reduce), got {describe(axis)}")
    return -1


def _label_smoothing(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise RnnkitValueError(f"label_smoothing must be a number in [0, 1], got {describe(value)}")
    return float(value)


def _categorical_rows(target, y_pred, from_logits):
    """Per-row -sum_k t_k log q_k and its derivative w.r.t. y_pred, for dense targets ``t``.

    from_logits: log q = log_softmax(z);  dl/dz = softmax(z) * sum_k t_k - t.
    probabilities (Keras): p = y / sum_k y_k, q = clip(p, eps, 1 - eps);
        g_k = -t_k / q_k where eps <= p_k <= 1 - eps, else 0;
        dl/dy_j = (g_j - sum_k g_k p_k) / sum_k y_k.
    """
    if from_logits:
        log_q = _log_softmax(y_pred)
        values = -np.sum(target * log_q, axis=-1)
        d_values = np.exp(log_q) * target.sum(axis=-1, keepdims=True) - target
        return values, d_values
    total = y_pred.sum(axis=-1, keepdims=True)
    p = y_pred / total
    q = np.clip(p, EPSILON, 1.0 - EPSILON)
    values = -np.sum(target * np.log(q), axis=-1)
    inside = (p >= EPSILON) & (p <= 1.0 - EPSILON)
    g = np.where(inside, -target / q, 0.0)
    d_values = (g - np.sum(g * p, axis=-1, keepdims=True)) / total
    return values, d_values


class CategoricalCrossentropy(_CrossentropyBase):
    """Cross-entropy against one-hot (or soft) targets: ``l = -sum_k t_k log q_k``.

    Args:
        from_logits: ``y_pred`` holds logits (log-softmax is used, stable for any size)
            rather than probabilities (normalised to sum 1, then clipped to [1e-7, 1 - 1e-7]).
        label_smoothing: ``t = t (1 - s) + s / classes``.
        axis: -1 (the class axis is the last one).

    Shapes: ``y_true`` and ``y_pred`` are ``(batch, classes)`` or ``(batch, time, classes)``.
    """

    default_name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits, reduction, name)
        self.label_smoothing = _label_smoothing(label_smoothing)
        self.axis = _last_axis(axis)

    def _prepare(self, y_true, y_pred):
        y_true = _as_float("y_true", y_true, like=y_pred)
        if y_true.shape != y_pred.shape or y_pred.ndim < 1:
            raise RnnkitValueError(
                f"y_true must have the shape of y_pred (one-hot targets) for CategoricalCrossentropy, "
                f"got y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape}; "
                f"use SparseCategoricalCrossentropy for integer labels"
            )
        return y_true, y_pred

    def _rows(self, y_true, y_pred):
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / y_pred.shape[-1]
        return _categorical_rows(y_true, y_pred, self.from_logits)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(_CrossentropyBase):
    """Cross-entropy against integer labels: ``l = -log q_{y}``.

    Args:
        from_logits: as for :class:`CategoricalCrossentropy`.
        ignore_class: a label value (e.g. the padding id -1 or 0) whose rows count for nothing: their
            loss is 0 and they are masked out of the mean, as Keras does; None: every label counts.

    Shapes: ``y_pred`` is ``(batch, classes)`` or ``(batch, time, classes)``; ``y_true``
    is ``y_pred.shape[:-1]`` (optionally with a trailing axis of size 1) and holds
    integers in ``[0, classes)`` (integer-valued floats are accepted, as in Keras).
    """

    default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits, reduction, name)
        if ignore_class is not None and (isinstance(ignore_class, bool) or not isinstance(ignore_class,
                                                                                          numbers.Integral)):
            raise RnnkitValueError(f"ignore_class must be an integer label or None, got {describe(ignore_class)}")
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def _prepare(self, y_true, y_pred):
        labels = np.asarray(y_true)
        if y_pred.ndim < 1:
            raise RnnkitValueError(f"y_pred must have a class axis, got {describe(y_pred)}")
        if labels.ndim == y_pred.ndim and labels.shape[-1:] == (1,):
            labels = labels[..., 0]
        if labels.shape != y_pred.shape[:-1]:
            raise RnnkitValueError(
                f"y_true must have shape y_pred.shape[:-1] = {y_pred.shape[:-1]} (integer labels), "
                f"got y_true of shape {np.shape(y_true)} and y_pred of shape {y_pred.shape}"
            )
        if self.ignore_class is None:
            return check_labels("y_true", labels, y_pred.shape[-1]), y_pred
        ignored = labels == self.ignore_class
        checked = check_labels("y_true", np.where(ignored, 0, labels), y_pred.shape[-1])
        return np.where(ignored, -1, checked), y_pred  # -1 marks an ignored row from here on

    def _loss_mask(self, labels):
        return None if self.ignore_class is None else labels >= 0

    def _rows(self, labels, y_pred):
        kept = labels >= 0
        target = np.zeros(y_pred.shape)
        rows = target.reshape(-1, y_pred.shape[-1])  # one-hot rows by plain indexing (put_along_axis is slow)
        rows[np.arange(len(rows)), np.where(kept, labels, 0).reshape(-1)] = 1.0
        values, d_values = _categorical_rows(target, y_pred, self.from_logits)
        if self.ignore_class is None:
            return values, d_values
        return np.where(kept, values, 0.0), np.where(kept[..., None], d_values, 0.0)

    def get_config(self):
        return {**super().get_config(), "ignore_class": self.ignore_class}


def check_labels(name, labels, classes):
    """Return integer class labels as an int64 array, or raise naming the first bad one.

    A bad label is non-numeric, non-finite, non-integer or outside ``[0, classes)``;
    the error gives its value, its index and the allowed range.
    """
    array = np.asarray(labels)
    if array.dtype.kind not in _NUMBER_KINDS:
        raise RnnkitTypeError(f"{name} must hold integer class labels, got {describe(labels)}")
    if array.dtype.kind in _INTEGER_KINDS:
        bad = (array < 0) | (array >= classes)
    else:
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(array) | (array != np.round(array)) | (array < 0) | (array >= classes)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        value = array[index].item()
        raise RnnkitValueError(
            f"{name} must hold integer class labels in [0, {classes}) (y_pred has {classes} classes), "
            f"got {value!r} at index {index} ({int(bad.sum())} bad label(s) in all)"
        )
    return array.astype(np.int64)


class BinaryCrossentropy(_CrossentropyBase):
    """Binary cross-entropy, averaged over the last axis (Keras's ``mean(..., axis=-1)``).

    probabilities: ``q = clip(y_pred, 1e-7, 1 - 1e-7)``, ``e = -(t log q + (1 - t) log(1 - q))``;
    logits (as Keras's TensorFlow and PyTorch backends): ``e = max(z, 0) - z t + log(1 + exp(-|z|))``
    with ``de/dz = sigmoid(z) - t``. The row loss is ``mean_k e_k``.

    Args:
        from_logits: ``y_pred`` holds logits rather than probabilities.
        label_smoothing: ``t = t (1 - s) + 0.5 s``.
        axis: -1 (the axis averaged over).

    Shapes: ``y_true`` and ``y_pred`` alike, e.g. ``(batch, 1)``, ``(batch, time, 1)``;
    ``(batch,)`` labels against ``(batch, 1)`` predictions are accepted (Keras's rank fix).
    """

    default_name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(from_logits, reduction, name)
        self.label_smoothing = _label_smoothing(label_smoothing)
        self.axis = _last_axis(axis)

    def _rows(self, y_true, y_pred):
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        width = y_pred.shape[-1]
        if self.from_logits:
            z = y_pred
            elements = np.maximum(z, 0.0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
            d_elements = _sigmoid(z) - y_true
        else:
            q = np.clip(y_pred, EPSILON, 1.0 - EPSILON)
            elements = -(y_true * np.log(q) + (1.0 - y_true) * np.log(1.0 - q))
            inside = (y_pred >= EPSILON) & (y_pred <= 1.0 - EPSILON)
            d_elements = np.where(inside, (1.0 - y_true) / (1.0 - q) - y_true / q, 0.0)
        return elements.mean(axis=-1), d_elements / width

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "axis": self.axis}


class MeanSquaredError(ElementwiseLoss):
    """``l = mean_k (y_pred_k - y_true_k)^2`` over the last axis; ``dl/dy_pred = 2 (y_pred - y_true) / K``."""

    default_name = "mean_squared_error"

    def _rows(self, y_true, y_pred):
        diff = y_pred - y_true
        return np.mean(diff * diff, axis=-1), 2.0 * diff / y_pred.shape[-1]


class MeanAbsoluteError(ElementwiseLoss):
    """``l = mean_k |y_pred_k - y_true_k|``; ``dl/dy_pred = sign(y_pred - y_true) / K`` (0 where equal)."""

    default_name = "mean_absolute_error"

    def _rows(self, y_true, y_pred):
        diff = y_pred - y_true
        return np.mean(np.abs(diff), axis=-1), np.sign(diff) / y_pred.shape[-1]


class Huber(ElementwiseLoss):
    """Huber loss with Keras's branch rule, averaged over the last axis.

    With ``x = y_pred - y_true``: ``e = 0.5 x^2`` where ``|x| <= delta``, else
    ``delta |x| - 0.5 delta^2``; ``de/dx = x`` or ``delta sign(x)``.

    Args:
        delta: where the loss turns from quadratic to linear (> 0).
    """

    default_name = "huber_loss"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not delta > 0:
            raise RnnkitValueError(f"delta must be a positive number, got {describe(delta)}")
        self.delta = float(delta)

    def _rows(self, y_true, y_pred):
        x = y_pred - y_true
        small = np.abs(x) <= self.delta
        elements = np.where(small, 0.5 * x * x, self.delta * np.abs(x) - 0.5 * self.delta ** 2)
        d_elements = np.where(small, x, self.delta * np.sign(x))
        return elements.mean(axis=-1), d_elements / y_pred.shape[-1]

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}
