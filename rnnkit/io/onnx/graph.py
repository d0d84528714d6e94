"""A small ONNX graph builder: unique names, weights as initializers, one method per op used.

Values travel as :class:`Value` (an ONNX value name with its static shape, ``None`` for the
dynamic batch and time axes, and its NumPy dtype), so converters can read feature sizes.
A :meth:`GraphBuilder.subgraph` (a Scan body) shares the names and the initializers of its
root graph: weights stay outer-scope initializers that the body reads.
"""
from dataclasses import dataclass

import numpy as np

from ..._optional import require
from ...errors import RnnkitValueError

INT64_MIN = np.iinfo(np.int64).min


class OnnxExportError(RnnkitValueError):
    """Something in the model has no ONNX export (the message names the layer and the reason)."""


@dataclass(frozen=True)
class Value:
    """An ONNX value: its name, static shape (None = dynamic) and NumPy dtype."""

    name: str
    shape: tuple
    dtype: np.dtype

    def with_shape(self, shape):
        return Value(self.name, tuple(shape), self.dtype)


def onnx_package():
    return require("onnx", "onnx", "exporting to ONNX")


class GraphBuilder:
    """Collects nodes, initializers, inputs and outputs of one ONNX graph.

    Args:
        opset: the default-domain opset the graph targets.
        root: the enclosing builder for a subgraph (None for the main graph).
    """

    def __init__(self, opset, root=None):
        self.onnx = onnx_package()
        self.helper = self.onnx.helper
        self.opset = opset
        self.root = root or self
        self.nodes, self.inputs, self.outputs = [], [], []
        if root is None:
            self.initializers, self._used, self._constants = [], set(), {}

    # ------------------------------------------------------------------ names and values
    def fresh(self, hint):
        """A value name not used anywhere in the model (graphs and subgraphs share one namespace)."""
        used = self.root._used
        base, index = hint.replace("/", "_"), 0
        name = base
        while name in used:
            index += 1
            name = f"{base}_{index}"
        used.add(name)
        return name

    def elem_type(self, dtype):
        return self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    def const(self, array, hint="const"):
        """An initializer holding ``array`` (of the root graph; identical small constants are shared)."""
        array = np.asarray(array)
        root = self.root
        key = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if key is not None and key in root._constants:
            return root._constants[key]
        name = self.fresh(hint)
        root.initializers.append(self.onnx.numpy_helper.from_array(array.copy(order="C"), name))
        value = Value(name, array.shape, array.dtype)
        if key is not None:
            root._constants[key] = value
        return value

    def ints(self, values, hint="ints"):
        return self.const(np.asarray(values, np.int64), hint)

    def scalar(self, number, dtype, hint="scalar"):
        return self.const(np.asarray(number, dtype), hint)

    def add_input(self, name, dtype, shape, time_name="time"):
        """A graph input; ``None`` dims become named dynamic axes: ``batch`` (shared by every input),
        ``time_name`` for axis 1 (inputs of different lengths need different names), ``<name>_dim<i>``."""
        dims = [d if d is not None else ("batch" if i == 0 else time_name if i == 1 else f"{name}_dim{i}")
                for i, d in enumerate(shape)]
        self.root._used.add(name)
        self.inputs.append(self.helper.make_tensor_value_info(name, self.elem_type(dtype), dims))
        return Value(name, tuple(shape), np.dtype(dtype))

    def add_output(self, value, name=None):
        """Expose ``value`` as a graph output (through an Identity when it needs its own name)."""
        if name is not None:
            self.root._used.add(name)
            self.nodes.append(self.helper.make_node("Identity", [value.name], [name]))
            value = Value(name, value.shape, value.dtype)
        # only the batch axis is named: an output's time axis may follow any of the inputs'
        dims = [d if d is not None else ("batch" if i == 0 else None) for i, d in enumerate(value.shape)]
        self.outputs.append(self.helper.make_tensor_value_info(value.name, self.elem_type(value.dtype), dims))
        return value

    # ------------------------------------------------------------------ nodes
    def op(self, op_type, inputs, shape, dtype, hint=None, n_outputs=1, shapes=None, **attrs):
        """Add one node. ``inputs`` are Values (or None for an omitted optional input); returns the output
        Value, or a list of ``n_outputs`` Values (shapes from ``shapes``, else all ``shape``)."""
        names = [self.fresh(f"{hint or op_type}_out{i}" if n_outputs > 1 else (hint or op_type))
                 for i in range(n_outputs)]
        in_names = ["" if v is None else v.name for v in inputs]
        while in_names and in_names[-1] == "":
            in_names.pop()
        self.nodes.append(self.helper.make_node(op_type, in_names, names, name=self.fresh(f"node_{op_type}"),
                                                **attrs))
        shapes = shapes or [shape] * n_outputs
        values = [Value(n, tuple(s), np.dtype(dtype)) for n, s in zip(names, shapes)]
        return values[0] if n_outputs == 1 else values

    def unary(self, op_type, x, hint=None, **attrs):
        return self.op(op_type, [x], x.shape, x.dtype, hint, **attrs)

    def binary(self, op_type, a, b, hint=None):
        return self.op(op_type, [a, b], _broadcast(a.shape, b.shape), a.dtype, hint)

    def add(self, a, b, hint=None):
        return self.binary("Add", a, b, hint)

    def sub(self, a, b, hint=None):
        return self.binary("Sub", a, b, hint)

    def mul(self, a, b, hint=None):
        return self.binary("Mul", a, b, hint)

    def matmul(self, a, b, hint=None):
        return self.op("MatMul", [a, b], tuple(a.shape[:-1]) + (b.shape[-1],), a.dtype, hint)

    def where(self, condition, a, b, hint=None):
        return self.op("Where", [condition, a, b], _broadcast(_broadcast(condition.shape, a.shape), b.shape),
                       a.dtype, hint)

    def cast(self, x, dtype, hint=None):
        return self.op("Cast", [x], x.shape, dtype, hint, to=self.elem_type(dtype))

    def transpose(self, x, perm, hint=None):
        return self.op("Transpose", [x], tuple(x.shape[p] for p in perm), x.dtype, hint, perm=list(perm))

    def reshape(self, x, shape_value, shape, hint=None):
        return self.op("Reshape", [x, shape_value], shape, x.dtype, hint)

    def concat(self, values, axis, hint=None):
        shape = list(values[0].shape)
        sizes = [v.shape[axis] for v in values]
        shape[axis] = None if None in sizes else sum(sizes)
        return self.op("Concat", values, shape, values[0].dtype, hint, axis=axis)

    def split(self, x, sizes, axis, hint=None):
        """``len(sizes)`` Values cut from ``x`` along ``axis``."""
        shapes = [tuple(s if i != axis % len(x.shape) else n for i, s in enumerate(x.shape)) for n in sizes]
        if len(sizes) == 1:
            return [x]
        return self.op("Split", [x, self.ints(sizes, "split")], None, x.dtype, hint, n_outputs=len(sizes),
                       shapes=shapes, axis=axis)

    def slice(self, x, starts, ends, axes, steps=None, hint=None):
        shape = list(x.shape)
        for axis in axes:
            shape[axis] = None
        inputs = [x, self.ints(starts), self.ints(ends), self.ints(axes)] + ([self.ints(steps)] if steps else [])
        return self.op("Slice", inputs, shape, x.dtype, hint)

    def reverse(self, x, axis, hint=None):
        """``x`` reversed along ``axis`` (any length, including dynamic)."""
        out = self.slice(x, [-1], [INT64_MIN], [axis], [-1], hint or "reversed")
        return out.with_shape(x.shape)

    def gather(self, x, index, axis, hint=None):
        """``x`` indexed at the constant ``index`` along ``axis`` (that axis is dropped)."""
        shape = tuple(s for i, s in enumerate(x.shape) if i != axis)
        return self.op("Gather", [x, self.ints(index)], shape, x.dtype, hint, axis=axis)

    def unsqueeze(self, x, axes, hint=None):
        shape = list(x.shape)
        for axis in sorted(a % (len(x.shape) + len(axes)) for a in axes):
            shape.insert(axis, 1)
        return self.op("Unsqueeze", [x, self.ints(axes)], shape, x.dtype, hint)

    def squeeze(self, x, axes, hint=None):
        shape = [s for i, s in enumerate(x.shape) if i not in {a % len(x.shape) for a in axes}]
        return self.op("Squeeze", [x, self.ints(axes)], shape, x.dtype, hint)

    def reduce_sum(self, x, axes, keepdims, hint=None):
        shape = [1 if i in axes else s for i, s in enumerate(x.shape)] if keepdims else \
            [s for i, s in enumerate(x.shape) if i not in {a % len(x.shape) for a in axes}]
        return self.op("ReduceSum", [x, self.ints(axes)], shape, x.dtype, hint, keepdims=int(keepdims))

    def reduce_mean(self, x, axes, keepdims, hint=None):
        """ReduceMean over ``axes`` (an attribute before opset 18, an input from 18 on)."""
        shape = [1 if i in axes else s for i, s in enumerate(x.shape)] if keepdims else \
            [s for i, s in enumerate(x.shape) if i not in axes]
        if self.opset < 18:
            return self.op("ReduceMean", [x], shape, x.dtype, hint, axes=list(axes), keepdims=int(keepdims))
        return self.op("ReduceMean", [x, self.ints(axes)], shape, x.dtype, hint, keepdims=int(keepdims))

    def shape_of(self, x, start, end, hint=None):
        """The dims ``start:end`` of ``x``'s runtime shape, as a 1-D int64 Value."""
        shape = self.op("Shape", [x], (len(x.shape),), np.int64, hint or "shape")
        return self.slice(shape, [start], [end], [0], hint=hint or "dims").with_shape((end - start,))

    def zeros_like_rows(self, x, batch_axis, width, dtype, hint="zeros"):
        """A (batch, width) zero array, the batch size read from ``x``'s axis ``batch_axis``."""
        dims = self.concat([self.shape_of(x, batch_axis, batch_axis + 1), self.ints([width])], 0)
        value = self.onnx.numpy_helper.from_array(np.zeros(1, dtype))
        return self.op("ConstantOfShape", [dims], (None, width), dtype, hint, value=value)

    # ------------------------------------------------------------------ subgraphs and the model
    def subgraph(self):
        return GraphBuilder(self.opset, root=self.root)

    def graph(self, name):
        initializers = self.initializers if self.root is self else []
        return self.helper.make_graph(self.nodes, name, self.inputs, self.outputs, initializers)

    def model(self, name, producer_version):
        opsets = [self.helper.make_opsetid("", self.opset)]
        return self.helper.make_model(self.graph(name), opset_imports=opsets, producer_name="rnnkit",
                                      producer_version=producer_version,
                                      ir_version=self.helper.find_min_ir_version_for(opsets))

    def value_info(self, value):
        dims = [d if d is not None else f"d{i}" for i, d in enumerate(value.shape)]
        return self.helper.make_tensor_value_info(value.name, self.elem_type(value.dtype), dims)


def _broadcast(a, b):
    if a is None or b is None:
        return a or b
    length = max(len(a), len(b))
    a, b = (1,) * (length - len(a)) + tuple(a), (1,) * (length - len(b)) + tuple(b)
    return tuple(y if x == 1 else x if y == 1 else (x if x is not None else y) for x, y in zip(a, b))
