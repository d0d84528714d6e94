"""EarlyStopping: stop fit when a monitored quantity stops improving."""
import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError
from . import _checks
from .monitor import MonitorCallback


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras 3 rules).

    Args:
        monitor: logs key to watch (default "val_loss").
        min_delta: least change that counts as an improvement (default 0).
        patience: epochs without improvement before stopping (default 0: stop at
            the first epoch that does not improve, but never after epoch 0).
        verbose: 0 silent, 1 print when stopping and restoring.
        mode: "auto", "min" or "max" (see :class:`MonitorCallback`).
        baseline: if given, the wait counter is only reset by epochs that beat
            both the best so far and the baseline, so a run that never beats the
            baseline stops after ``patience`` epochs.
        restore_best_weights: at the end of training set the weights of the
            best epoch (whether or not training stopped early).
        start_from_epoch: epochs (from 0) to ignore before monitoring starts.

    After training: ``stopped_epoch`` (0 if it did not stop), ``best``,
    ``best_epoch``, ``wait``.

    Example: with monitor="loss", patience=2 and losses 1.0, 0.9, 0.95, 0.97 the
    run stops after epoch index 3 (the 2nd epoch without improvement).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor=monitor, mode=mode, min_delta=min_delta)
        self.patience = _checks.non_negative_int("patience", patience)
        self.verbose = _checks.verbosity("verbose", verbose)
        self.baseline = _checks.optional_finite_real("baseline", baseline)
        self.restore_best_weights = _checks.flag("restore_best_weights", restore_best_weights)
        self.start_from_epoch = _checks.non_negative_int("start_from_epoch", start_from_epoch)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = self.worst
        self.best_epoch = 0
        self.best_weights = None
        self._warn_missing.reset()

    def on_train_begin(self, logs=None):
        self._reset()

    def get_state(self):
        """Wait counter, best value and epoch, stop epoch and (with restore_best_weights) the best weights."""
        return {"monitor": self.monitor, "wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights}

    def set_state(self, state):
        _checks.restore(self, state, {
            "wait": _checks.non_negative_int, "stopped_epoch": _checks.non_negative_int,
            "best": _checks.real_or_infinite, "best_epoch": _checks.non_negative_int,
            "best_weights": self._checked_best_weights})

    def _checked_best_weights(self, name, value):
        if value is None:
            return None
        current = self.model.get_weights() if self.model is not None else None
        if (not isinstance(value, list) or not all(isinstance(w, np.ndarray) for w in value)
                or (current is not None and [w.shape for w in value] != [w.shape for w in current])):
            raise RnnkitValueError(f"{name} must be None or the model's weights (a list of arrays of shapes "
                                   f"{[w.shape for w in current or []]}), got {describe(value)}")
        return [w.copy() for w in value]

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored_value(logs, "early stopping is not checked")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # The first monitored epoch is the best seen so far by definition.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self.improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)
