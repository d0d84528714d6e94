"""ModelCheckpoint: save the model or its weights during fit."""
import string

from .._validate import path_text
from ..errors import RnnkitValueError
from . import _checks
from .monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) during training.

    Args:
        filepath: where to save; any file name works (no suffix is required or
            added). It may hold ``str.format`` fields filled from ``epoch``
            (1-based, as Keras), ``batch`` (1-based, when saving every N batches)
            and the logs, e.g. ``"ckpt/{epoch:02d}-{val_loss:.2f}.weights"``.
        monitor: logs key deciding "best" when ``save_best_only`` (default "val_loss").
        verbose: 0 silent, 1 print each decision.
        save_best_only: save only when ``monitor`` improves on the best so far
            (strictly; the best survives between fit calls of this callback).
            A monitor missing from the logs warns once and saves, as Keras does.
        save_weights_only: call ``model.save_weights`` instead of ``model.save``.
        mode: "auto", "min" or "max".
        save_freq: "epoch" (at every epoch end) or N (after every N training batches,
            counted across epochs).
        initial_value_threshold: a first "best" value to beat, or None.

    The model's save methods write atomically and create missing folders.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor=monitor, mode=mode, min_delta=0.0)
        self.filepath = path_text("filepath", filepath)
        self._check_template(self.filepath)
        self.verbose = _checks.verbosity("verbose", verbose)
        self.save_best_only = _checks.flag("save_best_only", save_best_only)
        self.save_weights_only = _checks.flag("save_weights_only", save_weights_only)
        self.save_freq = _checks.save_frequency("save_freq", save_freq)
        self.best = _checks.optional_finite_real("initial_value_threshold", initial_value_threshold)
        if self.best is None:
            self.best = self.worst
        self._batches_since_save = 0
        self._current_epoch = 0

    @staticmethod
    def _check_template(filepath):
        try:
            list(string.Formatter().parse(filepath))
        except ValueError as err:
            raise RnnkitValueError(
                f"filepath must be a file name, optionally with format fields such as {{epoch:02d}}; "
                f"{filepath!r} is not a valid template ({err}); write a literal brace as {{{{ or }}}}"
            ) from None

    def on_train_begin(self, logs=None):
        self._warn_missing.reset()
        self._batches_since_save = 0

    def get_state(self):
        """The best value so far and the batches since the last save (see :meth:`Callback.get_state`)."""
        return {"monitor": self.monitor, "best": self.best, "_batches_since_save": self._batches_since_save}

    def set_state(self, state):
        _checks.restore(self, state, {"best": _checks.real_or_infinite,
                                      "_batches_since_save": _checks.non_negative_int})

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if _checks.batch_save_due(self):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def format_path(self, epoch, batch, logs):
        """The file name for 0-based ``epoch`` (and ``batch``), filled from ``logs``."""
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as err:
            available = ", ".join(sorted(fields))
            raise RnnkitValueError(
                f"filepath {self.filepath!r} names the field {err} which is not available; "
                f"available fields: {available}"
            ) from None

    def _should_save(self, epoch, logs, path):
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = self.monitored_value(logs, "saving every time instead of only the best")
        if current is None:
            return True
        best_text = f"{self.best:.5f}"
        if self.improves(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_text} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_text}")
        return False

    def _save(self, epoch, batch, logs):
        path = self.format_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
