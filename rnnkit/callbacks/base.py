"""The callback contract (Keras 3's hook names) and History."""


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
