"""pad_sequences and to_categorical against Keras 3 (same outputs, same dtypes) and their named errors."""
import numpy as np
import pytest

from keras_reference import keras_or_skip
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.preprocessing import sequence as preprocessing_sequence
from rnnkit.utils import pad_sequences, to_categorical

RAGGED = [[1, 2, 3, 4], [5], [], [6, 7], np.array([8, 9, 10])]
STEPS = [np.arange(6.0).reshape(3, 2), np.zeros((0, 2)), [[1.5, 2.5]]]  # steps of shape (2,)
PAD_CASES = [
    (RAGGED, {}),
    (RAGGED, {"padding": "post"}),
    (RAGGED, {"truncating": "post", "maxlen": 2}),
    (RAGGED, {"maxlen": 3, "padding": "post", "truncating": "pre", "value": -1}),
    (RAGGED, {"maxlen": 6, "value": 7.9}),
    (RAGGED, {"dtype": "float32", "value": 0.5}),
    (RAGGED, {"dtype": "int64", "maxlen": 1}),
    ([[0.7, 1.9], [-2.6]], {}),  # floats to the default int32: truncated towards zero
    ([[], []], {"maxlen": 2}),
    ([], {"maxlen": 3}),
    (np.arange(12).reshape(3, 4), {"maxlen": 3, "truncating": "post"}),
    (STEPS, {"dtype": "float64"}),
    (STEPS, {"dtype": "float64", "maxlen": 2, "padding": "post", "truncating": "post", "value": -1.0}),
    ([["a", "bc"], ["d"], []], {"dtype": object, "value": "<pad>"}),
    ([["a", "bc"], ["d"]], {"dtype": "<U3", "value": "x", "padding": "post"}),
    ([[True, False], [True]], {"dtype": bool, "value": False}),
]


@pytest.mark.parametrize("sequences, kwargs", PAD_CASES)
def test_pad_sequences_matches_keras(sequences, kwargs):
    keras = keras_or_skip()
    expected = keras.utils.pad_sequences(sequences, **kwargs)
    got = pad_sequences(sequences, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tolist() == expected.tolist()


def test_pad_sequences_known_values_and_aliases():
    seqs = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(pad_sequences(seqs), [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2), [[0, 1], [2, 3], [5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2, padding="post", truncating="post"),
                                  [[1, 0], [2, 3], [4, 5]])
    assert pad_sequences(seqs).dtype == np.int32
    assert preprocessing_sequence.pad_sequences is pad_sequences
    # Keras fails on maxlen=0 with truncating="pre" (s[-0:] keeps everything); rnnkit gives (n, 0)
    assert pad_sequences(seqs, maxlen=0).shape == (3, 0)


@pytest.mark.parametrize("call, error, words", [
    (lambda: pad_sequences(5), RnnkitValueError, "sequences must be a list"),
    (lambda: pad_sequences([[1], 2]), RnnkitValueError, "sequences[1]"),
    (lambda: pad_sequences([[1]], padding="middle"), RnnkitValueError, "padding"),
    (lambda: pad_sequences([[]], truncating="x"), RnnkitValueError, "truncating"),
    (lambda: pad_sequences([[1]], maxlen=-1), RnnkitValueError, "maxlen"),
    (lambda: pad_sequences([]), RnnkitValueError, "maxlen"),
    (lambda: pad_sequences([[1]], value="pad"), RnnkitValueError, "dtype=object"),
    (lambda: pad_sequences([["a", "b"], ["c"]], dtype=float), RnnkitValueError, "sequences[0]"),
    (lambda: pad_sequences([[[1, 2]], [[1, 2, 3]]]), RnnkitValueError, "sequences[1] has steps of shape"),
    (lambda: pad_sequences([[[1, 2], [3]]]), RnnkitValueError, "sequences[0]"),
    (lambda: pad_sequences([[1]], dtype="no-such-dtype"), RnnkitTypeError, "dtype"),
])
def test_pad_sequences_named_errors(call, error, words):
    with pytest.raises(error, match=None) as info:
        call()
    assert words in str(info.value)


CATEGORICAL_CASES = [
    ([0, 1, 2, 3], None),
    ([0, 2, 1], 5),
    ([[1], [0], [2]], None),          # a trailing axis of 1 is dropped
    ([[0, 1], [2, 2]], 3),
    (np.array([1.9, 0.2]), None),     # floats are truncated, as Keras does
    (np.array([[[3]]]), 4),
    ([1, 0], 0),                      # 0 means "infer", as None
]


@pytest.mark.parametrize("x, num_classes", CATEGORICAL_CASES)
def test_to_categorical_matches_keras(x, num_classes):
    keras = keras_or_skip()
    expected = keras.utils.to_categorical(x, num_classes)
    got = to_categorical(x, num_classes)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_to_categorical_values_and_errors():
    np.testing.assert_array_equal(to_categorical([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(RnnkitValueError, match=r"class ids in \[0, 3\).*got 3"):
        to_categorical([0, 3], 3)
    with pytest.raises(RnnkitValueError, match="got -1"):  # Keras wraps -1 to the last class silently
        to_categorical([0, -1], 3)
    with pytest.raises(RnnkitTypeError, match="integer class ids"):
        to_categorical(["a"])
    with pytest.raises(RnnkitValueError, match="num_classes"):
        to_categorical([], None)
    with pytest.raises(RnnkitValueError, match="num_classes"):
        to_categorical([1], 2.5)
