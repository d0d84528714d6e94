"""Keras <-> rnnkit translation of the values inside a layer config: dtypes, initializers,
activations, regularizers and constraints.

Keras 3 writes these as dictionaries (``{"module": "keras.initializers", "class_name":
"GlorotUniform", "config": {...}, "registered_name": null}``, a dtype policy
``{"class_name": "DTypePolicy", "config": {"name": "float32"}}``); Keras 2 writes a
shorter ``{"class_name", "config"}`` or a plain string. rnnkit writes names or
``{"class_name": snake_name, "config"}``.
"""
from ... import constraints, initializers, regularizers
from ...errors import RnnkitError
from ...layers.base import to_snake_case
from .errors import KerasConfigError, UnsafeCodeError, brief

_FLOAT_DTYPES = ("float32", "float64")


def dtype_from_keras(value, where):
    """``"float32"`` or ``{"class_name": "DTypePolicy", "config": {"name": "float32"}}`` -> ``"float32"``."""
    if value is None:
        return "float32"
    if isinstance(value, dict):
        name = value.get("config", {}).get("name") if isinstance(value.get("config"), dict) else None
        if value.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy") or not isinstance(name, str):
            raise KerasConfigError(f"{where}: dtype must be a Keras DTypePolicy of float32 or float64, got {brief(value)}")
        value = name
    if value not in _FLOAT_DTYPES:
        raise KerasConfigError(
            f"{where}: dtype {brief(value)} is not supported; rnnkit computes in float32 or float64 "
            f"(mixed-precision and quantized policies are not available)")
    return value


def dtype_to_keras(dtype):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": str(dtype)}, "registered_name": None}


# Keras initializer class -> (rnnkit name, fixed rnnkit arguments): Keras's aliases of VarianceScaling.
_INITIALIZER_ALIASES = {
    "lecun_normal": ("variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}),
    "lecun_uniform": ("variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}),
    "uniform": ("random_uniform", {}), "normal": ("random_normal", {}),
    "zero": ("zeros", {}), "one": ("ones", {}),
}
# Keras initializer arguments with no effect on the values rnnkit keeps: the weights of a
# loaded model come from the file, and rnnkit seeds initial weights per layer (`seed=`).
_INITIALIZER_IGNORED = {"seed": "any", "input_axes": None, "output_axes": None, "dtype": "any"}


def initializer_from_keras(value, where):
    """A Keras initializer (name or dict) -> an rnnkit Initializer."""
    if isinstance(value, str):
        name, config = to_snake_case(value) if value[:1].isupper() else value, {}
    elif isinstance(value, dict) and isinstance(value.get("class_name"), str):
        name, config = to_snake_case(value["class_name"]), dict(value.get("config") or {})
    else:
        raise KerasConfigError(f"{where}: an initializer must be a name or a Keras initializer dict, got {brief(value)}")
    for key, harmless in _INITIALIZER_IGNORED.items():
        if key in config and (harmless == "any" or config[key] == harmless):
            config.pop(key)
    name, fixed = _INITIALIZER_ALIASES.get(name, (name, {}))
    try:
        return initializers.get({"class_name": name, "config": {**config, **fixed}} if (config or fixed) else name)
    except (RnnkitError, TypeError) as error:
        raise KerasConfigError(f"{where}: initializer {brief(value)} has no rnnkit equivalent ({error})") from None


def initializer_to_keras(value):
    """rnnkit's serialized initializer (a name or ``{"class_name", "config"}``) -> Keras 3's dict."""
    spec = initializers.get(value).serialize()
    name, config = (spec, {}) if isinstance(spec, str) else (spec["class_name"], dict(spec["config"]))
    class_name = "".join(part.capitalize() for part in name.split("_"))
    if class_name not in ("Zeros", "Ones", "Constant"):
        config.setdefault("seed", None)
    return {"module": "keras.initializers", "class_name": class_name, "config": config, "registered_name": None}


def activation_from_keras(value, where):
    """A Keras activation: a name, None, or Keras 3's dict for a built-in function."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        reject_code(value, where)
        if isinstance(value.get("config"), str) and str(value.get("module", "")).startswith("keras"):
            return value["config"]
    raise KerasConfigError(f"{where}: activation {brief(value)} is not a built-in activation name")


def reject_code(value, where):
    """Refuse marshalled Python bytecode anywhere in ``value`` (Keras's Lambda and function dicts):
    nothing is unmarshalled or run. Only a Lambda layer's own functions are loaded, and only with
    ``safe_mode=False`` (:func:`function_from_bytecode`)."""
    found = find_code(value)
    if found is not None:
        raise UnsafeCodeError(
            f"{where} holds marshalled Python bytecode ({found}); loading it would execute code, so it is "
            f"refused. If you trust the file, load it with safe_mode=False (as Keras), or rebuild that layer "
            f"in rnnkit and load the weights with load_weights")


_LAMBDA_FUNCTIONS = ("function", "output_shape", "mask")
_KERAS2_LAMBDA_KEYS = ("function_type", "module", "output_shape_type", "output_shape_module")


def with_lambda_functions(value, where):
    """``value`` (a model or layer config) with the marshalled functions of its Lambda layers replaced
    by Python functions (:func:`function_from_bytecode`): what ``safe_mode=False`` allows. Keras 3
    marks them ``{"class_name": "__lambda__", ...}``; Keras 2 gives ``function_type="lambda"`` and a
    ``[code, defaults, closure]`` list. Bytecode anywhere else is left for :func:`reject_code`."""
    if isinstance(value, list):
        return [with_lambda_functions(item, where) for item in value]
    if not isinstance(value, dict):
        return value
    value = {key: with_lambda_functions(item, where) for key, item in value.items()}
    config = value.get("config")
    if value.get("class_name") != "Lambda" or not isinstance(config, dict):
        return value
    config = dict(config)
    name = f"{where}, Lambda {brief(config.get('name'))}"
    for key in _LAMBDA_FUNCTIONS:
        item = config.get(key)
        if isinstance(item, dict) and item.get("class_name") == "__lambda__":
            config[key] = function_from_bytecode(item, name)
        elif isinstance(item, (list, tuple)) and config.get(f"{key}_type") == "lambda" and len(item) == 3:
            config[key] = function_from_bytecode({"config": dict(zip(("code", "defaults", "closure"), item))}, name)
    if isinstance(config.get("function_type"), str):  # Keras 2's bookkeeping of the function's form
        for key in _KERAS2_LAMBDA_KEYS:
            config.pop(key, None)
    return {**value, "config": config}


def function_from_bytecode(spec, where):
    """The Python function of Keras's ``{"class_name": "__lambda__", "config": {"code", "defaults",
    "closure"}}`` (``code``: base64 of ``marshal.dumps(fn.__code__)``), for ``safe_mode=False`` only:
    calling it runs the file's code. Its globals are NumPy as ``np``/``numpy`` and the builtins, so a
    lambda written with NumPy operators runs (and is differentiated by rnnkit's Lambda tracing); one
    calling Keras or TensorFlow fails with a NameError when the layer is called. Bytecode is specific
    to the Python version that wrote it, as in Keras."""
    import base64
    import binascii
    import builtins
    import marshal
    import types

    import numpy as np

    config = spec.get("config") if isinstance(spec, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("code"), str):
        raise KerasConfigError(f"{where}: a Lambda function must be {{'class_name': '__lambda__', 'config': "
                               f"{{'code': ...}}}}, got {brief(spec)}")
    try:
        code = marshal.loads(base64.b64decode(config["code"].encode("ascii")))
    except (ValueError, EOFError, TypeError, binascii.Error) as error:
        raise KerasConfigError(f"{where}: the Lambda's bytecode cannot be read by this Python "
                               f"({type(error).__name__}: {error}); load it with the Python version that saved it") \
            from None
    if not isinstance(code, types.CodeType):
        raise KerasConfigError(f"{where}: the Lambda's bytecode holds a {type(code).__name__}, not a function's code")
    defaults, closure = config.get("defaults"), config.get("closure")
    try:
        return types.FunctionType(code, {"__builtins__": builtins, "np": np, "numpy": np}, code.co_name,
                                  tuple(defaults) if defaults is not None else None,
                                  tuple(types.CellType(value) for value in closure) if closure else None)
    except (TypeError, ValueError) as error:  # defaults or closure that do not fit the code
        raise KerasConfigError(f"{where}: the Lambda's function cannot be rebuilt: {error}") from None


def find_code(value):
    """A description of the first marshalled function found anywhere in ``value``, or None."""
    stack = [value]
    while stack:  # iterative: a hostile config may nest deeper than Python's recursion limit
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__lambda__" or item.get("function_type") == "lambda":
                return "a Lambda function"
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def is_regularizer_or_constraint(key):
    return key.endswith("_regularizer") or key.endswith("_constraint")


def _kind(key):
    return (regularizers, "regularizer") if key.endswith("_regularizer") else (constraints, "constraint")


def regularizer_or_constraint_from_keras(key, value, where):
    """A Keras regularizer or constraint (``{"module": "keras.regularizers", "class_name": "L2",
    "config": {"l2": 0.01}, ...}``, Keras 2's ``{"class_name", "config"}``, a name such as ``"l2"``, or
    null) as rnnkit's object of the same class and arguments (:mod:`rnnkit.regularizers`,
    :mod:`rnnkit.constraints`), or None. A user's registered class is found as rnnkit finds it."""
    if value is None:
        return None
    module, kind = _kind(key)
    reject_code(value, where)
    if isinstance(value, dict):
        value = {k: value[k] for k in ("class_name", "config", "registered_name") if k in value}
    try:
        return module.get(value)
    except (RnnkitError, TypeError, ValueError) as error:
        raise KerasConfigError(f"{where}: {key}={brief(value)} has no rnnkit {kind}: {error}") from None


def regularizer_or_constraint_to_keras(key, value):
    """rnnkit's serialized regularizer or constraint of argument ``key`` (``{"class_name", "config"
    [, "registered_name"]}``, or None) -> Keras 3's dict; rnnkit's built-in classes are Keras's (same
    names and arguments); a user's registered class keeps its registered name."""
    if value is None:
        return None
    registered = value.get("registered_name")
    module = None if registered else "keras.regularizers" if key.endswith("_regularizer") else "keras.constraints"
    return {"module": module, "class_name": value["class_name"], "config": dict(value["config"]),
            "registered_name": registered}
