"""Which file format a path means: the one registry of file-name suffixes.

``model.save(path)``, ``rnnkit.load_model(path)``, ``model.save_weights(path)`` and
``model.load_weights(path)`` ask :func:`handler` first; a suffix registered here
sends the call to that format's module (imported only then, so an optional
package such as h5py is touched only by the files that need it). Every other
name — ``.weights``, ``.ckpt``, no suffix at all — stays rnnkit's own
checksummed array format (:mod:`rnnkit.saving`).

Suffixes are matched case-insensitively, longest first, so ``x.weights.h5``
is Keras 3's weights file while ``x.h5`` is Keras's legacy HDF5 file.

To add a format, add one :func:`register` line below naming the module and
its functions for the operations it supports (``"module:function"``).
"""
import importlib
import os

from .._validate import path_text
from ..errors import RnnkitValueError

OPERATIONS = ("save_model", "load_model", "save_weights", "load_weights")

# suffix -> {"name": human-readable format name, operation: "module:function"}
_FORMATS = {}


def register(suffix, name, **operations):
    """Route the files ending in ``suffix`` (e.g. ``".keras"``) to ``operations``.

    Args:
        suffix: the file-name ending, with its dot; case does not matter.
        name: the format's name for messages, e.g. ``"Keras 3 .keras archive"``.
        **operations: any of :data:`OPERATIONS`, each a ``"package.module:function"`` string.
            An operation left out is refused for this suffix with a message naming the ones it has.
    """
    unknown = sorted(set(operations) - set(OPERATIONS))
    if unknown:
        raise RnnkitValueError(f"operations must be among {list(OPERATIONS)}, got {unknown}")
    _FORMATS[suffix.lower()] = {"name": name, **operations}


def _match(filepath):
    text = os.path.basename(path_text("filepath", filepath)).lower()
    for suffix in sorted(_FORMATS, key=len, reverse=True):
        if text.endswith(suffix):
            return suffix, _FORMATS[suffix]
    return None, None


def handler(operation, filepath):
    """The function doing ``operation`` for ``filepath``, or None for rnnkit's own format.

    Raises:
        RnnkitValueError: the suffix is registered but its format cannot do ``operation``
            (e.g. ``save_weights`` to a ``.keras`` name).
    """
    suffix, entry = _match(filepath)
    if entry is None:
        return None
    target = entry.get(operation)
    if target is None:
        offered = [op for op in OPERATIONS if op in entry]
        raise RnnkitValueError(
            f"filepath {os.fspath(filepath)!r} names a {entry['name']} (suffix {suffix!r}), which supports "
            f"{offered}, not {operation}; {_HINTS.get((suffix, operation), 'use another file name')}")
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


_HINTS = {
    (".keras", "save_weights"): "Keras 3 writes weights alone to a name ending in '.weights.h5'",
    (".weights.h5", "save_model"): "a whole model goes to a '.keras' name",
    (".weights.h5", "load_model"): "a weights file holds no architecture: build the model, then load_weights",
    (".safetensors", "save_model"): "a safetensors file holds weights only: use save_weights, or save the whole "
                                    "model to a '.keras' name or in rnnkit's own format",
    (".safetensors", "load_model"): "a safetensors file holds no architecture: build the model, then load_weights",
    **{(".onnx", op): "write ONNX with model.export(path, format='onnx'); rnnkit does not read ONNX files"
       for op in OPERATIONS},
}

register(".keras", "Keras 3 .keras archive",
         save_model="rnnkit.io.keras:save_model", load_model="rnnkit.io.keras:load_model",
         load_weights="rnnkit.io.keras:load_archive_weights")
register(".weights.h5", "Keras 3 HDF5 weights file",
         save_weights="rnnkit.io.keras:save_weights", load_weights="rnnkit.io.keras:load_weights")
register(".h5", "Keras legacy HDF5 file",
         save_model="rnnkit.io.keras:save_legacy_model", load_model="rnnkit.io.keras:load_legacy_model",
         save_weights="rnnkit.io.keras:save_legacy_weights", load_weights="rnnkit.io.keras:load_legacy_weights")
register(".hdf5", "Keras legacy HDF5 file",
         save_model="rnnkit.io.keras:save_legacy_model", load_model="rnnkit.io.keras:load_legacy_model",
         save_weights="rnnkit.io.keras:save_legacy_weights", load_weights="rnnkit.io.keras:load_legacy_weights")
# Configs in another library's format, handed on by rnnkit.layers.deserialize_layer and the models'
# from_config: kind -> "module:function" of a translator returning the built object, or None when the
# config is not in its format (then it is rnnkit's own). Named by string, as the file formats above,
# so that layers and models never import the translators (which import layers and models).
_CONFIG_TRANSLATORS = {
    "layer": "rnnkit.io.keras.layer_config:foreign_layer",
    "sequential": "rnnkit.io.keras.model_config:foreign_sequential",
    "functional": "rnnkit.io.keras.model_config:foreign_functional",
}


def translate_config(kind, config):
    """The layer or model a foreign ``config`` (Keras 3 / Keras 2) of ``kind`` ("layer", "sequential",
    "functional") describes, or None when ``config`` is rnnkit's own."""
    module_name, function_name = _CONFIG_TRANSLATORS[kind].split(":")
    return getattr(importlib.import_module(module_name), function_name)(config)


register(".safetensors", "safetensors weights file",
         save_weights="rnnkit.io.safetensors:save_model_weights",
         load_weights="rnnkit.io.safetensors:load_model_weights")
register(".onnx", "file for ONNX export")
