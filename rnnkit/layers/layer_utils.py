"""Small helpers shared by the Keras-face layers: the forward cache, gradient un-broadcasting,
Keras's int-or-tuple arguments, data formats, axes, and activations that may mix the last axis."""
import numbers

from .. import initializers, weight_options
from .._validate import choice, describe
from ..errors import RnnkitTypeError, RnnkitValueError
from ..ops import softmax as softmax_ops
from ..ops.activations import get_activation, serialize_activation
from ..random import make_rng

# Activations that mix the last axis, so they are not elementwise Activations.
AXIS_ACTIVATIONS = ("softmax", "log_softmax")
DATA_FORMATS = ("channels_last", "channels_first")
KERNEL_WEIGHTS = ("kernel", "bias")  # the weights whose regularizer/constraint options Dense and Conv1D take
SCALE_OFFSET_WEIGHTS = ("beta", "gamma")  # the same for the normalization layers


def cached(layer):
    """The values ``layer``'s last forward call kept for backward (its ``_cache``), or a clear error."""
    if getattr(layer, "_cache", None) is None:
        raise RnnkitValueError(f"backward on layer {layer.name!r} needs a forward call first")
    return layer._cache


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes NumPy broadcasting added or stretched, so it has ``shape``."""
    shape = tuple(shape)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    stretched = tuple(i for i, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def int_tuple(name, value, n, allow_zero=False):
    """Keras's ``standardize_tuple``: an int ``v`` -> ``(v,) * n``; else a tuple of ``n`` positive ints."""
    values = (value,) * n if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    try:
        values = tuple(values)
    except TypeError:
        raise RnnkitTypeError(f"{name} must be an int or a tuple of {n} ints, got {describe(value)}") from None
    low = 0 if allow_zero else 1
    if len(values) != n or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low
                               for v in values):
        raise RnnkitValueError(f"{name} must be an int >= {low} or a tuple of {n} such ints, got {describe(value)}")
    return tuple(int(v) for v in values)


def data_format(value):
    """Keras's ``standardize_data_format``: None -> "channels_last"."""
    return "channels_last" if value is None else choice("data_format", value, DATA_FORMATS)


def normalize_axis(name, axis, ndim):
    """``axis`` (may be negative) as an index in [0, ndim), or a clear error."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise RnnkitValueError(f"{name} must be an int in [{-ndim}, {ndim}) for inputs of rank {ndim}, "
                               f"got {describe(axis)}")
    return int(axis) % ndim


def resolve_activation(identifier):
    """"softmax"/"log_softmax" (over the last axis) as strings, anything else as an elementwise Activation."""
    return identifier if identifier in AXIS_ACTIVATIONS else get_activation(identifier)


def activation_name(activation):
    """The config name of what :func:`resolve_activation` returned."""
    return activation if isinstance(activation, str) else serialize_activation(activation)


def apply_activation(activation, z):
    """``activation(z)``; softmax and log_softmax are taken over the last axis, stably."""
    if activation == "softmax":
        return softmax_ops.softmax(z)
    if activation == "log_softmax":
        return softmax_ops.log_softmax(z)
    return activation(z)


def activation_backward(activation, z, y, dy):
    """dL/dz from the pre-activation ``z``, the output ``y`` and ``dy`` = dL/dy."""
    if activation == "softmax":
        return softmax_ops.softmax_backward(y, dy)
    if activation == "log_softmax":
        return softmax_ops.log_softmax_backward(y, dy)
    return dy * activation.derivative(z, y)


def set_kernel_options(layer, activation, use_bias, kernel_initializer, bias_initializer, seed,
                       kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None, bias_constraint=None):
    """The options every kernel-and-bias layer (Dense, Conv1D) takes, resolved onto ``layer``
    (regularizers and constraints: :mod:`rnnkit.weight_options`; one for the bias with
    ``use_bias=False`` is a named error)."""
    layer.activation = resolve_activation(activation)
    layer.use_bias = bool(use_bias)
    layer.kernel_initializer = initializers.get(kernel_initializer)
    layer.bias_initializer = initializers.get(bias_initializer)
    make_rng(seed)  # validates now rather than at build time
    layer.seed = seed
    weight_options.set_weight_options(
        layer, KERNEL_WEIGHTS, {"kernel_regularizer": kernel_regularizer, "bias_regularizer": bias_regularizer,
                                "kernel_constraint": kernel_constraint, "bias_constraint": bias_constraint},
        missing=None if layer.use_bias else {"bias": "use_bias=False"})


def kernel_options_config(layer):
    """The config entries of :func:`set_kernel_options`."""
    return {"activation": activation_name(layer.activation), "use_bias": layer.use_bias,
            "kernel_initializer": layer.kernel_initializer.serialize(),
            "bias_initializer": layer.bias_initializer.serialize(), "seed": layer.seed,
            **weight_options.weight_options_config(layer, KERNEL_WEIGHTS)}


def set_scale_offset_options(layer, beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
                             no_beta=None, no_gamma=None):
    """The normalization layers' ``beta_*`` / ``gamma_*`` options onto ``layer``; ``no_beta`` / ``no_gamma``
    say why the layer has no such weight (then an option for it is a named error)."""
    missing = {prefix: why for prefix, why in (("beta", no_beta), ("gamma", no_gamma)) if why}
    weight_options.set_weight_options(
        layer, SCALE_OFFSET_WEIGHTS, {"beta_regularizer": beta_regularizer, "gamma_regularizer": gamma_regularizer,
                                      "beta_constraint": beta_constraint, "gamma_constraint": gamma_constraint},
        missing=missing)
