"""Keras files, read and written with Keras's own layouts: ``.keras`` archives, ``.weights.h5``
weights files, legacy ``.h5`` files, and Keras 3 / Keras 2 configs.

The model methods reach these by file name (see :mod:`rnnkit.io.formats`):
``model.save("m.keras")``, ``rnnkit.load_model("m.keras")``, ``model.save_weights("w.weights.h5")``,
``model.load_weights("w.weights.h5")``, and the same with ``.h5`` for Keras's legacy format.
h5py (``pip install "rnnkit[keras]"``) is imported only when an HDF5 file is read or written.
Nothing in a file is executed: a Lambda layer's bytecode is refused (:class:`UnsafeCodeError`) unless
the user opts in with ``safe_mode=False``, as in Keras (it then runs when the layer is called).
"""
from .archive import KERAS_LAYOUT_VERSION, load_model, save_model
from .archive import load_weights as load_archive_weights
from .errors import KerasConfigError, KerasFileError, KerasFormatWarning, UnsafeCodeError, UnsupportedLayerError
from .layer_config import layer_from_keras, layer_to_keras
from .legacy import load_legacy_model, load_legacy_weights, save_legacy_model, save_legacy_weights
from .model_config import model_from_keras, model_to_keras
from .weights_file import load_weights, save_weights

__all__ = [
    "KERAS_LAYOUT_VERSION", "KerasConfigError", "load_archive_weights", "KerasFileError", "KerasFormatWarning", "UnsafeCodeError",
    "UnsupportedLayerError", "layer_from_keras", "layer_to_keras", "load_legacy_model", "load_legacy_weights",
    "load_model", "load_weights", "model_from_keras", "model_to_keras", "save_legacy_model",
    "save_legacy_weights", "save_model", "save_weights",
]
