"""The Keras-face ``Layer``: naming, weights as Variables, input checks, config round trips.

A layer owns named :class:`rnnkit.variables.Variable` weights, runs ``forward``
through ``__call__``, keeps what its last forward needs, and ``backward`` turns
the gradient of its outputs into the gradient of its inputs while filling the
weight gradients (``get_gradients()``, same order and shapes as ``get_weights()``).

Default names follow Keras: the snake_case class name, then ``_1``, ``_2``, ...
with one counter per prefix (``reset_name_counters()`` restarts them).
"""
import numbers
import re

import numpy as np

from .. import initializers
from .._validate import describe, float_array, float_dtype, rectangular
from ..errors import RnnkitTypeError, RnnkitValueError
from ..variables import Variable

_name_counters = {}
_layer_classes = {}


def to_snake_case(name):
    """``"SimpleRNN"`` -> ``"simple_rnn"``, ``"LSTM"`` -> ``"lstm"`` (Keras's rule)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """The next default name for ``prefix``: ``prefix``, ``prefix_1``, ``prefix_2``, ..."""
    count = _name_counters.get(prefix, 0)
    _name_counters[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_name_counters():
    """Start default names from scratch again (what ``clear_session()`` does)."""
    _name_counters.clear()


def serialize_layer(layer):
    """``{"class_name": ..., "config": ...}`` of a layer, as Keras writes it."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def layer_classes():
    """Every layer class defined so far, by class name (the registry :func:`deserialize_layer` reads)."""
    return dict(_layer_classes)


def deserialize_layer(spec):
    """Rebuild a layer from :func:`serialize_layer`'s output (a Layer instance is returned as is)."""
    if isinstance(spec, Layer):
        return spec
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise RnnkitValueError(f"layer config must be a dict with 'class_name' and 'config', got {describe(spec)}")
    cls = _layer_classes.get(spec["class_name"])
    if cls is None:
        raise RnnkitValueError(
            f"layer class_name must be one of {sorted(_layer_classes)}, got {spec['class_name']!r}"
        )
    return cls.from_config(dict(spec.get("config", {})))


def _shape_tuple(name, shape):
    if shape is None:
        return None
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise RnnkitTypeError(f"{name} must be a tuple of positive ints (or None), got {describe(shape)}") from None
    for dim in shape:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim <= 0):
            raise RnnkitValueError(f"{name} must be a tuple of positive ints (or None), got {describe(shape)}")
    return tuple(None if d is None else int(d) for d in shape)


class Layer:
    """Base of every Keras-face layer.

    Args:
        name: str; default the snake_case class name made unique (``dense``, ``dense_1``, ...).
        dtype: "float32" (default) or "float64": the dtype of the weights and of the computation.
        input_shape: optional shape of one sample without the batch axis, e.g. ``(5, 126)``,
            as Keras's first layer of a ``Sequential`` takes it.
        trainable: False hides the weights from ``trainable_weights`` (optimizers skip them).

    Subclasses set ``input_ndim`` (exact rank) or ``min_ndim``, implement ``build(input_shape)``
    (creating weights with :meth:`add_weight` and setting ``self.built = True``), ``call``,
    ``backward``, ``compute_output_shape`` and ``get_config``.
    """

    #: whether a mask passed in is meaningful here and propagates (Keras's ``supports_masking``)
    supports_masking = False
    #: exact input rank, or None
    input_ndim = None
    #: minimum input rank, or None
    min_ndim = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _layer_classes[cls.__name__] = cls

    def __init__(self, name=None, dtype="float32", input_shape=None, trainable=True):
        if name is None:
            name = unique_name(to_snake_case(type(self).__name__))
        elif not isinstance(name, str) or not name:
            raise RnnkitTypeError(f"name must be a non-empty string or None, got {describe(name)}")
        self.name = name
        self.dtype = float_dtype("dtype", dtype)
        self.input_shape_arg = _shape_tuple("input_shape", input_shape)
        self.trainable = bool(trainable)
        self.built = False
        self.input_features = None  # last-axis size the built weights expect
        self._variables = []
        self._gradients = None

    # ------------------------------------------------------------------ weights
    def add_weight(self, name, value, trainable=True):
        """Wrap ``value`` (kept, not copied) as the Variable ``<layer>/<name>``."""
        variable = Variable(value, f"{self.name}/{name}", trainable=trainable)
        self._variables.append(variable)
        return variable

    @property
    def weights(self):
        """Every Variable, in ``get_weights`` order."""
        return list(self._variables)

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [v for v in self.weights if v.trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [v for v in self.weights if not v.trainable]

    # Keras also calls them variables
    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    @property
    def variables(self):
        return self.weights

    def get_weights(self):
        """Copies of the weight arrays in Keras's order and shapes."""
        return [v.value.copy() for v in self.weights]

    def set_weights(self, weights):
        """Load arrays in Keras's order and shapes; checks everything before writing anything."""
        if not self.built:
            raise RnnkitValueError(
                f"layer {self.name!r} has no weights yet: call it on an input or build() it before set_weights"
            )
        variables = self.weights
        weights = list(weights)
        if len(weights) != len(variables):
            raise RnnkitValueError(
                f"set_weights on layer {self.name!r} expects {len(variables)} arrays "
                f"({', '.join(v.name for v in variables)}), got {len(weights)}"
            )
        arrays = []
        for variable, value in zip(variables, weights):
            value = rectangular(f"weight {variable.name}", value)
            if value.shape != variable.shape:
                raise RnnkitValueError(
                    f"set_weights on layer {self.name!r}: weight {variable.name} has shape {variable.shape}, "
                    f"got an array of shape {value.shape}"
                )
            arrays.append(value)
        for variable, value in zip(variables, arrays):
            variable.value[...] = value  # in place: cells, optimizers and callbacks share these arrays

    def get_gradients(self):
        """Gradients of the last :meth:`backward`, same order and shapes as :meth:`get_weights`."""
        if self._gradients is None:
            raise RnnkitValueError(f"layer {self.name!r} has no gradients yet: call backward() after a forward call")
        return list(self._gradients)

    def count_params(self):
        if not self.built:
            raise RnnkitValueError(
                f"count_params on layer {self.name!r}: the layer is not built yet (call it on an input or build())"
            )
        return int(sum(v.value.size for v in self.weights))

    # ------------------------------------------------------------------ calling
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def check_inputs(self, inputs, name="inputs"):
        """Validate ``inputs`` (float array of the right rank and feature size) and cast to the layer's dtype."""
        x = float_array(name, inputs, ndim=self.input_ndim)
        if self.min_ndim is not None and x.ndim < self.min_ndim:
            raise RnnkitValueError(
                f"{name} of layer {self.name!r} must have rank >= {self.min_ndim}, got {describe(x)}"
            )
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        if self.built and self.input_features is not None and x.shape[-1] != self.input_features:
            raise RnnkitValueError(
                f"{name} of layer {self.name!r} must have {self.input_features} features (last axis) to match "
                f"its built weights, got {describe(x)}"
            )
        return x

    def __call__(self, inputs, training=False, mask=None, **kwargs):
        """Validate ``inputs``, build on first use, run :meth:`call`."""
        if training is None:  # Keras: None means inference
            training = False
        elif isinstance(training, (bool, np.bool_)) or (isinstance(training, numbers.Integral) and training in (0, 1)):
            training = bool(training)
        else:
            raise RnnkitTypeError(f"training must be True, False or None, got {describe(training)}")
        x = self.check_inputs(inputs)
        if not self.built:
            # multi-input layers (merge, attention) build from the list of their inputs' shapes
            with initializers.building(self):
                self.build([a.shape for a in x] if isinstance(x, list) else x.shape)
            self.built = True
        return self.call(x, training=training, mask=mask, **kwargs)

    def call(self, inputs, training=False, mask=None):
        raise NotImplementedError

    def backward(self, *output_grads):
        """Gradient of the inputs from one gradient per returned array; fills :meth:`get_gradients`."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs (Keras): passed on unchanged where masking is supported, else None."""
        return mask if self.supports_masking else None

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.input_shape_arg is not None:
            config["input_shape"] = self.input_shape_arg
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"
