"""Lambda (Keras 3): wrap a function as a layer, for functions rnnkit can differentiate."""
import inspect

import numpy as np

from .._validate import describe, float_array
from ..errors import RnnkitTypeError, RnnkitValueError
from . import lambda_trace
from .base import Layer
from .layer_utils import cached


def serialize_function(fn):
    """Keras's config of a named function; a Python lambda is only marked (its code is never stored)."""
    if getattr(fn, "__name__", "<lambda>") == "<lambda>":
        return {"class_name": "__lambda__", "config": {}}
    return {"module": getattr(fn, "__module__", None), "class_name": "function", "config": fn.__name__,
            "registered_name": "function"}


def deserialize_function(spec, custom_objects, layer_name, argument):
    """The callable a config names, looked up in ``custom_objects`` only: by its name, or for a Python
    lambda by the layer's name. No code from a config is ever imported or executed."""
    custom_objects = custom_objects or {}
    if callable(spec):
        return spec
    if isinstance(spec, dict) and spec.get("class_name") == "__lambda__":
        if layer_name in custom_objects:
            return custom_objects[layer_name]
        raise RnnkitValueError(
            f"the {argument} of Lambda layer {layer_name!r} was a Python lambda; rnnkit never runs code stored in a "
            f"config (Keras stores a lambda's bytecode): pass it again with custom_objects={{{layer_name!r}: fn}}")
    if isinstance(spec, dict) and spec.get("class_name") == "function" and isinstance(spec.get("config"), str):
        if spec["config"] in custom_objects:
            return custom_objects[spec["config"]]
        raise RnnkitValueError(
            f"the {argument} of Lambda layer {layer_name!r} is the function {spec['config']!r} "
            f"(module {spec.get('module')!r}); rnnkit never imports code named in a config: pass "
            f"custom_objects={{{spec['config']!r}: fn}}")
    raise RnnkitValueError(f"the {argument} of Lambda layer {layer_name!r} must be a function config, "
                           f"got {describe(spec)}")


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Lambda(Layer):
    """``y = function(inputs, **arguments)`` as a layer, differentiated one of two ways:

    - **traced** (default): ``function`` uses NumPy on its inputs — operators, indexing,
      ``np.tanh``, ``np.sum(x, axis=1)``, ``np.expand_dims``, ``np.concatenate`` ... (the list is
      :data:`rnnkit.layers.lambda_trace.SUPPORTED`); each such operation carries its own backward.
      Anything else (another library, ``np.asarray``, an unlisted NumPy function) raises a clear error
      when the layer is called, since rnnkit has no autodiff to fall back on.
    - **explicit**: ``backward(inputs, outputs, d_outputs, **arguments) -> d_inputs`` is given (or
      ``function`` is a ``(function, backward)`` pair); ``function`` then sees plain arrays.
      ``d_outputs``/``d_inputs`` are arrays, or lists when the outputs/inputs are lists.

    Args:
        function: the function; it also receives ``mask=`` and ``training=`` if it declares them.
        output_shape: None (found by running the function), a shape without the batch axis, or a
            function of the input shape.
        mask: None (the output has no mask), or a function ``(inputs, mask) -> output mask``.
        arguments: dict of extra keyword arguments for ``function`` (and ``backward``).
        backward: see above.
        name, dtype, input_shape, trainable: see :class:`Layer`.

    Config: functions are written as Keras does (a named function by name; a Python lambda only marked);
    ``from_config(config, custom_objects={name: fn})`` takes them back, and never runs code from a config.

    Example:
        >>> import numpy as np
        >>> last = Lambda(lambda x: x[:, -1, :])
        >>> x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
        >>> last(x).tolist(), last.backward(np.ones((1, 4), np.float32))[0, :, 0].tolist()
        ([[8.0, 9.0, 10.0, 11.0]], [0.0, 0.0, 1.0])
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, backward=None, **kwargs):
        if isinstance(function, tuple) and len(function) == 2 and backward is None:
            function, backward = function
        for name, fn in (("function", function), ("backward", backward), ("mask", mask)):
            if fn is not None and not callable(fn):
                raise RnnkitTypeError(f"{name} of Lambda must be callable{' or None' if name != 'function' else ''}, "
                                      f"got {describe(fn)}")
        if function is None:
            raise RnnkitTypeError("function of Lambda must be callable, got None")
        if output_shape is not None and not callable(output_shape):
            try:
                output_shape = tuple(None if d is None else int(d) for d in output_shape)
            except (TypeError, ValueError):
                raise RnnkitTypeError(f"output_shape must be a tuple, a function or None, got "
                                      f"{describe(output_shape)}") from None
        if arguments is not None and not isinstance(arguments, dict):
            raise RnnkitTypeError(f"arguments of Lambda must be a dict or None, got {describe(arguments)}")
        super().__init__(**kwargs)
        self.function = function
        self.backward_function = backward
        self._output_shape = output_shape
        self._mask_function = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):  # NumPy ufuncs and builtins have none
            parameters = {}
        self._wants = {k for k in ("mask", "training") if k in parameters}
        self._cache = None

    def check_inputs(self, inputs, name="inputs"):
        if isinstance(inputs, (list, tuple)):
            return [float_array(f"{name}[{i}]", x, dtype=self.dtype) for i, x in enumerate(inputs)]
        return super().check_inputs(inputs, name)

    def _kwargs(self, training, mask):
        kwargs = dict(self.arguments)
        if "mask" in self._wants:
            kwargs["mask"] = mask
        if "training" in self._wants:
            kwargs["training"] = training
        return kwargs

    def call(self, inputs, training=False, mask=None):
        kwargs = self._kwargs(training, mask)
        if self.backward_function is not None:
            result = self.function(inputs, **kwargs)
            outputs = [float_array(f"output of the function of Lambda layer {self.name!r}", y, dtype=self.dtype)
                       for y in _as_list(result)]
            outputs = outputs if isinstance(result, (list, tuple)) else outputs[0]
            self._cache = ("explicit", inputs, outputs, isinstance(inputs, list))
            return outputs
        leaves = [lambda_trace.Traced(x) for x in _as_list(inputs)]
        result = self.function(leaves if isinstance(inputs, list) else leaves[0], **kwargs)
        nodes = _as_list(result)
        if not all(isinstance(n, lambda_trace.Traced) for n in nodes):
            raise RnnkitTypeError(
                f"the function of Lambda layer {self.name!r} must compute its output from its inputs with the "
                f"operations rnnkit can differentiate (rnnkit.layers.lambda_trace.SUPPORTED), got {describe(result)}")
        self._cache = ("traced", leaves, nodes, isinstance(inputs, list))
        values = [n.value.astype(self.dtype, copy=False) for n in nodes]
        return values if isinstance(result, (list, tuple)) else values[0]

    def backward(self, *d_outputs):
        """dL/dinputs (a list for list inputs) from one gradient per output (None: no loss on it)."""
        mode, inputs, outputs, multi = cached(self)
        self._gradients = []
        if mode == "explicit":
            d_out = list(d_outputs) if isinstance(outputs, (list, tuple)) else d_outputs[0]
            d_inputs = self.backward_function(inputs, outputs, d_out, **self.arguments)
            expected = _as_list(inputs)
            got = _as_list(d_inputs)
            if len(got) != len(expected) or any(np.shape(g) != x.shape for g, x in zip(got, expected)):
                raise RnnkitValueError(
                    f"the backward function of Lambda layer {self.name!r} must return one gradient per input, of "
                    f"its shape {[x.shape for x in expected]}, got {describe(d_inputs)}")
            grads = [np.asarray(g, self.dtype) for g in got]
        else:
            found = lambda_trace.backprop(outputs, d_outputs)
            grads = [np.array(found.get(id(leaf), np.zeros_like(leaf.value)), self.dtype) for leaf in inputs]
        return grads if multi else grads[0]

    def compute_output_shape(self, input_shape):
        multi = isinstance(input_shape, list)
        shapes = input_shape if multi else [input_shape]
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        if self._output_shape is not None:
            return (shapes[0][0],) + self._output_shape
        # run the function on two stand-ins for the unknown sizes; sizes that move are unknown
        trials = []
        for fill in (2, 3):
            arrays = [np.ones(tuple(fill if d is None else d for d in s), self.dtype) for s in shapes]
            with np.errstate(all="ignore"):
                out = self.function(arrays if multi else arrays[0], **self._kwargs(False, None))
            trials.append([np.shape(o) for o in _as_list(out)])
        result = [tuple(a if a == b else None for a, b in zip(s2, s3)) for s2, s3 in zip(*trials)]
        result = [(shapes[0][0],) + s[1:] for s in result]
        return result if len(result) > 1 else result[0]

    def compute_mask(self, inputs, mask=None):
        return self._mask_function(inputs, mask) if self._mask_function is not None else None

    def get_config(self):
        config = {**super().get_config(), "function": serialize_function(self.function),
                  "arguments": dict(self.arguments)}
        if self._output_shape is not None:
            config["output_shape"] = (serialize_function(self._output_shape) if callable(self._output_shape)
                                      else self._output_shape)
        if self._mask_function is not None:
            config["mask"] = serialize_function(self._mask_function)
        if self.backward_function is not None:
            config["backward"] = serialize_function(self.backward_function)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        name = config.get("name", "lambda")
        for key in ("function", "mask", "backward"):
            if config.get(key) is not None:
                config[key] = deserialize_function(config[key], custom_objects, name, key)
        if isinstance(config.get("output_shape"), dict):
            config["output_shape"] = deserialize_function(config["output_shape"], custom_objects, name,
                                                          "output_shape")
        return cls(**config)
