"""ProgbarLogger: the per-epoch progress bar fit, evaluate and predict print."""
from ..utils.progbar import Progbar
from . import _checks
from .base import Callback


class ProgbarLogger(Callback):
    """Prints ``Epoch 3/10`` and a progress bar per epoch to ``sys.stdout``.

    The verbosity comes from ``params["verbose"]`` (set by fit): 0 silent; 1 a
    bar redrawn in place on a terminal, the final bar line only elsewhere; 2 one
    line per epoch. ``Epoch i/E`` is printed only when there is more than one
    epoch, as in Keras. Validation inside fit is silent; a standalone
    evaluate or predict gets its own bar.

    Output (verbose=1, not a terminal)::

        Epoch 3/10
        12/12 ━━━━━━━━━━━━━━━━━━━━ 0s 4ms/step - accuracy: 0.9500 - loss: 0.1200
    """

    def __init__(self):
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self.target = None
        self.seen = 0
        self.progbar = None
        self._in_fit = False

    def set_params(self, params):
        super().set_params(params)
        self.verbose = _checks.verbosity('params["verbose"]', params.get("verbose", 1))
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._new_bar()
        if self.verbose and self.epochs > 1:
            Progbar._write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch, logs=None):
        self._advance(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._new_bar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._advance(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._new_bar()

    def on_predict_batch_end(self, batch, logs=None):
        # Predict logs carry the outputs themselves, which are not for display.
        self._advance(batch, None)

    def on_predict_end(self, logs=None):
        self._finish(None)

    def _new_bar(self):
        self.seen = 0
        self.progbar = Progbar(target=self.target, verbose=self.verbose)

    def _advance(self, batch, logs):
        if self.progbar is None:
            self._new_bar()
        self.seen = batch + 1
        self.progbar.update(self.seen, logs or {}, finalize=False)

    def _finish(self, logs):
        if self.progbar is None:
            self._new_bar()
        # With an unknown number of steps the bar ends where the data ended;
        # after a stop_training mid-epoch it ends at the last batch run.
        if self.progbar.target is None:
            self.progbar.target = self.seen
        current = self.seen if self.seen else self.progbar.target
        self.progbar.update(current, logs or {}, finalize=True)
