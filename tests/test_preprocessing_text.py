"""Keras 2's Tokenizer and text helpers (rnnkit.preprocessing.text), with Keras 2's rules worked by hand."""
import math

import numpy as np
import pytest

from rnnkit.errors import RnnkitTypeError, RnnkitValueError
from rnnkit.preprocessing.sequence import pad_sequences
from rnnkit.preprocessing.text import (Tokenizer, hashing_trick, one_hot, text_to_word_sequence,
                                       tokenizer_from_json)

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "the cat\tand the dog"]


def test_text_to_word_sequence():
    assert text_to_word_sequence("Hello, World!  It's\tme.") == ["hello", "world", "it's", "me"]
    assert text_to_word_sequence("a-b c", filters="", lower=False) == ["a-b", "c"]
    assert text_to_word_sequence("a;b;;c", filters="", split=";") == ["a", "b", "c"]
    assert text_to_word_sequence("x.y z", split=lambda s: s.split(" ")) == ["x", "y", "z"]


def test_word_index_order_sequences_and_padding():
    tokenizer = Tokenizer(oov_token="<OOV>")
    tokenizer.fit_on_texts(TEXTS)
    # counts: the 5, cat 2, dog 2, then single words in order of first appearance
    assert list(tokenizer.word_index.items())[:5] == [("<OOV>", 1), ("the", 2), ("cat", 3), ("dog", 4), ("sat", 5)]
    assert tokenizer.word_index["homework"] == 10 and tokenizer.index_word[3] == "cat"
    assert tokenizer.word_counts["the"] == 5 and tokenizer.word_docs["cat"] == 2 and tokenizer.document_count == 3
    sequences = tokenizer.texts_to_sequences(["the cat ate a zebra"])
    assert sequences == [[2, 3, 8, 1, 1]]
    assert tokenizer.sequences_to_texts(sequences) == ["the cat ate <OOV> <OOV>"]
    np.testing.assert_array_equal(pad_sequences(sequences, maxlen=6, padding="post"), [[2, 3, 8, 1, 1, 0]])
    limited = Tokenizer(num_words=4)
    limited.fit_on_texts(TEXTS)
    assert limited.texts_to_sequences(["the cat sat with the dog"]) == [[1, 2, 1, 3]]  # ids >= 4 dropped


def test_char_level_and_token_lists():
    tokenizer = Tokenizer(char_level=True)
    tokenizer.fit_on_texts(["aab", "Ba!"])
    assert tokenizer.word_index == {"a": 1, "b": 2, "!": 3}  # no filters at char level, as in Keras
    assert tokenizer.texts_to_sequences(["ab?"]) == [[1, 2]]
    words = Tokenizer()
    words.fit_on_texts([["Hello", "world"], ["hello"]])
    assert words.word_index == {"hello": 1, "world": 2}


def test_matrices():
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(TEXTS)
    texts = ["the the cat", "dog"]
    width = len(tokenizer.word_index) + 1
    binary, count = tokenizer.texts_to_matrix(texts), tokenizer.texts_to_matrix(texts, mode="count")
    freq, tfidf = tokenizer.texts_to_matrix(texts, mode="freq"), tokenizer.texts_to_matrix(texts, mode="tfidf")
    assert binary.shape == (2, width) and binary[0, 1] == 1 and binary[0, 2] == 1 and binary[0].sum() == 2
    assert count[0, 1] == 2 and math.isclose(freq[0, 1], 2 / 3)
    assert math.isclose(tfidf[0, 1], (1 + math.log(2)) * math.log(1 + 3 / (1 + 3)))  # "the": in all 3 documents
    assert math.isclose(tfidf[1, 3], math.log(1 + 3 / (1 + 2)))  # "dog": in 2 documents
    with pytest.raises(RnnkitValueError, match="mode"):
        tokenizer.texts_to_matrix(texts, mode="bm25")
    with pytest.raises(RnnkitValueError, match="num_words"):
        Tokenizer().sequences_to_matrix([[1]])


def test_json_round_trip_and_hashing():
    tokenizer = Tokenizer(num_words=6, oov_token="?")
    tokenizer.fit_on_texts(TEXTS)
    clone = tokenizer_from_json(tokenizer.to_json())
    assert clone.word_index == tokenizer.word_index and clone.index_word == tokenizer.index_word
    assert clone.texts_to_sequences(TEXTS) == tokenizer.texts_to_sequences(TEXTS)
    np.testing.assert_array_equal(clone.texts_to_matrix(TEXTS, "tfidf"), tokenizer.texts_to_matrix(TEXTS, "tfidf"))
    ids = hashing_trick("the cat the", 10, "md5")
    assert ids[0] == ids[2] and all(1 <= i <= 9 for i in ids) and hashing_trick("the cat the", 10, "md5") == ids
    assert len(one_hot("a b c", 5)) == 3


@pytest.mark.parametrize("call, error, words", [
    (lambda: Tokenizer(num_words=0), RnnkitValueError, "num_words"),
    (lambda: Tokenizer(bogus=1), RnnkitTypeError, "bogus"),
    (lambda: Tokenizer().fit_on_texts("one string"), RnnkitTypeError, "list of strings"),
    (lambda: Tokenizer().fit_on_texts([3]), RnnkitTypeError, "string"),
    (lambda: text_to_word_sequence("a", split=""), RnnkitValueError, "split"),
    (lambda: hashing_trick("a", 1), RnnkitValueError, "n must"),
    (lambda: tokenizer_from_json('{"config": {}}'), RnnkitValueError, "to_json"),
])
def test_named_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
