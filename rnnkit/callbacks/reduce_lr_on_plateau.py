"""ReduceLROnPlateau: multiply the learning rate by ``factor`` when progress stalls."""
from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from . import _checks
from .monitor import MonitorCallback


class ReduceLROnPlateau(MonitorCallback):
    """Reduce the learning rate when ``monitor`` has stopped improving (Keras 3 rules).

    After ``patience`` epochs without an improvement of more than ``min_delta``,
    ``lr <- max(lr * factor, min_lr)`` (only while ``lr > min_lr``), then
    ``cooldown`` epochs pass in which the wait counter stays at 0. Adds
    "learning_rate" to every epoch's logs.

    Args:
        monitor: logs key to watch (default "val_loss").
        factor: multiplier in [0, 1) (default 0.1).
        patience: epochs without improvement before a reduction (default 10).
        verbose: 0 silent, 1 print each reduction.
        mode: "auto", "min" or "max".
        min_delta: least change that counts as an improvement (default 1e-4).
        cooldown: epochs to wait after a reduction before counting again (default 0).
            As in Keras the counter is decremented before the check, so the
            ``cooldown - 1`` epochs after a reduction are skipped (1 skips none).
        min_lr: lower bound of the learning rate (default 0).

    Example: factor=0.5, patience=1, lr 0.1 and val_loss 1.0, 1.0, 1.0: epoch 0
    sets the best, epochs 1 and 2 each halve the rate, so the logged rates (read
    before the reduction) are 0.1, 0.1, 0.05 and the rate ends at 0.025.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor=monitor, mode=mode, min_delta=min_delta)
        if not _checks.is_real(factor) or not 0.0 <= factor < 1.0:
            raise RnnkitValueError(f"factor must be a number in [0, 1) (new_lr = lr * factor), "
                                   f"got {describe(factor)}")
        self.factor = float(factor)
        self.patience = _checks.non_negative_int("patience", patience)
        self.verbose = _checks.verbosity("verbose", verbose)
        self.cooldown = _checks.non_negative_int("cooldown", cooldown)
        min_lr = _checks.finite_real("min_lr", min_lr)
        if min_lr < 0:
            raise RnnkitValueError(f"min_lr must be >= 0, got {describe(min_lr)}")
        self.min_lr = min_lr
        self._reset()

    def _reset(self):
        self.best = self.worst
        self.wait = 0
        self.cooldown_counter = 0
        self._warn_missing.reset()

    def get_state(self):
        """Best value, wait and cooldown counters; the learning rate itself is the optimizer's state."""
        return {"monitor": self.monitor, "best": self.best, "wait": self.wait,
                "cooldown_counter": self.cooldown_counter}

    def set_state(self, state):
        _checks.restore(self, state, {"best": _checks.real_or_infinite, "wait": _checks.non_negative_int,
                                      "cooldown_counter": _checks.non_negative_int})

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        optimizer = self.model.optimizer
        logs["learning_rate"] = _checks.current_learning_rate(optimizer)
        current = self.monitored_value(logs, "the learning rate is not reduced")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improves(current, self.best):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        old_lr = logs["learning_rate"]
        if old_lr > self.min_lr:
            if callable(optimizer.learning_rate):
                raise RnnkitTypeError(
                    "ReduceLROnPlateau needs optimizer.learning_rate to be a number, got a schedule "
                    f"{describe(optimizer.learning_rate)}; use a constant learning rate or drop this callback"
                )
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0
