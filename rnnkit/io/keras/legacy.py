"""Keras's legacy HDF5 files (``.h5`` / ``.hdf5``): what Keras 2 and ``tf.keras`` wrote, and what
Keras 3 still writes for ``model.save("x.h5")``.

A whole-model file has, on its root, the attributes ``model_config`` (JSON), ``training_config``
(JSON, when compiled), ``keras_version`` and ``backend``, the group ``model_weights`` and, when
compiled, ``optimizer_weights``. A weights-only file is the ``model_weights`` group's contents on
the root. That group lists ``layer_names`` (every layer, in model order); each layer's group lists
its ``weight_names``, and each weight is the dataset at that name (a path: ``"lstm/lstm_cell/kernel:0"``
in Keras 2, ``"sequential/lstm/lstm_cell/kernel"`` in Keras 3). Long name lists are split into
attributes ``name0``, ``name1``, ... (HDF5 keeps an attribute under 64 KiB).

Weights load by order, as Keras does: the file's layers that have weights, in order, go to the
model's layers that have weights, in order, each weight by its position in ``weight_names``.
Optimizer weights named as Keras 3 names them (``<optimizer>/iteration``, ``<optimizer>/learning_rate``,
then the slots) load as in :mod:`.optimizer_state`; Keras 2's layouts (``iter``, ``.../m:0``) vary
between versions and are dropped with a warning.
"""
import json
import os
import warnings

import numpy as np

from ..._validate import path_text
from ...variables import assign_all
from ..files import atomic_write
from .archive import KERAS_LAYOUT_VERSION, producer
from .budget import check_built_size, within_file
from .compile_config import compile_from_keras, compile_to_keras
from .errors import KerasFileError, KerasFormatWarning
from .h5 import reading, write_bytes
from .model_config import keras_layers, model_from_keras, model_to_keras
from .optimizer_state import optimizer_arrays, read_optimizer_state
from .weights_store import require_built

_ATTRIBUTE_LIMIT = 64512  # bytes; Keras's HDF5_OBJECT_HEADER_LIMIT
_BACKEND = "numpy"


# ---------------------------------------------------------------------------------------- reading
def _read_layer_weights(reader, group, model):
    """Load the ``model_weights``-style ``group`` into ``model``, checking everything before assigning."""
    stored = []
    for name in reader.names_attribute(group, "layer_names"):
        layer_group = reader.group(name, parent=group)
        if layer_group is None:
            reader.fail(f"layer group {name!r} listed in layer_names is missing")
        weight_names = reader.names_attribute(layer_group, "weight_names")
        if weight_names:
            stored.append((name, layer_group, weight_names))
    layers = [layer for layer in keras_layers(model) if layer.weights]
    if len(stored) != len(layers):
        reader.fail(f"it holds weights for {len(stored)} layers ({[s[0] for s in stored]}) but the model has "
                    f"{len(layers)} layers with weights ({[layer.name for layer in layers]})")
    pending = []
    for (name, layer_group, weight_names), layer in zip(stored, layers):
        if len(weight_names) != len(layer.weights):
            reader.fail(f"layer {name!r} of the file has {len(weight_names)} weights, the model's layer "
                        f"{layer.name!r} ({type(layer).__name__}) has {len(layer.weights)}")
        for weight_name, variable in zip(weight_names, layer.weights):
            pending.append((variable, reader.dataset(layer_group, weight_name, variable.shape)))
    assign_all(f"model {model.name!r}", [(v.name, v.value) for v, _ in pending], [value for _, value in pending])


def _read_optimizer(reader, model, filepath):
    group = reader.group("optimizer_weights")
    if group is None or not getattr(model, "compiled", False):
        return
    names = reader.names_attribute(group, "weight_names")
    if not names or not names[0].endswith("/iteration"):
        warnings.warn(f"{filepath}: the optimizer state was dropped: its weights are named {names[:3]}..., "
                      f"a Keras 2 layout that rnnkit does not map", KerasFormatWarning, stacklevel=3)
        return
    state = read_optimizer_state(model.optimizer, model.trainable_variables, len(names),
                                 lambda position, shape, kinds: reader.dataset(group, names[position], shape, kinds),
                                 filepath)
    if state is not None:  # the model is a fresh one: its weights may be assigned first
        model.optimizer.set_state(state)


def _json_attribute(reader, name, required):
    text = reader.text_attribute(reader.root, name, required=required)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        reader.fail(f"attribute {name!r} is not valid JSON ({error})")


def _checked_path(filepath):
    filepath = path_text("filepath", filepath)
    if not os.path.isfile(filepath):
        raise KerasFileError(filepath, "no such file")
    return filepath


def load_legacy_model(filepath, compile=True, safe_mode=True):
    """Rebuild the model of a legacy Keras HDF5 file (``model.save("x.h5")`` in Keras 2, tf.keras or Keras 3)."""
    filepath = _checked_path(filepath)
    size = os.path.getsize(filepath)
    with reading(filepath, filepath, size) as reader:
        config = _json_attribute(reader, "model_config", required=False)
        if config is None:
            hint = " (it holds weights only: build the model, then load_weights)" \
                if "layer_names" in reader.root.attrs else ""
            reader.fail(f"it has no 'model_config' attribute, so it is not a Keras whole-model file{hint}")
        with within_file(filepath, size, "the file"):
            model = model_from_keras(config, safe_mode)
        check_built_size(filepath, model, size, "the file")
        weights = reader.group("model_weights")
        if weights is None:
            reader.fail("the group 'model_weights' is missing")
        _read_layer_weights(reader, weights, model)
        if compile and compile_from_keras(model, _json_attribute(reader, "training_config", False), filepath):
            _read_optimizer(reader, model, filepath)
    return model


def load_legacy_weights(model, filepath):
    """Load a legacy Keras HDF5 weights file (or a whole-model file's weights) into the built ``model``."""
    require_built(model, path_text("filepath", filepath), "load weights from")
    filepath = _checked_path(filepath)
    with reading(filepath, filepath, os.path.getsize(filepath)) as reader:
        group = reader.group("model_weights") if "layer_names" not in reader.root.attrs else reader.root
        if group is None:
            reader.fail("it has neither 'layer_names' nor a 'model_weights' group: not a Keras weights file")
        _read_layer_weights(reader, group, model)


# ---------------------------------------------------------------------------------------- writing
def _names_attribute(node, name, names):
    """Keras's ``save_attributes_to_hdf5_group``: byte strings, split when over the attribute limit."""
    data = np.asarray([n.encode("utf-8") for n in names]) if names else np.asarray([], dtype="S1")
    chunks = 1
    while any(part.nbytes > _ATTRIBUTE_LIMIT for part in np.array_split(data, chunks)):
        chunks += 1
    if chunks == 1:
        node.attrs[name] = data
    else:
        for index, part in enumerate(np.array_split(data, chunks)):
            node.attrs[f"{name}{index}"] = part


def _write_layer_weights(group, model):
    _names_attribute(group, "layer_names", [layer.name for layer in keras_layers(model)])
    group.attrs["backend"] = _BACKEND.encode("utf-8")
    group.attrs["keras_version"] = KERAS_LAYOUT_VERSION.encode("utf-8")
    for layer in keras_layers(model):
        layer_group = group.create_group(layer.name)
        names = [f"{model.name}/{variable.name}" for variable in layer.weights]
        _names_attribute(layer_group, "weight_names", names)
        for name, variable in zip(names, layer.weights):
            layer_group.create_dataset(name, data=variable.value)
    _names_attribute(group.create_group("top_level_model_weights"), "weight_names", [])


def _write_optimizer(handle, model):
    optimizer = model.optimizer
    entries = optimizer_arrays(optimizer)
    names = [f"{optimizer.name}/{name}" for name, _ in entries]
    group = handle.create_group("optimizer_weights")
    _names_attribute(group, "weight_names", names)
    for name, (_, array) in zip(names, entries):
        group.create_dataset(name, data=array)


def save_legacy_model(model, filepath):
    """Write ``model`` as Keras's legacy HDF5 whole-model file (what ``model.save("x.h5")`` writes)."""
    filepath = path_text("filepath", filepath)
    require_built(model, filepath, "save to")
    config = model_to_keras(model)
    compile_config = compile_to_keras(model, filepath)

    def fill(handle):
        handle.attrs["keras_version"] = KERAS_LAYOUT_VERSION
        handle.attrs["backend"] = _BACKEND
        handle.attrs["producer"] = producer()
        handle.attrs["model_config"] = json.dumps({"class_name": config["class_name"], "config": config["config"]})
        if compile_config is not None:
            training = {key: value for key, value in compile_config.items() if key != "optimizer"}
            # Keras 3.15's legacy loader cannot read a loss given by name ("mse"): write the object.
            training["loss"] = {"class_name": type(model.loss).__name__, "config": model.loss.get_config()}
            optimizer = compile_config["optimizer"]
            training["optimizer_config"] = {"class_name": optimizer["class_name"], "config": optimizer["config"]}
            handle.attrs["training_config"] = json.dumps(training)
        _write_layer_weights(handle.create_group("model_weights"), model)
        if compile_config is not None:
            _write_optimizer(handle, model)

    atomic_write(filepath, write_bytes(filepath, fill))


def save_legacy_weights(model, filepath):
    """Write ``model``'s weights as a legacy Keras HDF5 weights file (what tf.keras 2's
    ``save_weights("x.h5")`` wrote)."""
    filepath = path_text("filepath", filepath)
    require_built(model, filepath, "save weights to")
    atomic_write(filepath, write_bytes(filepath, lambda handle: _write_layer_weights(handle, model)))
