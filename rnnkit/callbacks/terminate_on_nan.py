"""TerminateOnNaN: stop fit as soon as the loss is NaN or infinite."""
import math

from . import _checks
from .base import Callback


class TerminateOnNaN(Callback):
    """Stop training at the first training batch whose loss is NaN or ±inf.

    Args:
        raise_error: if True raise ``RuntimeError`` at once (``on_train_end`` of the
            other callbacks is then skipped, which keeps e.g. a BackupAndRestore
            backup); if False (default) print ``Batch 3: Invalid loss, terminating
            training`` and set ``model.stop_training``.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = _checks.flag("raise_error", raise_error)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}: loss={loss}; training stopped")
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
