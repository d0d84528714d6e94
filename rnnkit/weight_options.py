"""Keras's per-weight options — ``<weight>_regularizer`` and ``<weight>_constraint`` — for layers and cells.

A layer or cell that takes ``kernel_regularizer=``, ``bias_constraint=``, ... resolves them once with
:func:`set_weight_options` (refusing an option for a weight it does not have); when it creates the
weight, :func:`attach` puts the regularizer and constraint on the :class:`~rnnkit.variables.Variable`
(as Keras 3 does: ``variable.regularizer``, ``variable.constraint``). From there:

* the penalty ``Σ regularizer(w)`` over trainable weights is part of ``model.losses`` and of the loss
  ``fit``/``evaluate`` report, and :func:`add_penalty_gradients` adds ``regularizer.gradient(w)`` to
  each weight's gradient;
* the optimizer sets ``w <- constraint(w)`` after each update of a trainable weight.

The option's prefix is the weight's name, except ``recurrent`` for ``recurrent_kernel`` (Keras's
``recurrent_regularizer``).
"""
import numpy as np

from . import constraints, regularizers
from .errors import RnnkitTypeError, RnnkitValueError

KINDS = ("regularizer", "constraint")


def prefix_of(weight_name):
    """The option prefix of a weight: ``"recurrent_kernel"`` -> ``"recurrent"``, else the name itself."""
    return "recurrent" if weight_name == "recurrent_kernel" else weight_name


def set_weight_options(owner, prefixes, options, missing=None, where=None):
    """Resolve ``<prefix>_regularizer`` / ``<prefix>_constraint`` from ``options`` onto ``owner``'s attributes.

    Args:
        owner: the layer or cell (gets one attribute per option).
        prefixes: the option prefixes its class takes, e.g. ``("kernel", "bias")``.
        options: dict of option name -> value (None, a name, a config dict or an object).
        missing: {prefix: why} for weights this instance does not have (``{"bias": "use_bias=False"}``):
            a non-None option for one of them is a named error.
        where: how messages name the owner.
    """
    where = where or f"{type(owner).__name__} {getattr(owner, 'name', '')!r}"
    missing = missing or {}
    for prefix in prefixes:
        for kind in KINDS:
            key = f"{prefix}_{kind}"
            value = options.get(key)
            if value is not None and prefix in missing:
                raise RnnkitValueError(f"{where} has no {prefix} weight ({missing[prefix]}), so {key}={value!r} "
                                       f"cannot apply to anything")
            module = regularizers if kind == "regularizer" else constraints
            setattr(owner, key, module.get(value))


def weight_options_config(owner, prefixes):
    """The config entries of :func:`set_weight_options` (serialized; None where unset)."""
    config = {}
    for prefix in prefixes:
        config[f"{prefix}_regularizer"] = regularizers.serialize(getattr(owner, f"{prefix}_regularizer", None))
        config[f"{prefix}_constraint"] = constraints.serialize(getattr(owner, f"{prefix}_constraint", None))
    return config


def options_for(owner, weight_name):
    """(regularizer, constraint) that ``owner``'s options give the weight called ``weight_name``."""
    prefix = prefix_of(weight_name)
    return tuple(getattr(owner, f"{prefix}_{kind}", None) for kind in KINDS)


def attach(variable, regularizer=None, constraint=None):
    """Put a regularizer and a constraint on ``variable`` (checked against its shape)."""
    if regularizer is not None:
        variable.regularizer = regularizers.get(regularizer)
    if constraint is not None:
        constraint = constraints.get(constraint)
        check = getattr(constraint, "check_shape", None)
        if check is not None:
            check(variable.shape, f"weight {variable.name}")
        variable.constraint = constraint
    return variable


def weight_penalties(variables):
    """``[regularizer(w)]`` for each variable in ``variables`` that has a regularizer, in order."""
    return [float(v.regularizer(v.value)) for v in variables if getattr(v, "regularizer", None) is not None]


def add_penalty_gradients(variables, grads):
    """``grads`` (one per variable) plus each regularizer's gradient (new arrays where one is added)."""
    result = []
    for variable, grad in zip(variables, grads):
        regularizer = getattr(variable, "regularizer", None)
        if regularizer is not None:
            extra = np.asarray(regularizer.gradient(variable.value))
            if extra.shape != variable.shape:
                raise RnnkitValueError(f"the gradient of regularizer {regularizer!r} on {variable.name} has shape "
                                       f"{extra.shape}, expected {variable.shape}")
            grad = extra.astype(variable.dtype) if grad is None else grad + extra.astype(grad.dtype, copy=False)
        result.append(grad)
    return result


def apply_constraints(variables):
    """``w <- constraint(w)`` in place for each variable that has a constraint (after an optimizer step)."""
    for variable in variables:
        constraint = getattr(variable, "constraint", None)
        if constraint is None:
            continue
        projected = np.asarray(constraint(variable.value))
        if projected.shape != variable.shape:
            raise RnnkitTypeError(f"constraint {constraint!r} returned shape {projected.shape} for {variable.name}, "
                                  f"expected {variable.shape}")
        variable.value[...] = projected
