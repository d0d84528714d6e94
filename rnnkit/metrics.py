"""Stateful metrics of the Keras model face, with Keras 3's formulas, names and averaging.

A metric accumulates over batches and reports a running value::

    m = SparseCategoricalAccuracy()
    for y, p in batches:
        m.update_state(y, p)
    m.result()          # a float; m.reset_state() starts over (Keras does so every epoch)

Averaging (Keras's ``Mean``): each batch gives one value per element; the values of a
sample are averaged over every axis but the batch axis (so for ``(batch, time)`` outputs
each sample contributes the mean over its time steps), then

    result = sum over all samples so far of w_s * v_s  /  sum of w_s

with ``w_s = 1`` without sample weights. Hence a result is weighted by sample count across
batches of different sizes. Per-step weights or a boolean ``mask`` of shape
``(batch, time)`` weight each step: the result is the weighted mean over the kept steps.

Names: a metric requested by a string is reported under that string (Keras 3 names History
keys after the identifier: ``"mae"`` stays ``"mae"``, ``"accuracy"`` stays ``"accuracy"``).
:func:`resolve_metric` turns ``"accuracy"``/``"acc"`` into the right accuracy as Keras does.
"""
import numpy as np

from . import losses as _losses
from .losses_base import _same_rank as _same_rank_arrays
from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError


class Metric:
    """Base class: ``update_state``, ``result``, ``reset_state``, ``name``, ``get_config``."""

    default_name = "metric"

    def __init__(self, name=None):
        self.name = name or self.default_name

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def get_state(self):
        """The accumulated state as a 1-D float64 array. States are additive: the state of updates
        split over several metric objects (ranks of a data-parallel job) is the sum of their states,
        which :meth:`merge_state` and ``rnnkit.distributed`` use to combine them exactly."""
        raise NotImplementedError(f"metric {self.name!r} ({type(self).__name__}) does not expose its state; "
                                  f"define get_state() and set_state() to combine it across processes")

    def set_state(self, state):
        """Replace the accumulated state by ``state`` (as :meth:`get_state` returns)."""
        raise NotImplementedError(f"metric {self.name!r} ({type(self).__name__}) does not expose its state; "
                                  f"define get_state() and set_state() to combine it across processes")

    def merge_state(self, metrics):
        """Add the states of ``metrics`` (metrics of the same kind) to this one, as tf.keras 2's
        ``merge_state``: afterwards :meth:`result` covers every update any of them saw."""
        total = np.array(self.get_state(), dtype=np.float64)
        for metric in metrics:
            other = np.asarray(metric.get_state(), dtype=np.float64)
            if type(metric) is not type(self) or other.shape != total.shape:
                raise RnnkitValueError(f"merge_state needs metrics like {self.name!r} ({type(self).__name__}), got "
                                       f"{describe(metric)}")
            total += other
        self.set_state(total)

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} result={self.result():.6g}>"


class Mean(Metric):
    """Weighted running mean of values (Keras's ``keras.metrics.Mean``).

    ``update_state(values, sample_weight=None)``: ``values`` of any shape with the batch
    first; ``sample_weight`` a scalar, ``(batch,)`` or the shape of ``values``.
    """

    default_name = "mean"

    def __init__(self, name=None):
        super().__init__(name)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            per_sample = values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values
            self.total += float(per_sample.sum())
            self.count += float(per_sample.shape[0]) if values.ndim >= 1 else 1.0
            return
        weight = np.asarray(sample_weight, dtype=np.float64)
        if weight.ndim == values.ndim + 1 and weight.shape[-1] == 1:
            weight = weight[..., 0]
        elif values.ndim == weight.ndim + 1 and values.shape[-1] == 1:
            values = values[..., 0]
        if 0 < weight.ndim < values.ndim:
            # Keras first reduces values to the weight's rank (a per-sample weight gets a per-sample mean).
            values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
        try:
            weight = np.broadcast_to(weight, values.shape)
        except ValueError:
            raise RnnkitValueError(
                f"sample_weight of shape {np.shape(sample_weight)} does not fit values of shape {values.shape}"
            ) from None
        weighted = values * weight
        if values.ndim > 1:
            weighted = weighted.reshape(values.shape[0], -1).mean(axis=1)
            weight = weight.reshape(values.shape[0], -1).mean(axis=1)
        self.total += float(weighted.sum())
        self.count += float(weight.sum())

    def result(self):
        # Keras's divide_no_nan: an empty or all-zero-weight metric reads 0.
        return self.total / self.count if self.count != 0 else 0.0

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def get_state(self):
        """``[total, count]``: the weighted sum of the values and the sum of the weights."""
        return np.array([self.total, self.count], dtype=np.float64)

    def set_state(self, state):
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (2,):
            raise RnnkitValueError(f"state of metric {self.name!r} must be [total, count], got {describe(state)}")
        self.total, self.count = float(state[0]), float(state[1])


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred)`` (per-element values).

    ``update_state(y_true, y_pred, sample_weight=None, mask=None)``: ``mask`` (boolean,
    e.g. ``(batch, time)``) is merged into the weights, as Keras merges a Keras mask.
    """

    def __init__(self, fn, name=None, **fn_kwargs):
        super().__init__(name or getattr(fn, "__name__", "mean_metric"))
        self.fn = fn
        self._fn_kwargs = fn_kwargs

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        values = np.asarray(self.fn(y_true, y_pred, **self._fn_kwargs), dtype=np.float64)
        if mask is not None:
            mask = np.asarray(mask, dtype=np.float64)
            if mask.shape != values.shape[:mask.ndim]:
                raise RnnkitValueError(f"mask of shape {mask.shape} does not fit values of shape {values.shape}")
            if sample_weight is None:
                sample_weight = mask
            else:
                weight = np.asarray(sample_weight, dtype=np.float64)
                weight = weight.reshape(weight.shape + (1,) * (mask.ndim - weight.ndim))
                sample_weight = weight * mask
        super().update_state(values, sample_weight)

    def get_config(self):
        return {"name": self.name, **self._fn_kwargs}


# -- per-element functions (Keras 3's formulas) ---------------------------------------------


def _same_rank(y_true, y_pred):
    return _same_rank_arrays(np.asarray(y_true), np.asarray(y_pred))


def accuracy(y_true, y_pred):
    """1 where ``y_true == y_pred`` exactly (after Keras's rank fix), else 0."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where ``(y_pred > threshold) == y_true``; shapes ``(batch, ..., 1)`` or alike."""
    y_true, y_pred = _same_rank(y_true, y_pred)
    return ((np.asarray(y_pred) > threshold).astype(np.float64) == y_true).astype(np.float64)


def categorical_accuracy(y_true, y_pred):
    """1 where ``argmax(y_true, -1) == argmax(y_pred, -1)``; one value per row."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise RnnkitValueError(
            f"y_true must be one-hot with the shape of y_pred, got y_true of shape {y_true.shape} and "
            f"y_pred of shape {y_pred.shape}; use sparse_categorical_accuracy for integer labels"
        )
    return (np.argmax(y_true, -1) == np.argmax(y_pred, -1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where ``argmax(y_pred, -1) == y_true``; ``y_true`` is ``y_pred.shape[:-1]`` (or with a trailing 1)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1:] == (1,):
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise RnnkitValueError(
            f"y_true must have shape y_pred.shape[:-1] = {y_pred.shape[:-1]}, got y_true of shape "
            f"{y_true.shape} and y_pred of shape {y_pred.shape}"
        )
    return (np.argmax(y_pred, -1) == y_true).astype(np.float64)


def mean_squared_error(y_true, y_pred):
    """``mean((y_true - y_pred)^2, axis=-1)``."""
    return _losses.MeanSquaredError().per_row(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_true - y_pred|, axis=-1)``."""
    return _losses.MeanAbsoluteError().per_row(y_true, y_pred)


# Keras's metrics module offers the losses' functional forms too (metrics=[keras.metrics.poisson]):
# per-sample values, averaged by compile's running mean named after the function.
binary_crossentropy = _losses.binary_crossentropy
binary_focal_crossentropy = _losses.binary_focal_crossentropy
categorical_crossentropy = _losses.categorical_crossentropy
categorical_focal_crossentropy = _losses.categorical_focal_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
categorical_hinge, hinge, squared_hinge = _losses.categorical_hinge, _losses.hinge, _losses.squared_hinge
huber, log_cosh, poisson, kl_divergence = _losses.huber, _losses.log_cosh, _losses.poisson, _losses.kl_divergence
mean_absolute_percentage_error = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = _losses.mean_squared_logarithmic_error


# -- metric classes ---------------------------------------------------------------------------


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name="accuracy"):
        super().__init__(accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches binary labels."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=float(threshold))


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of the prediction matches the arg-max of one-hot labels."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the arg-max of the prediction matches integer labels."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


class MeanSquaredError(MeanMetricWrapper):
    """Running mean squared error."""

    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean absolute error."""

    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


class _ShapeAccuracy(MeanMetricWrapper):
    """``"accuracy"`` whose kind is chosen from the first batch's shapes (Keras 3's rule)."""

    def __init__(self, name="accuracy"):
        super().__init__(accuracy, name)
        self.kind = None

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        if self.kind is None:
            self.kind = _accuracy_kind_from_shapes(np.shape(y_true), np.shape(y_pred))
            self.fn = _ACCURACY_FUNCTIONS[self.kind]
        super().update_state(y_true, y_pred, sample_weight, mask)


_ACCURACY_CLASSES = {"binary": BinaryAccuracy, "sparse": SparseCategoricalAccuracy,
                     "categorical": CategoricalAccuracy}
_ACCURACY_FUNCTIONS = {"binary": binary_accuracy, "sparse": sparse_categorical_accuracy,
                       "categorical": categorical_accuracy}


def _accuracy_kind_from_shapes(true_shape, pred_shape):
    """Keras 3 (``compile_utils.is_binary_or_sparse_categorical``): one output unit means
    binary; labels of lower rank, or with a last axis of 1 against several classes, sparse."""
    if pred_shape[-1:] == (1,):
        return "binary"
    if len(true_shape) < len(pred_shape) or (true_shape[-1:] == (1,) and pred_shape[-1] > 1):
        return "sparse"
    return "categorical"


def _accuracy_kind_from_loss(loss):
    loss = _losses.get(loss)
    if isinstance(loss, _losses.SparseCategoricalCrossentropy):
        return "sparse"
    if isinstance(loss, _losses.CategoricalCrossentropy):
        return "categorical"
    if isinstance(loss, _losses.BinaryCrossentropy):
        return "binary"
    return None


_CLASSES = (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            MeanSquaredError, MeanAbsoluteError, Mean)
_REGISTRY = {cls.__name__: cls for cls in _CLASSES}
_REGISTRY.update({
    "accuracy": Accuracy, "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy, "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "mean": Mean,
})
# Keras metrics with a loss's formula (not "cosine_similarity": Keras's metric is +cos, the loss -cos)
_LOSS_METRIC_NAMES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
                      "huber_loss", "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle",
                      "kl_divergence", "kld", "poisson", "hinge", "squared_hinge", "categorical_hinge", "log_cosh",
                      "logcosh", "binary_focal_crossentropy", "categorical_focal_crossentropy")


def get(identifier):
    """Resolve a metric by instance, name (``"sparse_categorical_accuracy"``, ``"mae"``, class
    names), Metric class (made with its defaults, as Keras) or config dict, with its default name.
    Loss names (e.g. ``"binary_crossentropy"``) give the running mean of that loss. Use
    :func:`resolve_metric` for compile's behaviour."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    if isinstance(identifier, str) and identifier in _LOSS_METRIC_NAMES:
        return MeanMetricWrapper(_losses.get(identifier).call, name=identifier)
    if isinstance(identifier, dict) and identifier.get("class_name") in _REGISTRY:
        return _REGISTRY[identifier["class_name"]].from_config(dict(identifier.get("config", {})))
    if isinstance(identifier, (str, dict)):
        allowed = sorted(set(_REGISTRY) | set(_LOSS_METRIC_NAMES) | {"acc"})
        raise RnnkitValueError(f"metric must be one of {allowed}, got {describe(identifier)}")
    raise RnnkitTypeError(f"metric must be a name, a config dict, an rnnkit Metric or Metric class, got "
                          f"{describe(identifier)}")


def resolve_metric(identifier, loss=None, y_true=None, y_pred=None):
    """What ``compile(metrics=[identifier])`` makes of ``identifier``.

    ``"accuracy"`` / ``"acc"`` become a binary, sparse categorical or categorical accuracy
    that keeps the identifier as its name. The kind comes from the data shapes when
    ``y_true`` and ``y_pred`` (arrays or shapes) are given, with Keras 3's rule; otherwise
    from ``loss`` (sparse / categorical / binary crossentropy); otherwise it is chosen from
    the shapes of the first batch. Other strings resolve through :func:`get` and keep the
    string as their name (``"mae"`` is reported as ``"mae"``); a plain function
    ``fn(y_true, y_pred) -> values`` becomes a running mean named after it.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        kind = None
        if y_true is not None and y_pred is not None:
            kind = _accuracy_kind_from_shapes(_shape(y_true), _shape(y_pred))
        elif loss is not None:
            kind = _accuracy_kind_from_loss(loss)
        return _ACCURACY_CLASSES[kind](name=identifier) if kind else _ShapeAccuracy(name=identifier)
    if isinstance(identifier, str):
        metric = get(identifier)
        metric.name = identifier
        return metric
    if callable(identifier) and not isinstance(identifier, type):
        return MeanMetricWrapper(identifier)
    return get(identifier)


def _shape(value):
    return tuple(value) if isinstance(value, tuple) else np.shape(value)
