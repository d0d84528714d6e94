"""Keras's rules for models with stateful recurrent layers.

A stateful layer carries its final states into the next call, so its batch size is fixed: by
``Input(batch_size=...)`` (or ``batch_input_shape``), else by the first batch it sees. Then every
batch of ``fit``, ``evaluate`` and ``predict`` must have exactly that size: ``batch_size`` must
equal it and the number of samples must be a multiple of it (Keras fails on a short last
batch; rnnkit says so before the first batch). ``model.reset_states()`` zeroes the carried
states; the batch size stays fixed.
"""
from ..errors import RnnkitValueError


def stateful_layers(model):
    """The layers of ``model`` (nested models included) that carry states between calls."""
    return [layer for layer in model._flat_layers() if getattr(layer, "stateful", False) is True]


def _carried_batch(layer):
    states = getattr(layer, "states", None)
    if isinstance(states, (list, tuple)) and states and hasattr(states[0], "shape"):
        return int(states[0].shape[0])
    for sub in layer._sublayers():
        batch = _carried_batch(sub)
        if batch is not None:
            return batch
    return None


def fixed_batch_size(model, layers):
    """The batch size the stateful ``layers`` are fixed to, or None while nothing fixes it yet."""
    for layer in layers:
        batch = _carried_batch(layer)
        if batch is not None:
            return batch
    for tensor in model.inputs or []:
        if tensor.shape and tensor.shape[0] is not None:
            return int(tensor.shape[0])
    return None


def check_batches(model, count, batch_size, where, replica_batch=None):
    """Refuse, before any batch runs, a batch size or sample count a stateful model cannot take.

    ``replica_batch``: under data parallelism (rnnkit.distributed), the rows of each batch this
    process trains on; the layers then carry states of that many rows, while ``Input(batch_size=...)``
    still declares the whole (global) batch."""
    layers = stateful_layers(model)
    if not layers:
        return
    names = [layer.name for layer in layers]
    carried = next((batch for batch in map(_carried_batch, layers) if batch is not None), None)
    if replica_batch is not None and carried is not None:
        if carried != replica_batch:
            raise RnnkitValueError(
                f"{where}: the stateful layers {names} carry states of {carried} rows in this process, but "
                f"batch_size={batch_size} gives it {replica_batch} rows per batch; pass the batch_size of the "
                f"previous fit (or rebuild the model)")
        fixed = None
    else:
        fixed = fixed_batch_size(model, layers)
    if fixed is not None and batch_size != fixed:
        raise RnnkitValueError(
            f"{where}: the stateful layers {names} are fixed to batch size {fixed}, got batch_size={batch_size}; "
            f"pass batch_size={fixed} (or rebuild the model for another batch size)")
    if count % batch_size:
        raise RnnkitValueError(
            f"{where}: with stateful layers {names} every batch must hold batch_size={batch_size} samples, but "
            f"{count} samples leave a last batch of {count % batch_size}; use a sample count that is a multiple "
            f"of {batch_size}")
