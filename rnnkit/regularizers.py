"""Weight and activity penalties with Keras 3's names, defaults and formulas, and their gradients.

A regularizer is called on an array and returns the penalty it adds to the training loss;
``gradient(x)`` is its derivative (rnnkit has no autodiff, so every regularizer states it):

    L1(l1=0.01)          l1 · Σ|x|                       gradient  l1 · sign(x)
    L2(l2=0.01)          l2 · Σ x²                       gradient  2 · l2 · x
    L1L2(l1=0, l2=0)     both
    OrthogonalRegularizer(factor=0.01, mode="rows")
                         factor · ½ · Σ_{i≠j} |n_i · n_j| / (m(m-1)/2), n_i the L2-normalised rows
                         (columns with mode="columns") of a 2-D x, m their count

Layers take them as ``kernel_regularizer=``, ``recurrent_regularizer=``, ``bias_regularizer=``,
``embeddings_regularizer=``, ``gamma_regularizer=``/``beta_regularizer=`` (penalties on weights,
summed into the loss as they are) and ``activity_regularizer=`` (a penalty on the layer's output,
divided by the batch size, as Keras 3 does). ``model.losses`` lists them; ``fit``, ``evaluate``
and ``train_on_batch`` report the loss with them included, and the gradients include theirs.

Strings: ``"l1"``, ``"l2"`` (factor 0.01), ``"l1_l2"`` (l1 = l2 = 0.01, as Keras documents it),
the class names and Keras's snake-case names (``"L1L2"`` / ``"l1l2"`` give L1L2() with zero factors,
as in Keras 3), ``"orthogonal_regularizer"``.
"""
import math
import numbers

import numpy as np

from . import object_registry
from ._validate import choice, describe
from .errors import RnnkitTypeError, RnnkitValueError


def _factor(name, value):
    """A penalty factor: a finite number >= 0 (None means 0, as Keras)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise RnnkitValueError(f"{name} must be a finite number >= 0, got {describe(value)}")
    return float(value)


class Regularizer(object_registry.ConfigObject):
    """Base class: ``penalty = reg(x)`` (a float) and ``reg.gradient(x)`` (an array shaped like x).

    A subclass implements both, and ``get_config`` to be saved (register it with
    :func:`rnnkit.saving.register_keras_serializable` to load it back by name).
    """

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        """d penalty / dx, same shape and dtype as x."""
        return np.zeros_like(x)


class L1L2(Regularizer):
    """``l1 · Σ|x| + l2 · Σ x²``; both factors default to 0 (``"l1_l2"`` gives 0.01 each)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("l1", l1)
        self.l2 = _factor("l2", l2)

    def __call__(self, x):
        x = np.asarray(x)
        penalty = 0.0
        if self.l1:
            penalty += float(x.dtype.type(self.l1) * np.sum(np.abs(x)))
        if self.l2:
            penalty += float(x.dtype.type(self.l2) * np.sum(np.square(x)))
        return penalty

    def gradient(self, x):
        x = np.asarray(x)
        grad = np.zeros_like(x)
        if self.l1:
            grad += x.dtype.type(self.l1) * np.sign(x)
        if self.l2:
            grad += x.dtype.type(2.0 * self.l2) * x
        return grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 · Σ|x|`` (gradient ``l1 · sign(x)``, 0 at 0)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 · Σ x²`` (no ½: Keras's formula)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns of a 2-D weight towards orthogonality.

    With n_i the rows divided by their L2 norms (a zero row stays zero) and m of them:
    ``factor · ½ · Σ_{i≠j} |n_i · n_j| / (m (m - 1) / 2)``.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor("factor", factor)
        self.mode = choice("mode", mode, ("rows", "columns"))

    def _rows(self, x):
        x = np.asarray(x)
        if x.ndim != 2:
            raise RnnkitValueError(f"OrthogonalRegularizer needs a weight of rank 2, got {describe(x)}")
        rows = x if self.mode == "rows" else x.T
        if rows.shape[0] < 2:
            raise RnnkitValueError(f"OrthogonalRegularizer(mode={self.mode!r}) needs at least 2 {self.mode}, "
                                   f"got {describe(x)}")
        norms = np.sqrt(np.sum(np.square(rows), axis=1, keepdims=True))
        norms = np.where(norms == 0, np.ones_like(norms), norms)
        normed = rows / norms
        product = normed @ normed.T
        np.fill_diagonal(product, 0)
        scale = x.dtype.type(self.factor * 0.5 / (rows.shape[0] * (rows.shape[0] - 1) / 2.0))
        return normed, norms, product, scale

    def __call__(self, x):
        _, _, product, scale = self._rows(x)
        return float(scale * np.sum(np.abs(product)))

    def gradient(self, x):
        normed, norms, product, scale = self._rows(x)
        d_product = scale * np.sign(product)  # the diagonal is 0, so it has no gradient
        d_normed = (d_product + d_product.T) @ normed
        # through n = r / |r|: dr = (dn - n (n · dn)) / |r|
        d_rows = (d_normed - normed * np.sum(normed * d_normed, axis=1, keepdims=True)) / norms
        return d_rows if self.mode == "rows" else d_rows.T

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_CLASSES = {cls.__name__: cls for cls in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)}
# Keras 3's names: the class names and their snake case ("l1l2" for L1L2, with zero factors)
_NAMES = {**_CLASSES, "l1": L1, "l2": L2, "l1l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer,
          "regularizer": Regularizer, "l1_l2": lambda: L1L2(l1=0.01, l2=0.01)}


def serialize(regularizer):
    """``{"class_name", "config"}`` (and ``"registered_name"`` for a registered custom class); None stays None."""
    return object_registry.serialize_object(regularizer, "regularizer")


def deserialize(config, custom_objects=None):
    """The regularizer a :func:`serialize` dict (or Keras 3's, with ``module``/``registered_name``) describes."""
    return _checked(object_registry.deserialize_object(config, "regularizer", _CLASSES, custom_objects), config)


def get(identifier):
    """A regularizer from None, an instance, a name, a config dict or a class (instantiated with defaults)."""
    return object_registry.resolve(identifier, "regularizer", _NAMES, deserialize, _checked)


def _checked(obj, identifier):
    """``obj`` when it can both give a penalty and its gradient, else a named error."""
    if not callable(obj):
        raise RnnkitTypeError(f"regularizer must be a name, a config dict or a Regularizer, got {describe(identifier)}")
    gradient = getattr(obj, "gradient", None)
    inherited_zero = (isinstance(obj, Regularizer) and type(obj).gradient is Regularizer.gradient
                      and type(obj).__call__ is not Regularizer.__call__)
    if not callable(gradient) or inherited_zero:
        raise RnnkitTypeError(
            f"regularizer {describe(obj)} has no gradient(x) method: rnnkit has no autodiff, so a custom "
            "regularizer must give d penalty / dx (subclass rnnkit.regularizers.Regularizer and define "
            "__call__(x) and gradient(x))")
    return obj


__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]
