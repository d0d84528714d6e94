"""Weight constraints with Keras 3's names, defaults and formulas.

A constraint maps a weight array to its projection, ``w <- constraint(w)``; the optimizer applies
it to every trainable weight that has one right after each update, as Keras 3 does
(``variable.assign(constraint(variable))``). Norms are taken over ``axis`` (an int or a list of
ints, default 0: the incoming weights of each unit of a ``(inputs, units)`` kernel), with Keras's
epsilon 1e-7 in the denominators:

    MaxNorm(max_value=2, axis=0)     w · clip(|w|, 0, max_value) / (ε + |w|)
    NonNeg()                         max(w, 0)
    UnitNorm(axis=0)                 w / (ε + |w|)
    MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0)
                                     w · (rate · clip(|w|, min, max) + (1 - rate) · |w|) / (ε + |w|)

Layers take them as ``kernel_constraint=``, ``recurrent_constraint=``, ``bias_constraint=``,
``embeddings_constraint=``, ``gamma_constraint=``/``beta_constraint=``. Strings: ``"max_norm"``,
``"non_neg"``, ``"unit_norm"``, ``"min_max_norm"`` and the class names (Keras's defaults).
"""
import math
import numbers

import numpy as np

from . import object_registry
from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError

EPSILON = 1e-7  # Keras's backend.epsilon()


def _number(name, value, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or \
            (low is not None and value < low) or (high is not None and value > high):
        bounds = "" if low is None else f" in [{low}, {'inf' if high is None else high}]"
        raise RnnkitValueError(f"{name} must be a finite number{bounds}, got {describe(value)}")
    return value


def _axis(value):
    """Keras's ``axis``: an int or a list/tuple of ints (kept as given for the config)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in items):
        raise RnnkitValueError(f"axis must be an int or a list of ints, got {describe(value)}")
    return [int(a) for a in value] if isinstance(value, (list, tuple)) else int(value)


class Constraint(object_registry.ConfigObject):
    """Base class: ``constraint(w)`` returns the projected weight (the base returns it unchanged).

    A subclass implements ``__call__(w)`` with NumPy, and ``get_config`` to be saved.
    """

    def __call__(self, w):
        return w

    def check_shape(self, shape, where):
        """Refuse, when the weight is created, a weight this constraint cannot apply to."""


class _NormConstraint(Constraint):
    """A rescaling of w by a function of its norms over ``axis``."""

    def __init__(self, axis=0):
        self.axis = _axis(axis)

    def _axes(self):
        return tuple(self.axis) if isinstance(self.axis, list) else self.axis

    def check_shape(self, shape, where):
        rank = len(shape)
        for a in (self.axis if isinstance(self.axis, list) else [self.axis]):
            if not -rank <= a < rank:
                raise RnnkitValueError(f"{where}: {type(self).__name__}(axis={self.axis!r}) does not fit a weight "
                                       f"of shape {tuple(shape)} (rank {rank})")

    def _norms(self, w):
        return np.sqrt(np.sum(np.square(w), axis=self._axes(), keepdims=True))

    def get_config(self):
        return {"axis": self.axis}


class MaxNorm(_NormConstraint):
    """Rescale each slice along ``axis`` whose L2 norm exceeds ``max_value`` down to it."""

    def __init__(self, max_value=2, axis=0):
        super().__init__(axis)
        self.max_value = _number("max_value", max_value, low=0)

    def __call__(self, w):
        w = np.asarray(w)
        norms = self._norms(w)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (w.dtype.type(EPSILON) + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative entries become 0."""

    def __call__(self, w):
        return np.maximum(w, 0)


class UnitNorm(_NormConstraint):
    """Each slice along ``axis`` divided by its L2 norm."""

    def __call__(self, w):
        w = np.asarray(w)
        return w / (w.dtype.type(EPSILON) + self._norms(w))


class MinMaxNorm(_NormConstraint):
    """Norms moved into [min_value, max_value]: fully with rate=1, a ``rate`` fraction of the way otherwise."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        super().__init__(axis)
        self.min_value = _number("min_value", min_value, low=0)
        self.max_value = _number("max_value", max_value, low=0)
        if self.min_value > self.max_value:
            raise RnnkitValueError(f"min_value must be <= max_value, got min_value={min_value!r} and "
                                   f"max_value={max_value!r}")
        self.rate = _number("rate", rate, low=0, high=1)

    def __call__(self, w):
        w = np.asarray(w)
        norms = self._norms(w)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (w.dtype.type(EPSILON) + norms)).astype(w.dtype)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm

_CLASSES = {cls.__name__: cls for cls in (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
_NAMES = {**_CLASSES, "constraint": Constraint, "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
          "min_max_norm": MinMaxNorm}


def serialize(constraint):
    """``{"class_name", "config"}`` (and ``"registered_name"`` for a registered custom class); None stays None."""
    return object_registry.serialize_object(constraint, "constraint")


def deserialize(config, custom_objects=None):
    """The constraint a :func:`serialize` dict (or Keras 3's, with ``module``/``registered_name``) describes."""
    return _checked(object_registry.deserialize_object(config, "constraint", _CLASSES, custom_objects), config)


def get(identifier):
    """A constraint from None, an instance, a name, a config dict, a class or any callable ``w -> w'``."""
    return object_registry.resolve(identifier, "constraint", _NAMES, deserialize, _checked)


def _checked(obj, identifier):
    if not callable(obj):
        raise RnnkitTypeError(f"constraint must be a name, a config dict, a Constraint or a function w -> w', "
                              f"got {describe(identifier)}")
    return obj


__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg", "unit_norm",
           "min_max_norm", "get", "serialize", "deserialize"]
