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
import contextlib
import math
import numbers
import os

import numpy as np

from . import initializers, object_registry
from .errors import RnnkitError, RnnkitTypeError, RnnkitValueError
from .io import formats
from .io.arrays_file import RnnkitFileError, load_arrays, save_arrays
from .io.file_schema import FORMATS, MODEL_FORMAT, STATE_FORMAT, WEIGHTS_FORMAT, check_metadata

# Keras 3's registration names under rnnkit.saving (keras.saving.register_keras_serializable, ...)
CustomObjectScope, custom_object_scope = object_registry.CustomObjectScope, object_registry.custom_object_scope
get_custom_objects, get_registered_name = object_registry.get_custom_objects, object_registry.get_registered_name
get_registered_object = object_registry.get_registered_object
register_keras_serializable = object_registry.register_keras_serializable


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


def _read(filepath, expected_formats):
    """The arrays and metadata of an rnnkit file, its metadata checked against the format's schema."""
    from . import layers  # noqa: F401 - every built-in layer class registered
    from .layers.base import layer_classes

    arrays, metadata = load_arrays(filepath)
    check_metadata(filepath, metadata, arrays, expected_formats, layer_classes())
    return arrays, metadata


def _weight_elements(metadata):
    return sum(math.prod(shape) for layer in metadata["layers"] for _, shape in layer["weights"])


@contextlib.contextmanager
def _rebuilding(filepath, available, what):
    """Build what a file describes: at most the weights the file holds, and every refusal a file error.

    Inside, every weight is drawn as zeros and counted against the numbers the file's weights hold
    (see :func:`rnnkit.initializers.weights_from_file`), so a config asking for more — ``units: 3000``
    in a file of 2 KB — is refused before that weight is allocated. Whatever a constructor raises
    about a forged config value is reported as a problem of the file.

    Args:
        filepath: the file, for messages.
        available: how many numbers the file's weights hold.
        what: what is being built, for messages (``"its model config"``).
    """

    def refuse(owner, shape, wanted, left):
        raise RnnkitFileError(
            filepath, f"{what} asks {owner or 'a layer'} for a weight of shape {shape} ({wanted:,} numbers), "
                      f"but the file's weights hold only {available:,} numbers in all ({left:,} not yet claimed): "
                      f"{what} does not match the weights stored")

    with initializers.weights_from_file(available, refuse):
        try:
            yield
        except RnnkitFileError:
            raise
        except RnnkitError as err:
            raise RnnkitFileError(filepath, f"{what} cannot be rebuilt: {err}") from None
        except _REBUILD_ERRORS as err:  # a forged value a constructor did not foresee
            raise RnnkitFileError(filepath, f"{what} cannot be rebuilt: {type(err).__name__}: {err}") from None


# What a constructor or from_config can raise on values it did not expect; at the boundary of an
# untrusted file these mean "the file is wrong", not "rnnkit is broken".
_REBUILD_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError, RecursionError)


def build_for_file(model, filepath, input_shape, available, check=None):
    """Build an unbuilt ``model`` for the input shape a weights file names, all or nothing.

    A twin of the model (from its config) is built first, within the ``available`` numbers the
    file's weights hold, and given to ``check(twin)`` (which raises if the file does not fit it);
    only then is ``model`` itself built, so a refused file leaves ``model`` unbuilt rather than half
    built. Models whose config does not rebuild them are built directly (still within the file).
    Other formats' loaders (safetensors) use this too.

    Args:
        model: an unbuilt model.
        filepath: the file, for messages.
        input_shape: the file's ``build_input_shape`` (batch axis first), already checked to be a shape.
        available: the number of weight values the file holds.
        check: ``check(built_twin)``, or None.
    """
    shape = tuple(input_shape)
    try:
        twin = type(model).from_config(model.get_config())
    except Exception:  # noqa: BLE001 - a user's layer without a complete config: no twin, build directly
        twin = None
    what = f"model {model.name!r} built for the file's input shape {list(shape)}"
    if twin is not None:
        with _rebuilding(filepath, available, what):
            twin.build(shape)
        if check is not None:
            check(twin)
    with _rebuilding(filepath, available, what):
        model.build(shape)


def _build_for_layout(model, filepath, metadata):
    build_for_file(model, filepath, metadata["build_input_shape"], _weight_elements(metadata),
                   check=lambda twin: _check_layout(twin, filepath, metadata["layers"]))


def _assign_weights(model, filepath, arrays, metadata):
    """Put the file's weights into ``model``: every shape is proven equal first, then all are written."""
    if not model.built:
        _build_for_layout(model, filepath, metadata)
    _check_layout(model, filepath, metadata["layers"])
    # The schema proved each array has its layout's shape, and _check_layout that the layout has the
    # model's shapes, so no assignment below can fail half way.
    values = [arrays[name] for layer in metadata["layers"] for name, _ in layer["weights"]]
    for variable, value in zip(model.weights, values):
        variable.assign(value)


def load_weights(model, filepath):
    """Load weights saved by :func:`save_weights` (or inside a model file) into ``model``.

    All or nothing: the file and its fit to the model are checked completely before any weight
    changes; an unbuilt model is built for the file's input shape only when the file fits it.
    """
    handler = formats.handler("load_weights", filepath)
    if handler is not None:
        return handler(model, filepath)
    filepath = os.fspath(filepath)
    arrays, metadata = _read(filepath, FORMATS)
    _assign_weights(model, filepath, arrays, metadata)


def save_model(model, filepath, include_optimizer=True):
    """Architecture (JSON config), weights and compile settings in one file (a Keras file for a
    ``.keras`` / ``.h5`` name); with ``include_optimizer`` (Keras's default) also the optimizer's state
    (slots and counters), so a loaded model's ``fit`` continues where the saved one stopped."""
    handler = formats.handler("save_model", filepath)
    if handler is not None:
        return handler(model, filepath)
    if not isinstance(include_optimizer, (bool, np.bool_)):
        raise RnnkitTypeError(f"include_optimizer must be True or False, got {include_optimizer!r}")
    _require_built(model, filepath, "save")
    arrays = _weight_arrays(model)
    metadata = {"format": MODEL_FORMAT, "class_name": model.config_class_name, "config": model.get_config(),
                "layers": _layout(model), "build_input_shape": _input_shape(model),
                "compile": model.get_compile_config()}
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None and optimizer.built:
        metadata["optimizer"] = _split_state("optimizer", optimizer.get_state(), arrays)
    save_arrays(filepath, arrays, metadata)


def read_model_file(filepath):
    """(arrays, metadata) of a model file written by :func:`save_model`, its metadata checked."""
    return _read(os.fspath(filepath), (MODEL_FORMAT,))


@contextlib.contextmanager
def rebuilding_model(filepath, metadata, what="its model config"):
    """Build what a model file describes (``cls.from_config(metadata["config"])``): within the weights the
    file holds, and every refusal a file error (see :func:`_rebuilding`)."""
    with _rebuilding(os.fspath(filepath), _weight_elements(metadata), what):
        yield


def restore_model(model, filepath, arrays, metadata, compile=True):
    """Fill ``model`` (rebuilt from the file's config) with the file's weights and compile settings."""
    filepath = os.fspath(filepath)
    if not model.built:
        with rebuilding_model(filepath, metadata):
            model.build(tuple(metadata["build_input_shape"]))
    _assign_weights(model, filepath, arrays, metadata)
    settings = metadata.get("compile")
    if compile and settings:
        with rebuilding_model(filepath, metadata, "its compile settings"):
            model.compile_from_config(settings)
        saved_state = metadata.get("optimizer")
        if saved_state is not None and getattr(model, "optimizer", None) is not None:
            _restore_optimizer(model, filepath, saved_state, arrays)


def _restore_optimizer(model, filepath, saved_state, arrays):
    """The optimizer state a model file holds, checked against the model's variables, then set."""
    if not isinstance(saved_state, dict):
        raise RnnkitFileError(filepath, f"its metadata field optimizer must be a mapping, got "
                                        f"{type(saved_state).__name__}")
    model.optimizer.set_state(_checked_optimizer_state(model, filepath, saved_state, arrays, "optimizer"))


def _checked_optimizer_state(model, filepath, saved_state, arrays, where):
    """The optimizer state a file's metadata field ``where`` describes, checked (nothing set) against the
    variables the model's optimizer will update; a misfit is a file error."""
    state = _join_state(saved_state, arrays, filepath, where)
    try:
        return model.optimizer.check_state(state, model.trainable_variables)
    except RnnkitError as err:
        raise RnnkitFileError(filepath, f"its optimizer state does not fit {model.optimizer.name}: {err}") from None


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


def _join_state(rest, arrays, filepath, where):
    """Inverse of :func:`_split_state`; a reference to an array the file lacks is a file error."""
    def array(name):
        if not isinstance(name, str) or name not in arrays:
            raise RnnkitFileError(filepath, f"its metadata field {where} refers to array {name!r}, which the file "
                                            f"does not hold")
        return arrays[name]

    state = {}
    for key, value in rest.items():
        if isinstance(value, dict) and "__array__" in value:
            state[key] = array(value["__array__"])
        elif isinstance(value, dict) and "__arrays__" in value:
            names = value["__arrays__"]
            if not isinstance(names, list):
                raise RnnkitFileError(filepath, f"its metadata field {where}.{key} must list array names")
            state[key] = [array(name) for name in names]
        elif isinstance(value, dict):
            state[key] = _join_state(value, arrays, filepath, f"{where}.{key}")
        else:
            state[key] = value
    return state


def _require_trained(model, filepath):
    _require_built(model, filepath, "save the training state to")
    if getattr(model, "optimizer", None) is None or getattr(model, "shuffle_rng", None) is None:
        raise RnnkitValueError(
            f"cannot save the training state of model {model.name!r} to {filepath!s}: it holds the optimizer's "
            f"state and the shuffling generator of a fit, and the model has "
            f"{'not been compiled' if getattr(model, 'optimizer', None) is None else 'not been fit yet'}; "
            f"call compile() and fit() first (or save_weights() for the weights alone)")


def _callback_states(callbacks, arrays):
    """``[{"class_name", "state"}, ...]`` for the callbacks that carry state (see Callback.get_state)."""
    saved = []
    for callback in callbacks or ():
        state = callback.get_state() if hasattr(callback, "get_state") else None
        if state is not None:
            saved.append({"class_name": type(callback).__name__,
                          "state": _split_state(f"callbacks/{len(saved)}", state, arrays)})
    return saved


def _restore_callbacks(filepath, saved, callbacks, arrays):
    """Give each callback the state saved for the callback of its class at the same place among
    those of its class; all or nothing (a refused state puts back what the others had)."""
    pending, seen = [], {}
    for callback in callbacks or ():
        if not hasattr(callback, "set_state"):
            continue
        name = type(callback).__name__
        occurrence = seen[name] = seen.get(name, -1) + 1
        matches = [entry for entry in saved if entry["class_name"] == name]
        if occurrence < len(matches):
            state = _join_state(matches[occurrence]["state"], arrays, filepath, f"state.callbacks ({name})")
            pending.append((callback, state))
    done = []
    try:
        for callback, state in pending:
            before = callback.get_state()
            callback.set_state(state)
            done.append((callback, before))
    except RnnkitError as err:
        for callback, before in reversed(done):
            callback.set_state(before)
        raise RnnkitFileError(filepath, f"its saved state of {type(callback).__name__} cannot be restored: "
                                        f"{err}") from None


def save_training_state(model, filepath, epoch, callbacks=None):
    """Everything a resumed ``fit`` needs to continue bit for bit: weights, optimizer slots,
    the random states behind shuffling and dropout, the next epoch, and the state of each of
    ``callbacks`` that carries one (:meth:`rnnkit.callbacks.Callback.get_state`)."""
    _require_trained(model, filepath)
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
        raise RnnkitValueError(f"epoch must be a non-negative integer, got {epoch!r}")
    arrays = _weight_arrays(model)
    rng_states = model.get_rng_states()
    extra = {
        "optimizer": _split_state("optimizer", model.optimizer.get_state(), arrays),
        "shuffle_rng": rng_states["shuffle"],
        "layer_rngs": rng_states["layers"],
        "epoch": int(epoch),
        "callbacks": _callback_states(callbacks, arrays),
    }
    metadata = {"format": STATE_FORMAT, "layers": _layout(model), "build_input_shape": _input_shape(model),
                "state": extra}
    save_arrays(filepath, arrays, metadata)


def load_training_state(model, filepath, callbacks=None):
    """Restore what :func:`save_training_state` wrote; returns the epoch to resume from.

    All or nothing: the weights' fit, the optimizer state (against the variables it will update),
    every generator state and the state saved for each of ``callbacks`` are checked before the
    first of them is assigned.
    """
    filepath = os.fspath(filepath)
    arrays, metadata = _read(filepath, (STATE_FORMAT,))
    extra = metadata["state"]
    if getattr(model, "optimizer", None) is None:
        raise RnnkitValueError(f"cannot load the training state {filepath!s} into model {model.name!r}: "
                               f"the model must be compiled first (the file holds its optimizer's state)")
    if not model.built:
        _build_for_layout(model, filepath, metadata)
    _check_layout(model, filepath, metadata["layers"])
    optimizer_state = _checked_optimizer_state(model, filepath, extra["optimizer"], arrays, "state.optimizer")
    _restore_callbacks(filepath, extra.get("callbacks", []), callbacks, arrays)  # undone if refused

    _assign_weights(model, filepath, arrays, metadata)
    model.optimizer.set_state(optimizer_state)
    model.set_rng_states({"shuffle": extra["shuffle_rng"], "layers": extra["layer_rngs"]})
    return extra["epoch"]
