"""Keras as a test reference: imported on the torch backend (CI has no TensorFlow), skipped when absent.

Keras's ``timeseries_dataset_from_array`` and ``TextVectorization`` run on TensorFlow
whatever the backend, so tests of those also need :func:`tensorflow_or_skip`.
"""
import os

import pytest


def keras_or_skip():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


def tensorflow_or_skip():
    pytest.importorskip("tensorflow")
    return keras_or_skip()
