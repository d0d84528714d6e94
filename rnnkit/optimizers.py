"""Optimizers with Keras 3's update formulas, defaults, clipping and step counter.

An optimizer updates :class:`rnnkit.variables.Variable` objects in place::

    opt = rnnkit.optimizers.Adam(learning_rate=0.01, global_clipnorm=1.0)
    opt.apply_gradients(zip(grads, variables))     # Keras 3 form: (grad, var) pairs

The first call builds the slots (momentum, velocity, ...) for the variables it
is given, in that order; later calls may pass those variables (or a subset) only.

Learning rate: a number, or a schedule ``f(step) -> float`` called with the
number of steps taken so far (``iterations``, 0 on the first step), as Keras
calls a ``LearningRateSchedule``; a callable taking no argument is called with
none (Keras's plain-callable form). ``optimizer.learning_rate`` reads the value
in force and can be set to a new number (what ReduceLROnPlateau does), unless
the optimizer was built with a schedule.

Clipping (at most one, as in Keras), applied before the update:
    clipvalue        g <- clip(g, -clipvalue, clipvalue), elementwise
    clipnorm         g <- g * clipnorm / max(||g||, clipnorm), each variable on its own
    global_clipnorm  g <- g * global_clipnorm * min(1/N, 1/global_clipnorm) for every g,
                     N = sqrt(sum over all variables of ||g||^2)
Diagnostics after each step:
    last_grad_norm   N above, computed before any clipping (float)
    last_clip_count  how many gradient arrays clipping changed in that step
    clip_events      how many steps so far had at least one gradient changed by clipping

Non-finite gradients: :meth:`Optimizer.apply_gradients` checks every gradient first
and raises :class:`NonFiniteGradientError` before any variable, slot or counter is
touched, so the weights stay valid and the caller may skip the batch.

State: :meth:`Optimizer.get_state` returns a flat dict of plain numbers and arrays
(slots keyed ``"slot/<index>/<slot name>"`` by variable position, so a model rebuilt
under other layer names resumes too) and
:meth:`Optimizer.set_state` restores it, so a run resumes bit-identically.
"""
import inspect
import numbers

import numpy as np

from ._validate import describe
from .errors import RnnkitTypeError, RnnkitValueError


class NonFiniteGradientError(RnnkitValueError):
    """A gradient holds NaN or Inf; no variable was changed."""


def _number(name, value, low=None, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise RnnkitValueError(f"{name} must be a finite number, got {describe(value)}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        bound = f"> {low}" if low_open else f">= {low}"
        raise RnnkitValueError(f"{name} must be {bound}, got {describe(value)}")
    if high is not None and value > high:
        raise RnnkitValueError(f"{name} must be <= {high}, got {describe(value)}")
    return value


def _clip_arg(name, value):
    return None if value is None else _number(name, value, low=0.0, low_open=True)


def _takes_step(schedule):
    try:
        params = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


class Optimizer:
    """Base class. Subclasses define ``slot_names``, ``_slot_init(name)`` and ``_update``.

    Args:
        learning_rate: a number >= 0 or a schedule (see the module docstring).
        clipvalue, clipnorm, global_clipnorm: positive numbers or None; at most one.
        name: Keras's optimizer name.
    """

    default_name = "optimizer"
    slot_names = ()

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None):
        set_clips = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                    ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(set_clips) > 1:
            raise RnnkitValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set, got {set_clips}")
        self.clipnorm = _clip_arg("clipnorm", clipnorm)
        self.clipvalue = _clip_arg("clipvalue", clipvalue)
        self.global_clipnorm = _clip_arg("global_clipnorm", global_clipnorm)
        self.name = name or self.default_name
        self._learning_rate = self._check_learning_rate(learning_rate)
        self._iterations = 0
        self.clip_events = 0
        self.last_clip_count = 0
        self.last_grad_norm = None
        self._variables = None  # built list, in order
        self._index = {}  # id(variable) -> position, for this process only
        self._slots = []  # per variable: {slot name: ndarray}
        self._pending_state = None

    # -- learning rate and counters -------------------------------------------------

    @staticmethod
    def _check_learning_rate(value):
        if callable(value):
            return value
        return _number("learning_rate", value, low=0.0)

    @property
    def iterations(self):
        """Number of update steps applied so far."""
        return self._iterations

    @property
    def learning_rate(self):
        """The learning rate in force for the next step (a schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        if callable(lr):
            return float(lr(self._iterations) if _takes_step(lr) else lr())
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(self._learning_rate) and not callable(value):
            raise RnnkitTypeError(
                f"{self.name} was created with a learning-rate schedule, so its learning rate cannot be set "
                f"to {describe(value)}; create it with a number to make the learning rate settable"
            )
        self._learning_rate = self._check_learning_rate(value)

    # -- building and applying --------------------------------------------------------

    @property
    def built(self):
        return self._variables is not None

    def build(self, variables):
        """Create the slots for ``variables`` (in this order); a pending ``set_state`` is applied now."""
        if self.built:
            return
        variables = list(variables)
        self._variables = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        self._slots = [
            {name: np.full(v.shape, self._slot_init(name), dtype=v.dtype) for name in self._active_slots()}
            for v in variables
        ]
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.set_state(state)

    def apply_gradients(self, grads_and_vars):
        """Apply one update from an iterable of ``(gradient, variable)`` pairs; returns ``iterations``.

        Pairs whose gradient is None are skipped (Keras does the same, with a warning).
        Raises NonFiniteGradientError, before changing anything, if a gradient has NaN or Inf.
        """
        pairs = [(g, v) for g, v in grads_and_vars]
        if not pairs:
            return self._iterations
        pairs = [(g, v) for g, v in pairs if g is not None]
        if not pairs:
            raise RnnkitValueError("no gradients provided for any variable (every gradient is None)")
        if not self.built:
            self.build([v for _, v in pairs])
        grads, variables = [], []
        for g, v in pairs:
            if id(v) not in self._index:
                raise RnnkitValueError(
                    f"unknown variable {getattr(v, 'name', v)!r}: this optimizer was built for "
                    f"{[w.name for w in self._variables]}; create a new optimizer for new variables"
                )
            g = np.asarray(g)
            if g.shape != v.shape:
                raise RnnkitValueError(f"gradient for {v.name} must have shape {v.shape}, got {describe(g)}")
            # Clipping and the update run in the variable's dtype (Keras casts the same way).
            grads.append(g.astype(v.value.dtype, copy=False))
            variables.append(v)
        self._check_finite(grads, variables)
        grads = self._clip(grads)
        lr = self.learning_rate
        for g, v in zip(grads, variables):
            dtype = v.value.dtype
            self._update(g, v.value, self._slots[self._index[id(v)]], dtype.type(lr))
        self._iterations += 1
        return self._iterations

    @staticmethod
    def _check_finite(grads, variables):
        bad = []
        for g, v in zip(grads, variables):
            if not np.all(np.isfinite(g)):
                bad.append(f"{v.name} ({int(np.isnan(g).sum())} NaN, {int(np.isinf(g).sum())} Inf "
                           f"of {g.size} values)")
        if bad:
            raise NonFiniteGradientError(
                f"non-finite gradients for {', '.join(bad)}; no variable was updated"
            )

    def _clip(self, grads):
        squares = [float(np.sum(np.square(g, dtype=np.float64))) for g in grads]
        self.last_grad_norm = float(np.sqrt(sum(squares)))
        changed = 0
        if self.clipnorm is not None:
            clipped = []
            for g, sq in zip(grads, squares):
                norm = np.sqrt(sq)
                if norm > self.clipnorm:
                    g = g * self.clipnorm / g.dtype.type(norm)
                    changed += 1
                clipped.append(g)
            grads = clipped
        elif self.global_clipnorm is not None:
            if self.last_grad_norm > self.global_clipnorm:
                scale = self.global_clipnorm * (1.0 / self.last_grad_norm)
                grads = [g * g.dtype.type(scale) for g in grads]
                changed = len(grads)
        elif self.clipvalue is not None:
            c = self.clipvalue
            changed = sum(bool(np.any(np.abs(g) > c)) for g in grads)
            grads = [np.clip(g, -c, c) for g in grads]
        self.last_clip_count = changed
        self.clip_events += int(changed > 0)
        return grads

    # -- subclass hooks ---------------------------------------------------------------

    def _active_slots(self):
        return self.slot_names

    def _slot_init(self, name):
        return 0.0

    def _update(self, grad, value, slots, lr):
        """Update ``value`` (the variable's array) and ``slots`` in place, in the variable's dtype."""
        raise NotImplementedError

    # -- slots, state, config ---------------------------------------------------------

    def get_slot(self, variable, slot_name):
        """The slot array (e.g. ``"momentum"``) kept for ``variable``."""
        if not self.built or id(variable) not in self._index:
            raise RnnkitValueError(f"{self.name} has no slots for {describe(variable)}")
        slots = self._slots[self._index[id(variable)]]
        if slot_name not in slots:
            raise RnnkitValueError(f"slot_name must be one of {sorted(slots)}, got {describe(slot_name)}")
        return slots[slot_name]

    def get_state(self):
        """A flat dict of numbers and array copies that :meth:`set_state` restores exactly."""
        state = {"iterations": self._iterations, "clip_events": self.clip_events}
        if not callable(self._learning_rate):
            state["learning_rate"] = self._learning_rate
        if self.built:
            for i, (v, slots) in enumerate(zip(self._variables, self._slots)):
                for name, array in slots.items():
                    state[f"slot/{i}/{name}"] = array.copy()
        return state

    def set_state(self, state):
        """Restore :meth:`get_state`'s output. Before the optimizer is built the slots are kept
        and checked against the variables of the first step (same order and shapes)."""
        state = dict(state)
        slot_keys = {k for k in state if k.startswith("slot/")}
        if not self.built:
            self._set_counters(state)
            self._pending_state = state if slot_keys else None
            return
        expected = {}
        if self.built:
            for i, (v, slots) in enumerate(zip(self._variables, self._slots)):
                for name, array in slots.items():
                    expected[f"slot/{i}/{name}"] = array
        missing, extra = sorted(set(expected) - slot_keys), sorted(slot_keys - set(expected))
        if missing or extra:
            raise RnnkitValueError(
                f"state does not match {self.name}'s variables: missing {missing[:5]}, unexpected {extra[:5]}"
            )
        for key, array in expected.items():
            value = np.asarray(state[key])
            if value.shape != array.shape:
                raise RnnkitValueError(f"state[{key!r}] must have shape {array.shape}, got {describe(value)}")
        for key, array in expected.items():
            array[...] = state[key]
        self._set_counters(state)

    def _set_counters(self, state):
        self._iterations = int(state.get("iterations", 0))
        self.clip_events = int(state.get("clip_events", 0))
        if "learning_rate" in state and not callable(self._learning_rate):
            self._learning_rate = self._check_learning_rate(float(state["learning_rate"]))

    def get_config(self):
        lr = self._learning_rate
        if callable(lr) and hasattr(lr, "get_config"):
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        return {"name": self.name, "learning_rate": lr, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self._learning_rate!r}, iterations={self._iterations})"


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras 3's form.

        momentum = 0:  w <- w - lr g
        momentum > 0:  m <- momentum m - lr g;  w <- w + m
        nesterov:      m <- momentum m - lr g;  w <- w + momentum m - lr g

    Defaults: learning_rate=0.01, momentum=0.0, nesterov=False.
    """

    default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _number("momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _active_slots(self):
        return ("momentum",) if self.momentum != 0 else ()

    def _update(self, grad, value, slots, lr):
        if not slots:
            value -= grad * lr
            return
        m, mu = slots["momentum"], value.dtype.type(self.momentum)
        m[...] = m * mu - grad * lr
        if self.nesterov:
            value += m * mu - grad * lr
        else:
            value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with Keras 3's epsilon placement ("epsilon hat"), optionally AMSGrad.

        t = iterations + 1;  alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
        m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2)
        (amsgrad: v_hat <- max(v_hat, v), used in place of v)
        w <- w - alpha m / (sqrt(v) + epsilon)

    PyTorch adds its epsilon to sqrt(v / (1 - beta_2^t)) instead: the two agree
    only when epsilon is 0. Defaults: learning_rate=0.001, beta_1=0.9,
    beta_2=0.999, epsilon=1e-7, amsgrad=False.
    """

    default_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _number("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _number("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)
        self.amsgrad = bool(amsgrad)

    def _active_slots(self):
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

    def _update(self, grad, value, slots, lr):
        f = value.dtype.type
        step = f(self._iterations + 1)
        alpha = lr * np.sqrt(1 - np.power(f(self.beta_2), step)) / (1 - np.power(f(self.beta_1), step))
        m, v = slots["momentum"], slots["velocity"]
        m += (grad - m) * f(1 - self.beta_1)
        v += (np.square(grad) - v) * f(1 - self.beta_2)
        if self.amsgrad:
            np.maximum(slots["velocity_hat"], v, out=slots["velocity_hat"])
            v = slots["velocity_hat"]
        value -= (m * alpha) / (np.sqrt(v) + f(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class RMSprop(Optimizer):
    """RMSprop, Keras 3's form (epsilon inside the square root, plain momentum).

        v <- rho v + (1 - rho) g^2
        centered: a <- rho a + (1 - rho) g;  d = v - a^2 + epsilon,  else d = v + epsilon
        step = lr g / sqrt(d)
        momentum > 0: s <- momentum s + step;  w <- w - s,   else w <- w - step

    Defaults: learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False.
    """

    default_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _number("rho", rho, 0.0, 1.0)
        self.momentum = _number("momentum", momentum, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)
        self.centered = bool(centered)

    def _active_slots(self):
        return ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + \
            (("average_gradient",) if self.centered else ())

    def _update(self, grad, value, slots, lr):
        f = value.dtype.type
        rho = f(self.rho)
        v = slots["velocity"]
        v[...] = rho * v + f(1 - self.rho) * np.square(grad)
        if self.centered:
            a = slots["average_gradient"]
            a[...] = rho * a + f(1 - self.rho) * grad
            denominator = v - np.square(a) + f(self.epsilon)
        else:
            denominator = v + f(self.epsilon)
        increment = (lr * grad) / np.sqrt(denominator)
        if self.momentum > 0:
            s = slots["momentum"]
            s[...] = f(self.momentum) * s + increment
            value -= s
        else:
            value -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad, Keras 3's form (epsilon inside the square root).

        acc <- acc + g^2   (acc starts at initial_accumulator_value)
        w <- w - lr g / sqrt(acc + epsilon)

    Defaults: learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7.
    """

    default_name = "adagrad"
    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _number("initial_accumulator_value", initial_accumulator_value, 0.0)
        self.epsilon = _number("epsilon", epsilon, 0.0)

    def _slot_init(self, name):
        return self.initial_accumulator_value

    def _update(self, grad, value, slots, lr):
        acc = slots["accumulator"]
        acc += np.square(grad)
        value -= (lr * grad) / np.sqrt(acc + value.dtype.type(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_CLASSES = (SGD, Adam, RMSprop, Adagrad)
_REGISTRY = {cls.__name__: cls for cls in _CLASSES}
_REGISTRY.update({cls.__name__.lower(): cls for cls in _CLASSES})


def get(identifier):
    """Resolve an optimizer: an instance, a name (``"adam"``, ``"sgd"``, ``"rmsprop"``,
    ``"adagrad"`` or the class name) with Keras's defaults, or a ``{"class_name", "config"}`` dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier in _REGISTRY:
        return _REGISTRY[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _REGISTRY:
        return _REGISTRY[identifier["class_name"]].from_config(dict(identifier.get("config", {})))
    if isinstance(identifier, (str, dict)):
        raise RnnkitValueError(f"optimizer must be one of {sorted(_REGISTRY)}, got {describe(identifier)}")
    raise RnnkitTypeError(f"optimizer must be a name, a config dict or an rnnkit Optimizer, got {describe(identifier)}")


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}``; :func:`get` reverses it (numeric learning rates)."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
