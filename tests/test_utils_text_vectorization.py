"""TextVectorization: Keras's vocabulary order, ids, padding and errors (Keras outputs recorded here are
checked live in the slow tests, which need TensorFlow)."""
import numpy as np
import pytest

from keras_reference import tensorflow_or_skip
from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.preprocessing.text import TextVectorization as TextAlias
from rnnkit.utils import TextVectorization, timeseries_dataset_from_array

TEXTS = ["The cat sat.", "the DOG sat, on the mat!", "Ünïcode ÄB  tabs\there", "a a b b c"]


def test_word_vocabulary_ids_and_padding_as_keras():
    v = TextVectorization()
    v.adapt(TEXTS)
    # by count, ties by UTF-8 bytes descending; lowering is ASCII-only as in TensorFlow
    assert v.get_vocabulary() == ["", "[UNK]", "the", "sat", "b", "a", "Ünïcode", "Äb", "tabs", "on", "mat",
                                  "here", "dog", "cat", "c"]
    ids = v(TEXTS)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [[2, 13, 3, 0, 0, 0], [2, 12, 3, 9, 2, 10], [6, 7, 8, 11, 0, 0],
                                        [5, 5, 4, 4, 14, 0]])
    np.testing.assert_array_equal(v(np.array(TEXTS)[:, None]), ids)
    np.testing.assert_array_equal(v("the cat"), [2, 13])
    np.testing.assert_array_equal(v(["the zebra", b"cat"]), [[2, 1], [13, 0]])
    assert v(["", "   "]).shape == (2, 0)
    assert v.get_vocabulary(include_special_tokens=False)[:3] == ["the", "sat", "b"]
    assert v.vocabulary_size() == 15 and TextAlias is TextVectorization


def test_max_tokens_and_output_sequence_length():
    v = TextVectorization(max_tokens=6, output_sequence_length=4)
    v.adapt(TEXTS)
    assert v.get_vocabulary() == ["", "[UNK]", "the", "sat", "b", "a"]
    np.testing.assert_array_equal(v(TEXTS), [[2, 1, 3, 0], [2, 1, 3, 1], [1, 1, 1, 1], [5, 5, 4, 4]])


def test_characters():
    v = TextVectorization(split="character", standardize="lower", output_sequence_length=12)
    v.adapt(TEXTS)
    assert v.get_vocabulary()[:8] == ["", "[UNK]", " ", "t", "a", "e", "h", "b"]
    assert v.get_vocabulary()[-4:] == [".", ",", "!", "\t"]
    np.testing.assert_array_equal(v(["hé!", ""]), [[6, 1, 21] + [0] * 9, [0] * 12])


def test_given_vocabulary_ngrams_and_no_split():
    v = TextVectorization(vocabulary=["cat", "sat"])
    assert v.get_vocabulary() == ["", "[UNK]", "cat", "sat"] and v.vocabulary_size() == 4
    np.testing.assert_array_equal(v(["cat sat dog", "x"]), [[2, 3, 1], [1, 0, 0]])
    assert TextVectorization(vocabulary=["", "[UNK]", "cat"]).get_vocabulary() == ["", "[UNK]", "cat"]
    v = TextVectorization(ngrams=2)
    v.adapt(["a b c", "b c d"])
    assert v.get_vocabulary() == ["", "[UNK]", "c", "b c", "b", "d", "c d", "a b", "a"]
    np.testing.assert_array_equal(v(["a b c d"]), [[8, 4, 2, 5, 7, 3, 6]])
    v = TextVectorization(ngrams=(1, 3))
    v.adapt(["a b c", "b c d"])
    assert v.get_vocabulary() == ["", "[UNK]", "c", "b", "d", "b c d", "a b c", "a"]
    v = TextVectorization(standardize=None, split=None)
    v.adapt(["a b", "c", "a b"])
    assert v.get_vocabulary() == ["", "[UNK]", "a b", "c"]
    np.testing.assert_array_equal(v(["a b", "z", ""]), [2, 1, 0])


def test_multi_hot_and_count():
    v = TextVectorization(output_mode="multi_hot")
    v.adapt(TEXTS)
    assert v.get_vocabulary()[:3] == ["[UNK]", "the", "sat"] and v.vocabulary_size() == 14
    out = v(["the the cat xyz", ""])
    assert out.shape == (2, 14) and out.dtype == np.float32
    expected = np.zeros((2, 14))
    expected[0, [0, 1, 12]] = 1
    np.testing.assert_array_equal(out, expected)
    counts = TextVectorization(output_mode="count", vocabulary=v.get_vocabulary())(["the the cat xyz"])
    assert counts[0, 1] == 2 and counts[0, 0] == 1
    padded = TextVectorization(max_tokens=8, output_mode="binary", pad_to_max_tokens=True)
    padded.adapt(["a b"])
    np.testing.assert_array_equal(padded(["a q"]), [[1, 0, 1, 0, 0, 0, 0, 0]])


def test_adapt_on_batches_and_a_callable_standardize():
    batches = (np.array(TEXTS[i:i + 2]) for i in range(0, 4, 2))
    v = TextVectorization()
    v.adapt(batches)
    reference = TextVectorization()
    reference.adapt(TEXTS)
    assert v.get_vocabulary() == reference.get_vocabulary()
    v = TextVectorization(standardize=lambda s: np.char.upper(s), split="whitespace")
    v.adapt(["ab cd ab"], steps=1)
    assert v.get_vocabulary() == ["", "[UNK]", "AB", "CD"]
    ds = timeseries_dataset_from_array(np.array(["x y", "y", "z"], dtype=object), None, sequence_length=1,
                                       batch_size=2)
    v = TextVectorization()
    v.adapt(np.concatenate([b[:, 0] for b in ds]))
    assert v.get_vocabulary() == ["", "[UNK]", "y", "z", "x"]


def test_vocabulary_file_and_config_round_trip(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("earth\nwind\nfire\n", encoding="utf-8")
    v = TextVectorization(vocabulary=str(path), output_sequence_length=3)
    np.testing.assert_array_equal(v(["fire and wind"]), [[4, 1, 3]])
    clone = TextVectorization.from_config(v.get_config())
    assert clone.get_vocabulary() == v.get_vocabulary() and clone.output_sequence_length == 3


@pytest.mark.parametrize("call, error, words", [
    (lambda: TextVectorization(vocabulary=["a", "a"]), RnnkitValueError, "repeated"),
    (lambda: TextVectorization(max_tokens=3, vocabulary=["a", "b"]), RnnkitValueError, "max_tokens"),
    (lambda: TextVectorization(vocabulary=["a", ""]), RnnkitValueError, "padding token"),
    (lambda: TextVectorization(vocabulary=["a"]).adapt(["b"]), RnnkitValueError, "cannot adapt"),
    (lambda: TextVectorization(output_mode="tf_idf"), RnnkitValueError, "output_mode"),
    (lambda: TextVectorization(output_mode="count", output_sequence_length=3), RnnkitValueError,
     "output_sequence_length"),
    (lambda: TextVectorization(split="comma"), RnnkitValueError, "split"),
    (lambda: TextVectorization(standardize="upper"), RnnkitValueError, "standardize"),
    (lambda: TextVectorization(ngrams=0), RnnkitValueError, "ngrams"),
    (lambda: TextVectorization(max_tokens=2), RnnkitValueError, "max_tokens"),
    (lambda: TextVectorization()([1, 2]), RnnkitTypeError, "strings"),
    (lambda: TextVectorization()(np.array([["a", "b"]])), RnnkitValueError, "last axis of size 1"),
    (lambda: TextVectorization()([b"\xff"]), RnnkitValueError, "utf-8"),
    (lambda: TextVectorization().adapt(5), RnnkitTypeError, "data"),
])
def test_named_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


KERAS_CASES = [
    ({}, TEXTS),
    ({"max_tokens": 7, "output_sequence_length": 3}, TEXTS),
    ({"split": "character", "standardize": "lower"}, TEXTS),
    ({"split": "character", "standardize": None, "output_sequence_length": 30}, TEXTS),
    ({"ngrams": 3, "standardize": "strip_punctuation"}, TEXTS),
    ({"output_mode": "multi_hot"}, TEXTS),
    ({"output_mode": "count", "max_tokens": 9, "pad_to_max_tokens": True}, TEXTS),
    ({"split": None, "standardize": None}, ["x", "", "x", "y z", "Y Z"]),
]


@pytest.mark.slow  # Keras's TextVectorization runs on TensorFlow (not installed in CI)
@pytest.mark.parametrize("kwargs, texts", KERAS_CASES)
def test_same_vocabulary_and_outputs_as_keras(kwargs, texts):
    keras = tensorflow_or_skip()
    expected = keras.layers.TextVectorization(**kwargs)
    expected.adapt(texts)
    ours = TextVectorization(**kwargs)
    ours.adapt(texts)
    assert ours.get_vocabulary() == [str(t) for t in expected.get_vocabulary()]
    probe = texts + ["the unseen words, CAT!", ""]
    np.testing.assert_array_equal(ours(probe), np.asarray(expected(probe)))
