"""Keras 3 as a reference in tests: imported once, on the torch backend (no TensorFlow needed)."""
import os

import numpy as np
import pytest


def import_keras():
    """keras on the torch backend, or skip the module when it is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def max_difference(a, b):
    """Largest absolute difference of two (lists of) arrays, in float64."""
    if isinstance(a, (list, tuple)):
        return max(max_difference(x, y) for x, y in zip(a, b))
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
