"""The Optimizer base class: Keras 3's common arguments, learning rates and schedules, building the
flat buffers, and one step (see :mod:`rnnkit.optimizers` for the whole contract)."""
import inspect
import numbers
import re
import warnings

import numpy as np

from .. import weight_options
from .._validate import describe, positive_int
from ..errors import RnnkitTypeError, RnnkitValueError
from . import clipping
from .flat import FlatGroup
from .state import OptimizerState


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


def _optional_positive(name, value):
    return None if value is None else _number(name, value, low=0.0, low_open=True)


def _takes_step(schedule):
    try:
        params = inspect.signature(schedule).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


class Optimizer(OptimizerState):
    """Base class. Subclasses set ``slot_names`` (Keras's names, in Keras's creation order) and
    ``scratch_count``, and implement ``_update`` (and ``_slot_init`` for a non-zero start).

    Args:
        learning_rate: a number >= 0, a :mod:`~rnnkit.optimizers.schedules` schedule or a callable
            (see the module docstring).
        weight_decay: None or a number >= 0: before each update ``w <- w (1 - weight_decay lr)``
            (decoupled, Keras's form) for every variable not excluded with
            :meth:`exclude_from_weight_decay`.
        clipvalue, clipnorm, global_clipnorm: positive numbers or None; at most one.
        use_ema: keep an exponential moving average of the weights: after each step
            ``average <- m average + (1 - m) w`` with ``m = ema_momentum`` (0 on the first step).
        ema_momentum: number in [0, 1] (default 0.99).
        ema_overwrite_frequency: None or int >= 1: every that many steps the weights are
            overwritten with their average; with None only :meth:`finalize_variable_values`
            (which ``fit`` calls at its end) does it.
        loss_scale_factor: None or a number > 0: gradients are divided by it before anything
            else (the loss was multiplied by it, :meth:`scale_loss`).
        gradient_accumulation_steps: None or int >= 2: gradients are summed over that many calls
            and their mean applied on the last one; ``iterations`` counts applied updates.
        name: the optimizer's name.
    """

    default_name = "optimizer"
    slot_names = ()
    scratch_count = 2

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) not in (None, 0, 0.0):
            warnings.warn("argument decay is no longer supported (Keras 3) and is ignored; use a learning-rate "
                          "schedule instead", UserWarning, stacklevel=3)
        if kwargs:
            raise RnnkitTypeError(f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}")
        set_clips = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                    ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(set_clips) > 1:
            raise RnnkitValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set, got {set_clips}")
        self.clipnorm = _optional_positive("clipnorm", clipnorm)
        self.clipvalue = _optional_positive("clipvalue", clipvalue)
        self.global_clipnorm = _optional_positive("global_clipnorm", global_clipnorm)
        self.weight_decay = None if weight_decay is None else _number("weight_decay", weight_decay, low=0.0)
        self.use_ema = bool(use_ema)
        self.ema_momentum = _number("ema_momentum", ema_momentum, 0.0, 1.0)
        self.ema_overwrite_frequency = (None if ema_overwrite_frequency is None
                                        else positive_int("ema_overwrite_frequency", ema_overwrite_frequency))
        self.loss_scale_factor = _optional_positive("loss_scale_factor", loss_scale_factor)
        if gradient_accumulation_steps in (None, 0):
            gradient_accumulation_steps = None
        elif isinstance(gradient_accumulation_steps, bool) or not isinstance(gradient_accumulation_steps,
                                                                             numbers.Integral) \
                or gradient_accumulation_steps < 2:
            raise RnnkitValueError(f"gradient_accumulation_steps must be None or an integer >= 2, "
                                   f"got {describe(gradient_accumulation_steps)}")
        self.gradient_accumulation_steps = None if gradient_accumulation_steps is None \
            else int(gradient_accumulation_steps)
        if name is not None and (not isinstance(name, str) or not name):
            raise RnnkitTypeError(f"name must be a non-empty string or None, got {describe(name)}")
        self.name = name or self.default_name
        self._learning_rate = self._check_learning_rate(learning_rate)
        self._iterations = 0  # calls that reached the update (all calls with gradient accumulation)
        self.clip_events = 0
        self.last_clip_count = 0
        self.last_grad_norm = None
        self._variables = None  # built list, in order
        self._index = {}  # id(variable) -> position, for this process only
        self._groups = []  # one FlatGroup per dtype
        self._where = []  # position -> (group number, position in the group)
        self._pending_state = None
        self._exclude_ids = set()
        self._exclude_pattern = None
        self._extra = {}  # scalars of extra_state once built

    # -- learning rate and counters -------------------------------------------------

    @staticmethod
    def _check_learning_rate(value):
        if callable(value):
            return value
        return _number("learning_rate", value, low=0.0)

    @property
    def iterations(self):
        """Number of updates applied so far (calls // gradient_accumulation_steps when accumulating)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @property
    def learning_rate(self):
        """The learning rate in force for the next step (a schedule is evaluated at the number of calls so far)."""
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

    def scale_loss(self, loss):
        """``loss * loss_scale_factor`` (the loss itself without one), as Keras's ``scale_loss``."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exempt variables from ``weight_decay``: those in ``var_list``, and those whose name contains one
        of the strings in ``var_names`` (a regular-expression search, e.g. ``["bias"]``). Call before build."""
        if self.built:
            raise RnnkitValueError("exclude_from_weight_decay() must be called before the optimizer is built")
        self._exclude_ids = {id(v) for v in var_list or ()}
        names = list(var_names or ())
        if any(not isinstance(n, str) for n in names):
            raise RnnkitTypeError(f"var_names must be a list of strings, got {describe(var_names)}")
        self._exclude_pattern = re.compile("|".join(names)) if names else None

    def _decays(self, variable):
        if id(variable) in self._exclude_ids:
            return False
        return self._exclude_pattern is None or self._exclude_pattern.search(variable.name) is None

    # -- building -----------------------------------------------------------------------

    @property
    def built(self):
        return self._variables is not None

    def built_on(self, variables):
        """Whether the optimizer is built on exactly ``variables``, in this order (then its flat buffers
        hold all of them: see :attr:`flat_groups`)."""
        built = self._variables
        return built is not None and len(built) == len(variables) and all(a is b for a, b in zip(built, variables))

    def build(self, variables):
        """Lay ``variables`` (in this order) end to end in one flat array per dtype, each variable's value
        becoming a view into it, and create the slots; a pending ``set_state`` is applied now."""
        if self.built:
            return
        variables = list(variables)
        seen = set()
        for v in variables:
            if not hasattr(v, "value") or not isinstance(getattr(v, "value"), np.ndarray) or not hasattr(v, "name"):
                raise RnnkitTypeError(f"an optimizer updates rnnkit Variables, got {describe(v)}")
            if not np.issubdtype(v.value.dtype, np.floating):
                raise RnnkitTypeError(f"variable {v.name} must be float32 or float64 to be trained, "
                                      f"got {describe(v.value)}")
            if id(v) in seen:
                raise RnnkitValueError(f"variable {v.name} is listed twice")
            seen.add(id(v))
        dtypes = list(dict.fromkeys(v.value.dtype for v in variables))
        members = {dt: [i for i, v in enumerate(variables) if v.value.dtype == dt] for dt in dtypes}
        self._where = [None] * len(variables)
        self._groups = []
        for number, dt in enumerate(dtypes):
            group = FlatGroup([variables[i] for i in members[dt]], dt)
            for k, i in enumerate(members[dt]):
                self._where[i] = (number, k)
            group.slots = {name: group.new_slot(self._slot_init(name)) for name in self._state_slot_names()}
            group.update_slots = {name: group.slots[name] for name in self._active_slots()}
            group.decay_positions = [k for k, v in enumerate(group.variables) if self._decays(v)]
            group.whole = clipping.Work(group, range(len(group.variables)))
            self._groups.append(group)
        self._variables = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        self._all_positions = list(range(len(variables)))
        self._build_extra()
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.set_state(state)

    def _state_slot_names(self):
        """Every per-variable array kept, in Keras's creation order."""
        return (("average",) if self.use_ema else ()) + \
            (("gradient_accumulator",) if self.gradient_accumulation_steps else ()) + tuple(self._active_slots())

    # -- the public ways to apply gradients ---------------------------------------------

    def apply_gradients(self, grads_and_vars):
        """Apply one update from an iterable of ``(gradient, variable)`` pairs; returns ``iterations``.

        The first call builds the optimizer on these variables. Pairs whose gradient is None are
        skipped (Keras does the same). Raises NonFiniteGradientError, before changing anything, if a
        gradient has NaN or Inf.
        """
        grads, variables = [], []
        for g, v in grads_and_vars:
            grads.append(g)
            variables.append(v)
        if grads:
            self.apply(grads, variables)
        return self.iterations

    def apply(self, grads, trainable_variables=None):
        """Keras 3's form: ``grads`` one per variable of ``trainable_variables``, or of the variables the
        optimizer was built with when that is omitted."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise RnnkitValueError("apply(grads) without variables needs a built optimizer: call "
                                       "optimizer.build(trainable_variables) first or pass the variables")
            variables = self._variables
        else:
            variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise RnnkitValueError(f"grads must hold one gradient per variable ({len(variables)}), got {len(grads)}")
        if not self.built:
            self.build(variables)
        if len(variables) == len(self._variables) and all(a is b for a, b in zip(variables, self._variables)) \
                and not any(g is None for g in grads):
            self._step(grads, self._all_positions)
            return
        kept, positions = [], []
        for g, v in zip(grads, variables):
            if g is None:
                continue
            i = self._index.get(id(v))
            if i is None:
                raise RnnkitValueError(
                    f"unknown variable {getattr(v, 'name', v)!r}: this optimizer was built for "
                    f"{[w.name for w in self._variables]}; create a new optimizer for new variables")
            kept.append(g)
            positions.append(i)
        if not kept:
            raise RnnkitValueError("no gradients provided for any variable (every gradient is None)")
        if len(set(positions)) != len(positions):
            raise RnnkitValueError("a variable is listed twice in one apply_gradients call")
        self._step(kept, positions)

    def gradient_buffer(self, variable):
        """The view of the flat gradient buffer that belongs to ``variable`` (built optimizers only).

        A training loop that writes each gradient into its view and then calls
        :meth:`apply_gradient_buffer` skips the copy :meth:`apply_gradients` makes. The step
        overwrites the buffer (unscaling, accumulation, clipping happen in place)."""
        group, k = self._locate(variable)
        return group.grad_views[k]

    def apply_gradient_buffer(self):
        """Apply one update to every built variable from the gradients already in the gradient buffer."""
        if not self.built:
            raise RnnkitValueError("apply_gradient_buffer() needs a built optimizer: call optimizer.build(variables)")
        self._step(None, self._all_positions)

    @property
    def flat_groups(self):
        """The :class:`~rnnkit.optimizers.flat.FlatGroup` of each dtype (one for a float32 model)."""
        return tuple(self._groups)

    def _locate(self, variable):
        i = self._index.get(id(variable)) if self.built else None
        if i is None:
            raise RnnkitValueError(f"{self.name} is not built for {describe(variable)}")
        number, k = self._where[i]
        return self._groups[number], k

    # -- one step -----------------------------------------------------------------------

    def _step(self, grads, positions):
        work = self._fill_gradients(grads, positions)
        norm = clipping.checked_norm(work, self._report_non_finite)
        if self.loss_scale_factor is not None:
            clipping.scale(work, 1.0 / self.loss_scale_factor)
            norm /= self.loss_scale_factor
        self.last_grad_norm = norm
        for group in self._groups:
            group.sync_in()
        if self.gradient_accumulation_steps and not self._accumulate(work):
            self.last_clip_count = 0
        else:
            changed = self._clip(work, norm)
            self.last_clip_count = changed
            self.clip_events += int(changed > 0)
            lr = self.learning_rate
            if self.weight_decay:
                self._decay_weights(work, lr)
            self._prepare_step()
            for item in work:
                self._update_runs(item, item.group.dtype.type(lr))
            if self.gradient_accumulation_steps:
                for group in self._groups:
                    group.slots["gradient_accumulator"][...] = 0
        if self.use_ema:
            self._update_average()
        for group in self._groups:
            group.sync_out()
        # Keras 3: variable.assign(constraint(variable)) after the update, in place (after sync_out, so an
        # unmovable variable keeps its projection; the next sync_in copies it into the buffer)
        weight_options.apply_constraints([self._variables[i] for i in positions])
        self._iterations += 1

    def _fill_gradients(self, grads, positions):
        """Copy the gradients into the flat buffers (cast to each variable's dtype); returns the
        :class:`~rnnkit.optimizers.clipping.Work` of each group that has variables in this step."""
        groups, where = self._groups, self._where
        if grads is not None:
            for g, i in zip(grads, positions):
                number, k = where[i]
                view = groups[number].grad_views[k]
                if g is view:
                    continue
                g = np.asarray(g)
                if g.shape != view.shape:
                    raise RnnkitValueError(f"gradient for {self._variables[i].name} must have shape {view.shape}, "
                                           f"got {describe(g)}")
                np.copyto(view, g, casting="unsafe")
        if positions is self._all_positions:
            return [group.whole for group in groups]
        by_group = {}
        for i in sorted(positions):
            number, k = where[i]
            by_group.setdefault(number, []).append(k)
        return [clipping.Work(groups[number], ks) for number, ks in sorted(by_group.items())]

    def _report_non_finite(self, work):
        bad = []
        for item in work:
            for k in item.positions:
                variable, view = item.group.variables[k], item.group.grad_views[k]
                if not np.all(np.isfinite(view)):
                    bad.append(f"{variable.name} ({int(np.isnan(view).sum())} NaN, {int(np.isinf(view).sum())} Inf "
                               f"of {view.size} values)")
        if bad:
            raise NonFiniteGradientError(f"non-finite gradients for {', '.join(bad)}; no variable was updated")

    def _accumulate(self, work):
        """Gradient accumulation; returns whether this call applies an update (its buffer then holds
        the mean of the accumulated gradients and this one)."""
        steps = self.gradient_accumulation_steps
        update = (self._iterations + 1) % steps == 0
        for item in work:
            group = item.group
            acc = group.slots["gradient_accumulator"]
            for a, b in item.runs:
                if update:
                    g = group.grads[a:b]
                    g += acc[a:b]
                    g /= group.dtype.type(steps)
                else:
                    acc[a:b] += group.grads[a:b]
        return update

    def _clip(self, work, norm):
        if self.clipnorm is not None:
            return clipping.clip_each_norm(work, self.clipnorm)
        if self.global_clipnorm is not None:
            if self.gradient_accumulation_steps:  # the mean of the accumulated gradients is clipped
                norm = clipping.checked_norm(work, self._report_non_finite)
            return clipping.clip_global_norm(work, self.global_clipnorm, norm)
        if self.clipvalue is not None:
            return clipping.clip_values(work, self.clipvalue)
        return 0

    def _decay_weights(self, work, lr):
        for item in work:
            group = item.group
            factor = group.dtype.type(1 - self.weight_decay * lr)
            decayed = group.decay_positions
            if len(decayed) == len(group.variables):
                targets = item.runs
            else:
                targets = group.runs(sorted(set(decayed) & set(item.positions)))
            for a, b in targets:
                group.params[a:b] *= factor

    def _update_runs(self, item, lr):
        group = item.group
        scratch = group.scratch(self.scratch_count)
        if item is group.whole:
            self._update(group.grads, group.params, group.update_slots, lr, scratch)
            return
        for a, b in item.runs:
            self._update(group.grads[a:b], group.params[a:b], {n: s[a:b] for n, s in group.update_slots.items()},
                         lr, [t[a:b] for t in scratch])

    def _update_average(self):
        momentum = self.ema_momentum if self.iterations != 0 else 0.0
        overwrite = self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0
        for group in self._groups:
            average, work = group.slots["average"], group.scratch(1)[0]
            f = group.dtype.type
            np.multiply(group.params, f(1 - momentum), out=work)
            average *= f(momentum)
            average += work
            if overwrite:
                group.params[...] = average

    def finalize_variable_values(self, var_list):
        """With ``use_ema``, overwrite the variables in ``var_list`` with their moving average (``fit`` calls
        this after its last epoch, as Keras does); otherwise nothing."""
        if not self.use_ema or not self.built:
            return
        for variable in var_list:
            if id(variable) in self._index:
                group, k = self._locate(variable)
                variable.value[...] = group.views(group.slots["average"])[k]

    # -- subclass hooks -----------------------------------------------------------------

    def _active_slots(self):
        """The algorithm's per-variable slots for this configuration, Keras's names."""
        return self.slot_names

    def _slot_passes(self):
        """The algorithm's slots grouped as Keras creates them: each tuple is one pass over the variables."""
        return (tuple(self._active_slots()),) if self._active_slots() else ()

    def _slot_init(self, name):
        return 0.0

    def _prepare_step(self):
        """Called once per update before the vectorised updates (after clipping and weight decay)."""

    def _update(self, g, w, slots, lr, scratch):
        """One vectorised update, in place, on 1-D arrays of one layout: the gradient ``g`` (may be
        overwritten), the weights ``w``, ``slots`` ({name: array}), ``lr`` (a scalar of ``w``'s dtype)
        and ``scratch`` (``scratch_count`` work arrays). The same code serves the whole flat buffer and,
        when only some variables have gradients, each contiguous run of them."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self._learning_rate!r}, iterations={self.iterations})"
