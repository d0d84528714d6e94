"""PyDataset: Keras 3's protocol (len/getitem/num_batches/epoch hooks), ordered threaded iteration."""
import threading
import time

import numpy as np
import pytest

from keras_reference import keras_or_skip
from rnnkit.errors import RnnkitValueError
from rnnkit.utils import PyDataset


class Squares(PyDataset):
    def __init__(self, n, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x = np.arange(n, dtype=np.float32)
        self.batch_size = batch_size
        self.threads = set()
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        self.threads.add(threading.get_ident())
        time.sleep(0.002 * ((7 * index) % 3))  # out-of-order completion when threaded
        part = self.x[index * self.batch_size:(index + 1) * self.batch_size]
        return part, part ** 2

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.mark.parametrize("workers", [1, 3])
def test_iteration_yields_batches_in_order(workers):
    ds = Squares(11, 3, workers=workers, max_queue_size=2)
    batches = list(ds)
    assert len(ds) == ds.num_batches == 4 == len(batches)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), np.arange(11))
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), np.arange(11) ** 2)
    assert len(ds.threads) >= (2 if workers > 1 else 1)
    assert ds.epochs_ended == 0  # the training loop calls the hooks, not iteration
    ds.on_epoch_begin()
    ds.on_epoch_end()
    assert ds.epochs_ended == 1


def test_keras_arguments_recorded_and_checked():
    ds = Squares(4, 2, workers=2, use_multiprocessing=True, max_queue_size=5)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (2, True, 5)
    with pytest.raises(RnnkitValueError, match="workers"):
        Squares(4, 2, workers=0)
    with pytest.raises(RnnkitValueError, match="max_queue_size"):
        Squares(4, 2, max_queue_size=-1)


def test_missing_super_init_warns_and_defaults():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 2

        def __getitem__(self, index):
            return np.full((1, 1), index), np.zeros(1)

    ds = NoSuper()
    with pytest.warns(UserWarning, match="super"):
        assert ds.workers == 1
    assert [int(x[0, 0]) for x, _ in ds] == [0, 1]


def test_endless_dataset_and_missing_methods():
    class Endless(PyDataset):
        num_batches = None

        def __getitem__(self, index):
            return np.array([index])

    stream = iter(Endless(workers=2))
    assert [int(next(stream)[0]) for _ in range(5)] == [0, 1, 2, 3, 4]

    class NoLen(PyDataset):
        pass

    with pytest.raises(NotImplementedError, match="__len__"):
        list(NoLen())


def test_same_protocol_as_keras():
    keras = keras_or_skip()
    for name in ("__getitem__", "num_batches", "on_epoch_begin", "on_epoch_end", "workers",
                 "use_multiprocessing", "max_queue_size", "__iter__"):
        assert hasattr(keras.utils.PyDataset, name) and hasattr(PyDataset, name), name

    class KerasSquares(keras.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)

        def __len__(self):
            return 3

        def __getitem__(self, index):
            return np.arange(index * 2, index * 2 + 2), index

    ours = Squares(6, 2)
    assert [x.tolist() for x, _ in ours] == [x.tolist() for x, _ in KerasSquares()]
