"""Custom objects by name: Keras 3's ``register_keras_serializable`` and ``custom_object_scope``.

A config (a saved model, ``get_config()``) names classes by string. rnnkit's own classes are found
in their module's table; a user's class is found

1. in the active :class:`CustomObjectScope` (``with custom_object_scope({"MyLayer": MyLayer}):``),
2. in the global registry, under the key ``"package>name"`` that
   ``@register_keras_serializable(package="Custom", name=None)`` gave it,
3. in the ``custom_objects={...}`` dict passed to the loader (by class name or registered name).

Looking a name up only returns an object that this process already defined and registered: a
config never imports a module or runs code.
"""
import inspect
import threading

from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError

_GLOBAL_OBJECTS = {}  # "package>name" (or any key a user adds) -> class or function
_GLOBAL_NAMES = {}  # class or function -> "package>name"
_scope = threading.local()  # .objects: the dict of the innermost custom_object_scope


def _non_empty_text(name, value):
    if not isinstance(value, str) or not value:
        raise RnnkitTypeError(f"{name} must be a non-empty string, got {describe(value)}")
    return value


def register_keras_serializable(package="Custom", name=None):
    """Decorator: register a class or function under ``"package>name"`` (``name`` defaults to its
    ``__name__``), so configs that name it load back in any process that defines it.

    Example:
        >>> import rnnkit
        >>> @rnnkit.saving.register_keras_serializable(package="MyLib")
        ... class Scale(rnnkit.layers.Layer):
        ...     pass
        >>> rnnkit.saving.get_registered_name(Scale)
        'MyLib>Scale'
    """
    package = _non_empty_text("package", package)
    if name is not None:
        name = _non_empty_text("name", name)

    def decorator(obj):
        if not callable(obj):
            raise RnnkitTypeError(f"register_keras_serializable decorates a class or a function, got {describe(obj)}")
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise RnnkitTypeError(f"cannot register class {obj.__name__}: it has no get_config() method, so its "
                                  "objects cannot be written to a config")
        key = f"{package}>{name if name is not None else obj.__name__}"
        _GLOBAL_OBJECTS[key] = obj
        _GLOBAL_NAMES[obj] = key
        return obj

    return decorator


def get_registered_name(obj):
    """The name ``obj`` is saved under: its ``"package>name"`` if registered, else its ``__name__``."""
    if obj in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[obj]
    return obj.__name__


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object saved as ``name``: from the active scope, the global registry, ``custom_objects``,
    then ``module_objects`` (dicts); None when none has it."""
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise RnnkitTypeError(f"custom_objects must be a dict of name -> class or function, "
                              f"got {describe(custom_objects)}")
    for table in (_scope_objects(), _GLOBAL_OBJECTS, custom_objects, module_objects):
        if table and name in table:
            return table[name]
    return None


def get_custom_objects():
    """The global registry itself (a dict a user may also fill by hand, as in Keras)."""
    return _GLOBAL_OBJECTS


def _scope_objects():
    return getattr(_scope, "objects", None)


def scope_objects():
    """A copy of the objects of the active :class:`CustomObjectScope` (empty outside one)."""
    return dict(_scope_objects() or {})


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer, ...}):`` makes these names known to every
    loader inside the block (nested scopes add to the outer ones)."""

    def __init__(self, custom_objects):
        if custom_objects is None:
            custom_objects = {}
        if not isinstance(custom_objects, dict):
            raise RnnkitTypeError(f"custom_objects must be a dict of name -> class or function, "
                                  f"got {describe(custom_objects)}")
        self.custom_objects = dict(custom_objects)
        self._outer = None

    def __enter__(self):
        self._outer = _scope_objects()
        _scope.objects = {**(self._outer or {}), **self.custom_objects}
        return self

    def __exit__(self, *exc_info):
        _scope.objects = self._outer
        return False


custom_object_scope = CustomObjectScope


def lookup(spec, kind, builtins, custom_objects=None):
    """The class a ``{"class_name", "config"[, "registered_name"]}`` spec names, or a named error.

    Args:
        spec: the serialized object (Keras 3's ``module`` key, if present, is not used).
        kind: what it is, for messages (``"layer"``, ``"regularizer"``, ...).
        builtins: rnnkit's own classes of this kind by name.
        custom_objects: the loader's ``custom_objects`` dict, or None.
    """
    class_name = spec.get("class_name")
    registered = spec.get("registered_name")
    for name in (registered, class_name):
        if isinstance(name, str):
            found = get_registered_object(name, custom_objects)
            if found is not None:
                return found
    if isinstance(class_name, str) and class_name in builtins:
        return builtins[class_name]
    raise RnnkitValueError(
        f"unknown {kind} class_name {class_name!r}"
        + (f" (registered_name {registered!r})" if isinstance(registered, str) else "")
        + f"; rnnkit's are {sorted(builtins)}. A custom {kind} must be defined in this process and either "
        f"decorated with @rnnkit.saving.register_keras_serializable() or passed as custom_objects="
        f"{{{class_name!r}: cls}} (or inside rnnkit.saving.custom_object_scope)")


def deserialize_object(config, kind, builtins, custom_objects=None):
    """The object a ``{"class_name", "config"[, "registered_name"]}`` dict describes: its class
    (:func:`lookup`) built with ``from_config``, or a registered function as it is."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise RnnkitValueError(f"a {kind} config must be a dict with 'class_name' and 'config', got {describe(config)}")
    found = lookup(config, kind, builtins, custom_objects)
    arguments = config.get("config") or {}
    if not isinstance(arguments, dict):
        raise RnnkitValueError(f"the config of {kind} {config['class_name']!r} must be a dict, got {describe(arguments)}")
    return found.from_config(dict(arguments)) if inspect.isclass(found) else found


def serialize_object(obj, kind):
    """``{"class_name", "config"}`` of an object with ``get_config``, plus ``"registered_name"``
    when its class is registered; None stays None."""
    if obj is None:
        return None
    if not hasattr(obj, "get_config"):
        raise RnnkitTypeError(f"{kind} {describe(obj)} has no get_config(), so it cannot be saved; give it one "
                              f"(and register its class with @rnnkit.saving.register_keras_serializable())")
    cls = type(obj)
    spec = {"class_name": cls.__name__, "config": obj.get_config()}
    if cls in _GLOBAL_NAMES:
        spec["registered_name"] = _GLOBAL_NAMES[cls]
    return spec



def resolve(identifier, kind, names, deserialize, checked):
    """The object a ``get(identifier)`` of :mod:`rnnkit.regularizers` / :mod:`rnnkit.constraints` means.

    Args:
        identifier: None (stays None), a name (``names[name]()``, else a registered object, instantiated
            when a class), a config dict (``deserialize``), a class (instantiated with its defaults) or
            an object (taken as is).
        kind: for messages (``"regularizer"``).
        names: rnnkit's names of this kind -> a class or a factory called without arguments.
        deserialize: the module's ``deserialize(config)``.
        checked: ``checked(obj, identifier)`` returns ``obj`` or raises a named error.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier in names:
            return checked(names[identifier](), identifier)
        found = get_registered_object(identifier)
        if found is None:
            raise RnnkitValueError(f"{kind} must be one of {sorted(names)}, an rnnkit {kind.capitalize()} or a "
                                   f"config dict, got {describe(identifier)}")
        return checked(found() if inspect.isclass(found) else found, identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if inspect.isclass(identifier):
        return checked(identifier(), identifier)
    return checked(identifier, identifier)


class ConfigObject:
    """Keras's config protocol of small objects (regularizers, constraints, learning-rate schedules):
    ``from_config(config)`` is ``cls(**config)`` and the repr shows ``get_config()``."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

__all__ = ["register_keras_serializable", "get_registered_name", "get_registered_object", "get_custom_objects",
           "CustomObjectScope", "custom_object_scope"]
