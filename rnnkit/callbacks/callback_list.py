"""CallbackList: one callback that calls each hook on many, in order (Keras 3's ``CallbackList``)."""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError
from .base import Callback, History
from .progbar_logger import ProgbarLogger

#: hooks called with (batch or epoch index, logs)
_INDEX_HOOKS = ("on_batch_begin", "on_batch_end", "on_epoch_begin", "on_epoch_end",
                "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
                "on_predict_batch_begin", "on_predict_batch_end")
#: hooks called with (logs)
_PLAIN_HOOKS = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                "on_predict_end")


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
        add_history: append a :class:`~rnnkit.callbacks.History` unless one is in the list.
        add_progbar: append a :class:`~rnnkit.callbacks.ProgbarLogger` unless one is in the list.
        model: passed to every callback's ``set_model`` (and ``model.history`` is set
            to the History callback, as Keras does).
        params: dict passed to every callback's ``set_params``, e.g.
            ``{"epochs": 10, "steps": 12, "verbose": 1}``; Keras's keyword form
            ``CallbackList(cbs, epochs=10, steps=12, verbose=1)`` works too.

    History and ProgbarLogger go last so they see keys that earlier callbacks
    add to the epoch logs (e.g. ReduceLROnPlateau's "learning_rate"). Every hook of
    :class:`~rnnkit.callbacks.Callback` is forwarded, with ``logs`` (NumPy scalars made
    Python floats, in place) passed to each callback in turn.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, params=None,
                 **keyword_params):
        super().__init__()
        self.callbacks = _last_at_end(_flatten(callbacks))
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

    def calls(self, *hooks):
        """Whether some callback does something in one of ``hooks``: defines it itself rather than
        inheriting :class:`~rnnkit.callbacks.Callback`'s no-op. A loop skips building the logs of a
        hook no callback reads (list the hooks the base forwards to as well, e.g. ``on_batch_end``
        for ``on_train_batch_end``)."""
        for callback in self.callbacks:
            for hook in hooks:
                if getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook):
                    return True
        return False

    def _each(self, hook, *args, logs=None):
        logs = _plain_logs(logs)
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs)
        return logs

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)


def _forward_index_hook(name):
    def hook(self, index, logs=None):
        self._each(name, index, logs=logs)
    hook.__name__ = hook.__qualname__ = name
    hook.__doc__ = f"Call ``{name}(index, logs)`` on every callback."
    return hook


def _forward_plain_hook(name):
    def hook(self, logs=None):
        self._each(name, logs=logs)
    hook.__name__ = hook.__qualname__ = name
    hook.__doc__ = f"Call ``{name}(logs)`` on every callback."
    return hook


for _name in _INDEX_HOOKS:
    setattr(CallbackList, _name, _forward_index_hook(_name))
for _name in _PLAIN_HOOKS:
    setattr(CallbackList, _name, _forward_plain_hook(_name))
