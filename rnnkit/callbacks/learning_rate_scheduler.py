"""LearningRateScheduler: set the learning rate at the start of every epoch."""
import inspect
import math

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from . import _checks
from .base import Callback


def _takes_two_arguments(schedule):
    try:
        params = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):
        return True  # builtins without a signature: assume the Keras 3 form
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


class LearningRateScheduler(Callback):
    """Set ``optimizer.learning_rate = schedule(epoch, lr)`` at the start of each epoch.

    Args:
        schedule: a function of the 0-based epoch and the current learning rate
            (a float) returning the new learning rate; a one-argument
            ``schedule(epoch)`` is accepted too (Keras 2 form).
        verbose: 0 silent, 1 print each new rate.

    Adds "learning_rate" (the rate used in the epoch) to every epoch's logs.

    Example:
        >>> sched = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise RnnkitTypeError(f"schedule must be a function schedule(epoch, lr) -> float, "
                                  f"got {describe(schedule)}")
        self.schedule = schedule
        self.verbose = _checks.verbosity("verbose", verbose)
        self._two_arguments = _takes_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if self._two_arguments:
            lr = self.schedule(epoch, _checks.current_learning_rate(optimizer))
        else:
            lr = self.schedule(epoch)
        if not _checks.is_real(lr) or not math.isfinite(lr) or lr < 0:
            raise RnnkitValueError(
                f"schedule({epoch}, ...) must return a finite learning rate >= 0, got {describe(lr)}"
            )
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _checks.current_learning_rate(self.model.optimizer)
