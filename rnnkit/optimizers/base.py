"""The Optimizer base class: learning rates and schedules, clipping, the finite-gradient check,
slots and their state (see :mod:`rnnkit.optimizers` for the whole contract)."""
import inspect
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError


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
        """Restore :meth:`get_state`'s output, all or nothing: everything is checked first (see
        :meth:`check_state`). Before the optimizer is built the slots are kept and checked against
        the variables of the first step (same order and shapes)."""
        state = self.check_state(state)
        slot_keys = {k for k in state if k.startswith("slot/")}
        if not self.built:
            self._set_counters(state)
            self._pending_state = state if slot_keys else None
            return
        for i, slots in enumerate(self._slots):
            for name, array in slots.items():
                array[...] = state[f"slot/{i}/{name}"]
        self._set_counters(state)

    def check_state(self, state, variables=None):
        """Check that :meth:`set_state` can restore ``state`` without changing anything; returns it as a dict.

        Args:
            state: a dict as :meth:`get_state` returns.
            variables: the variables the slots belong to, in order; default the built ones (an unbuilt
                optimizer without ``variables`` checks only the counters).

        Raises:
            RnnkitValueError / RnnkitTypeError: naming the first key that is missing, unexpected, of the
            wrong shape or type.
        """
        if not isinstance(state, dict):
            raise RnnkitTypeError(f"state must be a dict as get_state() returns, got {describe(state)}")
        for key in ("iterations", "clip_events"):
            value = state.get(key, 0)
            if isinstance(value, np.ndarray) and value.ndim == 0:  # as a state file may give it back
                value = value[()]
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
                raise RnnkitValueError(f"state[{key!r}] must be a non-negative integer, got {describe(state[key])}")
        if "learning_rate" in state and not callable(self._learning_rate):
            lr = state["learning_rate"]
            self._check_learning_rate(lr[()] if isinstance(lr, np.ndarray) and lr.ndim == 0 else lr)
        if variables is None and self.built:
            variables = self._variables
        if variables is None:
            return dict(state)
        expected = {f"slot/{i}/{name}": v.shape
                    for i, v in enumerate(variables) for name in self._active_slots()}
        slot_keys = {k for k in state if isinstance(k, str) and k.startswith("slot/")}
        missing, extra = sorted(set(expected) - slot_keys), sorted(slot_keys - set(expected))
        if missing or extra:
            raise RnnkitValueError(
                f"state does not match {self.name}'s variables: missing {missing[:5]}, unexpected {extra[:5]}"
            )
        state = dict(state)
        for key, shape in expected.items():
            try:
                value = np.asarray(state[key])
            except ValueError:  # ragged nested lists
                value = None
            if value is None or value.dtype.kind not in "fiu":
                raise RnnkitTypeError(f"state[{key!r}] must be a numeric array, got {describe(state[key])}")
            if value.shape != shape:
                raise RnnkitValueError(f"state[{key!r}] must have shape {shape}, got {describe(value)}")
            state[key] = value
        return state

    def _set_counters(self, state):
        self._iterations = int(state.get("iterations", 0))
        self.clip_events = int(state.get("clip_events", 0))
        if "learning_rate" in state and not callable(self._learning_rate):
            self._learning_rate = self._check_learning_rate(np.asarray(state["learning_rate"])[()])

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
