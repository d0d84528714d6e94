"""``load_model``: a model file back to a model (beside the model classes, so that
:mod:`rnnkit.saving` never imports them)."""
import contextlib

from .. import saving
from ..errors import RnnkitError
from ..io import formats
from .model import Model
from .sequential import Sequential

# the class names a model file's metadata may give (files written before functional models name none)
MODEL_CLASSES = {"Sequential": Sequential, "Functional": Model, "Model": Model}


def load_model(filepath, compile=True, safe_mode=True):
    """Rebuild a model written by ``model.save(filepath)``: architecture (Sequential or functional,
    shared layers and several inputs and outputs included), weights and, if saved and ``compile``
    is True, the compile settings. A ``.keras`` / ``.h5`` name is read as Keras's file (see
    :mod:`rnnkit.io.formats`; ``safe_mode`` is Keras's flag, :func:`rnnkit.io.keras.load_model`)."""
    handler = formats.handler("load_model", filepath)
    if handler is not None:
        return handler(filepath, compile=compile, safe_mode=safe_mode)
    arrays, metadata = saving.read_model_file(filepath)
    class_name = metadata.get("class_name", "Sequential")
    cls = MODEL_CLASSES.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise saving.RnnkitFileError(filepath, f"its model class is {class_name!r}; rnnkit reads "
                                               f"{sorted(MODEL_CLASSES)}")
    with _file_errors(filepath, "its model config cannot be rebuilt"):
        model = cls.from_config(metadata["config"])
    with _file_errors(filepath, "its weights or compile settings do not fit the model"):
        saving.restore_model(model, filepath, arrays, metadata, compile=compile)
    return model


@contextlib.contextmanager
def _file_errors(filepath, what):
    """A forged file's values make constructors raise whatever they did not foresee: report each as a
    problem of the file."""
    try:
        yield
    except saving.RnnkitFileError:
        raise
    except (RnnkitError, TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError) as error:
        raise saving.RnnkitFileError(filepath, f"{what}: {type(error).__name__}: {error}") from None
