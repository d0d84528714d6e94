"""The errors of Keras-file reading and writing and of Keras-config translation."""
import contextlib

from ...errors import RnnkitError, RnnkitValueError
from ..arrays_file import RnnkitFileError

_BRIEF_CHARS = 80


def brief(value, as_text=False):
    """``repr(value)`` (``str`` for a string with ``as_text``) cut to a readable length: configs may
    hold hostile values of any size."""
    text = value if as_text and isinstance(value, str) else repr(value)
    return text if len(text) <= _BRIEF_CHARS else f"{text[:_BRIEF_CHARS]}... ({len(text):,} characters)"


# What translating a config can raise on a value of a type or size it did not expect.
_UNFORESEEN = (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError)


class KerasFileError(RnnkitFileError):
    """A Keras file (.keras, .weights.h5, .h5) is malformed, hostile, or does not fit the model."""


class KerasConfigError(RnnkitValueError):
    """A Keras config cannot be translated: an argument rnnkit does not have, an unknown key,
    or an rnnkit setting Keras cannot express."""


class UnsupportedLayerError(KerasConfigError):
    """A Keras model uses layer classes rnnkit does not have.

    Attributes:
        layers: list of ``(layer name, class name)``, every unsupported layer of the model.
    """

    def __init__(self, layers):
        self.layers = list(layers)
        listed = ", ".join(f"{name!r} ({class_name})" for name, class_name in self.layers)
        super().__init__(f"the model uses layers rnnkit does not have: {listed}; rnnkit has the layers "
                         f"listed in rnnkit.layers.__all__")


class UnsafeCodeError(KerasConfigError):
    """A Keras config holds marshalled Python bytecode (a Lambda layer or function); it is never executed."""


class KerasFormatWarning(UserWarning):
    """Something in a Keras file was dropped on the way in or out (optimizer state, compile settings)."""


@contextlib.contextmanager
def config_errors(what):
    """Report as a :class:`KerasConfigError` whatever a forged value in ``what`` (a config) makes the
    translation raise that it did not name itself (a number where a dict belongs, ...)."""
    try:
        yield
    except RnnkitError:
        raise
    except RecursionError:
        raise KerasConfigError(f"{what} nests layers too deeply to be a real model") from None
    except _UNFORESEEN as error:
        raise KerasConfigError(f"{what} holds a value rnnkit cannot use: {type(error).__name__}: {error}") from None
