"""The small set of operations a :class:`~rnnkit.layers.Lambda` can differentiate, each with its
vector-Jacobian product written out.

rnnkit has no autodiff framework. A Lambda's function is run on :class:`Traced` arrays: each NumPy
operation in :data:`SUPPORTED` (operators, indexing, the ufuncs and functions listed below, used
the ordinary way, ``np.tanh(x)``, ``x[:, -1]``, ``np.sum(x, axis=1)``) returns a Traced value that
remembers its operands and how to send a gradient back to them; ``backprop`` then walks that
record in reverse. Any other operation raises a clear error instead of silently losing the
gradient (a Lambda can pass an explicit ``backward`` instead).

Gradient conventions: where several entries tie for a max/min (elementwise or a reduction) the
gradient follows TensorFlow (elementwise: the first operand; reductions: split evenly).
"""
import inspect
import itertools

import numpy as np

from ..errors import RnnkitTypeError
from .layer_utils import unbroadcast

_order = itertools.count()
_NO_VALUE = inspect.Parameter.empty


class Traced:
    """An array computed by supported operations from a Lambda's inputs.

    Attributes:
        value: the NumPy array.
        parents: tuple of (operand, vjp) with ``vjp(d_value) -> d_operand``.
    """

    __array_priority__ = 1000
    __hash__ = None  # == is elementwise, as for arrays

    def __init__(self, value, parents=()):
        self.value = np.asarray(value)
        self.parents = tuple(parents)
        self.order = next(_order)  # creation order: a valid topological order of the record

    # --------------------------------------------------------- array-like surface
    shape = property(lambda self: self.value.shape)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    dtype = property(lambda self: self.value.dtype)
    T = property(lambda self: np.transpose(self))

    def __len__(self):
        return len(self.value)

    def __repr__(self):
        return f"Traced({self.value!r})"

    def __array__(self, dtype=None, copy=None):
        raise _unsupported("converting to a plain NumPy array (np.asarray, float(), ...)")

    def __bool__(self):
        raise _unsupported("using a traced array as a truth value")

    def __getitem__(self, index):
        if any(isinstance(i, Traced) for i in (index if isinstance(index, tuple) else (index,))):
            raise _unsupported("indexing with a traced array")
        shape, advanced = self.value.shape, _is_advanced(index)

        def vjp(d):
            grad = np.zeros(shape, d.dtype)
            if advanced:  # repeated indices must add up
                np.add.at(grad, index, d)
            else:
                grad[index] += d
            return grad

        return Traced(self.value[index], [(self, vjp)])

    # operators go through the ufunc table
    __add__ = lambda self, other: np.add(self, other)  # noqa: E731
    __radd__ = lambda self, other: np.add(other, self)  # noqa: E731
    __sub__ = lambda self, other: np.subtract(self, other)  # noqa: E731
    __rsub__ = lambda self, other: np.subtract(other, self)  # noqa: E731
    __mul__ = lambda self, other: np.multiply(self, other)  # noqa: E731
    __rmul__ = lambda self, other: np.multiply(other, self)  # noqa: E731
    __truediv__ = lambda self, other: np.true_divide(self, other)  # noqa: E731
    __rtruediv__ = lambda self, other: np.true_divide(other, self)  # noqa: E731
    __pow__ = lambda self, other: np.power(self, other)  # noqa: E731
    __rpow__ = lambda self, other: np.power(other, self)  # noqa: E731
    __matmul__ = lambda self, other: np.matmul(self, other)  # noqa: E731
    __rmatmul__ = lambda self, other: np.matmul(other, self)  # noqa: E731
    __neg__ = lambda self: np.negative(self)  # noqa: E731
    __pos__ = lambda self: self  # noqa: E731
    __abs__ = lambda self: np.absolute(self)  # noqa: E731
    __gt__ = lambda self, other: np.greater(self, other)  # noqa: E731
    __ge__ = lambda self, other: np.greater_equal(self, other)  # noqa: E731
    __lt__ = lambda self, other: np.less(self, other)  # noqa: E731
    __le__ = lambda self, other: np.less_equal(self, other)  # noqa: E731
    __eq__ = lambda self, other: np.equal(self, other)  # noqa: E731
    __ne__ = lambda self, other: np.not_equal(self, other)  # noqa: E731

    # methods as ndarray's, through the function table
    def reshape(self, *shape, order="C"):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes):
        return np.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def swapaxes(self, axis1, axis2):
        return np.swapaxes(self, axis1, axis2)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis)

    def flatten(self):
        return np.reshape(self, -1)

    ravel = flatten

    def sum(self, axis=None, keepdims=False):
        return np.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return np.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return np.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return np.min(self, axis=axis, keepdims=keepdims)

    # --------------------------------------------------------- NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        values = [_value(x) for x in inputs]
        if ufunc in _CONSTANT_UFUNCS and method == "__call__" and not kwargs:
            return ufunc(*values)  # comparisons, sign, rounding: no gradient flows through them
        if method != "__call__" or kwargs or (ufunc not in _UNARY and ufunc not in _BINARY):
            name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
            raise _unsupported(f"numpy.{name}")
        out = ufunc(*values)
        if ufunc in _UNARY:
            x, = inputs
            return Traced(out, [(x, lambda d: _UNARY[ufunc](values[0], out, d))])
        a, b = inputs
        if ufunc is np.power and isinstance(b, Traced) and np.any(values[0] <= 0):
            raise _unsupported("numpy.power with a traced exponent and a base <= 0")
        vjp_a, vjp_b = _BINARY[ufunc]
        shape_a, shape_b = np.shape(values[0]), np.shape(values[1])
        return Traced(out, _traced_only([
            (a, lambda d: unbroadcast(vjp_a(values[0], values[1], out, d), shape_a)),
            (b, lambda d: unbroadcast(vjp_b(values[0], values[1], out, d), shape_b)),
        ]))

    def __array_function__(self, func, types, args, kwargs):
        if func in _SHAPE_QUERIES:
            return func(*[_value(x) for x in args], **kwargs)
        handler = _FUNCTIONS.get(func)
        if handler is None:
            raise _unsupported(f"numpy.{func.__name__}")
        bound = inspect.signature(func).bind(*args, **kwargs)
        return handler(func, bound.arguments)


def _value(x):
    return x.value if isinstance(x, Traced) else x


def _traced_only(pairs):
    return [(operand, vjp) for operand, vjp in pairs if isinstance(operand, Traced)]


def _is_advanced(index):
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (list, np.ndarray)) for i in items)


def _unsupported(what):
    return RnnkitTypeError(
        f"a Lambda layer cannot differentiate {what}: rnnkit has no autodiff, so a Lambda's function may only "
        f"use the operations of rnnkit.layers.lambda_trace.SUPPORTED on its inputs ({', '.join(SUPPORTED)}); "
        f"otherwise pass backward=fn (fn(inputs, outputs, d_outputs) -> d_inputs) to Lambda")


# ------------------------------------------------------------------ elementwise
_UNARY = {
    np.negative: lambda x, y, d: -d,
    np.positive: lambda x, y, d: d,
    np.exp: lambda x, y, d: d * y,
    np.expm1: lambda x, y, d: d * (y + 1),
    np.log: lambda x, y, d: d / x,
    np.log1p: lambda x, y, d: d / (1 + x),
    np.sqrt: lambda x, y, d: d * 0.5 / y,
    np.square: lambda x, y, d: d * 2 * x,
    np.absolute: lambda x, y, d: d * np.sign(x),
    np.tanh: lambda x, y, d: d * (1 - y * y),
    np.sin: lambda x, y, d: d * np.cos(x),
    np.cos: lambda x, y, d: -d * np.sin(x),
}


def _matmul_vjps():
    def check(a, b):
        if np.ndim(a) < 2 or np.ndim(b) < 2:
            raise _unsupported("numpy.matmul of a 1-D operand (reshape it to 2-D)")

    def d_a(a, b, y, d):
        check(a, b)
        return d @ np.swapaxes(b, -1, -2)

    def d_b(a, b, y, d):
        check(a, b)
        return np.swapaxes(a, -1, -2) @ d

    return d_a, d_b


_BINARY = {
    np.add: (lambda a, b, y, d: d, lambda a, b, y, d: d),
    np.subtract: (lambda a, b, y, d: d, lambda a, b, y, d: -d),
    np.multiply: (lambda a, b, y, d: d * b, lambda a, b, y, d: d * a),
    np.true_divide: (lambda a, b, y, d: d / b, lambda a, b, y, d: -d * a / (b * b)),
    np.power: (lambda a, b, y, d: d * b * np.power(a, b - 1), lambda a, b, y, d: d * y * np.log(a)),
    np.maximum: (lambda a, b, y, d: d * (a >= b), lambda a, b, y, d: d * (a < b)),
    np.minimum: (lambda a, b, y, d: d * (a <= b), lambda a, b, y, d: d * (a > b)),
    np.matmul: _matmul_vjps(),
}
_CONSTANT_UFUNCS = {np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal, np.sign,
                    np.floor, np.ceil, np.rint, np.isnan, np.isfinite, np.isinf, np.logical_not}
_SHAPE_QUERIES = {np.shape, np.ndim, np.size}


# ------------------------------------------------------------------ functions
def _given(arguments, *names):
    for name in names:
        if arguments.get(name, _NO_VALUE) is not _NO_VALUE and arguments.get(name) is not None:
            raise _unsupported(f"the {name}= argument")


def _reduced_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axes)


def _reduction(func, arguments):
    _given(arguments, "out", "where", "initial", "dtype")
    a = arguments["a"]
    keepdims = arguments.get("keepdims", _NO_VALUE)
    keepdims = False if keepdims is _NO_VALUE else bool(keepdims)
    axis = arguments.get("axis")
    if isinstance(axis, list):
        axis = tuple(axis)
    x = a.value
    out = func(x, axis=axis, keepdims=keepdims)
    axes = _reduced_axes(axis, x.ndim)
    count = int(np.prod([x.shape[i] for i in axes]))

    def expand(v):
        return v if keepdims else np.expand_dims(v, axes)

    if func is np.sum:
        def vjp(d):
            return np.broadcast_to(expand(d), x.shape).copy()
    elif func is np.mean:
        def vjp(d):
            return np.broadcast_to(expand(d) / count, x.shape).copy()
    else:  # max / min: TensorFlow's rule, ties share the gradient evenly
        def vjp(d):
            chosen = x == expand(out)
            return chosen * expand(d) / chosen.sum(axis=axes, keepdims=True)
    return Traced(out, [(a, vjp)])


def _reshaping(func, arguments):
    """Functions whose first argument is moved around without arithmetic: the VJP undoes the move."""
    name = next(iter(arguments))
    a = arguments[name]
    rest = {k: v for k, v in arguments.items() if k != name}
    if any(isinstance(v, Traced) for v in rest.values()):
        raise _unsupported(f"a traced {', '.join(rest)} argument of numpy.{func.__name__}")
    x = a.value
    out = func(x, **rest) if func is not np.reshape else np.reshape(x, rest["shape"], order=rest.get("order", "C"))
    if func is np.transpose:
        axes = rest.get("axes")
        inverse = None if axes is None else np.argsort([i % x.ndim for i in axes])
        undo = lambda d: np.transpose(d, inverse)  # noqa: E731
    elif func is np.swapaxes:
        undo = lambda d: np.swapaxes(d, rest["axis1"], rest["axis2"])  # noqa: E731
    elif func is np.moveaxis:
        undo = lambda d: np.moveaxis(d, rest["destination"], rest["source"])  # noqa: E731
    elif func is np.flip:
        undo = lambda d: np.flip(d, rest.get("axis"))  # noqa: E731
    else:  # reshape, expand_dims, squeeze: the entries keep their order
        undo = lambda d: np.reshape(d, x.shape)  # noqa: E731
    return Traced(out, [(a, undo)])


def _joining(func, arguments):
    _given(arguments, "out", "dtype")
    arrays = list(arguments["arrays"])
    axis = arguments.get("axis", 0)
    if axis is None:
        raise _unsupported(f"numpy.{func.__name__} with axis=None")
    values = [_value(x) for x in arrays]
    out = func(values, axis=axis)
    pairs = []
    if func is np.concatenate:
        ends = np.cumsum([v.shape[axis] for v in values])
        for operand, end, v in zip(arrays, ends, values):
            start = end - v.shape[axis]
            pairs.append((operand, lambda d, s=start, e=end: np.take(d, np.arange(s, e), axis=axis)))
    else:  # stack
        for i, operand in enumerate(arrays):
            pairs.append((operand, lambda d, i=i: np.take(d, i, axis=axis)))
    return Traced(out, _traced_only(pairs))


def _clip(func, arguments):
    _given(arguments, "out")
    a = arguments["a"]
    bounds = [v for k, v in arguments.items() if k != "a"]
    if any(isinstance(v, Traced) for v in bounds) or "kwargs" in arguments and arguments["kwargs"]:
        raise _unsupported("numpy.clip with traced bounds or extra arguments")
    out = func(a.value, *[v for k, v in arguments.items() if k in ("a_min", "a_max")],
               **{k: v for k, v in arguments.items() if k in ("min", "max")})
    return Traced(out, [(a, lambda d: d * (out == a.value))])


def _where(func, arguments):
    condition, x, y = arguments["condition"], arguments.get("x"), arguments.get("y")
    if isinstance(condition, Traced) or x is None or y is None:
        raise _unsupported("numpy.where without x and y, or with a traced condition")
    cond, xv, yv = np.asarray(condition, bool), _value(x), _value(y)
    out = np.where(cond, xv, yv)
    return Traced(out, _traced_only([
        (x, lambda d: unbroadcast(np.where(cond, d, 0), np.shape(xv))),
        (y, lambda d: unbroadcast(np.where(cond, 0, d), np.shape(yv))),
    ]))


def _cumsum(func, arguments):
    _given(arguments, "out", "dtype")
    a, axis = arguments["a"], arguments.get("axis")
    x = a.value
    out = np.cumsum(x, axis=axis)
    if axis is None:
        return Traced(out, [(a, lambda d: np.flip(np.cumsum(np.flip(d))).reshape(x.shape))])
    return Traced(out, [(a, lambda d: np.flip(np.cumsum(np.flip(d, axis), axis=axis), axis))])


_FUNCTIONS = {
    np.sum: _reduction, np.mean: _reduction, np.max: _reduction, np.min: _reduction,
    np.amax: lambda f, args: _reduction(np.max, args), np.amin: lambda f, args: _reduction(np.min, args),
    np.reshape: _reshaping, np.expand_dims: _reshaping, np.squeeze: _reshaping, np.transpose: _reshaping,
    np.swapaxes: _reshaping, np.moveaxis: _reshaping, np.flip: _reshaping,
    np.concatenate: _joining, np.stack: _joining,
    np.clip: _clip, np.where: _where, np.cumsum: _cumsum,
}

#: what a Lambda's function may do to its inputs (anything else raises a clear error)
SUPPORTED = (
    ["+", "-", "*", "/", "**", "@", "unary -", "abs()", "indexing and slicing", ".T", ".reshape", ".transpose",
     ".swapaxes", ".squeeze", ".flatten", ".ravel", ".sum", ".mean", ".max", ".min", "comparisons"]
    + [f"np.{u.__name__}" for u in list(_UNARY) + list(_BINARY)]
    + sorted({f"np.{f.__name__}" for f in _FUNCTIONS})
)


def backprop(outputs, d_outputs):
    """Gradients of Σ <outputs[i], d_outputs[i]> for every leaf (Traced without parents) reached:
    a dict id(leaf) -> gradient."""
    pending, nodes, stack = {}, {}, list(outputs)
    for node, d in zip(outputs, d_outputs):
        if d is not None:
            pending[id(node)] = pending.get(id(node), 0) + np.asarray(d, node.value.dtype)
    while stack:
        node = stack.pop()
        if id(node) not in nodes:
            nodes[id(node)] = node
            stack.extend(parent for parent, _ in node.parents)
    leaves = {}
    for node in sorted(nodes.values(), key=lambda n: n.order, reverse=True):
        d = pending.pop(id(node), None)
        if d is None:
            continue
        if not node.parents:
            leaves[id(node)] = d
        for parent, vjp in node.parents:
            pending[id(parent)] = pending.get(id(parent), 0) + vjp(d)
    return leaves
