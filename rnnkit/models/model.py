"""``Model``: the one model base. A functional model is a graph of layer calls between symbolic
inputs and outputs; :class:`~rnnkit.models.Sequential` is the model whose graph is a chain.

    inputs = rnnkit.Input(shape=(None, 8))
    h = layers.LSTM(16)(inputs)
    outputs = layers.Dense(3, activation="softmax")(h)
    model = rnnkit.Model(inputs, outputs)

Forward runs the graph's nodes in order, keeping one cache per node; ``backward`` runs them in
reverse with explicit gradients (see :mod:`rnnkit.models.graph`). Training (compile, fit,
evaluate, predict) is :class:`~rnnkit.models.training.Trainer`'s; files are :mod:`rnnkit.saving`'s.
A model is also a layer: called on symbolic tensors it becomes one node of a bigger graph.
"""
import os

import numpy as np

from .. import saving, summary
from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from ..layers import base as layers_base
from ..layers import activity
from ..layers.base import Layer, LayerCache, check_training, unique_name
from ..layers.input_layer import Input, InputLayer
from ..layers.symbolic import KerasTensor, flatten, is_symbolic, pack_like, symbolic_call
from ..ops.grad_mode import is_grad_enabled
from ..random import make_rng
from ..variables import assign_all
from . import data_adapter
from .graph import Graph
from .training import Trainer


def _check_tensors(name, structure):
    if isinstance(structure, dict):
        bad = [key for key in structure if not isinstance(key, str)]
        if bad:
            raise RnnkitTypeError(f"{name} given as a dict must have string keys, got {describe(structure)}")
    leaves = flatten(structure)
    if not leaves or not all(isinstance(leaf, KerasTensor) for leaf in leaves):
        raise RnnkitTypeError(
            f"{name} must be symbolic tensors (rnnkit.Input(...) and layer calls on them): one, a list or a "
            f"dict, got {describe(structure)}")
    return leaves


def _unique(names):
    seen, result = {}, []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        result.append(name if count == 0 else f"{name}_{count}")
    return result


def _clone_from_intermediate(inputs, outputs):
    """Keras allows any tensor as a model input: each one that is not an Input's gets a new Input
    of its shape, and the layer calls between it and the outputs are recorded again on the new
    tensors (same layers, so same weights)."""
    replaced = {id(t): Input(batch_shape=t.shape, dtype=t.dtype)
                for t in flatten(inputs) if not isinstance(t._keras_history.operation, InputLayer)}
    if not replaced:
        return inputs, outputs
    graph = Graph(flatten(inputs), flatten(outputs))
    for node in graph.nodes:
        if all(id(t) in replaced for t in node.outputs):
            continue
        if not any(id(t) in replaced for t in node.input_tensors):
            continue

        def swap(leaf):
            return replaced.get(id(leaf), leaf) if isinstance(leaf, KerasTensor) else leaf

        new_inputs, new_kwargs = node.resolve({id(t): swap(t) for t in node.input_tensors})
        new_outputs = node.layer(new_inputs, **new_kwargs)
        for old, new in zip(node.outputs, flatten(new_outputs)):
            replaced[id(old)] = new
    new_ins = pack_like(inputs, [replaced[id(t)] if id(t) in replaced else t for t in flatten(inputs)])
    new_outs = pack_like(outputs, [replaced.get(id(t), t) for t in flatten(outputs)])
    return new_ins, new_outs


class Model(Trainer, Layer):
    """A model of layer calls from ``inputs`` to ``outputs``: Keras's functional ``Model``.

    Args:
        inputs: a KerasTensor from :func:`rnnkit.Input`, a list of them, or a dict {name: tensor}.
        outputs: the KerasTensors computed from them by layer calls: one, a list or a dict.
        name: model name (default ``functional``, ``functional_1``, ...).
        trainable: False freezes every weight.

    Data follows the structures given: ``model(x)``, ``fit``, ``evaluate`` and ``predict`` take one
    array per input (a list in ``inputs`` order or a dict by input name) and return one array per
    output (a list, or a dict for dict outputs). A layer used several times shares its weights;
    their gradients are summed over its calls.

    Example:
        >>> import numpy as np, rnnkit
        >>> from rnnkit import layers
        >>> x = rnnkit.Input(shape=(None, 3))
        >>> model = rnnkit.Model(x, layers.Dense(2)(layers.LSTM(4)(x)))
        >>> model.predict(np.zeros((5, 7, 3), np.float32)).shape
        (5, 2)
    """

    #: the class name model files record (Keras's)
    config_class_name = "Functional"
    #: the keys of get_config (what a file schema accepts for a model nested as a layer)
    config_keys = frozenset({"name", "trainable", "layers", "input_layers", "output_layers"})
    _gradient_map = None  # id(variable) -> gradient of the last backward

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if kwargs:
            raise RnnkitTypeError(f"Model got unexpected arguments {sorted(kwargs)}")
        if inputs is None or outputs is None:
            raise RnnkitValueError(
                "Model needs inputs and outputs: Model(inputs, outputs) with inputs from rnnkit.Input(...) and "
                "outputs from layer calls on them (a subclassed Model with its own call() is not supported: rnnkit "
                "backpropagates through the recorded graph)")
        Layer.__init__(self, name=name if name is not None else unique_name("functional"), trainable=trainable)
        self._init_graph(inputs, outputs)

    def _init_graph(self, inputs, outputs):
        _check_tensors("inputs", inputs)
        _check_tensors("outputs", outputs)
        inputs, outputs = _clone_from_intermediate(inputs, outputs)
        flat_inputs = flatten(inputs)
        if len({id(t) for t in flat_inputs}) != len(flat_inputs):
            raise RnnkitValueError(f"inputs must not repeat a tensor, got {[t.name for t in flat_inputs]}")
        graph = Graph(flat_inputs, flatten(outputs))
        names = [layer.name for layer in graph.layers]
        for name in names:
            if names.count(name) > 1:
                raise RnnkitValueError(
                    f"layer names must be unique in a model; {name!r} is used {names.count(name)} times")
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs, self.outputs = flat_inputs, flatten(outputs)
        self._graph = graph
        self.input_names = sorted(inputs) if isinstance(inputs, dict) else [t.name for t in flat_inputs]
        if isinstance(outputs, dict):
            self.output_names = sorted(outputs)
        else:
            self.output_names = _unique([t._keras_history.operation.name for t in self.outputs])
        self._output_masks = [None] * len(self.outputs)
        self.built = True

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        """Every layer of the graph, input layers first (Keras's order)."""
        return list(self._graph.layers) if self._graph else []

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or at position ``index`` of :attr:`layers`."""
        if (name is None) == (index is None):
            raise RnnkitValueError(f"get_layer needs either name or index, got name={name!r} and index={index!r}")
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not \
                    -len(layers) <= index < len(layers):
                raise RnnkitValueError(f"index must be an integer in [0, {len(layers)}) for model {self.name!r}, "
                                       f"got {describe(index)}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise RnnkitValueError(f"no layer named {name!r} in model {self.name!r}; its layers are "
                               f"{[layer.name for layer in layers]}")

    def _flat_layers(self):
        """Every layer, those of nested models included (not the models themselves)."""
        result = []
        for layer in self.layers:
            result += layer._flat_layers() if isinstance(layer, Model) else [layer]
        return result

    def _sublayers(self):
        return []  # a model's per-call state is its node caches, kept in _cache

    def _child_layers(self):
        return self.layers

    @property
    def input(self):
        """The symbolic input(s), in the structure given to the constructor."""
        return self._inputs_struct

    @property
    def output(self):
        """The symbolic output(s), in the structure given to the constructor."""
        return self._outputs_struct

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_mask(self):
        """The mask of the last call's output (one-output models; None when it has none)."""
        return self._output_masks[0] if len(self._output_masks) == 1 else None

    # ------------------------------------------------------------------ weights
    def _unique_weights(self, per_layer):
        seen, result = set(), []
        for layer in self.layers:
            for variable in per_layer(layer):
                if id(variable) not in seen:
                    seen.add(id(variable))
                    result.append(variable)
        return result

    @property
    def weights(self):
        """Every weight, layer by layer in :attr:`layers` order (a shared layer's once)."""
        return self._unique_weights(lambda layer: layer.weights)

    @property
    def trainable_weights(self):
        return self._unique_weights(lambda layer: layer.trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self):
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights):
        """Load a list of arrays in :meth:`get_weights` order; every shape is checked before anything changes."""
        assign_all(f"model {self.name!r}", [(v.name, v.value) for v in self.weights], weights)

    def count_params(self):
        if not self.built:  # each unbuilt layer says so
            return int(sum(layer.count_params() for layer in self.layers))
        return int(sum(v.value.size for v in self.weights))

    def gradients(self, variables=None):
        """Gradients of the last :meth:`backward`, in :attr:`trainable_variables` order (or ``variables``')."""
        if self._gradient_map is None:
            raise RnnkitValueError(f"model {self.name!r} has no gradients yet: call backward() after a forward call")
        return [self._gradient_map[id(v)] for v in (self.trainable_variables if variables is None else variables)]

    def get_gradients(self):
        """Gradients of the last :meth:`backward`, in :attr:`weights` order (as a layer's)."""
        if self._gradient_map is None:
            raise RnnkitValueError(f"model {self.name!r} has no gradients yet: call backward() after a forward call")
        return [self._gradient_map[id(v)] for v in self.weights]

    def reset_states(self):
        """Reset the states of every stateful layer."""
        for layer in self.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    reset_state = reset_states

    # ------------------------------------------------------------------ random states (resumable training)
    def _rng_layers(self, prefix=""):
        found = {}
        for layer in self.layers:
            if isinstance(layer, Model):
                found.update(layer._rng_layers(f"{prefix}{layer.name}/"))
            elif getattr(layer, "rng", None) is not None:
                found[prefix + layer.name] = layer
        return found

    def get_rng_states(self):
        """The states of the random generators training draws from: ``{"shuffle": ..., "layers":
        {layer name: ...}}`` (NumPy bit-generator states; dropout layers' included), for
        :meth:`set_rng_states` to resume a run bit for bit."""
        if self._shuffle_rng is None:
            self._shuffle_rng = make_rng(None)
        return {"shuffle": self._shuffle_rng.bit_generator.state,
                "layers": {name: layer.rng.bit_generator.state for name, layer in self._rng_layers().items()}}

    def set_rng_states(self, states):
        """Restore what :meth:`get_rng_states` returned (layers not in the model are skipped)."""
        if self._shuffle_rng is None:
            self._shuffle_rng = np.random.default_rng()
        self._shuffle_rng.bit_generator.state = states["shuffle"]
        layers = self._rng_layers()
        for name, state in states.get("layers", {}).items():
            if name in layers:
                layers[name].rng.bit_generator.state = state

    # ------------------------------------------------------------------ forward / backward
    def _prepare_data(self, xs):
        """Check every input array's rank and fixed sizes against the model's inputs (Keras's check)."""
        for tensor, name, x in zip(self.inputs, self.input_names, xs):
            shape = np.shape(x)
            expected = tensor.shape
            if len(shape) != len(expected) or any(
                    want is not None and got != want for want, got in zip(expected[1:], shape[1:])):
                raise RnnkitValueError(
                    f"input {name!r} of model {self.name!r} must have shape {expected} (None: any size), "
                    f"got shape {shape}")
        return xs

    def _forward(self, xs, training):
        """Run the graph on flat inputs: (flat outputs, flat output masks)."""
        outputs, masks = self._run(xs, training, None)
        return outputs, masks

    def _run(self, xs, training, masks):
        keep = is_grad_enabled()
        with activity.model_call(self):  # the layers' activity penalties of this forward, for model.losses
            outputs, out_masks, caches = self._graph.run(xs, training, masks, keep_caches=keep)
        self._cache = caches if keep else None
        self._output_masks = out_masks
        return outputs, out_masks

    def _pack_outputs(self, flat):
        if isinstance(self._outputs_struct, KerasTensor):
            return flat[0]
        return pack_like(self._outputs_struct, flat)

    def _flat_masks(self, mask):
        if mask is None:
            return None
        if len(self.inputs) == 1 and not isinstance(mask, (list, tuple, dict)):
            return [mask]
        return data_adapter.flat_arrays("mask", mask, self.input_names, "input")

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        """Run the model on arrays (one per input, structured as ``inputs``), or on symbolic tensors:
        then the model is recorded as one layer call of a bigger graph."""
        if is_symbolic(inputs):
            return symbolic_call(self, inputs, mask, kwargs)
        if kwargs:
            raise RnnkitTypeError(f"model {self.name!r} got unexpected arguments {sorted(kwargs)}")
        training = check_training(training)
        xs = [data_adapter.to_numpy(x) for x in data_adapter.flat_arrays("inputs", inputs, self.input_names, "input")]
        xs = data_adapter.cast_inputs(self, self._prepare_data(xs))  # as Keras: to the Input's dtype
        outputs, _ = self._run(xs, training, self._flat_masks(mask))
        return self._pack_outputs(outputs)

    def _graph_call(self, inputs, training, mask, kwargs):
        # as a node of another model: the inner graph gives the output masks of this very run
        if kwargs:
            raise RnnkitTypeError(f"model {self.name!r} got unexpected arguments {sorted(kwargs)}")
        xs = data_adapter.flat_arrays("inputs", inputs, self.input_names, "input")
        outputs, masks = self._run(xs, training, self._flat_masks(mask))
        packed_masks = masks[0] if isinstance(self._outputs_struct, KerasTensor) else masks
        return self._pack_outputs(outputs), packed_masks, LayerCache(self._call_state(), False)

    def compute_mask(self, inputs, mask=None):
        return None

    def backward(self, *d_outputs):
        """Backpropagate one gradient per output (None: no loss on it; a list or a dict by output name
        also works) through the graph; fills every layer's gradients and returns the inputs' gradients
        (one array, or a list for several inputs)."""
        payload = d_outputs[0] if len(d_outputs) == 1 else list(d_outputs)
        return self._backward(data_adapter.flat_arrays("d_outputs", payload, self.output_names, "output"))

    def _backward(self, d_outputs):
        if self._cache is None:
            raise RnnkitValueError(
                f"backward on model {self.name!r} needs a forward call first, outside rnnkit.ops.no_grad() "
                "(predict and evaluate run under it and keep no cache)")
        d_inputs, layer_grads = self._graph.backward(self._cache, list(d_outputs))
        by_variable = {}
        for layer in self.layers:
            variables = layer.weights
            if variables:
                grads = layer_grads.get(id(layer)) or [np.zeros_like(v.value) for v in variables]
                layer._gradients = grads
                by_variable.update(zip(map(id, variables), grads))
        self._gradient_map = by_variable
        return d_inputs[0] if len(d_inputs) == 1 else d_inputs

    # ------------------------------------------------------------------ as a layer of another model
    def _build_symbolic(self, input_shape):
        shapes = [input_shape] if isinstance(input_shape, tuple) else flatten(
            input_shape if not isinstance(input_shape, dict) else [input_shape[k] for k in self.input_names])
        if len(shapes) != len(self.inputs):
            raise RnnkitValueError(f"model {self.name!r} takes {len(self.inputs)} inputs, got {len(shapes)}")
        for tensor, shape in zip(self.inputs, shapes):
            if len(shape) != len(tensor.shape) or any(
                    want is not None and got is not None and got != want
                    for want, got in zip(tensor.shape[1:], shape[1:])):
                raise RnnkitValueError(
                    f"model {self.name!r} expects an input of shape {tensor.shape}, got shape {shape}")

    def compute_output_shape(self, input_shape):
        first = input_shape if isinstance(input_shape, tuple) else flatten(input_shape)[0]
        shapes = [(first[0], *t.shape[1:]) for t in self.outputs]
        return shapes[0] if isinstance(self._outputs_struct, KerasTensor) else shapes

    def _output_dtypes(self, count):
        return [t.dtype for t in self.outputs]

    # ------------------------------------------------------------------ summary, config, files
    def summary(self, line_length=None, print_fn=None):
        """Print Keras's table: layer (type), output shape, parameter count, "Connected to" for graphs
        that are not a chain, and the totals."""
        (print_fn or print)(summary.model_table(self, line_length))

    def get_config(self):
        from .functional_config import graph_config

        return graph_config(self)

    @classmethod
    def from_config(cls, config):
        """Rebuild from :meth:`get_config`'s output or from a Keras 3 / tf.keras 2 functional config."""
        from ..io.formats import translate_config
        from .functional_config import model_from_config

        translated = translate_config("functional", config)
        return translated if translated is not None else model_from_config(config, Model)

    def save_weights(self, filepath):
        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        saving.load_weights(self, filepath)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Config, weights, compile settings and (``include_optimizer``, Keras's default) the optimizer's
        state in one file; ``overwrite=False`` refuses a path that exists (Keras asks on the console)."""
        if not overwrite and os.path.exists(os.fspath(filepath)):
            raise RnnkitValueError(f"filepath {os.fspath(filepath)!r} already exists and overwrite is False")
        saving.save_model(self, filepath, include_optimizer=include_optimizer)

    def export(self, filepath, format="onnx", verbose=None, input_signature=None, **kwargs):
        """Keras 3's ``export``; rnnkit writes ONNX (``format="onnx"``): see :func:`rnnkit.io.onnx.export`."""
        from ..io.onnx import export_model

        export_model(self, filepath, format, verbose, input_signature, **kwargs)

    def save_training_state(self, filepath, epoch, callbacks=None):
        saving.save_training_state(self, filepath, epoch, callbacks=callbacks)

    def load_training_state(self, filepath, callbacks=None):
        return saving.load_training_state(self, filepath, callbacks=callbacks)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


# Keras writes a functional model's class as "Functional"
layers_base._layer_classes["Functional"] = Model
