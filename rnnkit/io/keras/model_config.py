"""Keras model configs (``config.json`` of a .keras file, ``model_config`` of a legacy .h5) <->
rnnkit models.

Keras 3 writes a Sequential as ``{"module": "keras", "class_name": "Sequential", "config":
{"name", "trainable", "dtype", "layers": [InputLayer, ...], "build_input_shape"},
"build_config", "compile_config"}``; Keras 2 writes the first layer's ``batch_input_shape``
instead of an InputLayer, and Keras 2.0-2.2 a bare list of layers.
"""
import json

from ...errors import RnnkitError
from .errors import KerasConfigError, KerasFileError, UnsupportedLayerError, brief, config_errors
from .layer_config import (is_keras_layer_config, layer_class, layer_to_keras, translate_layer,
                           unsupported_layers)
from .values import dtype_to_keras, reject_code, with_lambda_functions

# Keras 3 writes the first five (and compile_config in a .keras file); Keras 2 adds the last two.
_MODEL_SPEC_KEYS = ("module", "class_name", "config", "registered_name", "build_config", "compile_config",
                    "keras_version", "backend")
_FUNCTIONAL_KEYS = ("name", "trainable", "layers", "input_layers", "output_layers")
_TENSOR = "__keras_tensor__"
_SEQUENTIAL_KEYS = ("name", "trainable", "dtype", "layers", "build_input_shape")
_INPUT_LAYER_KEYS = ("batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "name", "optional")


def is_keras_model_config(config):
    """Whether a Sequential's inner config was written by Keras (3 or 2) rather than by rnnkit."""
    if isinstance(config, list):
        return True
    if not isinstance(config, dict):
        return False
    entries = config.get("layers") if isinstance(config.get("layers"), list) else []
    return isinstance(config.get("dtype"), dict) or any(is_keras_layer_config(entry) for entry in entries)


def _input_layer_shape(entry):
    config = entry.get("config") or {}
    unknown = sorted(set(config) - set(_INPUT_LAYER_KEYS))
    if unknown or config.get("sparse") or config.get("ragged") or config.get("optional"):
        raise KerasConfigError(f"InputLayer {brief(config.get('name'))}: rnnkit does not support "
                               f"{unknown or 'sparse, ragged or optional inputs'}")
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    return None if shape is None else tuple(shape)


def _shape(value, where):
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(d is None or (isinstance(d, int) and d > 0) for d in value):
        raise KerasConfigError(f"{where} must be a list of positive sizes or nulls, got {brief(value)}")
    return tuple(value)


def _checked_model_config(config, kind, keys, safe_mode):
    """Refuse, before building anything, a model config that is not a dict with a 'layers' list, has
    unknown keys, holds bytecode (but in Lambda layers, with ``safe_mode=False``) or uses layers rnnkit
    lacks; returns the model's name and the config (its Lambda functions loaded, with ``safe_mode=False``)."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise KerasConfigError(f"a {kind} config must hold a 'layers' list, got {brief(config)}")
    name = config.get("name")
    unknown = sorted(set(config) - set(keys))
    if unknown:
        raise KerasConfigError(f"{kind} {name!r}: unknown config keys {unknown}")
    if not safe_mode:
        config = with_lambda_functions(config, f"{kind} {name!r}")
    reject_code(config, f"{kind} {name!r}")
    missing = [item for entry in config["layers"] for item in unsupported_layers(entry)]
    if missing:
        raise UnsupportedLayerError(missing)
    return name, config


def sequential_from_keras(spec, safe_mode=True):
    """An rnnkit Sequential from a Keras Sequential config, built when the config gives an input shape."""
    from ...models import Sequential

    config = spec.get("config")
    if isinstance(config, list):  # Keras 2.0-2.2
        config = {"layers": config}
    name, config = _checked_model_config(config, "Sequential", _SEQUENTIAL_KEYS, safe_mode)
    input_shape, layers = None, []
    for index, entry in enumerate(config["layers"]):
        if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            if index != 0:
                raise KerasConfigError("an InputLayer may only come first in a Sequential config")
            input_shape = _shape(_input_layer_shape(entry), "InputLayer batch_shape")
            if layer_class("InputLayer") is not None:  # keeps the input's name and dtype
                layers.append(translate_layer(entry, safe_mode))
        else:
            layers.append(translate_layer(entry, safe_mode))
    if not layers:
        raise KerasConfigError(f"Sequential {name!r} has no layers")
    build_config = spec.get("build_config") or {}
    input_shape = input_shape or _shape(config.get("build_input_shape"), "build_input_shape") \
        or _shape(build_config.get("input_shape"), "build_config input_shape")
    if input_shape is None and layers[0].input_shape_arg is not None:
        input_shape = (None, *layers[0].input_shape_arg)
    if config.get("trainable") is False:
        for layer in layers:
            layer.trainable = False
    try:
        model = Sequential(layers, name=name)
        if input_shape is not None and not model.built:
            model.build(input_shape)
    except KerasFileError:
        raise
    except (RnnkitError, IndexError, TypeError) as error:  # layers that cannot take the shapes the config gives
        raise KerasConfigError(f"Sequential {name!r} cannot be built for inputs of shape {input_shape}: "
                               f"{type(error).__name__}: {error}") from None
    return model


def model_from_keras(spec, safe_mode=True):
    """The rnnkit model of a Keras model config (Sequential; functional models need rnnkit.Model)."""
    with config_errors("the model config"):
        return _model_from_keras(spec, safe_mode)


def _model_from_keras(spec, safe_mode):
    if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
        raise KerasConfigError(f"a Keras model config must be a dict with 'class_name' and 'config', got {brief(spec)}")
    unknown = sorted(set(spec) - set(_MODEL_SPEC_KEYS))
    if unknown:
        raise KerasConfigError(f"the model config has unknown keys {unknown}; expected some of "
                               f"{list(_MODEL_SPEC_KEYS)}")
    if spec["class_name"] == "Sequential":
        return sequential_from_keras(spec, safe_mode)
    if spec["class_name"] in ("Functional", "Model"):
        return functional_from_keras(spec, safe_mode)
    raise KerasConfigError(f"rnnkit loads Keras Sequential models, got a {brief(spec['class_name'])} model "
                           f"(a subclassed model's Python code is not in the file)")


def _tensor_shape(value):
    config = value.get("config") if isinstance(value, dict) and value.get("class_name") == _TENSOR else None
    shape = config.get("shape") if isinstance(config, dict) else None
    return tuple(shape) if isinstance(shape, list) else None


def first_call_shape(entry):
    """The input shape of a layer's first call in a Keras 3 functional config (a list of shapes for
    several inputs), or None when the config does not say (Keras 2's node form has no shapes)."""
    nodes = entry.get("inbound_nodes") if isinstance(entry, dict) else None
    if not nodes or not isinstance(nodes[0], dict) or not nodes[0].get("args"):
        return None
    first = nodes[0]["args"][0]
    if isinstance(first, list):
        shapes = [_tensor_shape(item) for item in first]
        return None if None in shapes else shapes
    return _tensor_shape(first)


def foreign_sequential(config):
    """``Sequential.from_config``'s hook (see :func:`rnnkit.io.formats.translate_config`): the model of a
    Keras Sequential config, None for rnnkit's own."""
    return sequential_from_keras({"class_name": "Sequential", "config": config}) \
        if is_keras_model_config(config) else None


def foreign_functional(config):
    """``Model.from_config``'s hook: the model of a Keras functional config, None for rnnkit's own."""
    return functional_from_keras({"class_name": "Functional", "config": config}) \
        if is_keras_model_config(config) else None


def functional_from_keras(spec, safe_mode=True):
    """An rnnkit functional Model from a Keras 3 (or tf.keras 2) functional config."""
    from ...models.functional_config import model_from_config
    from ...models.model import Model

    try:  # Keras's in-memory get_config() holds tuples where its files hold lists
        config = json.loads(json.dumps(spec.get("config")))
    except (TypeError, ValueError) as error:
        raise KerasConfigError(f"a functional model config must be JSON data, got {error}") from None
    name, config = _checked_model_config(config, "functional model", _FUNCTIONAL_KEYS, safe_mode)
    try:
        return model_from_config(config, Model)  # its layer configs go through rnnkit.layers.deserialize_layer
    except (KerasConfigError, KerasFileError):
        raise
    except (RnnkitError, IndexError, TypeError) as error:  # layers that cannot take the shapes the config gives
        raise KerasConfigError(f"functional model {name!r}: {type(error).__name__}: {error}") from None


def keras_layers(model):
    """The layers Keras would list for ``model``: a Sequential's without its InputLayer, a functional
    model's all of them, inputs first."""
    if type(model).__name__ != "Sequential":
        return list(model.layers)
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _input_layer_to_keras(layer):
    return {"batch_shape": list(layer.batch_shape), "dtype": layer.dtype.name, "sparse": False, "ragged": False,
            "name": layer.name, "optional": False}


def _functional_to_keras(model):
    config = model.get_config()  # Keras 3's graph form, holding rnnkit's layer configs
    for entry in config["layers"]:
        layer = model.get_layer(entry["name"])
        if type(layer).__name__ == "InputLayer":
            entry.update(module="keras.layers", class_name="InputLayer", config=_input_layer_to_keras(layer),
                         registered_name=None)
        else:
            entry.update(layer_to_keras(layer, first_call_shape(entry)))
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": config,
            "registered_name": "Functional", "build_config": {"input_shape": None}}


def model_to_keras(model):
    """Keras 3's config dict of a built rnnkit model (without ``compile_config``)."""
    if type(model).__name__ != "Sequential":
        return _functional_to_keras(model)
    layers = keras_layers(model)
    shape = tuple(model.input_shape)
    first_dtype = "int32" if type(layers[0]).__name__ == "Embedding" else layers[0].dtype.name
    entries = [{"module": "keras.layers", "class_name": "InputLayer",
                "config": {"batch_shape": list(shape), "dtype": first_dtype, "sparse": False, "ragged": False,
                           "name": "input_layer", "optional": False}, "registered_name": None}]
    for layer in layers:
        entries.append(layer_to_keras(layer, shape))
        shape = layer.compute_output_shape(shape)
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": model.name, "trainable": True, "dtype": dtype_to_keras(layers[0].dtype.name),
                       "layers": entries, "build_input_shape": list(model.input_shape)},
            "registered_name": None, "build_config": {"input_shape": list(model.input_shape)}}
