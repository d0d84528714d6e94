"""An optimizer's state in Keras 3's ``optimizer/vars`` group.

Keras 3 stores ``iteration`` (int) and ``learning_rate`` (float32) first, then the slots
of the trainable variables (in the model's ``trainable_variables`` order), grouped as each
optimizer's ``build`` creates them:

    SGD      momentum per variable (only when momentum != 0)
    Adam     (momentum, velocity) per variable, then velocity_hat per variable (amsgrad)
    RMSprop  velocity per variable, then momentum per variable (momentum > 0),
             then average_gradient per variable (centered)
    Adagrad  accumulator per variable

rnnkit's four optimizers have the same formulas and slots, so their state moves both ways;
an unbuilt optimizer (no step taken) has only the two counters, as in Keras.
"""
import warnings

import numpy as np

from .errors import KerasFileError, KerasFormatWarning

# Keras's creation order: each tuple is one pass over the variables.
SLOT_ORDER = {
    "SGD": (("momentum",),),
    "Adam": (("momentum", "velocity"), ("velocity_hat",)),
    "RMSprop": (("velocity",), ("momentum",), ("average_gradient",)),
    "Adagrad": (("accumulator",),),
}


def _slot_keys(optimizer, count):
    """rnnkit ``get_state`` keys of the slots, in Keras's order."""
    active = set(optimizer._active_slots())
    return [f"slot/{index}/{name}" for names in SLOT_ORDER[type(optimizer).__name__]
            for index in range(count) for name in names if name in active]


def supported(optimizer):
    return type(optimizer).__name__ in SLOT_ORDER


def optimizer_arrays(optimizer, variables):
    """Keras's ``[(name, array)]`` for ``optimizer`` — iteration, learning rate, slots (named as Keras
    names them: ``<variable path>_<slot>``) — or None when it has no Keras twin."""
    if not supported(optimizer):
        return None
    iterations = int(optimizer.iterations)
    entries = [("iteration", np.asarray(iterations, np.int32 if iterations < 2**31 else np.int64)),
               ("learning_rate", np.asarray(optimizer.learning_rate, np.float32))]
    if optimizer.built:
        state = optimizer.get_state()
        for key in _slot_keys(optimizer, len(variables)):
            _, index, slot = key.split("/")
            entries.append((f"{variables[int(index)].name.replace('/', '_')}_{slot}", state[key]))
    return entries


def restore_optimizer(optimizer, variables, stored_count, read, where):
    """Load Keras's optimizer arrays into ``optimizer``, or warn and keep it fresh when they do not fit
    (another optimizer class, other variables).

    Args:
        optimizer: the rnnkit optimizer of the compiled model.
        variables: the model's trainable variables (the slots follow their order).
        stored_count: how many optimizer arrays the file holds.
        read: ``read(position, shape, kinds)`` returning the checked array at that position.
        where: the file, for messages.
    """
    if not supported(optimizer):
        warnings.warn(f"{where}: the optimizer state was dropped: rnnkit's {type(optimizer).__name__} has no "
                      f"Keras layout", KerasFormatWarning, stacklevel=4)
        return
    keys = _slot_keys(optimizer, len(variables))
    if stored_count not in (2, 2 + len(keys)):
        warnings.warn(f"{where}: the optimizer state was dropped: the file holds {stored_count} optimizer arrays, "
                      f"rnnkit's {type(optimizer).__name__} for these {len(variables)} trainable variables has "
                      f"{2 + len(keys)} (iteration, learning rate, slots)", KerasFormatWarning, stacklevel=4)
        return
    state = {"iterations": int(read(0, (), "iu")), "learning_rate": float(read(1, (), "f"))}
    if stored_count > 2:
        for position, key in enumerate(keys, start=2):
            state[key] = read(position, variables[int(key.split("/")[1])].shape, "f")
    if state["iterations"] < 0:
        raise KerasFileError(where, f"the optimizer's iteration count is negative ({state['iterations']})")
    optimizer.set_state(state)
