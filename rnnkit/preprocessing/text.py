"""``keras.preprocessing.text``: Keras 2's ``Tokenizer`` and text helpers, and Keras 3's ``TextVectorization``.

Keras 3 dropped this module, but the RNN scripts written for Keras 2 / tf.keras 2 use it
everywhere (``Tokenizer(num_words=..., oov_token=...)``, ``fit_on_texts``,
``texts_to_sequences`` then ``pad_sequences``). Its behaviour is kept as it was
(keras-preprocessing 1.1):

* words: the text is lowercased, every character of ``filters`` becomes ``split``, and the
  text is split on ``split``, dropping empty pieces;
* ``word_index``: 1 for the ``oov_token`` when given, then the words by descending count,
  ties in order of first appearance; index 0 is never a word (it is the padding id);
* ``num_words``: ids >= num_words are left out of sequences (or replaced by the oov id),
  so the ``num_words - 1`` most frequent words are kept;
* ``char_level``: every character is a token, and ``filters`` is not applied (as in Keras).
"""
import json
from collections import OrderedDict, defaultdict
from hashlib import md5

import numpy as np

from .._validate import choice, describe
from ..errors import RnnkitTypeError, RnnkitValueError
from ..utils.text_vectorization import TextVectorization

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def _text(value, name):
    if not isinstance(value, str):
        raise RnnkitTypeError(f"{name} must be a string, got {describe(value)}")
    return value


def text_to_word_sequence(input_text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """The words of ``input_text``: lowercased, ``filters`` characters turned into ``split``, split on it.

    >>> text_to_word_sequence("The cat, the HAT.")
    ['the', 'cat', 'the', 'hat']
    """
    text = _text(input_text, "input_text")
    if lower:
        text = text.lower()
    if callable(split):
        text = text.translate(str.maketrans({c: " " for c in filters}))
        pieces = split(text)
    else:
        if not isinstance(split, str) or not split:
            raise RnnkitValueError(f"split must be a non-empty string or a callable, got {describe(split)}")
        pieces = text.translate(str.maketrans({c: split for c in filters})).split(split)
    return [piece for piece in pieces if piece]


def hashing_trick(text, n, hash_function=None, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Word ids in [1, n - 1] by hashing (``hash_function``: None for Python's ``hash``, "md5", or a callable)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise RnnkitValueError(f"n must be an integer >= 2, got {describe(n)}")
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        hash_function = lambda word: int(md5(word.encode()).hexdigest(), 16)  # noqa: E731
    elif not callable(hash_function):
        raise RnnkitTypeError(f"hash_function must be None, 'md5' or a callable, got {describe(hash_function)}")
    return [hash_function(word) % (n - 1) + 1 for word in text_to_word_sequence(text, filters, lower, split)]


def one_hot(input_text, n, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Keras 2's ``one_hot``: :func:`hashing_trick` with Python's ``hash`` (not stable across runs)."""
    return hashing_trick(input_text, n, hash, filters, lower, split)


class Tokenizer:
    """Keras 2's ``Tokenizer``: a word (or character) index fitted on texts (see the module doc).

    Args:
        num_words: None, or keep only word ids below it in sequences and matrices.
        filters: characters removed (replaced by ``split``) before splitting.
        lower: lowercase the texts.  split: the separator (or a callable splitting a string).
        char_level: every character is a token.
        oov_token: None, or a token that gets id 1 and stands for unknown words.

    Example:
        >>> tokenizer = Tokenizer(num_words=4, oov_token="<OOV>")
        >>> tokenizer.fit_on_texts(["the cat sat", "the cat ran", "a dog"])
        >>> tokenizer.word_index
        {'<OOV>': 1, 'the': 2, 'cat': 3, 'sat': 4, 'ran': 5, 'a': 6, 'dog': 7}
        >>> tokenizer.texts_to_sequences(["the dog sat on the cat"])
        [[2, 1, 1, 1, 2, 3]]
    """

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ", char_level=False,
                 oov_token=None, document_count=0, **kwargs):
        if "nb_words" in kwargs:  # Keras 1's name
            num_words = kwargs.pop("nb_words")
        if kwargs:
            raise RnnkitTypeError(f"Tokenizer got unexpected keyword arguments {sorted(kwargs)}")
        if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, int) or num_words < 1):
            raise RnnkitValueError(f"num_words must be None or a positive integer, got {describe(num_words)}")
        self.num_words, self.filters, self.lower, self.split = num_words, filters, bool(lower), split
        self.char_level, self.oov_token = bool(char_level), oov_token
        self.document_count = document_count
        self.word_counts = OrderedDict()
        self.word_docs = defaultdict(int)
        self.index_docs = defaultdict(int)
        self.word_index, self.index_word = {}, {}

    def _tokens(self, text):
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else _text(text, "text").lower()
            return list(text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        """Count the words of ``texts`` (strings, or lists of tokens) and rebuild ``word_index``."""
        if isinstance(texts, str):
            raise RnnkitTypeError("texts must be a list of strings, got one string (wrap it in a list)")
        for text in texts:
            self.document_count += 1
            tokens = self._tokens(text)
            for token in tokens:
                self.word_counts[token] = self.word_counts.get(token, 0) + 1
            for token in set(tokens):
                self.word_docs[token] += 1
        ranked = sorted(self.word_counts, key=self.word_counts.get, reverse=True)  # stable: first seen first
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + ranked
        self.word_index = {word: index for index, word in enumerate(vocabulary, start=1)}
        self.index_word = {index: word for word, index in self.word_index.items()}
        for word, count in self.word_docs.items():
            self.index_docs[self.word_index[word]] = count

    def fit_on_sequences(self, sequences):
        """Count document frequencies of word ids (for ``sequences_to_matrix(mode="tfidf")``)."""
        self.document_count += len(sequences)
        for sequence in sequences:
            for index in set(sequence):
                self.index_docs[index] += 1

    def texts_to_sequences_generator(self, texts):
        """Yield the word ids of each text (unknown words: the oov id, or left out)."""
        oov = self.word_index.get(self.oov_token)
        for text in texts:
            ids = []
            for token in self._tokens(text):
                index = self.word_index.get(token)
                if index is not None and not (self.num_words and index >= self.num_words):
                    ids.append(index)
                elif oov is not None:
                    ids.append(oov)
            yield ids

    def texts_to_sequences(self, texts):
        """A list with the word ids of each text."""
        if isinstance(texts, str):
            raise RnnkitTypeError("texts must be a list of strings, got one string (wrap it in a list)")
        return list(self.texts_to_sequences_generator(texts))

    def sequences_to_texts_generator(self, sequences):
        """Yield each sequence of ids as space-joined words (the oov token for unknown ids, if any)."""
        oov = self.word_index.get(self.oov_token)
        for sequence in sequences:
            words = []
            for index in sequence:
                word = self.index_word.get(index)
                if word is not None and not (self.num_words and index >= self.num_words):
                    words.append(word)
                elif oov is not None:
                    words.append(self.index_word[oov])
            yield " ".join(words)

    def sequences_to_texts(self, sequences):
        return list(self.sequences_to_texts_generator(sequences))

    def texts_to_matrix(self, texts, mode="binary"):
        """(len(texts), num_words) matrix of the texts: "binary", "count", "freq" or "tfidf"."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """(len(sequences), num_words or len(word_index) + 1) float64 matrix; tfidf is
        (1 + log count) · log(1 + documents / (1 + documents with the word))."""
        choice("mode", mode, ("binary", "count", "freq", "tfidf"))
        width = self.num_words or (len(self.word_index) + 1 if self.word_index else None)
        if width is None:
            raise RnnkitValueError("sequences_to_matrix needs num_words or a fitted tokenizer (fit_on_texts first)")
        if mode == "tfidf" and not self.document_count:
            raise RnnkitValueError("mode='tfidf' needs a fitted tokenizer (fit_on_texts or fit_on_sequences first)")
        matrix = np.zeros((len(sequences), width))
        for row, sequence in enumerate(sequences):
            counts = defaultdict(int)
            for index in sequence:
                if index < width:
                    counts[index] += 1
            for index, count in counts.items():
                if mode == "count":
                    matrix[row, index] = count
                elif mode == "freq":
                    matrix[row, index] = count / len(sequence)
                elif mode == "binary":
                    matrix[row, index] = 1.0
                else:
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(index, 0)))
                    matrix[row, index] = (1 + np.log(count)) * idf
        return matrix

    def get_config(self):
        """Everything the tokenizer learned, JSON-encoded where Keras 2 encoded it."""
        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower,
                "split": self.split if isinstance(self.split, str) else None, "char_level": self.char_level,
                "oov_token": self.oov_token, "document_count": self.document_count,
                "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
                "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
                "word_index": json.dumps(self.word_index)}

    def to_json(self, **kwargs):
        """The tokenizer as a JSON string (read back with :func:`tokenizer_from_json`)."""
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string):
    """Rebuild a :class:`Tokenizer` from :meth:`Tokenizer.to_json` (plain JSON: no code runs)."""
    try:
        config = dict(json.loads(json_string)["config"])
        learned = {key: json.loads(config.pop(key)) for key in
                   ("word_counts", "word_docs", "index_docs", "index_word", "word_index")}
        tokenizer = Tokenizer(**config)
    except (TypeError, KeyError, ValueError) as error:
        raise RnnkitValueError(f"json_string is not a Tokenizer's to_json(): {error}") from None
    tokenizer.word_counts = OrderedDict(learned["word_counts"])
    tokenizer.word_docs = defaultdict(int, learned["word_docs"])
    tokenizer.index_docs = defaultdict(int, {int(k): v for k, v in learned["index_docs"].items()})
    tokenizer.index_word = {int(k): v for k, v in learned["index_word"].items()}
    tokenizer.word_index = dict(learned["word_index"])
    return tokenizer


__all__ = ["Tokenizer", "tokenizer_from_json", "text_to_word_sequence", "one_hot", "hashing_trick",
           "TextVectorization"]
