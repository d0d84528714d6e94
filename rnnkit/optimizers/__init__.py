"""Optimizers with Keras 3's update formulas, defaults, clipping and step counter.

An optimizer updates :class:`rnnkit.variables.Variable` objects in place::

    opt = rnnkit.optimizers.Adam(learning_rate=0.01, global_clipnorm=1.0)
    opt.apply_gradients(zip(grads, variables))     # Keras 3 form: (grad, var) pairs

The first call builds the slots (momentum, velocity, ...) for the variables it
is given, in that order; later calls may pass those variables (or a subset) only.

Learning rate: a number, or a schedule ``f(step) -> float`` called with the
number of steps taken so far (``iterations``, 0 on the first step), as Keras
calls a ``LearningRateSchedule``; a callable taking no argument is called with
none (Keras's plain-callable form). ``optimizer.learning_rate`` reads the value
in force and can be set to a new number (what ReduceLROnPlateau does), unless
the optimizer was built with a schedule.

Clipping (at most one, as in Keras), applied before the update:
    clipvalue        g <- clip(g, -clipvalue, clipvalue), elementwise
    clipnorm         g <- g * clipnorm / max(||g||, clipnorm), each variable on its own
    global_clipnorm  g <- g * global_clipnorm * min(1/N, 1/global_clipnorm) for every g,
                     N = sqrt(sum over all variables of ||g||^2)
Diagnostics after each step:
    last_grad_norm   N above, computed before any clipping (float)
    last_clip_count  how many gradient arrays clipping changed in that step
    clip_events      how many steps so far had at least one gradient changed by clipping

Non-finite gradients: :meth:`Optimizer.apply_gradients` checks every gradient first
and raises :class:`NonFiniteGradientError` before any variable, slot or counter is
touched, so the weights stay valid and the caller may skip the batch.

State: :meth:`Optimizer.get_state` returns a flat dict of plain numbers and arrays
(slots keyed ``"slot/<index>/<slot name>"`` by variable position, so a model rebuilt
under other layer names resumes too) and
:meth:`Optimizer.set_state` restores it, so a run resumes bit-identically.
"""
from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .algorithms import SGD, Adagrad, Adam, RMSprop
from .base import NonFiniteGradientError, Optimizer

_CLASSES = (SGD, Adam, RMSprop, Adagrad)
_REGISTRY = {cls.__name__: cls for cls in _CLASSES}
_REGISTRY.update({cls.__name__.lower(): cls for cls in _CLASSES})


def get(identifier):
    """Resolve an optimizer: an instance, a name (``"adam"``, ``"sgd"``, ``"rmsprop"``,
    ``"adagrad"`` or the class name) with Keras's defaults, or a ``{"class_name", "config"}`` dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _REGISTRY:
        return _REGISTRY[identifier["class_name"]].from_config(dict(identifier.get("config", {})))
    if isinstance(identifier, (str, dict)):
        raise RnnkitValueError(f"optimizer must be one of {sorted(_REGISTRY)}, got {describe(identifier)}")
    raise RnnkitTypeError(f"optimizer must be a name, a config dict or an rnnkit Optimizer, got {describe(identifier)}")


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}``; :func:`get` reverses it (numeric learning rates)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


__all__ = ["Adagrad", "Adam", "NonFiniteGradientError", "Optimizer", "RMSprop", "SGD", "get", "serialize"]
