"""An optimizer's state in Keras 3's ``optimizer/vars`` group.

Keras 3 stores ``optimizer.variables`` by position: ``iteration`` (int), ``learning_rate``
(float32; absent under a learning-rate schedule), then the per-variable arrays, one pass over
the model's ``trainable_variables`` per group of slot names in the order the optimizer's
``build`` creates them (:meth:`rnnkit.optimizers.Optimizer.keras_slot_order`), e.g.

    use_ema                      average of every variable (first pass)
    gradient_accumulation_steps  gradient_accumulator of every variable (next pass)
    SGD      momentum (only when momentum != 0)        Lion      momentum
    Adam     (momentum, velocity), then velocity_hat (amsgrad); AdamW the same
    Nadam    (momentum, velocity), then the scalar u_product last
    Adamax   (momentum, norm)                          Adagrad   accumulator
    Adadelta (accumulated_grad, accumulated_delta_var) Ftrl      (accumulator, linear)
    RMSprop  velocity, then momentum (momentum > 0), then average_gradient (centered)

rnnkit's ten optimizers have Keras 3's formulas and slots, so their state moves both ways; an
unbuilt optimizer (no step taken) has only the counters, as in Keras. A file whose arrays do not
fit (another optimizer class or configuration, other variables) leaves the optimizer fresh with
a :class:`KerasFormatWarning` saying the state was dropped.
"""
import numbers
import warnings

import numpy as np

from ...errors import RnnkitError
from .errors import KerasFileError, KerasFormatWarning


def _has_schedule(optimizer):
    return not isinstance(optimizer.get_config()["learning_rate"], numbers.Real)


def state_layout(optimizer, variables):
    """``[(get_state key, shape, dtype kinds)]`` of Keras's ``optimizer.variables`` for ``variables``
    (the model's trainable variables), in Keras's order."""
    layout = [("iterations", (), "iu")]
    if not _has_schedule(optimizer):
        layout.append(("learning_rate", (), "f"))
    layout += [(f"slot/{index}/{name}", variable.shape, "f") for names in optimizer.keras_slot_order()
               for index, variable in enumerate(variables) for name in names]
    return layout + [(key, (), "f") for key in optimizer.extra_state]


def optimizer_arrays(optimizer):
    """Keras's ``[(name, array)]`` for ``optimizer``: its ``variables`` (counters, slots named
    ``<variable path>_<slot>`` as Keras names them, extra scalars)."""
    prefix = f"{optimizer.name}/"
    return [(v.name[len(prefix):] if v.name.startswith(prefix) else v.name, np.asarray(v.value))
            for v in optimizer.variables]


def read_optimizer_state(optimizer, variables, stored_count, read, where):
    """Keras's optimizer arrays as ``optimizer``'s checked ``get_state`` dict, for ``optimizer.set_state``
    once everything else of the file was read; None, with a warning that the state was dropped, when
    they do not fit (another optimizer class or configuration, other variables).

    Args:
        optimizer: the rnnkit optimizer of the compiled model.
        variables: the model's trainable variables (the slots follow their order).
        stored_count: how many optimizer arrays the file holds.
        read: ``read(position, shape, kinds)`` returning the checked array at that position.
        where: the file, for messages.
    """
    layout = state_layout(optimizer, variables)
    counters = 2 - _has_schedule(optimizer)
    # An unbuilt optimizer takes a file's counters alone; a built one needs its slots too (Keras's rule).
    if stored_count not in ((len(layout),) if optimizer.built else (counters, len(layout))):
        extra = f", scalars {', '.join(optimizer.extra_state)}" if optimizer.extra_state else ""
        warnings.warn(f"{where}: the optimizer state was dropped: the file holds {stored_count} optimizer arrays, "
                      f"rnnkit's {type(optimizer).__name__} as configured for these {len(variables)} trainable "
                      f"variables has {len(layout)} ({counters} counters, "
                      f"{len(layout) - counters - len(optimizer.extra_state)} slot arrays{extra})",
                      KerasFormatWarning, stacklevel=4)
        return None
    state = {}
    for position, (key, shape, kinds) in enumerate(layout[:stored_count]):
        value = read(position, shape, kinds)
        state[key] = value if shape else value[()].item()
    try:
        optimizer.check_state(state, variables if stored_count > counters else None)
    except RnnkitError as error:  # a negative iteration count, a NaN learning rate, ...
        raise KerasFileError(where, f"the optimizer state is not valid: {error}") from None
    return state
