"""A model's weights (and optimizer state) in Keras 3's HDF5 layout: the ``model.weights.h5``
of a .keras archive and a ``.weights.h5`` file are the same thing (see :mod:`.layout`).

Reading checks every group and dataset against the model first and assigns nothing until all
of them fit, so a bad file leaves the model as it was.
"""
from ...variables import assign_all
from .errors import KerasFileError
from .h5 import write_vars
from .layout import model_nodes, vars_path
from .model_config import keras_layers
from .optimizer_state import optimizer_arrays, read_optimizer_state

# Keras 2.13 wrote a model's layers under this name instead of "layers".
_KERAS_2_13_LAYERS = "_layer_checkpoint_dependencies"


def require_built(model, filepath, what):
    """Refuse to ``what`` ("save to", "save weights to", "load weights from") ``filepath`` with a model that
    has no weights yet."""
    if not model.built:
        raise KerasFileError(f"cannot {what} {filepath!r}: model {model.name!r} is not built yet; give the first "
                             f"layer an input_shape, call the model on data or build() it first")


def _nodes(model):
    return model_nodes(model, keras_layers(model))


def write_model_weights(handle, model):
    """Fill the open h5py file ``handle`` with ``model``'s weights and, if compiled, optimizer state."""
    for path, name, variables in _nodes(model):
        write_vars(handle, path, name, [v.value for v in variables])
    optimizer = getattr(model, "optimizer", None)
    if getattr(model, "compiled", False) and optimizer is not None:
        write_vars(handle, "optimizer", optimizer.name, [array for _, array in optimizer_arrays(optimizer)])


def read_model_weights(reader, model, where):
    """Load ``model``'s weights from the open :class:`~.h5.H5Reader`, then its optimizer state
    when the model is compiled."""
    layers_root = "layers"
    if reader.group("layers") is None and reader.group(_KERAS_2_13_LAYERS) is not None:
        layers_root = _KERAS_2_13_LAYERS
    pending = []
    for path, _, variables in _nodes(model):
        if path.startswith("layers/"):
            path = layers_root + path[len("layers"):]
        group = reader.group(vars_path(path))
        stored = reader.dataset_names(group)
        if len(stored) != len(variables):
            reader.fail(f"group {vars_path(path)!r} holds {len(stored)} arrays but the model's "
                        f"{[v.name for v in variables] or 'object there'} needs {len(variables)}; the file was "
                        f"saved from another architecture")
        for index, variable in enumerate(variables):
            pending.append((variable, reader.dataset(group, str(index), variable.shape)))
    group = reader.group("optimizer/vars")
    state = None
    if getattr(model, "compiled", False) and group is not None:
        state = read_optimizer_state(model.optimizer, model.trainable_variables, len(reader.dataset_names(group)),
                                     lambda position, shape, kinds: reader.dataset(group, str(position), shape,
                                                                                   kinds), where)
    assign_all(f"model {model.name!r}", [(v.name, v.value) for v, _ in pending], [value for _, value in pending])
    if state is not None:
        model.optimizer.set_state(state)
