"""``Sequential``: a stack of layers, i.e. the model whose graph is a chain.

Each layer's output (and output mask, from ``Embedding(mask_zero=True)`` or ``Masking``) feeds the
next. Once the input shape is known (an ``Input``/``InputLayer`` first, ``input_shape=`` on the
first layer, ``build(shape)`` or the first data seen) the chain is recorded symbolically from the
shapes alone, no data run, and the model trains through the same graph engine as any
:class:`~rnnkit.models.Model`.
"""
import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from ..layers.base import Layer, deserialize_layer, serialize_layer, unique_name
from ..layers.input_layer import InputLayer
from ..layers.symbolic import KerasTensor, is_symbolic
from .model import Model


class Sequential(Model):
    """A linear stack of layers, Keras's ``Sequential``.

    Args:
        layers: list of layers (optional; add more with :meth:`add`); it may start with
            ``rnnkit.Input(shape)`` or an ``InputLayer``.
        name: model name (default ``sequential``, ``sequential_1``, ...).
        trainable: False freezes every weight.

    Example:
        >>> from rnnkit import Sequential, layers
        >>> model = Sequential([layers.SimpleRNN(3, input_shape=(1, 5)), layers.Dense(5, activation="softmax")])
        >>> model.count_params()
        47
    """

    config_class_name = "Sequential"
    config_keys = frozenset({"name", "trainable", "dtype", "layers", "build_input_shape"})

    def __init__(self, layers=None, name=None, trainable=True):
        Layer.__init__(self, name=name if name is not None else unique_name("sequential"), trainable=trainable)
        self._stack = []
        self._input_layer = None
        self._explicit_input = False
        self._graph = None
        self._input_shape = None
        self.inputs = self.outputs = None
        self._inputs_struct = self._outputs_struct = None
        self._output_masks = [None]
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        """The stacked layers (an input layer is not listed, as in Keras)."""
        return list(self._stack)

    @property
    def input_names(self):
        return [self._input_layer.name] if self._input_layer is not None else ["input"]

    @input_names.setter
    def input_names(self, value):  # Model._init_graph sets it; the input layer's name is the truth
        pass

    @property
    def output_names(self):
        if self.outputs is not None:
            return self._output_names
        return [self._stack[-1].name] if self._stack else ["output"]

    @output_names.setter
    def output_names(self, value):
        self._output_names = value

    def add(self, layer):
        """Append a layer; builds the model once the input shape is known."""
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history.operation, InputLayer):
            layer = layer._keras_history.operation
        if not isinstance(layer, Layer):
            raise RnnkitTypeError(f"layer must be an rnnkit layer, got {describe(layer)}")
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise RnnkitValueError(f"an Input can only be the first entry of a Sequential; model {self.name!r} "
                                       f"already has layers {[l.name for l in self._stack]}")
            self._input_layer, self._explicit_input = layer, True
            self._input_shape = layer.batch_shape
            return
        if any(existing.name == layer.name for existing in self._stack):
            raise RnnkitValueError(f"layer names must be unique in a model; {layer.name!r} is already used")
        self._stack.append(layer)
        self._unbuild()
        shape = self._declared_input_shape()
        if shape is not None:
            try:
                self.build(shape)
            except Exception:
                self._stack.pop()
                self._unbuild()
                if len(self._stack):
                    self.build(shape)
                raise

    def _declared_input_shape(self):
        if self._input_layer is not None and self._explicit_input:
            return self._input_layer.batch_shape
        if self._input_shape is not None:
            return self._input_shape
        first = self._stack[0] if self._stack else None
        first_shape = first.input_shape_arg if first is not None else None
        return None if first_shape is None else (getattr(first, "batch_size_arg", None), *first_shape)

    def _unbuild(self):
        self.built = False
        self._graph = None
        self.inputs = self.outputs = None

    def pop(self):
        """Remove and return the last layer."""
        if not self._stack:
            raise RnnkitValueError("pop() needs a model with at least one layer, got an empty model")
        layer = self._stack.pop()
        self._unbuild()
        if self._stack and self._input_shape is not None:
            self.build(self._input_shape)
        return layer

    def build(self, input_shape):
        """Record the chain for inputs of ``input_shape`` (batch axis first, may be None): every layer
        is built from the shapes alone."""
        if not self._stack:
            raise RnnkitValueError("the model has no layers; add some before building or calling it")
        shape = tuple(input_shape)
        if self._input_layer is None or self._input_layer.batch_shape != shape:
            dtype = self._input_layer.dtype if self._input_layer is not None else None
            self._input_layer = InputLayer(batch_shape=shape, dtype=dtype)
            self._explicit_input = False
        self._input_shape = shape
        tensor = self._input_layer.output
        for index, layer in enumerate(self._stack):
            if isinstance(tensor, list):
                raise RnnkitValueError(
                    f"every layer of a Sequential but the last must have one output: layer "
                    f"{self._stack[index - 1].name!r} returns {len(tensor)} (e.g. return_state=True); build a "
                    f"functional Model to use several outputs")
            tensor = layer(tensor)
        self._init_graph(self._input_layer.output, tensor)

    @property
    def input_shape(self):
        return self._input_shape

    @property
    def output_shape(self):
        if self.outputs is None:
            raise RnnkitValueError(f"model {self.name!r} is not built yet: its output shape is unknown")
        return super().output_shape

    def _flat_layers(self):
        return [sub for layer in self._stack
                for sub in (layer._flat_layers() if isinstance(layer, Model) else [layer])]

    # ------------------------------------------------------------------ forward
    def _prepare_data(self, xs):
        """Build from the data's shape on first use; the layers check their own inputs (as before the
        graph engine, a Sequential accepts any sequence length its layers accept)."""
        if not self.built:
            self.build((None, *np.shape(xs[0])[1:]))
        return xs

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        if not self._stack:
            raise RnnkitValueError("the model has no layers; add some before calling it")
        if is_symbolic(inputs) and not self.built:
            self.build(inputs.shape)
        elif not self.built:
            self.build((None, *np.shape(inputs)[1:]))
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    # ------------------------------------------------------------------ config
    def get_config(self):
        layers = [serialize_layer(layer) for layer in self._stack]
        if self._explicit_input:
            layers.insert(0, serialize_layer(self._input_layer))
        return {"name": self.name, "layers": layers,
                "build_input_shape": list(self._input_shape) if self._input_shape else None}

    @classmethod
    def from_config(cls, config):
        """Rebuild from :meth:`get_config`'s output or from a Keras 3 / Keras 2 Sequential config."""
        from ..io.formats import translate_config
        translated = translate_config("sequential", config)
        if translated is not None:
            return translated
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config["layers"]:
            model.add(deserialize_layer(entry))
        if config.get("build_input_shape") and not model.built and model._stack:
            model.build(tuple(config["build_input_shape"]))
        return model
