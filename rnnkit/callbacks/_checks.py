"""Constructor-argument checks and the small helpers the callbacks share.

Errors name the argument, show the value received and say what was expected,
as everywhere in rnnkit (see rnnkit/_validate.py).
"""
import math
import numbers
import warnings

from .._validate import choice, describe
from ..errors import RnnkitTypeError, RnnkitValueError

MODES = ("auto", "min", "max")

# Metrics that grow as the model improves. With mode="auto" these (and any
# name containing "acc", Keras 2's rule) are maximised; everything else,
# losses and errors, is minimised.
_HIGHER_IS_BETTER = {"auc", "precision", "recall", "f1_score", "fbeta_score", "r2_score", "iou", "mean_iou"}


def mode(name, value):
    return choice(name, value, MODES)


def is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def finite_real(name, value):
    if not is_real(value) or not math.isfinite(value):
        raise RnnkitValueError(f"{name} must be a finite number, got {describe(value)}")
    return float(value)


def optional_finite_real(name, value):
    return None if value is None else finite_real(name, value)


def non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise RnnkitValueError(f"{name} must be a non-negative integer, got {describe(value)}")
    return int(value)


def verbosity(name, value):
    if value == "auto":
        return 1
    return choice(name, value, (0, 1, 2))


def flag(name, value):
    if not isinstance(value, bool):
        raise RnnkitTypeError(f"{name} must be True or False, got {describe(value)}")
    return value


def monitor_name(name, value):
    if not isinstance(value, str) or not value:
        raise RnnkitValueError(f"{name} must be a non-empty metric name such as 'val_loss', got {describe(value)}")
    return value


def save_frequency(name, value):
    if value == "epoch":
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise RnnkitValueError(f"{name} must be 'epoch' or a positive number of batches, got {describe(value)}")
    return int(value)


def resolve_higher_is_better(mode_value, monitor):
    """True if larger values of ``monitor`` are better under ``mode_value`` ("auto", "min" or "max")."""
    if mode_value == "max":
        return True
    if mode_value == "min":
        return False
    metric = monitor.removeprefix("val_")
    return "acc" in metric or metric in _HIGHER_IS_BETTER


def current_learning_rate(optimizer):
    """The optimizer's learning rate now, as a float (a schedule is evaluated at the current step)."""
    lr = optimizer.learning_rate
    if callable(lr):
        lr = lr(getattr(optimizer, "iterations", 0))
    return float(lr)


class MissingMonitorWarner:
    """Warns once per training run that a monitored key is absent from the logs."""

    def __init__(self, owner, monitor):
        self.owner = owner
        self.monitor = monitor
        self.warned = False

    def reset(self):
        self.warned = False

    def __call__(self, logs, consequence):
        if self.warned:
            return
        self.warned = True
        available = ", ".join(repr(k) for k in logs) or "none"
        warnings.warn(
            f"{self.owner}: monitor={self.monitor!r} is not in the logs ({consequence}); "
            f"available keys: {available}",
            RuntimeWarning,
            stacklevel=3,
        )


def batch_save_due(callback):
    """Count one training batch for a callback with ``save_freq`` and ``_batches_since_save``;
    True when it should save now (never when it saves per epoch)."""
    if callback.save_freq == "epoch":
        return False
    callback._batches_since_save += 1
    if callback._batches_since_save < callback.save_freq:
        return False
    callback._batches_since_save = 0
    return True


def real_or_infinite(name, value):
    """A number, where ±inf is allowed (a "best so far" before any epoch) but NaN is not."""
    if not is_real(value) or math.isnan(value):
        raise RnnkitValueError(f"{name} must be a number (inf allowed), got {describe(value)}")
    return float(value)


def restore(callback, state, fields):
    """Check every field of a saved ``state`` with ``fields[key](name, value)``, then set them all.

    ``state`` must be a dict with exactly the keys of ``fields`` plus "monitor" when the callback has
    one. A state saved for another monitor is not restored (the callback was configured differently
    on resume): a RuntimeWarning says so and the callback starts afresh. Returns whether it restored.
    """
    owner = type(callback).__name__
    if not isinstance(state, dict):
        raise RnnkitTypeError(f"state of {owner} must be a dict as get_state() returns, got {describe(state)}")
    expected = set(fields) | ({"monitor"} if hasattr(callback, "monitor") else set())
    if set(state) != expected:
        raise RnnkitValueError(f"state of {owner} must have the keys {sorted(expected)}, got {sorted(state)}")
    if "monitor" in expected and not isinstance(state["monitor"], str):
        raise RnnkitTypeError(f"state['monitor'] of {owner} must be a metric name, got {describe(state['monitor'])}")
    if "monitor" in expected and state["monitor"] != callback.monitor:
        warnings.warn(f"{owner}: the backup was made with monitor={state['monitor']!r}, this run monitors "
                      f"{callback.monitor!r}; its saved state is not restored", RuntimeWarning, stacklevel=3)
        return False
    values = {key: check(f"state[{key!r}] of {owner}", state[key]) for key, check in fields.items()}
    for key, value in values.items():
        setattr(callback, key, value)
    return True
