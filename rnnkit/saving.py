"""Weight files, whole-model files and resumable training state — all in rnnkit's array format.

Every file is written atomically (temporary file, fsync, rename) through
:mod:`rnnkit.io.arrays_file`, and read without pickle. A weights file holds the
arrays in ``model.weights`` order, named ``<layer>/<weight>``, plus a JSON
description of each layer's weights so a mismatch names the layer and shapes.

A model file adds the model's config (a Sequential's layer list, or a functional model's graph
in Keras 3's form) and its class name (``"Sequential"`` / ``"Functional"``; files written before
functional models have none and are Sequential). This module works on any object with the model
protocol (``layers``, ``weights``, ``get_config``, ``get_rng_states``, ...) and never imports the
model classes: :func:`rnnkit.models.load_model` builds the model, then :func:`restore_model`
fills it.
"""
import numpy as np

from .io import formats
from .io.arrays_file import RnnkitFileError, load_arrays, save_arrays

WEIGHTS_FORMAT = "rnnkit.weights/1"
MODEL_FORMAT = "rnnkit.model/1"
STATE_FORMAT = "rnnkit.training_state/1"


def _weight_key(layer, variable):
    """The array's name in the file: the variable's ``<layer>/<weight>``, prefixed with the layer's name
    where it lacks it (the weights of a model nested as a layer), so names stay unique."""
    return variable.name if variable.name.startswith(layer.name + "/") else f"{layer.name}/{variable.name}"


def _weight_arrays(model):
    return {_weight_key(layer, v): v.value for layer in model.layers for v in layer.weights}


def _layout(model):
    return [{"name": layer.name, "class_name": type(layer).__name__,
             "weights": [[_weight_key(layer, v), list(v.shape)] for v in layer.weights]} for layer in model.layers]


def _input_shape(model):
    shape = model.input_shape
    return [list(s) for s in shape] if isinstance(shape, list) else list(shape)


def _require_built(model, filepath, what):
    if not model.built:
        raise RnnkitFileError(
            f"cannot {what} {filepath!s}: model {model.name!r} is not built yet; give the first layer an "
            f"input_shape or call the model on data first")


def save_weights(model, filepath):
    """Write every weight of ``model`` to ``filepath`` (missing folders are created): rnnkit's format,
    or Keras's for a ``.weights.h5`` / ``.h5`` name (see :mod:`rnnkit.io.formats`)."""
    handler = formats.handler("save_weights", filepath)
    if handler is not None:
        return handler(model, filepath)
    _require_built(model, filepath, "save weights to")
    metadata = {"format": WEIGHTS_FORMAT, "layers": _layout(model),
                "build_input_shape": _input_shape(model)}
    save_arrays(filepath, _weight_arrays(model), metadata)


def _check_layout(model, filepath, saved_layers):
    """Compare the file's layers and shapes with the model's, position by position, before loading anything."""
    layers = model.layers
    if len(saved_layers) != len(layers):
        raise RnnkitFileError(
            f"{filepath!s} holds weights for {len(saved_layers)} layers "
            f"({', '.join(l['name'] for l in saved_layers)}) but model {model.name!r} has {len(layers)} "
            f"({', '.join(l.name for l in layers)})")
    for index, (saved, layer) in enumerate(zip(saved_layers, layers)):
        mine = [tuple(v.shape) for v in layer.weights]
        theirs = [tuple(shape) for _, shape in saved["weights"]]
        if mine != theirs:
            raise RnnkitFileError(
                f"{filepath!s} does not fit model {model.name!r}: layer {index} {layer.name!r} "
                f"({type(layer).__name__}) has weight shapes {mine}, the file's layer {saved['name']!r} "
                f"({saved['class_name']}) has {theirs}")


def _read(filepath, expected_format):
    arrays, metadata = load_arrays(filepath)
    found = metadata.get("format") if isinstance(metadata, dict) else None
    if found not in expected_format:
        raise RnnkitFileError(
            f"{filepath!s} is not the kind of rnnkit file expected here: its format is {found!r}, "
            f"expected one of {list(expected_format)}")
    return arrays, metadata


def _assign_weights(model, filepath, arrays, metadata):
    if not model.built:
        model.build(tuple(metadata["build_input_shape"]))
    _check_layout(model, filepath, metadata["layers"])
    values = [arrays[name] for layer in metadata["layers"] for name, _ in layer["weights"]]
    for variable, value in zip(model.weights, values):
        variable.assign(value)


def load_weights(model, filepath):
    """Load weights saved by :func:`save_weights` (or inside a model file) into ``model``."""
    handler = formats.handler("load_weights", filepath)
    if handler is not None:
        return handler(model, filepath)
    arrays, metadata = _read(filepath, (WEIGHTS_FORMAT, MODEL_FORMAT, STATE_FORMAT))
    _assign_weights(model, filepath, arrays, metadata)


def save_model(model, filepath):
    """Architecture (JSON config), weights and compile settings in one file (a Keras file for a
    ``.keras`` / ``.h5`` name)."""
    handler = formats.handler("save_model", filepath)
    if handler is not None:
        return handler(model, filepath)
    _require_built(model, filepath, "save")
    metadata = {"format": MODEL_FORMAT, "class_name": model.config_class_name, "config": model.get_config(),
                "layers": _layout(model), "build_input_shape": _input_shape(model),
                "compile": model.get_compile_config()}
    save_arrays(filepath, _weight_arrays(model), metadata)


def read_model_file(filepath):
    """(arrays, metadata) of a model file written by :func:`save_model`."""
    return _read(filepath, (MODEL_FORMAT,))


def restore_model(model, filepath, arrays, metadata, compile=True):
    """Fill ``model`` (rebuilt from the file's config) with the file's weights and compile settings."""
    _assign_weights(model, filepath, arrays, metadata)
    settings = metadata.get("compile")
    if compile and settings:
        model.compile_from_config(settings)


def _split_state(prefix, state, arrays):
    """Move the arrays of a (nested) state dict into ``arrays``; return the JSON-able rest."""
    rest = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[f"{prefix}/{key}"] = value
            rest[key] = {"__array__": f"{prefix}/{key}"}
        elif isinstance(value, dict):
            rest[key] = _split_state(f"{prefix}/{key}", value, arrays)
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
            for i, item in enumerate(value):
                arrays[f"{prefix}/{key}/{i}"] = item
            rest[key] = {"__arrays__": [f"{prefix}/{key}/{i}" for i in range(len(value))]}
        else:
            rest[key] = value
    return rest


def _join_state(rest, arrays):
    state = {}
    for key, value in rest.items():
        if isinstance(value, dict) and "__array__" in value:
            state[key] = arrays[value["__array__"]]
        elif isinstance(value, dict) and "__arrays__" in value:
            state[key] = [arrays[name] for name in value["__arrays__"]]
        elif isinstance(value, dict):
            state[key] = _join_state(value, arrays)
        else:
            state[key] = value
    return state


def save_training_state(model, filepath, epoch):
    """Everything a resumed ``fit`` needs to continue bit for bit: weights, optimizer slots,
    the random states behind shuffling and dropout, and the next epoch."""
    arrays = _weight_arrays(model)
    rng_states = model.get_rng_states()
    extra = {
        "optimizer": _split_state("optimizer", model.optimizer.get_state(), arrays),
        "shuffle_rng": rng_states["shuffle"],
        "layer_rngs": rng_states["layers"],
        "epoch": int(epoch),
    }
    metadata = {"format": STATE_FORMAT, "layers": _layout(model), "build_input_shape": _input_shape(model),
                "state": extra}
    save_arrays(filepath, arrays, metadata)


def load_training_state(model, filepath):
    """Restore what :func:`save_training_state` wrote; returns the epoch to resume from."""
    arrays, metadata = _read(filepath, (STATE_FORMAT,))
    _assign_weights(model, filepath, arrays, metadata)
    extra = metadata["state"]
    model.optimizer.set_state(_join_state(extra["optimizer"], arrays))
    model.set_rng_states({"shuffle": extra["shuffle_rng"], "layers": extra["layer_rngs"]})
    return int(extra["epoch"])
