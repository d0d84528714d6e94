"""Learning-rate schedules with Keras 3's names, arguments and formulas.

A schedule maps the optimizer's step count (0 on the first update) to a learning rate and is
passed as ``learning_rate=``; ``get_config``/``from_config`` round-trip it, and an optimizer's
config holds it as ``{"class_name": ..., "config": ...}``::

    lr = rnnkit.optimizers.schedules.CosineDecay(1e-3, decay_steps=1000, warmup_target=1e-2, warmup_steps=100)
    model.compile(optimizer=rnnkit.optimizers.Adam(learning_rate=lr), loss="mse")

Values are computed in float64 (Keras computes them in float32; they agree to about 1e-7).
"""
import math
import numbers

from .. import object_registry
from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError


def _real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise RnnkitValueError(f"{name} must be a finite number, got {describe(value)}")
    return value


def _positive(name, value):
    if _real(name, value) <= 0:
        raise RnnkitValueError(f"{name} must be > 0, got {describe(value)}")
    return value


def _step(step):
    if isinstance(step, bool) or not isinstance(step, numbers.Real):
        try:
            step = float(step)  # a 0-d array
        except (TypeError, ValueError):
            raise RnnkitTypeError(f"step must be a number, got {describe(step)}") from None
    return float(step)


class LearningRateSchedule(object_registry.ConfigObject):
    """Base class: ``schedule(step) -> learning rate``; subclasses implement ``__call__`` and ``get_config``."""

    def __call__(self, step):
        raise NotImplementedError(f"learning-rate schedule {type(self).__name__} must implement __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"learning-rate schedule {type(self).__name__} must implement get_config()")


class _StepDecay(LearningRateSchedule):
    """The arguments and the progress ``p = step / decay_steps`` (floored with ``staircase``) shared by
    the exponential and inverse-time decays."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.decay_rate = _real("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def _progress(self, step):
        p = _step(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the ratio floored with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` for ``step <= boundaries[0]``, ``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]``,
    ``values[-1]`` after the last boundary; ``len(values) == len(boundaries) + 1``."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise RnnkitTypeError(f"boundaries and values must be lists, got {describe(boundaries)} and "
                                  f"{describe(values)}")
        if len(boundaries) != len(values) - 1:
            raise RnnkitValueError(f"values must have one more entry than boundaries, got {len(boundaries)} "
                                   f"boundaries and {len(values)} values")
        self.boundaries = [_real(f"boundaries[{i}]", b) for i, b in enumerate(boundaries)]
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise RnnkitValueError(f"boundaries must increase strictly, got {describe(list(boundaries))}")
        self.values = [_real(f"values[{i}]", v) for i, v in enumerate(values)]
        self.name = name

    def __call__(self, step):
        step = _step(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, step capped at decay_steps; with
    ``cycle`` decay_steps grows to the first multiple of itself above step instead."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.end_learning_rate = _real("end_learning_rate", end_learning_rate)
        self.power = _real("power", power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        step, decay_steps = _step(step), float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        fraction = 1 - step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * fraction ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


def _cosine(fraction, alpha):
    return (1 - alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup (Keras 3.15).

    Without ``warmup_target``: ``initial * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``
    with ``s = min(step, decay_steps)``. With it: a linear ramp from initial_learning_rate to
    warmup_target over ``warmup_steps``, then the cosine decay from warmup_target over decay_steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.alpha = _real("alpha", alpha)
        self.name = name
        self.warmup_target = None if warmup_target is None else _real("warmup_target", warmup_target)
        self.warmup_steps = _real("warmup_steps", warmup_steps)
        if self.warmup_steps < 0:
            raise RnnkitValueError(f"warmup_steps must be >= 0, got {describe(warmup_steps)}")

    def __call__(self, step):
        step = _step(step)
        if self.warmup_target is None:
            return self.initial_learning_rate * _cosine(min(step, self.decay_steps) / self.decay_steps, self.alpha)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * step / self.warmup_steps + self.initial_learning_rate
        return self.warmup_target * _cosine((step - self.warmup_steps) / self.decay_steps, self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov and Hutter): period ``i`` lasts
    ``first_decay_steps * t_mul ** i`` steps and starts from ``initial * m_mul ** i``; within a period
    the rate follows the cosine decay to ``alpha`` times its start."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = _real("initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _positive("first_decay_steps", first_decay_steps)
        self.t_mul = _positive("t_mul", t_mul)
        self.m_mul = _real("m_mul", m_mul)
        self.alpha = _real("alpha", alpha)
        self.name = name

    def __call__(self, step):
        fraction = _step(step) / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (1.0 - self.t_mul ** restart) / (1.0 - self.t_mul)
            fraction = (fraction - done) / self.t_mul ** restart
        decayed = (1 - self.alpha) * 0.5 * self.m_mul ** restart * (1 + math.cos(math.pi * fraction)) + self.alpha
        return self.initial_learning_rate * decayed

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_CLASSES = (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay, CosineDecay,
            CosineDecayRestarts)
_REGISTRY = {cls.__name__: cls for cls in _CLASSES}


def serialize(schedule):
    """``{"class_name": ..., "config": ...}`` of a schedule; :func:`deserialize` reverses it."""
    if not isinstance(schedule, LearningRateSchedule):
        raise RnnkitTypeError(f"schedule must be an rnnkit LearningRateSchedule, got {describe(schedule)}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    """The schedule a ``{"class_name", "config"}`` dict describes (Keras 3's extra keys ``module`` and
    ``registered_name`` are accepted and ignored)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise RnnkitTypeError(f"a schedule config must be a dict with a class_name, got {describe(config)}")
    cls = _REGISTRY.get(config["class_name"])
    if cls is None:
        raise RnnkitValueError(f"schedule class_name must be one of {sorted(_REGISTRY)}, "
                               f"got {describe(config['class_name'])}")
    settings = config.get("config") or {}
    if not isinstance(settings, dict):
        raise RnnkitTypeError(f"the config of schedule {cls.__name__} must be a dict, got {describe(settings)}")
    try:
        return cls.from_config(dict(settings))
    except TypeError as error:  # unknown or missing arguments
        raise RnnkitValueError(f"bad config for schedule {cls.__name__}: {error}") from None


__all__ = ["CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay", "LearningRateSchedule",
           "PiecewiseConstantDecay", "PolynomialDecay", "deserialize", "serialize"]
