"""The comparison shared by callbacks that watch one logged quantity."""
import math

from . import _checks
from .base import Callback


class MonitorCallback(Callback):
    """Base of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint.

    Args:
        monitor: the logs key to watch, e.g. "val_loss" or "accuracy".
        mode: "min", "max" or "auto"; "auto" maximises accuracy-like names
            (containing "acc", or auc/precision/recall/...) and minimises the rest.
        min_delta: the least change that counts as an improvement (its sign is ignored).

    ``improves(current, reference)`` is ``current < reference - min_delta`` when
    minimising and ``current > reference + min_delta`` when maximising; a NaN
    never improves.
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0):
        super().__init__()
        self.monitor = _checks.monitor_name("monitor", monitor)
        self.mode = _checks.mode("mode", mode)
        self.min_delta = abs(_checks.finite_real("min_delta", min_delta))
        self.higher_is_better = _checks.resolve_higher_is_better(self.mode, self.monitor)
        self._warn_missing = _checks.MissingMonitorWarner(type(self).__name__, self.monitor)

    @property
    def worst(self):
        """The value every finite result improves on: +inf when minimising, -inf when maximising."""
        return -math.inf if self.higher_is_better else math.inf

    def improves(self, current, reference):
        if reference is None:
            return True
        if self.higher_is_better:
            return current > reference + self.min_delta
        return current < reference - self.min_delta

    def monitored_value(self, logs, consequence):
        """``logs[monitor]`` as a float, or None (after one warning per run) when it is absent."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            self._warn_missing(logs, consequence)
            return None
        return float(value)
