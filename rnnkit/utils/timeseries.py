"""``timeseries_dataset_from_array``: Keras's sliding windows over a time series, built lazily.

With ``s = start_index`` (default 0), ``e = end_index`` (default ``len(data)``),
``L = sequence_length``, ``r = sampling_rate`` and ``k = sequence_stride``:

    number of windows   n = min(e - s - (L - 1)·r, len(targets))      (targets only when given)
    window starts       p_j = j·k  for j with j·k < n
    window j            x_j = data[s + p_j + i·r  for i = 0..L-1]     shape (L,) + data.shape[1:]
    its target          y_j = targets[s + p_j]

exactly as Keras 3 (``keras/src/utils/timeseries_dataset_utils.py``). Windows are
grouped ``batch_size`` at a time in order of ``j`` (the last batch may be smaller);
with ``shuffle`` the order of the windows is a seeded permutation, drawn anew for each
pass over the dataset (Keras shuffles with TensorFlow's generator, so its order differs;
the windows are the same).

Nothing is gathered up front: each batch reads its own windows from ``data`` when it is
asked for, so ``data`` may be an ``np.memmap`` or any array-like with ``len`` and slicing
(an ``h5py`` dataset) larger than memory.
"""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError
from ..random import make_rng
from .dataset import Dataset, as_batch


def _as_series(name, value):
    """Arrays and memmaps as they are; Python lists converted the way TensorFlow converts them
    (float64 -> float32, int64 -> int32), which is what Keras yields for them."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
        narrow = {np.dtype(np.float64): np.float32, np.dtype(np.int64): np.int32}.get(value.dtype)
        return value if narrow is None else value.astype(narrow)
    if not (hasattr(value, "__len__") and hasattr(value, "__getitem__")) or isinstance(value, (str, bytes)):
        raise RnnkitTypeError(f"{name} must be an array (or an array-like with len and slicing), "
                              f"got {describe(value)}")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        raise RnnkitValueError(f"{name} must have at least one axis (time), got {describe(value)}")
    return value


def _int_arg(name, value, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "None or an integer" if allow_none else "an integer"
        raise RnnkitValueError(f"{name} must be {kind} >= {minimum}, got {describe(value)}")
    return int(value)


def _check_range(length, start_index, end_index, sampling_rate, sequence_stride):
    """Keras's argument rules, with its messages' content."""
    if start_index and start_index >= length:
        raise RnnkitValueError(f"start_index must be lower than the length of the data ({length}), "
                               f"got start_index={start_index}")
    if end_index:
        if start_index and end_index <= start_index:
            raise RnnkitValueError(f"end_index must be higher than start_index, got start_index={start_index} "
                                   f"and end_index={end_index}")
        if end_index >= length:
            raise RnnkitValueError(f"end_index must be lower than the length of the data ({length}), "
                                   f"got end_index={end_index}")
    if sampling_rate >= length:
        raise RnnkitValueError(f"sampling_rate must be lower than the length of the data ({length}), "
                               f"got sampling_rate={sampling_rate}")
    if sequence_stride >= length:
        raise RnnkitValueError(f"sequence_stride must be lower than the length of the data ({length}), "
                               f"got sequence_stride={sequence_stride}")


class TimeseriesDataset(Dataset):
    """The windows of :func:`timeseries_dataset_from_array`, batched on demand (see the module doc)."""

    def __init__(self, data, targets, starts, sequence_length, sampling_rate, batch_size, shuffle, seed):
        self.data, self.targets = data, targets
        self.starts = starts  # absolute index of each window's first step, in window order j
        self.offsets = np.arange(sequence_length, dtype=np.int64) * sampling_rate
        self.sequence_length, self.sampling_rate = sequence_length, sampling_rate
        self.batch_size, self.shuffle = batch_size, shuffle
        self._rng = make_rng(seed) if shuffle else None

    def __len__(self):
        if self.batch_size is None:
            return len(self.starts)
        return -(-len(self.starts) // self.batch_size)

    def _windows(self, starts):
        """(len(starts), L) + data.shape[1:]: fancy indexing on ndarrays (memmaps read only those rows),
        one strided slice per window on other array-likes."""
        if isinstance(self.data, np.ndarray):
            return self.data[starts[:, None] + self.offsets]
        stop_extra = (self.sequence_length - 1) * self.sampling_rate + 1
        return np.stack([np.asarray(self.data[p:p + stop_extra:self.sampling_rate]) for p in starts])

    def _targets(self, starts):
        if isinstance(self.targets, np.ndarray):
            return self.targets[starts]
        return np.stack([np.asarray(self.targets[p]) for p in starts])

    def _batches(self):
        order = self._rng.permutation(len(self.starts)) if self.shuffle else None
        starts = self.starts if order is None else self.starts[order]
        size = self.batch_size or 1
        for first in range(0, len(starts), size):
            chosen = starts[first:first + size]
            x = self._windows(chosen)
            y = None if self.targets is None else self._targets(chosen)
            if self.batch_size is None:
                x, y = x[0], (None if y is None else y[0])
            yield as_batch(x) if y is None else (as_batch(x), as_batch(y))


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
    """Sliding windows over a time series as a dataset of batches, Keras's ``timeseries_dataset_from_array``.

    Args:
        data: (N, ...) array (or memmap, list, h5py dataset): the series, time on axis 0.
        targets: None, or an array whose entry ``targets[s + p]`` is the target of the window
            starting at ``s + p`` (at least as many entries as windows, counted from start_index).
        sequence_length: L, steps per window.
        sequence_stride: k, steps between the starts of consecutive windows.
        sampling_rate: r, steps between consecutive steps of a window.
        batch_size: windows per batch (the last batch may be smaller); None yields single windows.
        shuffle: visit the windows in a seeded random order (a new order each pass).
        seed: int or None (see :mod:`rnnkit.random`).
        start_index, end_index: the windows use ``data[start_index:end_index]`` only
            (end_index exclusive and, as in Keras, lower than ``len(data)``; 0 gives no windows).

    Returns:
        A :class:`TimeseriesDataset`: iterable over batches ``(x, y)`` with x (B, L) + data.shape[1:]
        and y (B,) + targets.shape[1:] (x alone when targets is None), ``len`` = number of batches,
        ``take(n)``; its arrays answer ``.numpy()``.

    Example:
        >>> import numpy as np
        >>> ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10, sequence_length=3,
        ...                                    batch_size=4)
        >>> len(ds), [(x.tolist(), y.tolist()) for x, y in ds.take(1)]
        (2, [([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30])])
    """
    data = _as_series("data", data)
    targets = None if targets is None else _as_series("targets", targets)
    sequence_length = _int_arg("sequence_length", sequence_length, 1)
    sequence_stride = _int_arg("sequence_stride", sequence_stride, 1)
    sampling_rate = _int_arg("sampling_rate", sampling_rate, 1)
    batch_size = _int_arg("batch_size", batch_size, 1, allow_none=True)
    start_index = _int_arg("start_index", start_index, 0, allow_none=True)
    end_index = _int_arg("end_index", end_index, 0, allow_none=True)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise RnnkitValueError(f"shuffle must be True or False, got {describe(shuffle)}")
    length = len(data)
    _check_range(length, start_index, end_index, sampling_rate, sequence_stride)
    start = start_index or 0
    stop = length if end_index is None else end_index
    count = stop - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets))
    starts = start + np.arange(0, max(count, 0), sequence_stride, dtype=np.int64)
    if targets is not None and starts.size and starts[-1] >= min(len(targets), stop):
        raise RnnkitValueError(
            f"targets has {len(targets)} entries but the last window starts at {int(starts[-1])} and needs "
            f"targets[{int(starts[-1])}] (within [start_index, end_index) = [{start}, {stop}))"
        )
    return TimeseriesDataset(data, targets, starts, sequence_length, sampling_rate, batch_size, bool(shuffle), seed)


__all__ = ["timeseries_dataset_from_array", "TimeseriesDataset"]
