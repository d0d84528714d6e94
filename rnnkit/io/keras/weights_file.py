"""Keras 3's ``.weights.h5`` files: ``model.save_weights`` / ``model.load_weights`` both ways."""
import os

from ..._validate import path_text
from ..files import atomic_write
from .errors import KerasFileError
from .h5 import reading, write_bytes
from .weights_store import read_model_weights, require_built, write_model_weights


def save_weights(model, filepath):
    """Write ``model``'s weights (and optimizer state, when compiled) as Keras 3 does."""
    filepath = path_text("filepath", filepath)
    require_built(model, filepath, "save weights to")
    atomic_write(filepath, write_bytes(filepath, lambda handle: write_model_weights(handle, model)))


def load_weights(model, filepath):
    """Load a Keras 3 ``.weights.h5`` file into the built ``model`` (same architecture)."""
    filepath = path_text("filepath", filepath)
    require_built(model, filepath, "load weights from")
    if not os.path.isfile(filepath):
        raise KerasFileError(filepath, "no such file")
    with reading(filepath, filepath, os.path.getsize(filepath)) as reader:
        read_model_weights(reader, model, filepath)
