"""Symbolic tensors and nodes: what calling a layer on ``rnnkit.Input(...)`` records.

A :class:`KerasTensor` has a shape (batch axis first, ``None`` where unknown), a dtype, a
name and a history ``(layer, node_index, tensor_index)``: the call (node) of the layer
that produced it. Calling any layer on KerasTensors computes the output shapes from
``layer.compute_output_shape`` (building the layer from the input shapes first) without
touching any data, appends a :class:`Node` to ``layer._inbound_nodes`` and returns new
KerasTensors. A functional :class:`~rnnkit.models.Model` is the graph of these nodes
between its inputs and outputs.
"""
import collections
import inspect

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from ..ops.grad_mode import no_grad

KerasHistory = collections.namedtuple("KerasHistory", ["operation", "node_index", "tensor_index"])

_tensor_names = {}

# call keyword arguments that carry differentiable tensors (their gradients flow back)
STATE_KWARG = "initial_state"


def _tensor_name():
    count = _tensor_names.get("keras_tensor", 0)
    _tensor_names["keras_tensor"] = count + 1
    return "keras_tensor" if count == 0 else f"keras_tensor_{count}"


def reset_tensor_names():
    _tensor_names.clear()


class KerasTensor:
    """A symbolic array: the shape, dtype and origin of a value a model will compute.

    Attributes:
        shape: tuple, batch axis first; ``None`` for unknown sizes.
        dtype: dtype name, e.g. ``"float32"``.
        name: the input's name for ``Input`` tensors, else ``keras_tensor_<n>``.
        ndim: ``len(shape)``.
    """

    def __init__(self, shape, dtype="float32", name=None, history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype).name
        self.name = name or _tensor_name()
        self._keras_history = history

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def node(self):
        """The :class:`Node` that produced this tensor."""
        layer, node_index, _ = self._keras_history
        return layer._inbound_nodes[node_index]

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise RnnkitTypeError(
            f"{self!r} is symbolic and holds no values: it only describes what a model will compute; "
            "build a Model(inputs, outputs) and call it (or predict) on arrays")

    def _no_operators(self, *args):
        raise RnnkitTypeError(
            f"{self!r} is symbolic: arithmetic and indexing on it are not recorded; use layers instead "
            "(Add, Subtract, Multiply, Concatenate, Reshape, Lambda, ...)")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _no_operators
    __matmul__ = __rmatmul__ = __neg__ = __pow__ = __getitem__ = _no_operators


def flatten(structure):
    """The leaves of nested lists/tuples/dicts (dicts in sorted key order, as Keras's ``tree.flatten``)."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def map_structure(fn, structure):
    """``structure`` with ``fn`` applied to every leaf (lists stay lists, tuples tuples, dicts dicts)."""
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, item) for item in structure)
    return fn(structure)


def pack_like(structure, leaves):
    """Rebuild ``structure`` with ``leaves`` (in :func:`flatten` order)."""
    leaves = iter(leaves)

    def rebuild(item):
        if isinstance(item, dict):
            rebuilt = {key: rebuild(item[key]) for key in sorted(item)}
            return {key: rebuilt[key] for key in item}
        if isinstance(item, (list, tuple)):
            return type(item)(rebuild(x) for x in item)
        return next(leaves)

    return rebuild(structure)


def is_symbolic(value):
    return any(isinstance(leaf, KerasTensor) for leaf in flatten(value))


def is_shape(value):
    """Whether ``value`` is one shape (a tuple of ints/None) rather than a list of shapes."""
    return isinstance(value, tuple) and all(d is None or isinstance(d, (int, np.integer)) for d in value)


class Node:
    """One call of one layer on symbolic tensors.

    Attributes:
        layer: the layer called.
        call_inputs: the ``inputs`` argument (a KerasTensor or a list of them; empty list for an Input).
        call_kwargs: the other keyword arguments as given (``initial_state``, ``mask``, constants).
        outputs: flat list of the KerasTensors returned.
        single_output: whether the call returned one tensor rather than a list.
    """

    def __init__(self, layer, call_inputs, call_kwargs, outputs, single_output):
        self.layer = layer
        self.call_inputs = call_inputs
        self.call_kwargs = dict(call_kwargs)
        self.outputs = list(outputs)
        self.single_output = bool(single_output)

    @property
    def is_input(self):
        return not flatten(self.call_inputs) and not self.call_kwargs

    @property
    def input_tensors(self):
        """Every KerasTensor the call read: the inputs, then the keyword arguments' tensors."""
        tensors = [t for t in flatten(self.call_inputs) if isinstance(t, KerasTensor)]
        for key in self.call_kwargs:
            tensors += [t for t in flatten(self.call_kwargs[key]) if isinstance(t, KerasTensor)]
        return tensors

    @property
    def grad_tensors(self):
        """The tensors that receive gradients: the inputs, then the ``initial_state`` tensors (flat)."""
        tensors = flatten(self.call_inputs)
        if self.call_kwargs.get(STATE_KWARG) is not None:
            tensors = tensors + flatten(self.call_kwargs[STATE_KWARG])
        return tensors

    def flat_input_gradients(self, d_inputs):
        """``backward_from``'s ``d_inputs`` as a flat list matching :attr:`grad_tensors`."""
        if self.call_kwargs.get(STATE_KWARG) is not None:
            d_x, d_states = d_inputs
            d_states = list(d_states) if d_states is not None else [None] * len(flatten(self.call_kwargs[STATE_KWARG]))
            return self._flat_inputs(d_x) + d_states
        return self._flat_inputs(d_inputs)

    def _flat_inputs(self, d_x):
        count = len(flatten(self.call_inputs))
        if d_x is None:
            return [None] * count
        if isinstance(self.call_inputs, (list, tuple)):
            flat = flatten(list(d_x))
            if len(flat) != count:
                raise RnnkitValueError(
                    f"backward of layer {self.layer.name!r} returned {len(flat)} input gradients for {count} inputs")
            return flat
        return [d_x]

    @property
    def parent_nodes(self):
        return [t.node for t in self.input_tensors]

    def resolve(self, values):
        """The call's inputs and keyword arguments with every KerasTensor replaced by its value."""
        if isinstance(self.call_inputs, KerasTensor) and not self.call_kwargs:  # the common case, fast
            return values[id(self.call_inputs)], {}

        def value_of(leaf):
            return values[id(leaf)] if isinstance(leaf, KerasTensor) else leaf

        inputs = map_structure(value_of, self.call_inputs)
        kwargs = {key: map_structure(value_of, value) for key, value in self.call_kwargs.items()}
        return inputs, kwargs


def _check_inputs_all_symbolic(layer, inputs):
    leaves = flatten(inputs)
    if not all(isinstance(leaf, KerasTensor) for leaf in leaves):
        raise RnnkitTypeError(
            f"inputs of layer {layer.name!r} mix symbolic tensors and other values ({describe(inputs)}); "
            "pass only tensors from rnnkit.Input(...) and layer calls")


def _check_kwargs(layer, kwargs):
    for key, value in kwargs.items():
        leaves = flatten(value)
        if any(isinstance(leaf, KerasTensor) for leaf in leaves) and not all(
                isinstance(leaf, KerasTensor) or leaf is None for leaf in leaves):
            raise RnnkitTypeError(
                f"argument {key} of layer {layer.name!r} mixes symbolic tensors and arrays, got {describe(value)}")


def _shape_kwargs(method, kwargs):
    """The non-tensor keyword arguments of a call, split into those ``method``'s signature accepts and
    the names of those it does not (e.g. ``return_attention_scores`` that changes what a call returns)."""
    static = {key: value for key, value in kwargs.items() if not is_symbolic(value) and key != "mask"}
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return {}, sorted(static)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return static, []
    return ({key: value for key, value in static.items() if key in parameters},
            sorted(key for key in static if key not in parameters))


def _output_shapes_by_running(layer, inputs, kwargs):
    """Output shapes of a call that ``compute_output_shape`` cannot give: the layer runs on zeros
    twice, unknown sizes set to 2 and then 3; an output size that follows them is unknown (None).
    The batch axis is the inputs'. The layer's per-call state is put back afterwards."""
    def run(size):
        def zeros(tensor):
            return np.zeros([size if d is None else d for d in tensor.shape], tensor.dtype)

        arrays = {k: map_structure(lambda t: zeros(t) if isinstance(t, KerasTensor) else t, v)
                  for k, v in kwargs.items() if k != "mask"}
        saved = layer._call_state()
        try:
            with no_grad():
                outputs = layer(map_structure(zeros, inputs), training=False, **arrays)
        finally:
            layer._set_call_state(saved)
        single = not isinstance(outputs, (list, tuple))
        return single, [np.shape(o) for o in ([outputs] if single else outputs)]

    single, small = run(2)
    _, large = run(3)
    batch = flatten(inputs)[0].shape[0] if flatten(inputs) else None
    shapes = [(batch, *(a if a == b else None for a, b in zip(s1[1:], s2[1:]))) for s1, s2 in zip(small, large)]
    return shapes[0] if single else shapes


def output_shapes(layer, inputs, kwargs):
    """What a call of ``layer`` on the symbolic ``inputs`` returns: one shape, or a list of shapes.

    From ``compute_output_shape`` (given the call's options its signature names); a layer without
    one, or called with options it does not take, is run once on zeros instead."""
    shapes = map_structure(lambda t: t.shape, inputs)
    accepted, ignored = _shape_kwargs(layer.compute_output_shape, kwargs)
    if ignored:  # call options compute_output_shape does not know may change the outputs: ask the layer
        return _output_shapes_by_running(layer, inputs, kwargs)
    try:
        result = layer.compute_output_shape(shapes, **accepted)
    except NotImplementedError:
        return _output_shapes_by_running(layer, inputs, kwargs)
    if isinstance(result, list) or (isinstance(result, tuple) and not is_shape(result)):
        return [tuple(s) for s in result]
    return tuple(result)


def symbolic_call(layer, inputs, mask, kwargs):
    """Record one call of ``layer`` on KerasTensors and return its symbolic outputs."""
    _check_inputs_all_symbolic(layer, inputs)
    if mask is not None:
        kwargs = dict(kwargs, mask=mask)
    _check_kwargs(layer, kwargs)
    layer._build_symbolic(map_structure(lambda t: t.shape, inputs))
    shapes = output_shapes(layer, inputs, kwargs)
    single = is_shape(shapes)
    shape_list = [shapes] if single else list(shapes)
    dtypes = layer._output_dtypes(len(shape_list))
    node_index = len(layer._inbound_nodes)
    outputs = [KerasTensor(shape, dtype, history=KerasHistory(layer, node_index, i))
               for i, (shape, dtype) in enumerate(zip(shape_list, dtypes))]
    node = Node(layer, inputs, kwargs, outputs, single)
    layer._inbound_nodes.append(node)
    return outputs[0] if single else list(outputs)
