"""rnnkit's exceptions.

Every check on user input raises one of these. They subclass the builtin
``ValueError`` / ``TypeError`` so code written against Keras or NumPy that
catches those keeps working.
"""


class RnnkitError(Exception):
    """Base class of every error rnnkit raises on purpose."""


class RnnkitValueError(RnnkitError, ValueError):
    """An argument has the right type but a value, shape or size that is not allowed."""


class RnnkitTypeError(RnnkitError, TypeError):
    """An argument has a type (or dtype) that is not allowed."""


class RnnkitMemoryError(RnnkitValueError, MemoryError):
    """A size (of a layer's weights, of a file's arrays) needs more memory than the process can get.

    Raised before anything is allocated; also a ``MemoryError`` for code that catches that.
    """


class SlowKernelsWarning(RuntimeWarning):
    """rnnkit runs its NumPy reference kernels because its compiled loops could not be loaded or built
    (issued once per process; ``RNNKIT_QUIET_FALLBACK=1`` silences it)."""
