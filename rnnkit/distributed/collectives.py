"""Collective operations on NumPy arrays and models: the building blocks of a data-parallel loop.

Every function here is collective: every rank of the job must call it, in the same order, with
arrays of the same shapes and dtypes (MPI matches calls by order, not by name).

A custom training loop needs only two of them::

    broadcast_weights(model)                           # once: every rank starts from rank 0's weights
    for x, y in my_part_of_the_data:
        loss, grads, _ = model.compute_loss_and_gradients(x, y)
        grads = allreduce_mean(grads, weight=len(x))   # sum_r n_r g_r / sum_r n_r
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from .world import mpi, world


class FlatLayout:
    """Arrays of given shapes laid end to end in one 1-D buffer of one dtype, followed by ``extra``
    scalars (a loss, a sample count, ...). The buffer is allocated once and reused.

    ``buffer``: an existing 1-D array of ``sum(sizes) + extra`` values of ``dtype`` to lay out
    (an optimizer's flat gradient buffer with its tail), instead of a new one.

    Attributes:
        buffer: the 1-D array, ``sum(sizes) + extra`` long.
        views: one view of ``buffer`` per shape (writing a view writes the buffer).
        tail: the last ``extra`` entries.
    """

    def __init__(self, shapes, dtype, extra=0, buffer=None):
        self.shapes = [tuple(shape) for shape in shapes]
        sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self.shapes]
        self.offsets = np.cumsum([0] + sizes)
        self.size = int(self.offsets[-1])
        if buffer is None:
            buffer = np.zeros(self.size + int(extra), dtype)
        elif buffer.shape != (self.size + int(extra),) or buffer.dtype != dtype:
            raise RnnkitValueError(f"buffer must be a 1-D {np.dtype(dtype)} array of {self.size + int(extra)} "
                                   f"values, got {describe(buffer)}")
        self.buffer = buffer
        self.views = [self.buffer[a:b].reshape(shape)
                      for a, b, shape in zip(self.offsets, self.offsets[1:], self.shapes)]
        self.tail = self.buffer[self.size:]

    def fits(self, arrays):
        """Whether ``arrays`` have exactly this layout's shapes, in order."""
        return len(arrays) == len(self.shapes) and all(np.shape(a) == s for a, s in zip(arrays, self.shapes))


def allreduce_sum(buffer, comm=None):
    """Sum a contiguous NumPy array over all ranks, in place (one ``MPI_Allreduce``)."""
    (comm or world()).Allreduce(mpi().IN_PLACE, buffer, op=mpi().SUM)
    return buffer


def _float_arrays(name, arrays):
    single = isinstance(arrays, np.ndarray)
    items = [arrays] if single else list(arrays) if isinstance(arrays, (list, tuple)) else None
    if items is None:
        raise RnnkitTypeError(f"{name} must be a NumPy array or a list of them, got {describe(arrays)}")
    for index, item in enumerate(items):
        if not isinstance(item, np.ndarray) or not np.issubdtype(item.dtype, np.floating):
            raise RnnkitTypeError(f"{name}[{index}] must be a float32 or float64 NumPy array, got {describe(item)}")
    return single, items


def allreduce_mean(arrays, weight=None, comm=None):
    """The mean over ranks of each array, the same on every rank.

    ``result_k = sum_r w_r * a_k^(r) / sum_r w_r`` with ``w_r = weight`` on rank r (default 1 on
    every rank: the plain mean). Passing each rank's sample count as ``weight`` turns per-rank mean
    gradients into the mean gradient of all samples, also when ranks hold different numbers.

    Args:
        arrays: one float array or a list of them; the same shapes on every rank.
        weight: this rank's non-negative weight (a number), or None for 1.
        comm: an mpi4py communicator (default ``MPI.COMM_WORLD``).

    Returns:
        New arrays (one array if one was given), in the widest dtype of the inputs (float32 at least).
        The inputs are not changed. One ``MPI_Allreduce`` of one packed buffer.
    """
    single, items = _float_arrays("arrays", arrays)
    if weight is None:
        weight = 1.0
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 <= weight < float("inf"):
        raise RnnkitValueError(f"weight must be a finite non-negative number, got {describe(weight)}")
    layout = FlatLayout([a.shape for a in items], np.result_type(np.float32, *items), extra=1)
    for view, item in zip(layout.views, items):
        np.multiply(item, weight, out=view, casting="unsafe")
    layout.tail[0] = weight
    allreduce_sum(layout.buffer, comm)
    total = float(layout.tail[0])
    if total == 0:
        raise RnnkitValueError("allreduce_mean: the weights of all ranks sum to 0, so there is no mean")
    layout.buffer[:layout.size] /= layout.buffer.dtype.type(total)
    results = [view.copy() for view in layout.views]
    return results[0] if single else results


def any_rank(flag, comm=None):
    """True on every rank when ``flag`` is true on any rank (a logical-or over the job)."""
    value = np.array([1 if flag else 0], np.int32)
    allreduce_sum(value, comm)
    return bool(value[0])


def min_over_ranks(value, comm=None):
    """The smallest of each rank's integer ``value``, on every rank."""
    array = np.array([int(value)], np.int64)
    (comm or world()).Allreduce(mpi().IN_PLACE, array, op=mpi().MIN)
    return int(array[0])


def broadcast_object(value, root=0, comm=None):
    """Rank ``root``'s ``value`` (any picklable object: numbers, dicts of arrays) on every rank.

    The object travels between processes of one job only; nothing is read from a file."""
    return (comm or world()).bcast(value, root=root)


def _check_root(root, comm):
    count = comm.Get_size()
    if isinstance(root, bool) or not isinstance(root, numbers.Integral) or not 0 <= root < count:
        raise RnnkitValueError(f"root must be a rank of the job, 0 to {count - 1}, got {describe(root)}")
    return int(root)


def broadcast_arrays(arrays, root=0, comm=None):
    """Overwrite ``arrays`` (writable NumPy arrays, the same shapes on every rank) with rank ``root``'s,
    in place: one ``MPI_Bcast`` per dtype of one packed buffer.

    The shapes are compared first; a rank whose arrays differ makes every rank raise the same
    :class:`~rnnkit.errors.RnnkitValueError` (no rank is left waiting)."""
    comm = comm or world()
    root = _check_root(root, comm)
    shapes = [(a.shape, a.dtype.str) for a in arrays]
    expected = broadcast_object(shapes, root, comm)
    if any_rank(expected != shapes, comm):
        raise RnnkitValueError(
            f"broadcast from rank {root}: the arrays differ between ranks (rank {comm.Get_rank()} has "
            f"{len(shapes)} arrays {shapes[:3]}..., rank {root} has {len(expected)} {expected[:3]}...); every "
            f"rank must build the same model")
    for dtype in dict.fromkeys(a.dtype for a in arrays):
        group = [a for a in arrays if a.dtype == dtype]
        layout = FlatLayout([a.shape for a in group], dtype)
        if comm.Get_rank() == root:
            for view, array in zip(layout.views, group):
                view[...] = array
        comm.Bcast(layout.buffer, root=root)
        for view, array in zip(layout.views, group):
            array[...] = view


def broadcast_weights(model, root=0, comm=None):
    """Give every rank rank ``root``'s weights (trainable or not) of ``model`` (a Model or Layer), in place.

    Every rank must have built the same model (same weights in the same order and shapes);
    otherwise every rank raises. Call it before training so that ranks whose initialisers
    drew from different seeds start from the same point."""
    variables = getattr(model, "weights", None)
    if variables is None:
        raise RnnkitTypeError(f"model must be an rnnkit Model or Layer, got {describe(model)}")
    if not variables:
        raise RnnkitValueError(
            f"model {getattr(model, 'name', '')!r} has no weights yet: build it (give the input shape, or call "
            f"it on data once) before broadcasting its weights")
    broadcast_arrays([v.value for v in variables], root, comm)
