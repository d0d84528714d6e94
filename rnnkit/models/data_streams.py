"""Where ``fit`` / ``evaluate`` / ``predict`` get their batches from: arrays in memory, or streams
(Python generators and iterators, iterables, ``rnnkit.utils.PyDataset``, the datasets of
``rnnkit.utils.timeseries_dataset_from_array``, a torch ``DataLoader``, a ``tf.data.Dataset``).

A stream is consumed batch by batch as training asks for it: nothing is read ahead and nothing is
concatenated, so data larger than memory streams. Each batch is ``x``, ``(x, y)`` or
``(x, y, sample_weight)`` (Keras's rule) of NumPy-convertible arrays (torch tensors, TensorFlow
tensors and rnnkit's ``BatchArray`` included), checked when it arrives.

:class:`EpochIterator` splits the batches into epochs with Keras 3's rules:

* without ``steps_per_epoch`` an epoch is one pass (``len`` batches when the source has a
  length, else until it runs out); every epoch starts a new pass (a one-shot generator has
  nothing left for a second one: training then stops with Keras's "ran out of data" warning);
* with ``steps_per_epoch`` an epoch is that many batches and the pass carries on into the next
  epoch; when the pass ends first, the epoch ends early with that warning and the next epoch
  starts a new pass;
* an endless source (a ``PyDataset`` whose ``num_batches`` is None, an infinite ``tf.data``
  dataset, ``itertools.count``/``cycle``/``repeat``) needs ``steps_per_epoch`` (a named error
  otherwise).

``shuffle`` reshuffles arrays every pass (``"batch"``: within each batch) and the batch order of a
``PyDataset``; other streams are taken as they come (Keras ignores it for them too).
"""
import itertools
import math
import warnings

import numpy as np

from .._validate import describe
from ..data_checks import batch_slices
from ..errors import RnnkitTypeError, RnnkitValueError
from . import data_adapter

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches.")
"""Keras's warning when a pass ends before the epoch does."""


class Batch:
    """One batch, checked: flat ``xs``, ``ys`` and ``weights`` (one per output, None for none);
    ``ys``/``weights`` are None for prediction."""

    __slots__ = ("xs", "ys", "weights")

    def __init__(self, xs, ys=None, weights=None):
        self.xs, self.ys, self.weights = xs, ys, weights

    def __len__(self):
        return len(self.xs[0])


class ArrayData:
    """Arrays in memory, cut into batches of ``batch_size`` (the last may be smaller)."""

    one_shot = False

    def __init__(self, xs, ys=None, weights=None, batch_size=32, shuffle=False, rng=None):
        self.xs, self.ys, self.weights = xs, ys, weights
        self.batch_size, self.shuffle, self.rng = batch_size, shuffle, rng
        self.num_samples = len(xs[0])
        self.num_batches = math.ceil(self.num_samples / batch_size)

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass

    def index_batches(self, batch_size=None):
        """The sample indices of each batch of one pass (``batch_size``: another cut than the data's own,
        as a rank of a sharded data-parallel fit cuts its part)."""
        count = self.num_samples
        order = self.rng.permutation(count) if self.shuffle is True else np.arange(count)
        parts = [order[part] for part in batch_slices(count, batch_size or self.batch_size)]
        if self.shuffle == "batch":
            parts = [part[self.rng.permutation(len(part))] for part in parts]
        return parts

    def batch(self, index):
        """The :class:`Batch` of samples ``index`` (an index array)."""
        ys = None if self.ys is None else data_adapter.take(self.ys, index)
        weights = None if self.weights is None else data_adapter.take(self.weights, index)
        return Batch(data_adapter.take(self.xs, index), ys, weights)

    def new_pass(self):
        for index in self.index_batches():
            yield self.batch(index)


def _is_torch_loader(x):
    return any(cls.__name__ == "DataLoader" and "torch.utils.data" in cls.__module__ for cls in type(x).__mro__)


def _is_tf_dataset(x):
    return any(cls.__name__ in ("DatasetV2", "DistributedDataset") and "tensorflow" in cls.__module__
               for cls in type(x).__mro__)


def is_stream(x):
    """Whether ``x`` is a stream of batches rather than arrays (or a list/dict of arrays)."""
    from ..utils.dataset import Dataset
    from ..utils.py_dataset import PyDataset
    if x is None or isinstance(x, (np.ndarray, str, bytes, dict, list, tuple)) or data_adapter._is_array_like(x):
        return False
    return isinstance(x, (PyDataset, Dataset)) or _is_torch_loader(x) or _is_tf_dataset(x) or hasattr(x, "__iter__")


def _endless(x):
    return isinstance(x, (itertools.count, itertools.cycle)) or (
        isinstance(x, itertools.repeat) and "times" not in repr(x))


class StreamData:
    """A stream of raw batches, checked one by one with ``check(raw_batch, where)``.

    Attributes:
        num_batches: batches in one pass (None: unknown until a pass ends; ``math.inf``: endless).
        one_shot: a second pass gets nothing (an iterator or generator).
    """

    def __init__(self, source, name, check, shuffle=False, rng=None):
        from ..utils.py_dataset import PyDataset
        self.source, self.name, self.check = source, name, check
        self.kind = kind_of(source)
        self.shuffle = shuffle if self.kind == "PyDataset" else False
        self.rng = rng
        self.one_shot = iter(source) is source if self.kind in ("generator", "iterable") else False
        if isinstance(source, PyDataset):
            count = source.num_batches
            self.num_batches = math.inf if count is None else int(count)
        elif self.kind == "tf.data.Dataset":
            cardinality = int(source.cardinality())
            self.num_batches = math.inf if cardinality == -1 else (None if cardinality < 0 else cardinality)
        elif _endless(source):
            self.num_batches = math.inf
        else:
            try:
                self.num_batches = None if self.one_shot else len(source)
            except TypeError:  # an IterableDataset or an iterable without a length
                self.num_batches = None
        self._batch_index = 0

    def describe(self):
        return f"{self.name} (a {self.kind})"

    def on_epoch_begin(self):
        if self.kind == "PyDataset":
            self.source.on_epoch_begin()

    def on_epoch_end(self):
        if self.kind == "PyDataset":
            self.source.on_epoch_end()

    def _raw_pass(self):
        if self.kind == "PyDataset":
            count = self.num_batches
            indices = itertools.count() if count is math.inf else range(count)
            if self.shuffle and count is not math.inf:
                indices = self.rng.permutation(count).tolist()
            return self.source.batches(indices)
        if self.kind == "tf.data.Dataset" and hasattr(self.source, "as_numpy_iterator"):
            return self.source.as_numpy_iterator()
        return iter(self.source)

    def new_pass(self):
        """A generator of checked :class:`Batch` es, reading the source only as they are asked for."""
        for number, raw in enumerate(self._raw_pass(), 1):
            xs, ys, weights = self.check(raw, f"batch {number} of {self.describe()}")
            yield Batch(xs, ys, weights)


def kind_of(source):
    """What ``source`` is, in words (for messages and Keras's per-kind rules)."""
    from ..utils.dataset import Dataset
    from ..utils.py_dataset import PyDataset
    if isinstance(source, PyDataset):
        return "PyDataset"
    if isinstance(source, Dataset):
        return "rnnkit dataset"
    if _is_torch_loader(source):
        return "torch DataLoader"
    if _is_tf_dataset(source):
        return "tf.data.Dataset"
    return "generator" if hasattr(source, "__next__") else "iterable"


def refuse_with_stream(kind, **given):
    """Keras's rule: with a stream, targets and weights come in its batches, not as arguments."""
    for name, value in given.items():
        if value is not None and value is not False:
            raise RnnkitValueError(f"when x is a {kind}, {name} must not be given: the {name.replace('_', ' ')} "
                                   f"come in the batches it yields (x, y) or (x, y, sample_weight), got "
                                   f"{name}={describe(value)}")


def check_steps(name, steps):
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise RnnkitValueError(f"{name} must be a positive integer or None, got {describe(steps)}")
    return int(steps)


def check_source(name, x):
    """Refuse, with a named error, what is neither arrays nor a stream (a generator *function* uncalled, ...)."""
    if callable(x) and not hasattr(x, "__iter__") and not data_adapter._is_array_like(x):
        raise RnnkitTypeError(f"{name} must be arrays, a generator (call the generator function: {name}=gen()), an "
                              f"iterable of batches or a dataset, got {describe(x)}")


class EpochIterator:
    """The batches of each epoch from ``data`` (ArrayData or StreamData), Keras 3's rules (module doc).

    ``epoch()`` yields the batches of the next epoch; ``batches_seen`` is how many it gave;
    :attr:`num_batches` is the epoch length where known (the progress bar's ``steps``).
    """

    def __init__(self, data, steps_per_epoch=None, steps_name="steps_per_epoch"):
        self.data = data
        self.steps = steps_per_epoch
        if steps_per_epoch is None and data.num_batches is math.inf:
            what = data.describe() if hasattr(data, "describe") else "x"
            raise RnnkitValueError(f"{what} is endless: give {steps_name} (how many batches make an epoch)")
        self._known = None if data.num_batches is math.inf else data.num_batches
        self._learned = None
        self._iterator = None
        self._in_pass = 0
        self.batches_seen = 0

    @property
    def num_batches(self):
        return self.steps or self._known or self._learned

    def epoch(self):
        self.data.on_epoch_begin()
        self.batches_seen = 0
        try:
            if self.steps is None:
                yield from self._one_pass()
            else:
                yield from self._steps()
        finally:
            self.data.on_epoch_end()

    def _one_pass(self):
        for batch in self.data.new_pass():
            self.batches_seen += 1
            yield batch
            if self._known is not None and self.batches_seen >= self._known:
                return
        if self._known is not None and 0 < self.batches_seen < self._known:
            warnings.warn(RAN_OUT, UserWarning, stacklevel=4)
        if self._known is None and self.batches_seen:
            self._learned = self.batches_seen

    def _steps(self):
        for _ in range(self.steps):
            if self._known is not None and self._in_pass >= self._known:
                warnings.warn(RAN_OUT, UserWarning, stacklevel=4)
                break
            if self._iterator is None:
                self._iterator, self._in_pass = self.data.new_pass(), 0
            try:
                batch = next(self._iterator)
            except StopIteration:
                if self.batches_seen:
                    warnings.warn(RAN_OUT, UserWarning, stacklevel=4)
                self._iterator, self._in_pass = None, 0
                break
            self._in_pass += 1
            self.batches_seen += 1
            yield batch
        if self._known is not None and self._in_pass >= self._known:
            self._iterator, self._in_pass = None, 0  # the pass is over: the next epoch starts a new one
