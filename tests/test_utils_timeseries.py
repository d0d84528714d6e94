"""timeseries_dataset_from_array: Keras's windows, targets and batches, built lazily; the dataset protocol."""
import numpy as np
import pytest

from keras_reference import tensorflow_or_skip
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.preprocessing import timeseries_dataset_from_array as preprocessing_alias
from rnnkit.utils import BatchArray, Dataset, timeseries_dataset_from_array

DATA = np.arange(100, dtype=np.float64).reshape(50, 2) * np.array([1.0, -1.0])
TARGETS = np.arange(50) * 10

CASES = [
    {"sequence_length": 5},
    {"sequence_length": 5, "batch_size": 7},
    {"sequence_length": 4, "sequence_stride": 3, "sampling_rate": 2, "batch_size": 4},
    {"sequence_length": 3, "start_index": 5, "end_index": 30, "batch_size": 6},
    {"sequence_length": 3, "sampling_rate": 3, "start_index": 10, "batch_size": 5},
    {"sequence_length": 6, "sequence_stride": 4, "end_index": 40, "batch_size": None},
    {"sequence_length": 49, "batch_size": 2},
    {"sequence_length": 60, "batch_size": 2},  # longer than the data: no windows
]


def naive_windows(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, start_index=None,
                  end_index=None, **_):
    """The windows by the formula, one at a time."""
    start = start_index or 0
    stop = len(data) if end_index is None else end_index
    count = stop - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        count = min(count, len(targets))
    out = []
    for p in range(0, max(count, 0), sequence_stride):
        window = np.stack([data[start + p + i * sampling_rate] for i in range(sequence_length)])
        out.append((window, None if targets is None else targets[start + p]))
    return out


def batches_of(dataset, with_targets=True):
    out = []
    for batch in dataset:
        x, y = batch if with_targets else (batch, None)
        out.append((np.asarray(x), None if y is None else np.asarray(y)))
    return out


@pytest.mark.parametrize("kwargs", CASES)
def test_windows_targets_and_batches_follow_the_formula(kwargs):
    ds = timeseries_dataset_from_array(DATA, TARGETS, **kwargs)
    windows = naive_windows(DATA, TARGETS, **kwargs)
    batch_size = kwargs.get("batch_size", 128)
    got = batches_of(ds)
    assert len(ds) == len(got)
    if batch_size is None:
        assert len(got) == len(windows)
        for (x, y), (wx, wy) in zip(got, windows):
            np.testing.assert_array_equal(x, wx)
            assert y == wy
        return
    assert [len(x) for x, _ in got] == [len(windows[i:i + batch_size]) for i in range(0, len(windows), batch_size)]
    if windows:
        np.testing.assert_array_equal(np.concatenate([x for x, _ in got]), np.stack([w for w, _ in windows]))
        np.testing.assert_array_equal(np.concatenate([y for _, y in got]), [t for _, t in windows])
    else:
        assert got == []


def test_keras_docstring_example_and_known_values():
    ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10, sequence_length=3, batch_size=4)
    (x, y), = list(ds.take(1))
    assert x.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]] and y.tolist() == [0, 10, 20, 30]
    assert len(ds) == 2 and x.dtype == np.int64
    # Keras's forecasting recipe: target = the value right after each window
    data = np.arange(20.0)
    ds = timeseries_dataset_from_array(data[:-5], data[5:], sequence_length=5, batch_size=100)
    x, y = next(iter(ds))
    np.testing.assert_array_equal(x[:, -1] + 1, y)
    assert preprocessing_alias is timeseries_dataset_from_array


def test_no_targets_yields_arrays_and_python_lists_convert_like_tensorflow():
    ds = timeseries_dataset_from_array([0.5, 1.5, 2.5, 3.5], None, sequence_length=2, batch_size=2)
    batches = list(ds)
    assert len(batches) == 2 and isinstance(batches[0], BatchArray)
    assert batches[0].dtype == np.float32  # tf converts Python floats to float32
    assert batches[1].numpy().tolist() == [[2.5, 3.5]]
    ints = next(iter(timeseries_dataset_from_array([1, 2, 3], None, sequence_length=2)))
    assert ints.dtype == np.int32


def test_shuffle_is_seeded_covers_every_window_and_reshuffles_each_pass():
    kwargs = {"sequence_length": 4, "sequence_stride": 2, "batch_size": 5}
    ds = timeseries_dataset_from_array(DATA, TARGETS, shuffle=True, seed=3, **kwargs)
    again = timeseries_dataset_from_array(DATA, TARGETS, shuffle=True, seed=3, **kwargs)
    first, second = batches_of(ds), batches_of(ds)
    for (x1, y1), (x2, y2) in zip(first, batches_of(again)):  # same seed, same bits
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    targets = [np.concatenate([y for _, y in run]) for run in (first, second)]
    expected = sorted(t for _, t in naive_windows(DATA, TARGETS, **kwargs))
    assert sorted(targets[0]) == expected == sorted(targets[1])
    assert not np.array_equal(targets[0], targets[1])  # a new order for the second pass
    assert not np.array_equal(targets[0], np.sort(targets[0]))
    for x, y in first:  # each window still belongs with its target
        np.testing.assert_array_equal(x[:, 0, 0] * 5, y)  # DATA[i, 0] = 2i, TARGETS[i] = 10i


def test_batches_answer_numpy_and_behave_like_ndarrays():
    x, y = next(iter(timeseries_dataset_from_array(DATA, TARGETS, sequence_length=3, batch_size=4)))
    assert isinstance(x, np.ndarray) and isinstance(x, BatchArray)
    assert type(x.numpy()) is np.ndarray and x.numpy().shape == (4, 3, 2)
    assert type(x[0].numpy()) is np.ndarray  # views keep .numpy()
    assert type(x.sum()) is np.float64 and float(x.sum()) == float(np.asarray(x).sum())
    assert type(x * 2) is np.ndarray  # arithmetic gives plain arrays
    assert repr(y).startswith("array(")


def test_take_len_and_as_numpy_iterator():
    ds = timeseries_dataset_from_array(DATA, TARGETS, sequence_length=5, batch_size=10)
    assert isinstance(ds, Dataset) and len(ds) == 5 and ds.cardinality() == 5
    assert len(ds.take(2)) == 2 and len(list(ds.take(2))) == 2
    assert len(ds.take(9)) == 5 and len(ds.take(-1)) == 5 and list(ds.take(0)) == []
    assert len(ds.take(3).take(1)) == 1
    assert all(type(a) is np.ndarray for batch in ds.as_numpy_iterator() for a in batch)
    assert ds.prefetch(2) is ds
    with pytest.raises(RnnkitValueError, match="count"):
        ds.take(-2)


class CountingArray:
    """An array-like without fancy indexing (as an h5py dataset) that records what is read."""

    def __init__(self, array):
        self.array, self.rows_read = array, 0

    def __len__(self):
        return len(self.array)

    def __getitem__(self, key):
        part = self.array[key]
        self.rows_read += len(part) if np.ndim(part) else 1
        return part


def test_batches_are_built_lazily_from_array_likes_and_memmaps(tmp_path):
    source = CountingArray(DATA)
    ds = timeseries_dataset_from_array(source, None, sequence_length=4, batch_size=3)
    assert source.rows_read == 0  # nothing read up front
    first = next(iter(ds))
    assert source.rows_read == 3 * 4  # one batch: three windows of four rows
    np.testing.assert_array_equal(first, np.stack([DATA[i:i + 4] for i in range(3)]))
    path = tmp_path / "series.dat"
    memmap = np.memmap(path, dtype=np.float32, mode="w+", shape=DATA.shape)
    memmap[:] = DATA
    ds = timeseries_dataset_from_array(memmap, TARGETS, sequence_length=4, sampling_rate=2, batch_size=8)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in ds]),
                                  np.stack([w for w, _ in naive_windows(DATA, TARGETS, 4, sampling_rate=2)]))


@pytest.mark.parametrize("kwargs, error, words", [
    ({"sequence_length": 0}, RnnkitValueError, "sequence_length"),
    ({"sequence_length": 2, "sampling_rate": 0}, RnnkitValueError, "sampling_rate"),
    ({"sequence_length": 2, "sampling_rate": 50}, RnnkitValueError, "sampling_rate"),
    ({"sequence_length": 2, "sequence_stride": 50}, RnnkitValueError, "sequence_stride"),
    ({"sequence_length": 2, "start_index": -1}, RnnkitValueError, "start_index"),
    ({"sequence_length": 2, "start_index": 50}, RnnkitValueError, "start_index"),
    ({"sequence_length": 2, "start_index": 5, "end_index": 5}, RnnkitValueError, "end_index"),
    ({"sequence_length": 2, "end_index": 50}, RnnkitValueError, "end_index"),
    ({"sequence_length": 2, "batch_size": 0}, RnnkitValueError, "batch_size"),
    ({"sequence_length": 2, "shuffle": "yes"}, RnnkitValueError, "shuffle"),
    ({"sequence_length": 2, "seed": -4, "shuffle": True}, RnnkitValueError, "seed"),
])
def test_named_errors(kwargs, error, words):
    with pytest.raises(error) as info:
        timeseries_dataset_from_array(DATA, TARGETS, **kwargs)
    assert words in str(info.value)


def test_bad_data_and_short_targets():
    with pytest.raises(RnnkitTypeError, match="data"):
        timeseries_dataset_from_array(5, None, 2)
    with pytest.raises(RnnkitValueError, match="targets"):
        timeseries_dataset_from_array(DATA, TARGETS[:12], sequence_length=3, start_index=10)


KERAS_CASES = CASES + [{"sequence_length": 3, "sequence_stride": 2, "start_index": 3, "end_index": 44,
                        "sampling_rate": 2, "batch_size": 3}]


def keras_batches(keras, data, targets, **kwargs):
    out = []
    for batch in keras.utils.timeseries_dataset_from_array(data, targets, **kwargs):
        x, y = batch if targets is not None else (batch, None)
        out.append((x.numpy(), None if y is None else y.numpy()))
    return out


@pytest.mark.slow  # Keras builds this dataset with TensorFlow (not installed in CI)
@pytest.mark.parametrize("kwargs", KERAS_CASES)
@pytest.mark.parametrize("with_targets", [True, False])
def test_same_batches_as_keras(kwargs, with_targets):
    keras = tensorflow_or_skip()
    targets = TARGETS if with_targets else None
    expected = keras_batches(keras, DATA, targets, **kwargs)
    got = batches_of(timeseries_dataset_from_array(DATA, targets, **kwargs), with_targets)
    assert len(got) == len(expected)
    for (x, y), (kx, ky) in zip(got, expected):
        assert x.dtype == kx.dtype
        np.testing.assert_array_equal(x, kx)
        if with_targets:
            np.testing.assert_array_equal(y, ky)


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", KERAS_CASES[:5])
def test_shuffled_batches_hold_the_same_windows_as_keras(kwargs):
    keras = tensorflow_or_skip()
    expected = keras_batches(keras, DATA, TARGETS, shuffle=True, seed=7, **kwargs)
    got = batches_of(timeseries_dataset_from_array(DATA, TARGETS, shuffle=True, seed=7, **kwargs))
    assert [len(x) for x, _ in got] == [len(x) for x, _ in expected]

    def pairs(batches):
        return sorted((tuple(w.ravel()), t) for x, y in batches for w, t in zip(x, y))

    assert pairs(got) == pairs(expected)
