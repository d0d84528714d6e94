"""The callback contract (Keras 3's hook names), a list that dispatches to many, and History."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError


class Callback:
    """Base class of every callback: all hooks exist and do nothing.

    ``fit`` calls ``set_model(model)`` and ``set_params({"epochs": E, "steps": S,
    "verbose": V})``, then, in order::

        on_train_begin(logs)
          on_epoch_begin(epoch, logs)                      epoch counts from 0
            on_train_batch_begin(batch, logs)              batch counts from 0 in each epoch
            on_train_batch_end(batch, logs)                logs: running means of the epoch so far
          [on_test_begin / on_test_batch_* / on_test_end   validation]
          on_epoch_end(epoch, logs)                        logs: epoch means, "val_*" too
        on_train_end(logs)

    ``evaluate`` calls the ``on_test_*`` hooks and ``predict`` the
    ``on_predict_*`` hooks. ``logs`` is a dict of Python floats keyed by Keras's
    names ("loss", "accuracy", "val_loss", ..., and "grad_norm"). A callback may
    set ``self.model.stop_training = True`` to end training after the current
    batch or epoch.

    The legacy ``on_batch_begin`` / ``on_batch_end`` hooks are what the default
    ``on_train_batch_begin`` / ``on_train_batch_end`` call, as in Keras.

    Resumable state (rnnkit's addition): a callback that carries something from one epoch
    to the next (a best value, a wait counter) returns it from :meth:`get_state` and takes
    it back in :meth:`set_state`; ``BackupAndRestore`` stores it with the training state
    and restores it on resume, after every callback's ``on_train_begin``.
    """

    #: whether the callback runs after all others in a :class:`CallbackList` (BackupAndRestore
    #: does: its backup must see the epoch's state of every other callback)
    runs_last = False

    def __init__(self):
        self.params = {}
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def get_state(self):
        """What this callback carries across epochs, as a dict of JSON values and NumPy arrays
        (lists of arrays too), or None when it carries nothing (the default)."""
        return None

    def set_state(self, state):
        """Take back what :meth:`get_state` returned: check all of ``state`` first, then assign
        (raise RnnkitValueError / RnnkitTypeError naming the bad key, changing nothing)."""

    def on_batch_begin(self, batch, logs=None):
        """Legacy alias of :meth:`on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """Legacy alias of :meth:`on_train_batch_end`."""

    def on_epoch_begin(self, epoch, logs=None):
        """Start of epoch ``epoch`` (0-based) during fit."""

    def on_epoch_end(self, epoch, logs=None):
        """End of epoch ``epoch``; ``logs`` holds the epoch's training and validation results."""

    def on_train_batch_begin(self, batch, logs=None):
        """Start of training batch ``batch`` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """End of training batch ``batch``; ``logs`` holds running means over the epoch so far."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Start of an evaluation batch (evaluate, or validation inside fit)."""

    def on_test_batch_end(self, batch, logs=None):
        """End of an evaluation batch."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Start of a prediction batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """End of a prediction batch."""

    def on_train_begin(self, logs=None):
        """Start of fit."""

    def on_train_end(self, logs=None):
        """End of fit (also after early stopping)."""

    def on_test_begin(self, logs=None):
        """Start of evaluate (or of validation inside fit)."""

    def on_test_end(self, logs=None):
        """End of evaluate (or of validation inside fit)."""

    def on_predict_begin(self, logs=None):
        """Start of predict."""

    def on_predict_end(self, logs=None):
        """End of predict."""


def _plain_logs(logs):
    """``logs`` with NumPy scalars turned into Python floats, changed in place.

    In place, so keys a callback adds (ReduceLROnPlateau's "learning_rate")
    reach the callbacks after it and the caller, as in Keras.
    """
    if logs is None:
        return {}
    for key, value in logs.items():
        if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
            logs[key] = float(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, float)):
            logs[key] = float(value)
    return logs


def _flatten(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if isinstance(callbacks, CallbackList):
        return list(callbacks.callbacks)
    if not isinstance(callbacks, (list, tuple)):
        raise RnnkitTypeError(f"callbacks must be a list of Callback objects or None, got {describe(callbacks)}")
    flat = []
    for i, item in enumerate(callbacks):
        if isinstance(item, (list, tuple, CallbackList)):
            flat.extend(_flatten(item))
        elif isinstance(item, Callback):
            flat.append(item)
        else:
            raise RnnkitTypeError(
                f"callbacks[{i}] must be an rnnkit.callbacks.Callback, got {describe(item)}"
            )
    return flat


def _last_at_end(callbacks):
    return sorted(callbacks, key=lambda c: bool(c.runs_last))  # stable: the order is kept otherwise


class CallbackList(Callback):
    """Calls each hook on every callback, in list order.

    Args:
        callbacks: a Callback, a (nested) list of them, or None.
        add_history: append a :class:`History` unless one is in the list.
        add_progbar: append a :class:`~rnnkit.callbacks.ProgbarLogger` unless one is in the list.
        model: passed to every callback's ``set_model`` (and ``model.history`` is set
            to the History callback, as Keras does).
        params: dict passed to every callback's ``set_params``, e.g.
            ``{"epochs": 10, "steps": 12, "verbose": 1}``; Keras's keyword form
            ``CallbackList(cbs, epochs=10, steps=12, verbose=1)`` works too.

    History and ProgbarLogger go last so they see keys that earlier callbacks
    add to the epoch logs (e.g. ReduceLROnPlateau's "learning_rate").
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, params=None,
                 **keyword_params):
        super().__init__()
        self.callbacks = _last_at_end(_flatten(callbacks))
        from .progbar_logger import (
            ProgbarLogger,  # imported here: that module imports this one
        )

        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        for callback in self.callbacks:  # BackupAndRestore saves and restores the others' state
            if hasattr(callback, "set_callbacks"):
                callback.set_callbacks(self.callbacks)
        if model is not None:
            self.set_model(model)
        params = {**(params or {}), **keyword_params}
        if params:
            self.set_params(params)

    def append(self, callback):
        self.callbacks = _last_at_end(self.callbacks + _flatten([callback]))

    def set_params(self, params):
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        if self.history is not None and model is not None:
            model.history = self.history
        for callback in self.callbacks:
            callback.set_model(model)

    def _each(self, hook, *args, logs=None):
        logs = _plain_logs(logs)
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs)
        return logs

    def on_batch_begin(self, batch, logs=None):
        self._each("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        self._each("on_batch_end", batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._each("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._each("on_train_batch_end", batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._each("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._each("on_test_batch_end", batch, logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._each("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._each("on_predict_batch_end", batch, logs=logs)

    def on_train_begin(self, logs=None):
        self._each("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._each("on_train_end", logs=logs)

    def on_test_begin(self, logs=None):
        self._each("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._each("on_test_end", logs=logs)

    def on_predict_begin(self, logs=None):
        self._each("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._each("on_predict_end", logs=logs)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it.

    Attributes:
        history: dict mapping each log key to the list of its per-epoch values,
            e.g. ``{"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}``.
        epoch: list of the epoch indices (0-based) that were recorded.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self
