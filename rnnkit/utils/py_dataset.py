"""``PyDataset``: Keras 3's base class for a dataset written in Python, batch by batch.

A subclass implements ``__getitem__(index)`` (batch ``index`` as ``(x, y)``,
``(x, y, sample_weight)`` or ``x``) and ``__len__`` (the number of batches; or the
``num_batches`` property, None for an endless dataset), and may override
``on_epoch_begin`` / ``on_epoch_end`` (shuffle its indices, for instance). It calls
``super().__init__(**kwargs)`` so ``workers``, ``use_multiprocessing`` and
``max_queue_size`` are recorded.

Iterating over a PyDataset yields ``self[0], self[1], ...`` in order. With
``workers > 1`` the batches are fetched by that many threads, at most
``max_queue_size`` ahead, and still yielded in order; ``use_multiprocessing=True``
is accepted and served by the same threads (rnnkit starts no processes: NumPy
releases the GIL in the heavy work, and forked workers would copy the dataset).
Iterating never calls ``on_epoch_begin``/``on_epoch_end``: that is the training
loop's job, once per epoch, as in Keras.
"""
import collections
import itertools
import numbers
import warnings
from concurrent.futures import ThreadPoolExecutor

from .._validate import describe
from ..errors import RnnkitValueError


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise RnnkitValueError(f"{name} must be a positive integer, got {describe(value)}")
    return int(value)


class PyDataset:
    """Base class of a batch-by-batch Python dataset (Keras 3's ``keras.utils.PyDataset``).

    Args:
        workers: threads fetching batches while iterating (1: fetch in the caller's thread).
        use_multiprocessing: accepted for Keras compatibility; batches are still fetched by threads.
        max_queue_size: how many batches the workers may fetch ahead of the consumer.

    Example:
        >>> import numpy as np
        >>> class Squares(PyDataset):
        ...     def __init__(self, n, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x = np.arange(n, dtype="float32")
        ...         self.batch_size = batch_size
        ...     def __len__(self):
        ...         return -(-len(self.x) // self.batch_size)
        ...     def __getitem__(self, index):
        ...         x = self.x[index * self.batch_size:(index + 1) * self.batch_size]
        ...         return x, x ** 2
        >>> [y.tolist() for _, y in Squares(5, 2, workers=2)]
        [[0.0, 1.0], [4.0, 9.0], [16.0]]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def _defaults_if_super_not_called(self):
        missing = [name for name in ("_workers", "_use_multiprocessing", "_max_queue_size")
                   if not hasattr(self, name)]
        if missing:
            warnings.warn("Your PyDataset class should call super().__init__(**kwargs) in its constructor "
                          "(**kwargs can include workers, use_multiprocessing, max_queue_size)", stacklevel=3)
            self.__dict__.setdefault("_workers", 1)
            self.__dict__.setdefault("_use_multiprocessing", False)
            self.__dict__.setdefault("_max_queue_size", 10)

    @property
    def workers(self):
        self._defaults_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = _positive("workers", value)

    @property
    def use_multiprocessing(self):
        self._defaults_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = bool(value)

    @property
    def max_queue_size(self):
        self._defaults_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = _positive("max_queue_size", value)

    def __getitem__(self, index):
        """Batch ``index``: ``(x, y)``, ``(x, y, sample_weight)`` or ``x``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(self, index)")

    @property
    def num_batches(self):
        """Batches per epoch: ``len(self)``; None means endless (override this property then)."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (or the num_batches property)")

    def on_epoch_begin(self):
        """Called by the training loop at the start of every epoch."""

    def on_epoch_end(self):
        """Called by the training loop at the end of every epoch."""

    def __iter__(self):
        return self.batches()

    def batches(self, indices=None):
        """Yield ``self[index]`` for each of ``indices`` (default: every batch in order; forever when
        ``num_batches`` is None), fetched by the ``workers`` threads when there are several. The
        training loop passes its own order when it shuffles the batches."""
        if indices is None:
            count = self.num_batches
            indices = itertools.count() if count is None else range(count)
        if self.workers == 1:
            return (self[index] for index in indices)
        return self._threaded(indices)

    def _threaded(self, indices):
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending = collections.deque()
            for index in indices:
                pending.append(pool.submit(self.__getitem__, index))
                if len(pending) >= self.max_queue_size + self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


__all__ = ["PyDataset"]
