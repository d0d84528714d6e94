"""One source of randomness for rnnkit.

Every random thing (weight initialisation, shuffling, dropout) takes a ``seed``.
With an explicit seed it draws from ``np.random.default_rng(seed)``; with
``seed=None`` it draws from a child of the global generator, which
:func:`set_random_seed` resets, so one call to ``set_random_seed(s)`` makes a
whole program repeat bit for bit.
"""
import numbers

import numpy as np

from ._validate import describe
from .errors import RnnkitValueError

_global = {"seed": None, "sequence": np.random.SeedSequence()}


def set_random_seed(seed):
    """Reset the global generator behind every ``seed=None`` draw (and NumPy's legacy one)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise RnnkitValueError(f"seed must be a non-negative integer, got {describe(seed)}")
    _global["seed"] = int(seed)
    _global["sequence"] = np.random.SeedSequence(int(seed))
    np.random.seed(int(seed) % 2**32)


def make_rng(seed=None):
    """A ``np.random.Generator``: from ``seed`` if given, else the next child of the global sequence."""
    if seed is None:
        return np.random.default_rng(_global["sequence"].spawn(1)[0])
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise RnnkitValueError(f"seed must be a non-negative integer or None, got {describe(seed)}")
    return np.random.default_rng(int(seed))
