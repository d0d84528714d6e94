"""``fit(class_weight={class: weight})``: per-class weights turned into per-sample weights, as Keras does.

Keras 3 (``class_weight_to_sample_weights``) reads each sample's class from its target: integer
labels as they are, one-hot rows (and soft ones) by their arg-max, a binary ``(N, 1)`` target
rounded; a class the dict leaves out weighs 1. For sequence outputs ``(N, T, classes)`` the
classes are read per time step, so the weights are ``(N, T)`` (Keras 3 fails there).

Checked before training, with named errors: the dict's keys must be classes the model's output
has (``0 .. classes - 1``; 0 and 1 for a one-unit sigmoid output), its values finite numbers
>= 0; Keras supports it for one-output models only, and so does rnnkit.
"""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError


def _classes(model):
    """How many classes the model's one output has (2 for a single unit), or None if unknown."""
    shape = model.outputs[0].shape if getattr(model, "outputs", None) else None
    if not shape or shape[-1] is None:
        return None
    return 2 if shape[-1] == 1 else int(shape[-1])


def check(model, class_weight):
    """``class_weight`` as ``{int class: float weight}``, or None."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise RnnkitTypeError(f"class_weight must be a dict {{class index: weight}}, got {describe(class_weight)}")
    if len(model.output_names) != 1:
        raise RnnkitValueError(f"class_weight is only supported for models with a single output (as Keras); this "
                               f"model has outputs {model.output_names}: give sample_weight per output instead")
    classes = _classes(model)
    checked = {}
    for key, weight in class_weight.items():
        integral = isinstance(key, numbers.Integral) or (isinstance(key, numbers.Real) and float(key).is_integer())
        if isinstance(key, bool) or not integral:
            raise RnnkitValueError(f"class_weight keys must be class indices (integers), got {key!r}")
        if int(key) < 0 or (classes is not None and int(key) >= classes):
            span = "any index >= 0" if classes is None else f"0 .. {classes - 1}"
            raise RnnkitValueError(
                f"class_weight names class {key!r}, which does not exist: output {model.output_names[0]!r} of shape "
                f"{model.outputs[0].shape} has {classes} classes ({span})")
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 <= weight < float("inf"):
            raise RnnkitValueError(f"class_weight[{key!r}] must be a finite number >= 0, got {describe(weight)}")
        checked[int(key)] = float(weight)
    return checked


def class_indices(model, y):
    """The class of every sample (or time step) in the targets ``y`` of the model's one output."""
    y = np.asarray(y)
    rank = len(model.outputs[0].shape) if getattr(model, "outputs", None) else 2
    if y.ndim >= rank and y.ndim >= 2:  # one-hot (or soft) rows, or a binary (..., 1) target
        y = np.round(y[..., 0]) if y.shape[-1] == 1 else np.argmax(y, axis=-1)
    return np.round(y).astype(np.int64)


def sample_weights(model, class_weight, y, name="y"):
    """Per-sample (or per-time-step) weights from ``class_weight`` for the targets ``y``."""
    weights = check(model, class_weight)
    labels = class_indices(model, y)
    table = np.ones(max(max(weights, default=0), int(labels.max(initial=0))) + 1)
    for key, weight in weights.items():
        table[key] = weight
    if labels.size and labels.min() < 0:
        raise RnnkitValueError(f"{name} holds the negative class {int(labels.min())}; class_weight needs labels >= 0")
    return table[labels]
