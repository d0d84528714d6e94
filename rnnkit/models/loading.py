"""``load_model``: a model file back to a model (beside the model classes, so that
:mod:`rnnkit.saving` never imports them)."""
from .. import object_registry, saving
from ..io import formats
from .model import Model
from .sequential import Sequential

# the class names a model file's metadata may give (files written before functional models name none)
MODEL_CLASSES = {"Sequential": Sequential, "Functional": Model, "Model": Model}


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model written by ``model.save(filepath)``: architecture (Sequential or functional,
    shared layers and several inputs and outputs included), weights and, if saved and ``compile``
    is True, the compile settings. The file's metadata is checked first, and the model is rebuilt
    within the weights the file holds (see :func:`rnnkit.saving.rebuilding_model`). A ``.keras`` /
    ``.h5`` name is read as Keras's file (see :mod:`rnnkit.io.formats`; ``safe_mode`` is Keras's flag,
    :func:`rnnkit.io.keras.load_model`).

    ``custom_objects``: {name: class or function} for the custom layers, cells, losses, regularizers
    and constraints the file names (Keras's argument; the registry of
    :func:`rnnkit.saving.register_keras_serializable` and an active ``custom_object_scope`` are
    consulted too, see :mod:`rnnkit.object_registry`)."""
    with object_registry.CustomObjectScope(custom_objects):
        handler = formats.handler("load_model", filepath)
        if handler is not None:
            return handler(filepath, compile=compile, safe_mode=safe_mode)
        return _load_rnnkit_file(filepath, compile)


def _load_rnnkit_file(filepath, compile):
    arrays, metadata = saving.read_model_file(filepath)
    class_name = metadata.get("class_name", "Sequential")
    cls = MODEL_CLASSES.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise saving.RnnkitFileError(filepath, f"its metadata field class_name must be one of "
                                               f"{sorted(MODEL_CLASSES)}, got {class_name!r}")
    with saving.rebuilding_model(filepath, metadata):
        model = cls.from_config(metadata["config"])
    saving.restore_model(model, filepath, arrays, metadata, compile=compile)
    return model
