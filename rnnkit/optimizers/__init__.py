"""Optimizers with Keras 3's update formulas, defaults, common arguments and step counter.

An optimizer updates :class:`rnnkit.variables.Variable` objects in place::

    opt = rnnkit.optimizers.AdamW(learning_rate=0.01, weight_decay=0.004, global_clipnorm=1.0)
    opt.apply_gradients(zip(grads, variables))     # Keras 3 form: (grad, var) pairs
    opt.apply(grads)                               # Keras 3 form: one gradient per built variable

Algorithms: SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Adadelta, Ftrl, Lion (string names
``"sgd"``, ``"adam"``, ``"adamw"``, ... through :func:`get`).

One flat buffer. The first call (or :meth:`Optimizer.build`) lays the variables end to end in one
contiguous array per dtype and makes each variable's ``value`` a view into it (layers and cells
see the same numbers; see :class:`rnnkit.variables.Variable` for how a cell's own dict is
re-pointed). The gradients are copied into a flat gradient buffer of the same layout and the slots
(momentum, velocity, ...) are flat arrays too, so each step is one vectorised update over all
weights, as PyTorch's ``foreach``/fused optimizers, instead of a few NumPy calls per variable.
A training loop can write gradients straight into :meth:`Optimizer.gradient_buffer` views and
call :meth:`Optimizer.apply_gradient_buffer`, skipping that copy. Later calls may pass those
variables or a subset (a variable with a None gradient is left alone, as in Keras).

Learning rate: a number, a schedule from :mod:`rnnkit.optimizers.schedules` (or any ``f(step)``)
called with the number of calls so far (0 on the first step), as Keras calls a
``LearningRateSchedule``; a callable taking no argument is called with none (Keras's
plain-callable form). ``optimizer.learning_rate`` reads the value in force and can be set to a
new number (what ReduceLROnPlateau does), unless the optimizer was built with a schedule.

Each step, in Keras 3's order: gradients divided by ``loss_scale_factor``; with
``gradient_accumulation_steps`` summed and, every that many calls, their mean applied; clipping
(at most one of clipvalue, clipnorm per variable, global_clipnorm); decoupled ``weight_decay``
(``w <- w (1 - weight_decay lr)``); the algorithm's update; the moving average of the weights
(``use_ema``, overwritten into them every ``ema_overwrite_frequency`` steps and by
:meth:`Optimizer.finalize_variable_values`); a variable's ``constraint`` (a callable attribute,
if it has one) applied to its new value.

Diagnostics after each step:
    last_grad_norm   global norm of the gradients (after unscaling, before clipping)
    last_clip_count  how many gradient arrays clipping changed in that step
    clip_events      how many steps so far had at least one gradient changed by clipping

Non-finite gradients: :meth:`Optimizer.apply_gradients` checks every gradient first (the global
norm is computed anyway; a non-finite norm triggers the per-variable check) and raises
:class:`NonFiniteGradientError` before any variable, slot or counter is touched, so the weights
stay valid and the caller may skip the batch.

State: :meth:`Optimizer.get_state` returns a flat dict of plain numbers and arrays (slots keyed
``"slot/<index>/<slot name>"`` by variable position, so a model rebuilt under other layer names
resumes too) and :meth:`Optimizer.set_state` restores it, so a run resumes bit-identically.
:meth:`Optimizer.keras_slot_order` and :attr:`Optimizer.variables` give Keras 3's order and names.
"""
from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from . import schedules
from .adam import Adam, Adamax, AdamW, Nadam
from .adaptive import Adadelta, Adagrad, RMSprop
from .base import NonFiniteGradientError, Optimizer
from .ftrl import Ftrl
from .sgd import SGD, Lion

_CLASSES = (SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Adadelta, Ftrl, Lion)
_REGISTRY = {cls.__name__: cls for cls in _CLASSES}
_REGISTRY.update({cls.__name__.lower(): cls for cls in _CLASSES})


def get(identifier):
    """Resolve an optimizer: an instance, a name (``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``, ...
    or the class name) with Keras's defaults, or a ``{"class_name", "config"}`` dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _REGISTRY:
        return _REGISTRY[identifier["class_name"]].from_config(dict(identifier.get("config") or {}))
    if isinstance(identifier, (str, dict)):
        names = sorted(name for name in _REGISTRY if name.islower())
        raise RnnkitValueError(f"optimizer must be one of {names} (or a class name), got {describe(identifier)}")
    raise RnnkitTypeError(f"optimizer must be a name, a config dict or an rnnkit Optimizer, got {describe(identifier)}")


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}``; :func:`get` reverses it (schedules included)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


__all__ = ["Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lion", "Nadam", "NonFiniteGradientError",
           "Optimizer", "RMSprop", "SGD", "get", "schedules", "serialize"]
