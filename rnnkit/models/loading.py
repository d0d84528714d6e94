"""``load_model``: a model file back to a model (beside the model classes, so that
:mod:`rnnkit.saving` never imports them)."""
from .. import saving
from ..errors import RnnkitValueError
from .model import Model
from .sequential import Sequential

# the class names a model file's metadata may give (files written before functional models name none)
MODEL_CLASSES = {"Sequential": Sequential, "Functional": Model, "Model": Model}


def load_model(filepath, compile=True):
    """Rebuild a model written by ``model.save(filepath)``: architecture (Sequential or functional,
    shared layers and several inputs and outputs included), weights and, if saved and ``compile``
    is True, the compile settings."""
    arrays, metadata = saving.read_model_file(filepath)
    class_name = metadata.get("class_name", "Sequential")
    cls = MODEL_CLASSES.get(class_name)
    if cls is None:
        raise saving.RnnkitFileError(f"{filepath!s} holds a model of class {class_name!r}; rnnkit reads "
                                     f"{sorted(MODEL_CLASSES)}")
    try:
        model = cls.from_config(metadata["config"])
    except (RnnkitValueError, TypeError, KeyError) as error:
        raise saving.RnnkitFileError(f"{filepath!s} holds a model config rnnkit cannot rebuild: {error}") from error
    saving.restore_model(model, filepath, arrays, metadata, compile=compile)
    return model
