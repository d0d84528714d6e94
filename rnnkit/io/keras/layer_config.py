"""Keras 3 (and Keras 2) layer configs <-> rnnkit layers.

Reading, each key of a Keras layer config is, in this order:

* translated: ``dtype`` (a DTypePolicy), ``*_initializer``, ``activation`` and
  ``recurrent_activation``, ``*_regularizer`` / ``*_constraint`` (see :mod:`.values`),
  ``batch_input_shape`` / ``batch_shape`` (Keras's first-layer shape -> rnnkit's ``input_shape``),
  nested layers and cells;
* passed on when the rnnkit class takes an argument of that name (rnnkit uses Keras's names);
* dropped when it is in :data:`IGNORED` with a value that changes nothing rnnkit computes;
* otherwise refused with a :class:`KerasConfigError` naming the layer and the keys.

Writing, an rnnkit layer's ``get_config`` is translated back, and an rnnkit-only setting
(:data:`RNNKIT_ONLY`) is dropped when it has its neutral value and refused otherwise.
"""
import inspect

from ... import layers as rnnkit_layers
from ...cells.base import cell_class
from ...cells.stacked import StackedRNNCells
from ...errors import RnnkitError
from ...layers.base import Layer
from ...layers.rnn import RNN
from .errors import KerasConfigError, UnsupportedLayerError, brief, config_errors
from .values import (activation_from_keras, dtype_from_keras, dtype_to_keras, initializer_from_keras,
                     initializer_to_keras, find_code, is_regularizer_or_constraint, reject_code, with_lambda_functions,
                     regularizer_or_constraint_from_keras, regularizer_or_constraint_to_keras)

ANY = "any value"

# Keras arguments rnnkit has no use for, with the values under which dropping them changes nothing.
IGNORED = {
    "module": ANY, "registered_name": ANY, "shared_object_id": ANY,  # serialization bookkeeping
    "build_config": ANY,  # the input shape, used to build the model (see model_config)
    "unroll": ANY,  # Keras's choice of loop code; same numbers
    "implementation": ANY,  # Keras 2's choice of LSTM/GRU matmul grouping; same numbers
    "use_cudnn": ANY,  # Keras 3's choice of kernel; same numbers
    "input_length": ANY,  # Keras 2 Embedding: a shape hint only
    "time_major": False, "quantization_config": None, "lora_rank": None, "lora_alpha": None,
    "sparse": False, "ragged": False, "autocast": True,
    "data_format": "channels_last",  # rnnkit is channels-last throughout
}

# rnnkit arguments Keras does not have, with their neutral values (dropped when writing).
_LSTM_VARIANTS = {"forget_bias": 0.0, "use_peepholes": False, "coupled_input_forget": False, "num_proj": None,
                  "cell_clip": None, "proj_clip": None}
# (rnnkit's ``seed`` fixes initial weights, which the file holds anyway; Keras's SpatialDropout1D takes
# no ``trainable``, and it has no weights for it to matter.)
RNNKIT_ONLY = {
    "*": {"backprop_segment": ANY, "input_shape": ANY},
    "Dense": {"seed": ANY}, "Embedding": {"seed": ANY}, "Conv1D": {"seed": ANY},
    "SpatialDropout1D": {"trainable": ANY},
    "LSTM": _LSTM_VARIANTS, "LSTMCell": _LSTM_VARIANTS,
}

_CELL_CLASSES = ("SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells")


# Keys only Keras writes. Not "registered_name" (rnnkit writes it for a user's registered class; Keras 3
# pairs it with "module"), regularizer/constraint keys nor "batch_input_shape" (a first layer's fixed
# batch): rnnkit's configs hold them too.
_KERAS_MARKERS = ("module", "build_config", "batch_shape", "time_major",
                  "implementation", "use_cudnn", "quantization_config", "input_length", "shared_object_id")


def is_keras_layer_config(spec):
    """Whether ``spec`` was written by Keras (3 or 2) rather than by rnnkit's ``serialize_layer``
    (a config holding Keras's marshalled code counts as Keras's: it is refused there)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        return False
    if find_code(spec):
        return True
    if spec["class_name"] == "InputLayer":  # rnnkit's InputLayer reads Keras's config as its own
        return False
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
    if any(key in spec or key in config for key in _KERAS_MARKERS) or isinstance(config.get("dtype"), dict):
        return True
    if any(key.endswith("_initializer") and isinstance(value, dict) and str(value.get("class_name"))[:1].isupper()
           for key, value in config.items()):
        return True
    return any(is_keras_layer_config(config.get(key)) for key in ("layer", "backward_layer", "cell"))


def _spec_parts(spec, where):
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise KerasConfigError(f"{where}: a layer config must be a dict with 'class_name' and 'config', got {brief(spec)}")
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise KerasConfigError(f"{where}: 'config' must be a dict, got {config!r}")
    return spec["class_name"], config


def _where(class_name, config):
    return f"layer {brief(config.get('name'))} ({brief(class_name, as_text=True)})"


def _accepted_arguments(cls):
    """Every keyword the class's constructor chain accepts (following ``**kwargs`` up the MRO)."""
    names = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names.update(p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self")
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return names


def layer_class(class_name):
    """The public rnnkit layer class of that Keras name, or None."""
    cls = getattr(rnnkit_layers, class_name, None) if class_name in rnnkit_layers.__all__ else None
    return cls if isinstance(cls, type) and issubclass(cls, Layer) else None


def unsupported_layers(spec, found=None):
    """Every ``(name, class_name)`` in ``spec`` (nested layers and cells included) rnnkit lacks."""
    found = [] if found is None else found
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        return found
    class_name, config = spec["class_name"], spec.get("config") if isinstance(spec.get("config"), dict) else {}
    if class_name not in _CELL_CLASSES and class_name != "InputLayer" and layer_class(class_name) is None:
        found.append((config.get("name"), class_name))
    for key in ("layer", "backward_layer", "cell"):
        unsupported_layers(config.get(key), found)
    for key in ("cells", "layers"):
        for item in config.get(key) or []:
            unsupported_layers(item, found)
    return found


def _translate_arguments(class_name, config, accepted, where):
    """Keras config -> rnnkit keyword arguments (nested layers/cells are left to the caller)."""
    kwargs, refused = {}, []
    for key, value in config.items():
        if key == "dtype":
            kwargs["dtype"] = dtype_from_keras(value, where)
        elif key in ("batch_input_shape", "batch_shape"):
            if value is not None and value[0] is not None:  # a fixed batch (stateful models) stays fixed
                kwargs["batch_input_shape"] = tuple(value)
            elif value is not None:
                kwargs["input_shape"] = tuple(value)[1:]
        elif key.endswith("_initializer"):
            kwargs[key] = initializer_from_keras(value, f"{where}, {key}")
        elif key in ("activation", "recurrent_activation"):
            kwargs[key] = activation_from_keras(value, f"{where}, {key}")
        elif is_regularizer_or_constraint(key):
            translated = regularizer_or_constraint_from_keras(key, value, where)
            if key in accepted:
                kwargs[key] = translated
            elif translated is not None:  # dropping it would train another model
                refused.append(f"{key}={brief(value)}")
        elif key in accepted:
            kwargs[key] = value
        elif key in IGNORED and (IGNORED[key] == ANY or IGNORED[key] == value):
            continue
        else:
            refused.append(f"{brief(key, as_text=True)}={brief(value)}")
    if refused:
        raise KerasConfigError(f"{where}: rnnkit's {class_name} has no argument {', '.join(refused)}")
    return kwargs


def cell_from_keras(spec, where):
    """A Keras cell config (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells) -> ``(cell, dropouts)``.

    Keras keeps dropout on the cell, rnnkit on the RNN layer: ``dropouts`` is the cell's
    ``(dropout, recurrent_dropout)`` for the layer to take.
    """
    class_name, config = _spec_parts(spec, where)
    where = f"{where}, cell {config.get('name')!r} ({class_name})"
    if class_name == "StackedRNNCells":
        cells, dropouts = [], []
        for item in config.get("cells") or []:
            cell, rates = cell_from_keras(item, where)
            cells.append(cell)
            dropouts.append(rates)
        if any(rates != (0.0, 0.0) for rates in dropouts):
            raise KerasConfigError(f"{where}: dropout inside stacked cells has no rnnkit equivalent "
                                   f"(rnnkit's RNN layer takes dropout and recurrent_dropout for the whole stack)")
        return StackedRNNCells(cells, name=config.get("name")), (0.0, 0.0)
    if class_name not in _CELL_CLASSES:
        raise KerasConfigError(f"{where}: rnnkit has no cell class {brief(class_name)}; it has {list(_CELL_CLASSES)}")
    config = dict(config)
    rates = (float(config.pop("dropout", 0.0) or 0.0), float(config.pop("recurrent_dropout", 0.0) or 0.0))
    if config.pop("trainable", True) is not True:
        raise KerasConfigError(f"{where}: trainable=False on a cell has no rnnkit equivalent; set it on the layer")
    cls = cell_class(class_name)
    kwargs = _translate_arguments(class_name, config, _accepted_arguments(cls), where)
    kwargs.pop("input_shape", None)
    return _construct(cls, kwargs, where), rates


def _construct(cls, kwargs, where):
    try:
        return cls(**kwargs)
    except KerasConfigError:
        raise
    except (RnnkitError, TypeError) as error:
        raise KerasConfigError(f"{where}: {error}") from None


def layer_from_keras(spec, safe_mode=True):
    """Build the rnnkit layer a Keras 3 or Keras 2 layer config describes.

    Args:
        spec: ``{"class_name", "config", ["module", "registered_name", "build_config"]}``.
        safe_mode: Keras's flag: with False, a Lambda layer's marshalled function is loaded and runs
            when the layer is called (:func:`.values.with_lambda_functions`); bytecode is refused otherwise.

    Raises:
        UnsupportedLayerError: the config uses layer classes rnnkit lacks (all of them are listed).
        UnsafeCodeError: the config holds a Lambda's marshalled bytecode (and ``safe_mode`` is True).
        KerasConfigError: an argument rnnkit does not have, an unknown key, or a value of a type or
            size the translation cannot use.
    """
    with config_errors("the layer config"):
        return translate_layer(spec, safe_mode)


def foreign_layer(spec):
    """``rnnkit.layers.deserialize_layer``'s hook (see :func:`rnnkit.io.formats.translate_config`): the
    layer of a Keras layer config, None for rnnkit's own."""
    return layer_from_keras(spec) if is_keras_layer_config(spec) else None


def translate_layer(spec, safe_mode=True):
    """:func:`layer_from_keras` without its boundary: for callers inside a :func:`.errors.config_errors`."""
    class_name, config = _spec_parts(spec, "layer config")
    where = _where(class_name, config)
    if not safe_mode:
        spec = with_lambda_functions(spec, where)
        class_name, config = _spec_parts(spec, "layer config")
    reject_code(spec, where)
    missing = unsupported_layers(spec)
    if missing:
        raise UnsupportedLayerError(missing)
    config = dict(config)
    cls = layer_class(class_name)
    if class_name == "InputLayer":  # rnnkit's takes Keras 3's and Keras 2's arguments, integer dtypes included
        if cls is None:
            raise KerasConfigError(f"{where}: an InputLayer can only start a Sequential model in this rnnkit")
        return _construct(cls, config, where)
    nested = {}
    if issubclass(cls, RNN) and "cell" in config:
        nested["cell"], rates = cell_from_keras(config.pop("cell"), where)
        if any(rates):
            nested["dropout"], nested["recurrent_dropout"] = rates
    for key in ("layer", "backward_layer"):
        if config.get(key) is not None:
            nested[key] = translate_layer(config.pop(key), safe_mode)
    kwargs = _translate_arguments(class_name, config, _accepted_arguments(cls), where)
    kwargs.update(nested)
    return _construct(cls, kwargs, where)


# ---------------------------------------------------------------------------------------- writing
def _drop_rnnkit_only(class_name, config, where):
    rules = {**RNNKIT_ONLY["*"], **RNNKIT_ONLY.get(class_name, {})}
    out, refused = {}, []
    for key, value in config.items():
        if key in rules:
            if rules[key] != ANY and value != rules[key]:
                refused.append(f"{key}={value!r}")
            continue
        out[key] = value
    if refused:
        raise KerasConfigError(f"{where}: Keras's {class_name} has no equivalent of {', '.join(refused)}; "
                               f"such a layer cannot be written as a Keras file")
    return out


def _values_to_keras(config):
    for key, value in list(config.items()):
        if key.endswith("_initializer"):
            config[key] = initializer_to_keras(value)
        elif is_regularizer_or_constraint(key):
            config[key] = regularizer_or_constraint_to_keras(key, value)
    if "dtype" in config:
        config["dtype"] = dtype_to_keras(config["dtype"])
    return config


def cell_to_keras(cell, dropout, recurrent_dropout, where):
    """An rnnkit cell -> Keras 3's cell dict (the RNN layer's dropout moves onto the cell)."""
    class_name = type(cell).__name__
    where = f"{where}, cell {cell.name!r} ({class_name})"
    if isinstance(cell, StackedRNNCells):
        if dropout or recurrent_dropout:
            raise KerasConfigError(f"{where}: dropout on an RNN of stacked cells has no Keras equivalent "
                                   f"(Keras puts dropout on each cell)")
        cells = [cell_to_keras(sub, 0.0, 0.0, where) for sub in cell.cells]
        return _keras_entry(class_name, {"name": cell.name, "trainable": True,
                                         "dtype": dtype_to_keras(cells[0]["config"]["dtype"]["config"]["name"]),
                                         "cells": cells})
    config = _drop_rnnkit_only(class_name, cell.get_config(), where)
    if class_name not in _CELL_CLASSES:
        raise KerasConfigError(f"{where}: Keras has no cell class {class_name!r}")
    config.update(trainable=True, dropout=float(dropout), recurrent_dropout=float(recurrent_dropout))
    return _keras_entry(class_name, _values_to_keras(config))


def _keras_entry(class_name, config, input_shape=None):
    entry = {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}
    if input_shape is not None:
        entry["build_config"] = {"input_shape": list(input_shape)}
    return entry


def layer_to_keras(layer, input_shape):
    """An rnnkit layer -> Keras 3's layer dict, with ``build_config`` for inputs of ``input_shape``."""
    class_name = type(layer).__name__
    where = _where(class_name, {"name": layer.name})
    if layer_class(class_name) is None:
        raise KerasConfigError(f"{where}: not a Keras layer class; it cannot be written as a Keras file")
    config = layer.get_config()
    if class_name == "Bidirectional":
        config["layer"] = layer_to_keras(layer.forward_layer, input_shape)
        config["backward_layer"] = layer_to_keras(layer.backward_layer, input_shape)
    elif class_name == "TimeDistributed":
        config["layer"] = layer_to_keras(layer.layer, (input_shape[0], *input_shape[2:]))
    elif class_name == "RNN":
        config["cell"] = cell_to_keras(layer.cell, config.pop("dropout"), config.pop("recurrent_dropout"), where)
        seed = config.pop("seed")
        if seed is not None and config["cell"]["class_name"] != "StackedRNNCells":
            config["cell"]["config"]["seed"] = seed
    config = _values_to_keras(_drop_rnnkit_only(class_name, config, where))
    return _keras_entry(class_name, config, input_shape)
