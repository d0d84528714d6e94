"""The schema of the metadata in rnnkit's own weight, model and training-state files.

:func:`check_metadata` runs at load, after the checksum and before any field is used,
so a forged but checksum-valid file is refused with an :class:`RnnkitFileError` that
names the field, the value found and what was expected — never a ``KeyError`` or
``TypeError`` from deep inside the loader. What it checks, by format::

    every format   format: one of the three names below
                   layers: [{"name": str, "class_name": str, "weights": [[str, shape], ...]}, ...]
                   build_input_shape: [None | int >= 1, ...] (rank >= 1), or a list of them (several inputs)
    weights        nothing more
    model          config: {"layers": [{"class_name": a registered layer, "config": {known keywords}}, ...],
                            "name": str | None, "build_input_shape": shape | None}
                            (a functional model's entries also hold "name" and "inbound_nodes", which
                            rebuilding the graph checks)
                   compile: None | {"optimizer": {"class_name": str, ...}, "loss": {"class_name": str, ...},
                                    "metrics": [str, ...]}; for several outputs "loss" is a list of
                                    those or None, "metrics" a list of [str, ...], and an optional
                                    "loss_weights" a list of numbers
    training state state: {"epoch": int >= 0, "optimizer": {...}, "shuffle_rng": a bit-generator state,
                           "layer_rngs": {str: a bit-generator state},
                           "callbacks": [{"class_name": str, "state": {...}}, ...] (optional)}

Each weight the layout names must be an array of the file with that shape and a floating
dtype. Values that only a constructor can judge (``units: -1``, an unknown activation)
are left to it; the loaders turn what it raises into a file error too.
"""
import numbers

import numpy as np

from .._validate import accepted_keywords
from .arrays_file import RnnkitFileError

WEIGHTS_FORMAT = "rnnkit.weights/1"
MODEL_FORMAT = "rnnkit.model/1"
STATE_FORMAT = "rnnkit.training_state/1"
FORMATS = (WEIGHTS_FORMAT, MODEL_FORMAT, STATE_FORMAT)
_MAX_RANK = 64


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Checker:
    """Type checks that raise the file error naming ``where`` (a path into the metadata)."""

    def __init__(self, path):
        self.path = path

    def fail(self, where, value, expected):
        raise RnnkitFileError(self.path, f"its metadata field {where} must be {expected}, got {_short(value)}")

    def mapping(self, where, value, required=(), optional=()):
        if not isinstance(value, dict):
            self.fail(where, value, "an object")
        missing = [key for key in required if key not in value]
        if missing:
            self.fail(where, value, f"an object with the key{'s' if len(missing) > 1 else ''} "
                                    f"{', '.join(map(repr, missing))}")
        return value

    def string(self, where, value):
        if not isinstance(value, str):
            self.fail(where, value, "a string")
        return value

    def listing(self, where, value):
        if not isinstance(value, list):
            self.fail(where, value, "a list")
        return value

    def count(self, where, value, least=0):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            self.fail(where, value, f"an integer >= {least}")
        return int(value)

    def shape(self, where, value, unknown_allowed=False):
        """A list of dimensions: sizes >= 0 (>= 1 with None allowed, for input shapes)."""
        self.listing(where, value)
        if len(value) > _MAX_RANK:
            self.fail(where, value, f"a shape of at most {_MAX_RANK} dimensions")
        least = 1 if unknown_allowed else 0
        for i, dim in enumerate(value):
            if dim is None and unknown_allowed:
                continue
            self.count(f"{where}[{i}]", dim, least)
        return value


def _layout(check, layers):
    check.listing("layers", layers)
    for i, layer in enumerate(layers):
        where = f"layers[{i}]"
        check.mapping(where, layer, ("name", "class_name", "weights"))
        check.string(f"{where}.name", layer["name"])
        check.string(f"{where}.class_name", layer["class_name"])
        for j, weight in enumerate(check.listing(f"{where}.weights", layer["weights"])):
            if not isinstance(weight, list) or len(weight) != 2:
                check.fail(f"{where}.weights[{j}]", weight, "a pair [name, shape]")
            check.string(f"{where}.weights[{j}][0]", weight[0])
            check.shape(f"{where}.weights[{j}][1]", weight[1])


def _weights_in_file(check, layers, arrays):
    """Every weight the layout names is an array of the file with that shape and a float dtype."""
    for layer in layers:
        for name, shape in layer["weights"]:
            array = arrays.get(name)
            if array is None:
                raise RnnkitFileError(check.path, f"its layout lists weight {name!r} of layer {layer['name']!r}, "
                                                  f"which is not among the file's arrays")
            if array.shape != tuple(shape) or not np.issubdtype(array.dtype, np.floating):
                raise RnnkitFileError(
                    check.path, f"weight {name!r} is listed with shape {tuple(shape)} but the file holds an array "
                                f"of shape {array.shape} and dtype {array.dtype} (weights are float arrays)")


def _layer_entry(check, where, entry, classes):
    check.mapping(where, entry, ("class_name",))
    name = check.string(f"{where}.class_name", entry["class_name"])
    if name not in classes:
        check.fail(f"{where}.class_name", name, f"a known layer class ({', '.join(sorted(classes))})")
    config = check.mapping(f"{where}.config", entry.get("config", {}))
    # models nested as layers are rebuilt from their config's own keys, not from constructor keywords
    known = getattr(classes[name], "config_keys", None) or accepted_keywords(classes[name])
    unknown = sorted(set(config) - known) if known is not None else []
    if unknown:
        check.fail(f"{where}.config", unknown, f"only keywords that {name} accepts ({', '.join(sorted(known))}); "
                                               f"unknown")


def _model_config(check, config, classes):
    check.mapping("config", config, ("layers",))
    if config.get("name") is not None:
        check.string("config.name", config["name"])
    if config.get("build_input_shape") is not None:
        check.shape("config.build_input_shape", config["build_input_shape"], unknown_allowed=True)
    for i, entry in enumerate(check.listing("config.layers", config["layers"])):
        _layer_entry(check, f"config.layers[{i}]", entry, classes)


def _named(check, where, value):
    check.mapping(where, value, ("class_name",))
    check.string(f"{where}.class_name", value["class_name"])


def _compile_settings(check, settings):
    if settings is None:
        return
    check.mapping("compile", settings, ("optimizer", "loss", "metrics"))
    _named(check, "compile.optimizer", settings["optimizer"])
    per_output = isinstance(settings["loss"], list)
    if per_output:  # a model with several outputs: one loss (or None) per output
        for i, loss in enumerate(settings["loss"]):
            if loss is not None:
                _named(check, f"compile.loss[{i}]", loss)
    else:
        _named(check, "compile.loss", settings["loss"])
    for i, metric in enumerate(check.listing("compile.metrics", settings["metrics"])):
        group = check.listing(f"compile.metrics[{i}]", metric) if per_output else [metric]
        for name in group:
            check.string(f"compile.metrics[{i}]", name)
    for i, weight in enumerate(check.listing("compile.loss_weights", settings.get("loss_weights", []))):
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not abs(weight) < float("inf"):
            check.fail(f"compile.loss_weights[{i}]", weight, "a finite number")


def check_bit_generator_state(check, where, state):
    """A state that ``np.random.PCG64().state = state`` accepts (tried on a scratch generator)."""
    check.mapping(where, state, ("bit_generator", "state"))
    if state["bit_generator"] != "PCG64":
        check.fail(f"{where}.bit_generator", state["bit_generator"], "'PCG64'")
    try:
        np.random.PCG64().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        check.fail(where, state, f"a PCG64 bit-generator state ({type(err).__name__}: {str(err)[:80]})")


def _training_state(check, state):
    check.mapping("state", state, ("optimizer", "shuffle_rng", "layer_rngs", "epoch"))
    check.count("state.epoch", state["epoch"])
    check.mapping("state.optimizer", state["optimizer"])
    check_bit_generator_state(check, "state.shuffle_rng", state["shuffle_rng"])
    for name, rng_state in check.mapping("state.layer_rngs", state["layer_rngs"]).items():
        check_bit_generator_state(check, f"state.layer_rngs[{name!r}]", rng_state)
    for i, entry in enumerate(check.listing("state.callbacks", state.get("callbacks", []))):
        check.mapping(f"state.callbacks[{i}]", entry, ("class_name", "state"))
        check.string(f"state.callbacks[{i}].class_name", entry["class_name"])
        check.mapping(f"state.callbacks[{i}].state", entry["state"])


def check_metadata(path, metadata, arrays, expected_formats, layer_classes):
    """Validate the metadata of an rnnkit file against its format's schema (see the module docstring).

    Args:
        path: the file's name, for messages.
        metadata: the dict read from the file.
        arrays: the file's arrays, name -> ndarray.
        expected_formats: the formats the caller accepts.
        layer_classes: class name -> layer class (the registry ``deserialize_layer`` uses).

    Returns:
        The format name.
    """
    check = _Checker(path)
    found = metadata.get("format")
    if found not in expected_formats:
        raise RnnkitFileError(path, f"it is not the kind of rnnkit file expected here: its format is "
                                    f"{_short(found)}, expected one of {list(expected_formats)}")
    check.mapping("(top level)", metadata, ("layers", "build_input_shape"))
    _layout(check, metadata["layers"])
    shapes = metadata["build_input_shape"]
    several = isinstance(shapes, list) and bool(shapes) and all(isinstance(s, list) for s in shapes)
    for i, shape in enumerate(shapes if several else [shapes]):
        where = f"build_input_shape[{i}]" if several else "build_input_shape"
        check.shape(where, shape, unknown_allowed=True)
        if not shape:
            check.fail(where, shape, "a shape with a batch axis")
    _weights_in_file(check, metadata["layers"], arrays)
    if found == MODEL_FORMAT:
        check.mapping("(top level)", metadata, ("config", "compile"))
        _model_config(check, metadata["config"], layer_classes)
        _compile_settings(check, metadata["compile"])
    if found == STATE_FORMAT:
        check.mapping("(top level)", metadata, ("state",))
        _training_state(check, metadata["state"])
    return found
