"""Keras's compile settings (``compile_config`` of a .keras file, ``training_config`` of a legacy
.h5 file) <-> ``model.compile(optimizer, loss, metrics)``.

Every Keras 3 optimizer, its common arguments (weight_decay, EMA, loss scaling, gradient
accumulation, clipping) and its built-in learning-rate schedules have rnnkit twins and translate
both ways. Compile settings never stop a model from loading: what rnnkit cannot take (an optimizer
or schedule class it lacks, a loss or metric it lacks) leaves the model uncompiled, or without that
metric, with a :class:`KerasFormatWarning` saying what was dropped and why.
"""
import numbers
import warnings

from ... import losses, metrics, optimizers
from ...optimizers import schedules
from ...errors import RnnkitError
from .errors import _UNFORESEEN, KerasFormatWarning, brief

_ANY = object()
# Keras optimizer arguments rnnkit lacks, with the values that make them do nothing.
_OPTIMIZER_NEUTRAL = {"decay": (0.0, 0, None), "jit_compile": _ANY, "is_legacy_optimizer": _ANY}
# Keras loss and metric arguments rnnkit lacks, with their neutral values.
_LOSS_NEUTRAL = {"ignore_class": (None,), "axis": (-1,), "dtype": (None, "float32")}


class _Dropped(Exception):
    """What could not be translated; becomes part of a warning."""


def _strip_neutral(config, neutral, what):
    config = dict(config)
    for key, values in neutral.items():
        if key in config:
            value = config.pop(key)
            if values is not _ANY and value not in values:
                raise _Dropped(f"{what} has {key}={brief(value)}, which rnnkit does not support")
    return config


def _keras_object(spec, what):
    """``"mse"`` stays a name; Keras 3's ``{"module", "class_name", "config"}`` becomes rnnkit's dict form."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and isinstance(spec.get("class_name"), str):
        if spec["class_name"] == "function" and isinstance(spec.get("config"), str):
            return spec["config"]  # Keras 3's form of a built-in loss or metric function
        return {"class_name": spec["class_name"], "config": spec.get("config") or {}}
    raise _Dropped(f"{what} {brief(spec)} is not a Keras name or object config")


def _optimizer(spec):
    spec = _keras_object(spec, "optimizer")
    if isinstance(spec, str):
        return optimizers.get(spec)
    config = _strip_neutral(spec["config"], _OPTIMIZER_NEUTRAL, f"optimizer {spec['class_name']}")
    if isinstance(config.get("learning_rate"), dict):  # a schedule: rnnkit's have Keras's names and arguments
        config["learning_rate"] = schedules.deserialize(_keras_object(config["learning_rate"], "schedule"))
    if "lr" in config:  # Keras 2.2's name
        config.setdefault("learning_rate", config.pop("lr"))
    return optimizers.get({"class_name": spec["class_name"], "config": config})


def _loss_or_metric(module, spec, what):
    spec = _keras_object(spec, what)
    if isinstance(spec, dict):
        spec = {"class_name": spec["class_name"], "config": _strip_neutral(spec["config"], _LOSS_NEUTRAL, what)}
    return module.get(spec) if module is losses else spec


def compile_from_keras(model, settings, where):
    """``model.compile`` from Keras's compile settings; returns True when compiled, else warns."""
    if not settings:
        return False
    try:
        if not isinstance(settings, dict):
            raise _Dropped(f"the compile settings must be a JSON object, got {type(settings).__name__}")
        optimizer_spec = settings.get("optimizer", settings.get("optimizer_config"))
        if optimizer_spec is None:
            raise _Dropped("no optimizer is given")
        optimizer = _optimizer(optimizer_spec)
        if settings.get("loss") is None:
            raise _Dropped("no loss is given")
        if isinstance(settings["loss"], (list, dict)) and not (isinstance(settings["loss"], dict)
                                                              and "class_name" in settings["loss"]):
            raise _Dropped("per-output losses need a functional model")
        loss = _loss_or_metric(losses, settings["loss"], "loss")
        for key in ("loss_weights", "weighted_metrics"):
            if settings.get(key) is not None:
                raise _Dropped(f"{key}={brief(settings[key])} is not supported here")
    except (_Dropped, RnnkitError) + _UNFORESEEN as error:
        warnings.warn(f"{where}: the model was loaded without compiling it (call compile() yourself): {error}",
                      KerasFormatWarning, stacklevel=4)
        return False
    kept, specs = [], settings.get("metrics") or []
    if not isinstance(specs, list):
        warnings.warn(f"{where}: the metrics were dropped: not a list ({brief(specs)})", KerasFormatWarning, stacklevel=4)
        specs = []
    for spec in specs:
        try:
            translated = _loss_or_metric(metrics, spec, "metric")
            metrics.resolve_metric(translated)  # only checks it: compile resolves it again, knowing the loss
            kept.append(translated)
        except (_Dropped, RnnkitError) + _UNFORESEEN as error:
            warnings.warn(f"{where}: metric {brief(spec)} dropped: {error}", KerasFormatWarning, stacklevel=4)
    model.compile(optimizer=optimizer, loss=loss, metrics=kept)
    return True


def compile_to_keras(model, where):
    """Keras 3's ``compile_config`` of a compiled rnnkit model (None when not compiled)."""
    if not getattr(model, "compiled", False):
        return None
    optimizer = model.optimizer
    config = optimizer.get_config()
    if not isinstance(model.loss, losses.Loss):
        warnings.warn(f"{where}: the compile settings were left out: writing per-output losses is not supported",
                      KerasFormatWarning, stacklevel=4)
        return None
    learning_rate = config["learning_rate"]
    if isinstance(learning_rate, dict) and learning_rate.get("class_name") in schedules.__all__:
        config["learning_rate"] = {"module": "keras.optimizers.schedules", **learning_rate, "registered_name": None}
    elif not isinstance(learning_rate, numbers.Real):  # a plain function of the step
        warnings.warn(f"{where}: the learning-rate schedule was replaced by its current value "
                      f"{optimizer.learning_rate} (Keras cannot read a function)", KerasFormatWarning, stacklevel=4)
        config["learning_rate"] = float(optimizer.learning_rate)
    return {"optimizer": {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
                          "config": config, "registered_name": None},
            "loss": _loss_entry(model.loss), "loss_weights": None,
            "metrics": [m.name for m in model.compiled_metrics] or None, "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _loss_entry(loss):
    """The name the user compiled with (``"mse"``) when it says everything, else Keras's object dict."""
    try:
        plain = losses.get(loss.name)
    except RnnkitError:
        plain = None
    if type(plain) is type(loss) and plain.get_config() == loss.get_config():
        return loss.name
    return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
            "registered_name": None}
