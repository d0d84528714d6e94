"""rnnkit: recurrent neural networks in NumPy with explicit backpropagation through time."""
from . import cells, errors, initializers, ops
from .errors import RnnkitError, RnnkitTypeError, RnnkitValueError
from .random import set_random_seed

__version__ = "0.1.0"

__all__ = [
    "cells", "errors", "initializers", "ops",
    "RnnkitError", "RnnkitTypeError", "RnnkitValueError", "set_random_seed", "__version__",
]
