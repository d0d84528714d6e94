"""LambdaCallback: a callback made of plain functions (Keras 3's arguments)."""
from .._validate import describe
from ..errors import RnnkitTypeError
from .base import Callback

HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))  # every hook a callback has


class LambdaCallback(Callback):
    """Call the given functions at the matching hooks.

    Args (each None or a function; Keras 3's names and call forms):
        on_epoch_begin, on_epoch_end: ``f(epoch, logs)``.
        on_train_begin, on_train_end: ``f(logs)``.
        on_train_batch_begin, on_train_batch_end: ``f(batch, logs)``.
        **kwargs: any other hook by its name, e.g. ``on_test_end=f`` or the legacy
            ``on_batch_end=f`` (``f(batch, logs)``).

    Example:
        >>> losses = []
        >>> callback = LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
        >>> callback.on_epoch_end(0, {"loss": 0.5}); losses
        [0.5]
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end, "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end, **kwargs}
        for name, function in hooks.items():
            if name not in HOOKS:
                raise RnnkitTypeError(f"LambdaCallback got an unknown hook {name!r}; hooks are {sorted(HOOKS)}")
            if function is None:
                continue
            if not callable(function):
                raise RnnkitTypeError(f"{name} must be a function or None, got {describe(function)}")
            setattr(self, name, function)
