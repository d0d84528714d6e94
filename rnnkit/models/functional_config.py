"""A functional model's config in Keras 3's form, and the model rebuilt from it.

    {"name": ..., "trainable": ...,
     "layers": [{"class_name": ..., "config": {...}, "name": ...,
                 "inbound_nodes": [{"args": [...], "kwargs": {...}}, ...]}, ...],
     "input_layers": [name, node_index, tensor_index] or a list / dict of them,
     "output_layers": likewise}

A tensor in ``args``/``kwargs`` is ``{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [layer name, node index, tensor index]}}``, node indices counted among the
layer's calls inside this model. tf.keras 2's older node form (a list of
``[layer name, node index, tensor index, kwargs]``) is read too. Rebuilding replays the calls
in order, so a shared layer is one layer object called several times.
"""
import json

from .._validate import describe
from ..errors import RnnkitValueError
from ..layers.base import deserialize_layer, serialize_layer
from ..layers.input_layer import InputLayer
from ..layers.symbolic import KerasTensor, flatten, map_structure

TENSOR = "__keras_tensor__"


def _node_indices(model):
    """{id(node): index of the node among its layer's calls that belong to this model}."""
    indices = {}
    for layer in model.layers:
        count = 0
        for node in layer._inbound_nodes:
            if id(node) in model._graph.node_ids:
                indices[id(node)] = count
                count += 1
    return indices


def _history(tensor, indices):
    layer, node_index, tensor_index = tensor._keras_history
    return [layer.name, indices[id(layer._inbound_nodes[node_index])], tensor_index]


def _tensor_config(tensor, indices):
    return {"class_name": TENSOR, "config": {"shape": list(tensor.shape), "dtype": tensor.dtype,
                                             "keras_history": _history(tensor, indices)}}


def _argument_config(layer, key, value, indices):
    def convert(leaf):
        if isinstance(leaf, KerasTensor):
            return _tensor_config(leaf, indices)
        try:
            json.dumps(leaf)
        except TypeError:
            raise RnnkitValueError(
                f"layer {layer.name!r} was called with {key}={describe(leaf)}, which a model config cannot hold "
                "(only tensors, numbers, strings and lists of them)") from None
        return leaf

    return map_structure(convert, value)


def _structure_refs(structure, indices):
    if isinstance(structure, KerasTensor):
        return _history(structure, indices)
    if isinstance(structure, dict):
        return {key: _history(value, indices) for key, value in structure.items()}
    return [_history(t, indices) for t in structure]


def graph_config(model):
    """The Keras 3 config of a functional ``model``."""
    indices = _node_indices(model)
    layers = []
    for layer in model.layers:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {"args": [_argument_config(layer, "inputs", node.call_inputs, indices)],
             "kwargs": {key: _argument_config(layer, key, value, indices) for key, value in node.call_kwargs.items()}}
            for node in layer._inbound_nodes if id(node) in model._graph.node_ids and not node.is_input]
        layers.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": _structure_refs(model._inputs_struct, indices),
            "output_layers": _structure_refs(model._outputs_struct, indices)}


# ---------------------------------------------------------------------- rebuilding
def _is_ref(value):
    return (isinstance(value, (list, tuple)) and len(value) in (3, 4) and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:3]))


def _node_arguments(node_config):
    """(args, kwargs) of one inbound node, tensors still as references [name, node, tensor]."""
    def unwrap(value):
        if isinstance(value, dict) and value.get("class_name") == TENSOR:
            config = value.get("config")
            history = config.get("keras_history") if isinstance(config, dict) else None
            if not _is_ref(history):
                raise RnnkitValueError(f"a tensor in the model config has no valid keras_history: {describe(value)}")
            return ("ref", tuple(history[:3]))
        if isinstance(value, dict):
            return {key: unwrap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [unwrap(item) for item in value]
        return value

    if isinstance(node_config, dict):  # Keras 3
        args = node_config.get("args", [])
        if not isinstance(args, list) or len(args) != 1:
            raise RnnkitValueError(f"an inbound node must have one positional argument (the inputs), got "
                                   f"{describe(node_config)}")
        kwargs = node_config.get("kwargs", {}) or {}
        return unwrap(args[0]), {key: unwrap(value) for key, value in kwargs.items()}
    if isinstance(node_config, list) and node_config and all(_is_ref(entry) for entry in node_config):  # tf.keras 2
        refs = [("ref", tuple(entry[:3])) for entry in node_config]
        kwargs = node_config[0][3] if len(node_config[0]) == 4 and isinstance(node_config[0][3], dict) else {}

        def legacy(value):  # tf.keras 2 writes a tensor in kwargs as [layer, node, tensor]
            if _is_ref(value) and len(value) == 3:
                return ("ref", tuple(value))
            if isinstance(value, list):
                return [legacy(item) for item in value]
            return unwrap(value)

        return (refs[0] if len(refs) == 1 else refs), {key: legacy(value) for key, value in kwargs.items()}
    raise RnnkitValueError(f"an inbound node of the model config is not in Keras's form: {describe(node_config)}")


def _refs_in(value):
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "ref":
        return [value[1]]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _refs_in(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs_in(item)]
    return []


def _resolve(value, created):
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "ref":
        name, node_index, tensor_index = value[1]
        return created[(name, node_index)][tensor_index]
    if isinstance(value, dict):
        return {key: _resolve(item, created) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, created) for item in value]
    return value


def _available(ref, created):
    name, node_index, tensor_index = ref
    outputs = created.get((name, node_index))
    return outputs is not None and 0 <= tensor_index < len(outputs)


def _output_refs(name, value):
    if _is_ref(value):
        return value[:3]
    if isinstance(value, dict):
        return {key: _output_refs(name, item) for key, item in value.items()}
    if isinstance(value, list) and value:
        return [_output_refs(name, item) for item in value]
    raise RnnkitValueError(f"{name} of the model config must be [layer, node, tensor] references, got "
                           f"{describe(value)}")


# What a layer call can raise on arguments a forged config made up (a tensor where a list belongs, a
# keyword the layer does not take): at the boundary of a config these mean "the config is wrong".
_CALL_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError)


def _replay(name, layer, args, kwargs):
    if any(not isinstance(key, str) for key in kwargs):
        raise RnnkitValueError(f"the keyword arguments of a call of layer {name!r} must have string names")
    try:
        return layer(args, **kwargs)
    except RnnkitValueError:
        raise
    except _CALL_ERRORS as error:
        raise RnnkitValueError(f"the model config's call of layer {name!r} fails: {type(error).__name__}: "
                               f"{error}") from None


def model_from_config(config, cls):
    """A functional model of class ``cls`` (``Model`` or a subclass) from :func:`graph_config`'s output (or
    Keras 3's own, once its layer configs are rnnkit's)."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise RnnkitValueError(f"a functional model config must be a dict with a 'layers' list, got {describe(config)}")
    layers, pending = {}, {}
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise RnnkitValueError(f"each entry of the config's layers must be a dict, got {describe(entry)}")
        layer = deserialize_layer({"class_name": entry.get("class_name"), "config": entry.get("config", {})})
        name = entry.get("name", layer.name)
        if name in layers:
            raise RnnkitValueError(f"the model config names layer {name!r} twice")
        layers[name] = layer
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise RnnkitValueError(f"inbound_nodes of layer {name!r} must be a list, got {describe(nodes)}")
        pending[name] = [_node_arguments(node) for node in nodes]
    created = {(name, 0): [layer.output] for name, layer in layers.items() if isinstance(layer, InputLayer)}
    calls = {name: 0 for name in layers}
    progress = True
    while progress and any(pending.values()):
        progress = False
        for name, layer in layers.items():
            while pending[name]:  # a layer's calls in order: call k uses node index k
                args, kwargs = pending[name][0]
                if not all(_available(ref, created) for ref in _refs_in(args) + _refs_in(kwargs)):
                    break
                outputs = _replay(name, layer, _resolve(args, created), _resolve(kwargs, created))
                created[(name, calls[name])] = flatten(outputs)
                calls[name] += 1
                pending[name].pop(0)
                progress = True
    stuck = {name: len(nodes) for name, nodes in pending.items() if nodes}
    if stuck:
        raise RnnkitValueError(f"the model config has layer calls whose inputs never appear (a missing layer, or a "
                               f"wrong node index): {stuck}")

    def tensors(key):
        refs = _output_refs(key, config.get(key))

        def lookup(ref):
            if not _available(tuple(ref), created):
                raise RnnkitValueError(f"{key} of the model config names {list(ref)}, which no layer call produces")
            return created[(ref[0], ref[1])][ref[2]]

        if isinstance(refs, dict):
            return {k: lookup(v) for k, v in refs.items()}
        if refs and isinstance(refs[0], str):
            return lookup(refs)
        return [lookup(ref) for ref in refs]

    return cls(tensors("input_layers"), tensors("output_layers"), name=config.get("name"),
               trainable=config.get("trainable", True))
