"""Keras 3 as a test reference, on the torch backend (CI has no tensorflow)."""
import os

import pytest


def import_keras():
    """keras with KERAS_BACKEND=torch (unless already set), or skip the test when it is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != os.environ["KERAS_BACKEND"]:
        pytest.skip(f"keras was imported earlier with the {keras.backend.backend()} backend")
    return keras
