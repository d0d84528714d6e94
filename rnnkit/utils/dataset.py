"""The dataset objects rnnkit's data utilities return: plain iterables of NumPy batches.

A :class:`Dataset` is what ``timeseries_dataset_from_array`` gives back in place of
a ``tf.data.Dataset``. It is deliberately small, so a training loop can consume it
without knowing anything about it:

* ``for batch in dataset`` yields each batch in turn: ``(x, y)`` tuples when the
  dataset has targets, ``x`` alone otherwise; a new pass (a new ``iter``) starts
  from the first batch again (reshuffled, where the dataset shuffles);
* ``len(dataset)`` is the number of batches of one pass;
* ``dataset.take(n)`` is a dataset of the first n batches (``n=-1``: all of them).

Batches are built when asked for (nothing is concatenated up front), and every
array in them is a :class:`BatchArray`: an ``np.ndarray`` that also answers
``.numpy()``, because Keras scripts call ``.numpy()`` on what a dataset yields.
"""
import numbers

import numpy as np

from .._validate import describe
from ..errors import RnnkitValueError


class BatchArray(np.ndarray):
    """An ``np.ndarray`` with TensorFlow's ``.numpy()`` (it returns the same data as a plain ndarray).

    Views of it (indexing, slicing, ``reshape``, ``.T``) stay BatchArrays, so ``x[0].numpy()``
    works; arithmetic and reductions give plain ndarrays and NumPy scalars, so a BatchArray
    never leaks into a model's own arrays.
    """

    def numpy(self):
        """The data as a plain ``np.ndarray`` (a view; no copy)."""
        return self.view(np.ndarray)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        if return_scalar:
            return array[()]
        return np.asarray(array).view(np.ndarray)

    def __repr__(self):
        return repr(self.view(np.ndarray))


def as_batch(array):
    """``array`` as a :class:`BatchArray` view."""
    return np.asarray(array).view(BatchArray)


def check_count(name, count):
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < -1:
        raise RnnkitValueError(f"{name} must be an integer >= 0, or -1 for all batches, got {describe(count)}")
    return int(count)


class Dataset:
    """Base of rnnkit's dataset objects: an iterable of batches with ``len`` and ``take``.

    Subclasses implement ``__len__`` and ``_batches()`` (a generator over one pass).
    """

    def __iter__(self):
        return iter(self._batches())

    def _batches(self):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def take(self, count):
        """A dataset of the first ``count`` batches (all of them when ``count`` is -1), as ``tf.data``'s."""
        return _Take(self, check_count("count", count))

    def as_numpy_iterator(self):
        """Iterate over the batches with plain ndarrays (``tf.data.Dataset.as_numpy_iterator``)."""
        for batch in self:
            yield tuple(part.view(np.ndarray) for part in batch) if isinstance(batch, tuple) \
                else batch.view(np.ndarray)

    def cardinality(self):
        """The number of batches, as ``tf.data.Dataset.cardinality`` (a plain int here)."""
        return len(self)

    def prefetch(self, buffer_size=None):
        """Returns the dataset itself: batches are built on demand, there is nothing to prefetch into."""
        return self

    def __repr__(self):
        return f"<{type(self).__name__}: {len(self)} batches>"


class _Take(Dataset):
    def __init__(self, source, count):
        self.source, self.count = source, count

    def __len__(self):
        return len(self.source) if self.count == -1 else min(self.count, len(self.source))

    def _batches(self):
        for index, batch in enumerate(self.source):
            if index >= len(self):
                return
            yield batch


__all__ = ["BatchArray", "Dataset"]
