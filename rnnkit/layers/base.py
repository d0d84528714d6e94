"""The Keras-face ``Layer``: naming, weights as Variables, input checks, config round trips.

A layer owns named :class:`rnnkit.variables.Variable` weights, runs its computation
through ``__call__``, keeps what its last call needs in ``self._cache`` (and only
there), and ``backward`` turns the gradient of its outputs into the gradient of its
inputs while filling the weight gradients (``get_gradients()``, same order and shapes
as ``get_weights()``).

On top of that stateful pair every layer offers the pure pair the graph engine uses
(a layer called several times in a model keeps one cache per call)::

    outputs, cache = layer.forward(inputs, training=False, mask=None, **kwargs)
    d_inputs, grads = layer.backward_from(d_outputs, cache)

Called on symbolic tensors (``rnnkit.Input``), a layer records a node of a graph
instead of computing (see :mod:`rnnkit.layers.symbolic`).

Default names follow Keras: the snake_case class name, then ``_1``, ``_2``, ...
with one counter per prefix (``reset_name_counters()`` restarts them).
"""
import inspect
import numbers
import re

import numpy as np

from .. import initializers, object_registry, regularizers, weight_options
from .._validate import accepted_keywords, describe, float_array, float_dtype
from ..errors import RnnkitTypeError, RnnkitValueError
from ..ops.grad_mode import is_grad_enabled
from ..random import make_rng
from ..variables import Variable, assign_all
from . import activity, symbolic

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
    symbolic.reset_tensor_names()


def serialize_layer(layer):
    """``{"class_name": ..., "config": ...}`` of a layer, as Keras writes it (a functional model nested as a
    layer is ``"Functional"``; a class registered with ``register_keras_serializable`` adds its
    ``"registered_name"``)."""
    spec = {"class_name": getattr(layer, "config_class_name", type(layer).__name__), "config": layer.get_config()}
    registered = object_registry.get_registered_name(type(layer))
    if registered != type(layer).__name__:
        spec["registered_name"] = registered
    return spec


def layer_classes():
    """Every layer class defined so far, by class name (the registry :func:`deserialize_layer` reads)."""
    return dict(_layer_classes)


def deserialize_layer(spec, custom_objects=None):
    """Rebuild a layer from :func:`serialize_layer`'s output or from a Keras 3 / Keras 2 layer config
    (a Layer instance is returned as is).

    Custom classes are found through :mod:`rnnkit.object_registry` (the active
    ``custom_object_scope``, ``register_keras_serializable``, then ``custom_objects``) before
    rnnkit's own (any Layer subclass defined in this process, by class name)."""
    if isinstance(spec, Layer):
        return spec
    from ..io.formats import translate_config
    translated = translate_config("layer", spec)
    if translated is not None:
        return translated
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise RnnkitValueError(f"layer config must be a dict with 'class_name' and 'config', got {describe(spec)}")
    cls = object_registry.lookup(spec, "layer", _layer_classes, custom_objects)
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise RnnkitValueError(f"the config of a {spec['class_name']} layer must be a dict, got {describe(config)}")
    # inside the scope, the objects nested in the config (cells, regularizers, ...) are found too
    with object_registry.CustomObjectScope(custom_objects):
        if "custom_objects" in inspect.signature(cls.from_config).parameters:  # e.g. Lambda's functions
            return cls.from_config(dict(config), custom_objects=object_registry.scope_objects())
        return cls.from_config(dict(config))


def check_training(training):
    """``training`` as a bool: True/False/0/1, or None (Keras: None means inference)."""
    if training is None:
        return False
    if isinstance(training, (bool, np.bool_)) or (isinstance(training, numbers.Integral) and training in (0, 1)):
        return bool(training)
    raise RnnkitTypeError(f"training must be True, False or None, got {describe(training)}")


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


def _first_layer_shape(input_shape, batch_input_shape, batch_size, input_dim):
    """(shape of one sample, fixed batch size) from the ways Keras 2 and 3 let a first layer declare them."""
    given = [name for name, value in (("input_shape", input_shape), ("batch_input_shape", batch_input_shape),
                                      ("input_dim", input_dim)) if value is not None]
    if len(given) > 1:
        raise RnnkitValueError(f"give one of input_shape, batch_input_shape and input_dim, got {' and '.join(given)}")
    if input_dim is not None:
        input_shape = (input_dim,)
    if batch_input_shape is not None:
        full = _shape_tuple("batch_input_shape", batch_input_shape)
        if not full:
            raise RnnkitValueError(f"batch_input_shape must have a batch axis, got {describe(batch_input_shape)}")
        if batch_size is not None and batch_size != full[0]:
            raise RnnkitValueError(f"batch_size={batch_size!r} disagrees with batch_input_shape={batch_input_shape!r}")
        return full[1:], full[0]
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise RnnkitValueError(f"batch_size must be a positive integer or None, got {describe(batch_size)}")
        if input_shape is None:
            raise RnnkitValueError(f"batch_size={batch_size!r} needs input_shape (the shape of one sample)")
        batch_size = int(batch_size)
    return _shape_tuple("input_shape", input_shape), batch_size


class Layer:
    """Base of every Keras-face layer.

    Args:
        name: str; default the snake_case class name made unique (``dense``, ``dense_1``, ...).
        dtype: "float32" (default) or "float64": the dtype of the weights and of the computation.
        input_shape: optional shape of one sample without the batch axis, e.g. ``(5, 126)``,
            as Keras's first layer of a ``Sequential`` takes it.
        batch_input_shape: tf.keras 2's form with the batch axis first, e.g. ``(32, 5, 126)``: a
            fixed batch size (what stateful recurrent layers need), instead of ``input_shape``.
        batch_size: tf.keras 2's fixed batch size beside ``input_shape``.
        input_dim: Keras's ``input_shape=(input_dim,)`` (e.g. ``Dense(8, input_dim=4)``).
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
    #: whether truncated BPTT (``fit(tbptt_steps=k)``) may feed this layer its input in time chunks:
    #: False where an output depends on later time steps (Bidirectional, go_backwards, attention
    #: over the whole sequence). Layers that carry a recurrent state across chunks are the ones
    #: with a ``stateful`` attribute and ``reset_states``.
    supports_tbptt = True
    #: ``(dtype, shape without the batch axis)`` of the last array input :meth:`check_inputs` passed
    #: unchanged: a later call with such an array skips the checks (they only look at type, dtype and
    #: shape, which is what makes it safe; layers that check values override check_inputs and never
    #: set it). Set per instance.
    _checked_input = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _layer_classes[cls.__name__] = cls
        backward = cls.__dict__.get("backward")
        if backward is not None and not getattr(backward, "adds_activity_gradient", False):
            cls.backward = activity.with_activity_gradient(backward)

    def __new__(cls, *args, **kwargs):
        options = [key for key in kwargs if key.endswith(("_regularizer", "_constraint"))]
        if options:
            _refuse_missing_weight_options(cls, options, kwargs)
        return super().__new__(cls)

    def __init__(self, name=None, dtype="float32", input_shape=None, trainable=True, activity_regularizer=None,
                 batch_input_shape=None, batch_size=None, input_dim=None):
        if name is None:
            name = unique_name(to_snake_case(type(self).__name__))
        elif not isinstance(name, str) or not name:
            raise RnnkitTypeError(f"name must be a non-empty string or None, got {describe(name)}")
        self.name = name
        self.dtype = float_dtype("dtype", dtype)
        self.input_shape_arg, self.batch_size_arg = _first_layer_shape(input_shape, batch_input_shape, batch_size,
                                                                       input_dim)
        self.trainable = bool(trainable)
        self.built = False
        self.input_features = None  # last-axis size the built weights expect
        self._variables = []
        self._gradients = None
        self._cache = None
        self._inbound_nodes = []  # one symbolic Node per call on KerasTensors
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._activity_losses = []  # the activity penalties of the last call (see layer.losses)

    # ------------------------------------------------------------------ weights
    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable=True, regularizer=None,
                   constraint=None, name=None, value=None, **keras_options):
        """Create the Variable ``<layer>/<name>`` and return it.

        Two forms: rnnkit's ``add_weight("kernel", array)`` wraps ``array`` (kept, not copied);
        Keras 3's ``add_weight(shape=(I, H), initializer="glorot_uniform", name="kernel")`` (or
        positionally ``add_weight((I, H), "zeros")``) draws it (Keras's default initializer
        "glorot_uniform"; a ``seed`` attribute of the layer, if any, fixes it). ``regularizer`` and
        ``constraint`` (names or objects) go on the Variable; when not given, the layer's own
        ``<weight>_regularizer`` / ``<weight>_constraint`` options apply (:meth:`_weight_options`).
        Keras's ``autocast``, ``aggregation`` and ``overwrite_with_gradient`` are accepted and have
        no effect here.
        """
        unknown = sorted(set(keras_options) - {"autocast", "aggregation", "overwrite_with_gradient"})
        if unknown:
            raise RnnkitTypeError(f"add_weight got unexpected arguments {unknown}")
        if args and isinstance(args[0], str):  # rnnkit's form: (name, value, trainable)
            positional = ("name", "value", "trainable")
        else:  # Keras's form: (shape, initializer, dtype, trainable)
            positional = ("shape", "initializer", "dtype", "trainable")
        if len(args) > len(positional):
            raise RnnkitTypeError(f"add_weight takes at most {len(positional)} positional arguments "
                                  f"({', '.join(positional)}), got {len(args)}")
        given = dict(zip(positional, args))
        name, value, trainable = given.get("name", name), given.get("value", value), given.get("trainable", trainable)
        shape, initializer, dtype = given.get("shape", shape), given.get("initializer", initializer), \
            given.get("dtype", dtype)
        if value is None:
            value = self._initial_value(name, shape, initializer, dtype)
        if name is None:
            name = f"variable_{len(self._variables)}" if self._variables else "variable"
        variable = Variable(value, f"{self.name}/{name}", trainable=trainable)
        own_regularizer, own_constraint = self._weight_options(name)
        weight_options.attach(variable, regularizer if regularizer is not None else own_regularizer,
                              constraint if constraint is not None else own_constraint)
        self._variables.append(variable)
        return variable

    def _initial_value(self, name, shape, initializer, dtype):
        if shape is None:
            raise RnnkitValueError(f"add_weight on layer {self.name!r} needs a value or a shape, got neither "
                                   f"(weight {name!r})")
        shape = (shape,) if isinstance(shape, numbers.Integral) else _shape_tuple("shape", shape)
        if shape is None or any(dim is None for dim in shape):
            raise RnnkitValueError(f"add_weight shape must be a tuple of positive ints, got {shape!r}")
        rng = self.__dict__.get("_weight_rng")
        if rng is None:
            rng = self.__dict__["_weight_rng"] = make_rng(getattr(self, "seed", None))
        init = initializers.get("glorot_uniform" if initializer is None else initializer)
        return init(shape, self.dtype if dtype is None else float_dtype("dtype", dtype), rng)

    def _weight_options(self, weight_name):
        """(regularizer, constraint) the layer's options give its weight ``weight_name`` (None, None by default)."""
        return weight_options.options_for(self, weight_name)

    @property
    def losses(self):
        """Keras's ``layer.losses``: the activity penalties of the last call (sub-layers' included), then
        one penalty per trainable weight with a regularizer (computed from the current values)."""
        return self._activity_penalties() + weight_options.weight_penalties(self.trainable_weights)

    def _activity_penalties(self):
        losses = list(getattr(self, "_activity_losses", []))
        for layer in activity.keras_order(self):
            losses += getattr(layer, "_activity_losses", [])
        return losses

    def _child_layers(self):
        """The layers this one holds (Keras's ``_layers``), for :meth:`losses`."""
        return self._sublayers()

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
        # in place: cells, optimizers and callbacks share these arrays
        assign_all(f"layer {self.name!r}", [(v.name, v.value) for v in self.weights], weights)

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
        """Validate ``inputs``, build on first use, run :meth:`call`.

        On symbolic tensors (from ``rnnkit.Input``) nothing is computed: the call is recorded as
        a node and symbolic outputs are returned (``training`` is then decided by the model)."""
        seen = self._checked_input
        if (seen is not None and not kwargs and type(inputs) is np.ndarray and inputs.shape[1:] == seen[1]
                and inputs.dtype == seen[0] and (training is False or training is True)):
            # the same kind of array as a call already checked: the checks would pass, and change nothing
            x = inputs
        else:
            if symbolic.is_symbolic(inputs) or symbolic.is_symbolic(kwargs):
                return symbolic.symbolic_call(self, inputs, mask, kwargs)
            training = check_training(training)
            x = self.check_inputs(inputs)
            if not self.built:
                # multi-input layers (merge, attention) build from the list of their inputs' shapes
                with initializers.building(self):
                    self.build([a.shape for a in x] if isinstance(x, list) else x.shape)
                self.built = True
            if x is inputs and type(x) is np.ndarray and type(self).check_inputs is Layer.check_inputs:
                self._checked_input = (x.dtype, x.shape[1:])
        outputs = self.call(x, training=training, mask=mask, **kwargs)
        if self.activity_regularizer is not None:
            losses, grads = activity.penalties(self.activity_regularizer, outputs)
            activity.store(self, losses)
            if is_grad_enabled():
                self._cache = activity.ActivityCache(self._cache, grads)
        return outputs

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

    # ------------------------------------------------------------------ the pure pair
    def forward(self, inputs, training=False, mask=None, **kwargs):
        """``(outputs, cache)``: :meth:`__call__` plus everything :meth:`backward_from` needs for this call.

        The cache is this call's own, so a layer called several times (a shared layer in a model)
        can backpropagate each call separately; it is None inside ``rnnkit.no_grad()``."""
        outputs = self(inputs, training=training, mask=mask, **kwargs)
        if not is_grad_enabled():  # inside no_grad(): no backward can follow
            return outputs, None
        has_state = kwargs.get(symbolic.STATE_KWARG) is not None
        return outputs, LayerCache(self._call_state(), has_state)

    def backward_from(self, d_outputs, cache):
        """``(d_inputs, grads)`` for the call that returned ``cache``.

        Args:
            d_outputs: the gradient of the call's output, or a list with one gradient per returned
                array (None where there is no loss on it).
            cache: the second value :meth:`forward` returned.

        Returns:
            d_inputs: the gradient of ``inputs`` (a list for multi-input layers; None for integer
                inputs). When the call had ``initial_state=[...]`` it is the pair
                ``(d_inputs, d_initial_state)``, the second a flat list like ``initial_state``.
            grads: weight gradients in :meth:`get_weights` order (arrays owned by the caller).
        """
        if not isinstance(cache, LayerCache):
            raise RnnkitTypeError(f"cache must be what {self.name!r}.forward returned, got {describe(cache)}")
        current = self._call_state()
        self._set_call_state(cache.state)
        try:
            d_list = list(d_outputs) if isinstance(d_outputs, (list, tuple)) else [d_outputs]
            d_inputs = self.backward(*d_list)
            grads = self.get_gradients() if self.weights else []
            if cache.has_state:
                d_inputs = (d_inputs, getattr(self, "initial_state_gradients", None))
        finally:
            self._set_call_state(current)
        return d_inputs, grads

    def _sublayers(self):
        """Layers held as attributes (Bidirectional's two directions, TimeDistributed's layer): their
        per-call state is part of this layer's. Found once, on the first call (sub-layers are set
        in ``__init__``)."""
        names = self.__dict__.get("_sublayer_names")
        if names is None:
            names = [key for key, value in vars(self).items() if isinstance(value, Layer)]
            self.__dict__["_sublayer_names"] = names
        return [getattr(self, name) for name in names]

    def _call_state(self):
        """Everything a backward of the last call reads: ``_cache``, and the sub-layers' own."""
        subs = self._sublayers()
        return (self._cache, tuple(sub._call_state() for sub in subs) if subs else ())

    def _set_call_state(self, state):
        self._cache, sub_states = state
        if sub_states:
            for sub, sub_state in zip(self._sublayers(), sub_states):
                sub._set_call_state(sub_state)

    def _graph_call(self, inputs, training, mask, kwargs):
        """One node of a model's forward: ``(outputs, output mask(s), cache)``."""
        output_mask = self.compute_mask(inputs, mask)
        outputs, cache = self.forward(inputs, training=training, mask=mask, **kwargs)
        return outputs, output_mask, cache

    # ------------------------------------------------------------------ symbolic calls
    def _build_symbolic(self, input_shape):
        """Check the symbolic input shape(s) against this layer and build it from them (no data runs)."""
        if symbolic.is_shape(input_shape):
            rank = len(input_shape)
            if self.input_ndim is not None and rank != self.input_ndim:
                raise RnnkitValueError(
                    f"inputs of layer {self.name!r} must have rank {self.input_ndim}, got shape {input_shape}")
            if self.min_ndim is not None and rank < self.min_ndim:
                raise RnnkitValueError(
                    f"inputs of layer {self.name!r} must have rank >= {self.min_ndim}, got shape {input_shape}")
            if self.built and self.input_features is not None and input_shape[-1] not in (None, self.input_features):
                raise RnnkitValueError(
                    f"inputs of layer {self.name!r} must have {self.input_features} features (last axis) to match "
                    f"its built weights, got shape {input_shape}")
        if not self.built:
            with initializers.building(self):
                self.build(input_shape)
            self.built = True

    def _output_dtypes(self, count):
        return [self.dtype] * count

    @property
    def input(self):
        """The symbolic input(s) of this layer's first call on symbolic tensors (Keras's ``layer.input``)."""
        return self._first_node("input").call_inputs

    @property
    def output(self):
        """The symbolic output(s) of this layer's first call on symbolic tensors (Keras's ``layer.output``)."""
        node = self._first_node("output")
        return node.outputs[0] if node.single_output else list(node.outputs)

    def _first_node(self, what):
        if not self._inbound_nodes:
            raise RnnkitValueError(
                f"layer {self.name!r} has never been called on a symbolic tensor (rnnkit.Input), so it has "
                f"no {what}; build a functional model first")
        return self._inbound_nodes[0]

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.input_shape_arg is not None and self.batch_size_arg is not None:
            config["batch_input_shape"] = (self.batch_size_arg, *self.input_shape_arg)
        elif self.input_shape_arg is not None:
            config["input_shape"] = self.input_shape_arg
        if getattr(self, "activity_regularizer", None) is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _refuse_missing_weight_options(cls, options, kwargs):
    """A named error, before construction, for a regularizer or constraint option the layer has no weight
    for (``recurrent_constraint`` on Dense); other unexpected arguments get Python's TypeError."""
    accepted = accepted_keywords(cls)
    if accepted is None:  # some **kwargs takes anything: the class decides
        return
    accepted |= {"activity_regularizer"}
    if getattr(cls, "cell_class", None) is not None:  # SimpleRNN, LSTM, ...: the cell takes the weight options
        accepted |= accepted_keywords(cls.cell_class) or set()
    missing = sorted(set(options) - accepted)
    if missing:
        raise RnnkitTypeError(
            f"{cls.__name__} has no weight for {', '.join(missing)} (it takes only the regularizer and constraint "
            f"options of the weights it has, e.g. kernel_regularizer / bias_constraint); got {missing[0]}="
            f"{kwargs[missing[0]]!r}")


class LayerCache:
    """What :meth:`Layer.forward` returns beside the outputs: one call's saved state."""

    __slots__ = ("state", "has_state")

    def __init__(self, state, has_state):
        self.state = state
        self.has_state = has_state

    @property
    def carries_loss(self):
        """Whether the call has a loss of its own (an activity penalty), so its backward must run even
        when nothing downstream has a loss."""
        return activity.has_activity(self.state)
