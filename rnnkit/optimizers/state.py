"""An optimizer's state (slots and counters) and config: reading, checking and restoring them.

State is a flat dict of plain numbers and arrays: ``iterations`` (calls so far), ``clip_events``,
``learning_rate`` (when it is a number), extra scalars of some algorithms (Nadam's ``u_product``)
and the slots keyed ``"slot/<index>/<slot name>"`` by variable position, so a model rebuilt under
other layer names resumes too.
"""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from ..variables import Variable


def _scalar(value):
    """A 0-d array (as a state file gives a number back) as its item."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


class OptimizerState:
    """Mixin of :class:`~rnnkit.optimizers.Optimizer`: slots, state and config."""

    #: scalars kept besides the slots, with their initial values (Nadam: {"u_product": 1.0})
    extra_state = {}

    def get_slot(self, variable, slot_name):
        """The slot array (e.g. ``"momentum"``) kept for ``variable``: a view into the flat slot buffer."""
        if not self.built or id(variable) not in self._index:
            raise RnnkitValueError(f"{self.name} has no slots for {describe(variable)}")
        group, k = self._locate(variable)
        if slot_name not in group.slots:
            raise RnnkitValueError(f"slot_name must be one of {sorted(group.slots)}, got {describe(slot_name)}")
        return group.views(group.slots[slot_name])[k]

    def _slot_keys(self, variables):
        return {f"slot/{i}/{name}": v.shape for i, v in enumerate(variables) for name in self._state_slot_names()}

    def get_state(self):
        """A flat dict of numbers and array copies that :meth:`set_state` restores exactly."""
        state = {"iterations": self._iterations, "clip_events": self.clip_events}
        if not callable(self._learning_rate):
            state["learning_rate"] = self._learning_rate
        if self.built:
            state.update(self._extra)
            for i, v in enumerate(self._variables):
                for name in self._state_slot_names():
                    state[f"slot/{i}/{name}"] = self.get_slot(v, name).copy()
        return state

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
            value = _scalar(state.get(key, 0))
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
                raise RnnkitValueError(f"state[{key!r}] must be a non-negative integer, got {describe(state[key])}")
        if "learning_rate" in state and not callable(self._learning_rate):
            self._check_learning_rate(_scalar(state["learning_rate"]))
        for key in self.extra_state:
            if key in state:
                value = _scalar(state[key])
                if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
                    raise RnnkitValueError(f"state[{key!r}] must be a finite number, got {describe(state[key])}")
        if variables is None and self.built:
            variables = self._variables
        if variables is None:
            return dict(state)
        expected = self._slot_keys(variables)
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

    def set_state(self, state):
        """Restore :meth:`get_state`'s output, all or nothing: everything is checked first (see
        :meth:`check_state`). Before the optimizer is built the counters are restored at once and the
        slots kept, then checked against the variables of the first step (same order and shapes)."""
        state = self.check_state(state)
        slot_keys = {k for k in state if isinstance(k, str) and k.startswith("slot/")}
        if not self.built:
            self._set_counters(state)
            self._pending_state = state if slot_keys or any(k in state for k in self.extra_state) else None
            return
        for i, v in enumerate(self._variables):
            for name in self._state_slot_names():
                self.get_slot(v, name)[...] = state[f"slot/{i}/{name}"]
        for key in self.extra_state:
            if key in state:
                self._extra[key] = float(_scalar(state[key]))
        self._set_counters(state)

    def _set_counters(self, state):
        self._iterations = int(_scalar(state.get("iterations", 0)))
        self.clip_events = int(_scalar(state.get("clip_events", 0)))
        if "learning_rate" in state and not callable(self._learning_rate):
            self._learning_rate = self._check_learning_rate(float(_scalar(state["learning_rate"])))

    def _build_extra(self):
        self._extra = dict(self.extra_state)

    # -- Keras's view of the state --------------------------------------------------------

    def keras_slot_order(self):
        """The per-variable arrays in Keras 3's order: each tuple of slot names is one pass over the
        variables (``(("momentum", "velocity"), ("velocity_hat",))`` for Adam with amsgrad: momentum
        and velocity of the first variable, of the second, ..., then every velocity_hat)."""
        passes = (("average",),) if self.use_ema else ()
        passes += (("gradient_accumulator",),) if self.gradient_accumulation_steps else ()
        return passes + tuple(self._slot_passes())

    @property
    def variables(self):
        """Keras's ``optimizer.variables``: ``iteration`` and ``learning_rate`` (snapshots), then the slots
        in :meth:`keras_slot_order` as Variables over the live slot arrays, named
        ``<optimizer>/<variable name with / as _>_<slot>``, then extra scalars (snapshots)."""
        out = [Variable(np.asarray(self._iterations, np.int64), f"{self.name}/iteration", trainable=False)]
        if not callable(self._learning_rate):
            out.append(Variable(np.asarray(self._learning_rate, np.float32), f"{self.name}/learning_rate",
                                trainable=False))
        if not self.built:
            return out
        for names in self.keras_slot_order():
            for v in self._variables:
                for name in names:
                    out.append(Variable(self.get_slot(v, name), f"{self.name}/{v.name.replace('/', '_')}_{name}",
                                        trainable=False, movable=False))
        for key, value in self._extra.items():
            out.append(Variable(np.asarray(value, self._variables[0].dtype if self._variables else np.float32),
                                f"{self.name}/{key}", trainable=False))
        return out

    # -- config ---------------------------------------------------------------------------

    def get_config(self):
        """Keras 3's config keys; a schedule as ``{"class_name", "config"}``."""
        lr = self._learning_rate
        if callable(lr) and hasattr(lr, "get_config"):
            lr = {"class_name": type(lr).__name__, "config": lr.get_config()}
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config):
        """The optimizer ``get_config`` describes (a schedule given as a config dict is rebuilt)."""
        if not isinstance(config, dict):
            raise RnnkitTypeError(f"config must be a dict as get_config() returns, got {describe(config)}")
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            from . import schedules
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)
