"""``TextVectorization``: Keras's word/character vocabulary, as a NumPy preprocessing object.

Strings go through four steps, each as Keras 3 does it:

1. standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``, ``"strip_punctuation"``,
   None, or a callable (it receives a NumPy array of str and returns one). Lowering is
   ASCII only and the punctuation removed is ASCII's ``!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~``,
   as TensorFlow's string ops do (so "Ü" stays "Ü").
2. split: ``"whitespace"`` (runs of ASCII whitespace, leading/trailing ignored),
   ``"character"`` (Unicode code points), None (each string is one token), or a callable
   (a NumPy array of str -> a list of token lists).
3. ngrams: None, n (all 1..n-grams) or a tuple of widths; n-grams join tokens with " ".
4. lookup against the vocabulary. In ``output_mode="int"`` index 0 is the padding
   (mask) token ``""`` and index 1 the out-of-vocabulary token ``"[UNK]"``; learned
   tokens follow, most frequent first, ties broken by the token's UTF-8 bytes in
   descending order (Keras's rule). ``"multi_hot"`` and ``"count"`` have no padding
   index: column 0 is ``"[UNK]"``.

``adapt(data)`` learns the vocabulary (``max_tokens`` caps its size, special tokens
included); ``vocabulary=[...]`` sets it instead. Calling the object on strings returns
int64 ids (N, output_sequence_length or the longest row, zero-padded at the end) in
``"int"`` mode, float32 (N, vocabulary size) in ``"multi_hot"``/``"count"`` mode.

It is a preprocessing object, not a layer with a backward pass: apply it to the raw
text before ``fit`` (as Keras advises for speed: in the data pipeline), e.g.
``x = vectorizer(texts)`` then ``model.fit(x, y)`` with an ``Embedding`` first layer.
"""
import collections
import os
import re

import numpy as np

from .._validate import describe
from ..errors import RnnkitTypeError, RnnkitValueError

_PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")
_ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_MODES = ("int", "multi_hot", "count")
MASK_TOKEN, OOV_TOKEN = "", "[UNK]"


def _option(name, value, allowed):
    if value is None or callable(value) or value in allowed:
        return value
    raise RnnkitValueError(f"{name} must be None, a callable or one of {list(allowed)}, got {describe(value)}")


def _ngram_widths(ngrams):
    if ngrams is None:
        return None
    if isinstance(ngrams, int) and not isinstance(ngrams, bool) and ngrams > 0:
        return tuple(range(1, ngrams + 1))
    if isinstance(ngrams, (tuple, list)) and ngrams and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in ngrams):
        return tuple(ngrams)
    raise RnnkitValueError(f"ngrams must be None, a positive integer or a tuple of them, got {describe(ngrams)}")


class TextVectorization:
    """Map strings to token ids (or multi-hot/count vectors), Keras 3's ``TextVectorization``.

    Args:
        max_tokens: None or the largest vocabulary size, special tokens included.
        standardize, split, ngrams: see the module doc.
        output_mode: "int" (default), "multi_hot" or "count" ("binary" is Keras's old name of
            "multi_hot"; "one_hot" and "tf_idf" are not implemented and refused).
        output_sequence_length: "int" mode only: pad (with 0, at the end) or cut every row to this
            many ids; None pads to the longest row of each call.
        pad_to_max_tokens: "multi_hot"/"count": make the output max_tokens wide.
        vocabulary: None, a list of tokens (special tokens may lead it in Keras's order), or the path
            of a text file with one token per line.
        encoding: how bytes inputs are decoded ("utf-8").
        name: a name, for Keras compatibility.

    Example:
        >>> vectorizer = TextVectorization(max_tokens=6, output_sequence_length=4)
        >>> vectorizer.adapt(["The cat sat.", "the dog sat on the mat"])
        >>> vectorizer.get_vocabulary()
        ['', '[UNK]', 'the', 'sat', 'on', 'mat']
        >>> vectorizer(["the cat sat on it"]).tolist()
        [[2, 1, 3, 4]]
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
                 ngrams=None, output_mode="int", output_sequence_length=None, pad_to_max_tokens=False,
                 vocabulary=None, encoding="utf-8", name=None):
        self.standardize = _option("standardize", standardize, _STANDARDIZE)
        self.split = _option("split", split, _SPLIT)
        self.ngrams = ngrams
        self._widths = _ngram_widths(ngrams)
        output_mode = "multi_hot" if output_mode == "binary" else output_mode
        if output_mode not in _MODES:
            raise RnnkitValueError(f"output_mode must be one of {list(_MODES)} (one_hot and tf_idf are not "
                                   f"implemented in rnnkit), got {describe(output_mode)}")
        self.output_mode = output_mode
        if output_sequence_length is not None:
            if output_mode != "int":
                raise RnnkitValueError(f"output_sequence_length must be None when output_mode is not 'int', "
                                       f"got {describe(output_sequence_length)}")
            if isinstance(output_sequence_length, bool) or not isinstance(output_sequence_length, int) \
                    or output_sequence_length < 0:
                raise RnnkitValueError(f"output_sequence_length must be None or an integer >= 0, "
                                       f"got {describe(output_sequence_length)}")
        self.output_sequence_length = output_sequence_length
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.encoding = encoding
        self.name = name or "text_vectorization"
        self._specials = [MASK_TOKEN, OOV_TOKEN] if output_mode == "int" else [OOV_TOKEN]
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens <= len(self._specials)):
            raise RnnkitValueError(f"max_tokens must be None or an integer > {len(self._specials)} (the special "
                                   f"tokens {self._specials} count), got {describe(max_tokens)}")
        self.max_tokens = max_tokens
        self._input_vocabulary = None
        self._set_tokens([])
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # ------------------------------------------------------------------ vocabulary
    def _set_tokens(self, tokens):
        self._vocabulary = self._specials + list(tokens)
        self._ids = {token: index for index, token in enumerate(self._vocabulary)}

    def set_vocabulary(self, vocabulary):
        """Use ``vocabulary`` (tokens, optionally led by the special tokens; or a file path) from now on."""
        if isinstance(vocabulary, (str, os.PathLike)):
            with open(vocabulary, encoding="utf-8") as handle:
                vocabulary = handle.read().splitlines()
        tokens = [self._decode(token, "vocabulary") for token in np.asarray(vocabulary, dtype=object).ravel()]
        if not tokens:
            raise RnnkitValueError("vocabulary must not be empty")
        if tokens[:len(self._specials)] == self._specials:
            tokens = tokens[len(self._specials):]
        repeated = sorted(token for token, n in collections.Counter(tokens).items() if n > 1)
        if repeated:
            raise RnnkitValueError(f"vocabulary has repeated tokens {repeated[:5]}: each token must appear once")
        if MASK_TOKEN in tokens:
            raise RnnkitValueError(f"vocabulary has the padding token '' at position {tokens.index(MASK_TOKEN)}: "
                                   f"leave the special tokens out, or lead with exactly {self._specials}")
        size = len(self._specials) + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise RnnkitValueError(f"vocabulary has {size} tokens with the special ones, more than "
                                   f"max_tokens={self.max_tokens}")
        self._input_vocabulary = list(tokens)
        self._set_tokens(tokens)

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens in id order (a token's id is its index when the special tokens are included)."""
        return list(self._vocabulary if include_special_tokens else self._vocabulary[len(self._specials):])

    def vocabulary_size(self):
        """Number of ids, special tokens included."""
        return len(self._vocabulary)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from ``data``: a list/array of strings, or an iterable of such batches
        (a generator, a dataset); ``steps`` caps how many batches are read from an iterable."""
        if self._input_vocabulary is not None:
            raise RnnkitValueError(f"cannot adapt {self.name}: its vocabulary was set with vocabulary=... or "
                                   f"set_vocabulary()")
        if isinstance(data, (list, tuple, np.ndarray, str, bytes)):
            batches = [data]
        elif hasattr(data, "__iter__"):
            batches = data if steps is None else (b for i, b in enumerate(data) if i < steps)
        else:
            raise RnnkitTypeError(f"data must be strings or an iterable of batches of strings, got {describe(data)}")
        counts = collections.Counter()
        for batch in batches:
            for tokens in self._rows(self._strings(batch, "data"))[0]:
                counts.update(tokens)
        for special in (MASK_TOKEN, OOV_TOKEN):
            counts.pop(special, None)
        if not counts:
            return  # Keras keeps the vocabulary it had
        ranked = sorted(counts, key=lambda token: (counts[token], token.encode("utf-8")), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[:self.max_tokens - len(self._specials)]
        self._set_tokens(ranked)

    # ------------------------------------------------------------------ text processing
    def _decode(self, value, name):
        if isinstance(value, bytes):
            try:
                return value.decode(self.encoding)
            except UnicodeDecodeError as error:
                raise RnnkitValueError(f"{name} holds bytes that are not valid {self.encoding}: {error}") from None
        if isinstance(value, str):
            return str(value)
        raise RnnkitTypeError(f"{name} must hold strings (str or bytes), got an element {describe(value)}")

    def _strings(self, inputs, name):
        """``inputs`` standardized, as a NumPy array of str of the inputs' shape."""
        array = np.asarray(inputs, dtype=object)
        strings = np.empty(array.shape, dtype=object)
        for index in np.ndindex(array.shape):
            strings[index] = self._decode(array[index], name)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            strings = np.vectorize(lambda s: s.translate(_ASCII_LOWER), otypes=[object])(strings)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            strings = np.vectorize(lambda s: _PUNCTUATION.sub("", s), otypes=[object])(strings)
        if callable(self.standardize):
            strings = np.asarray(self.standardize(strings.astype(str) if strings.size else strings), dtype=object)
        return strings

    def _tokenize(self, strings):
        """One list of tokens (n-grams included) per string of the 1-D ``strings``; without a split,
        the whole of ``strings`` is one token list."""
        if self.split is None:
            rows = [list(strings)]
        elif self.split == "whitespace":
            rows = [[t for t in _ASCII_WHITESPACE.split(s) if t] for s in strings]
        elif self.split == "character":
            rows = [list(s) for s in strings]
        else:
            rows = [[str(t) for t in row] for row in self.split(strings.astype(str))]
        if self._widths is None:
            return rows
        return [[" ".join(row[k:k + n]) for n in self._widths for k in range(len(row) - n + 1)] for row in rows]

    def _rows(self, strings):
        """Token lists of the documents in ``strings``, and the leading output shape."""
        if self.split is None:  # each string is a token; the last axis holds a document's tokens
            docs = strings.reshape(-1, strings.shape[-1]) if strings.ndim else strings.reshape(1, 1)
            return [list(doc) for doc in docs], strings.shape[:-1]
        if strings.ndim > 1:
            if strings.shape[-1] != 1:
                raise RnnkitValueError(f"inputs to split must have rank 1 or a last axis of size 1, got shape "
                                       f"{strings.shape}")
            strings = strings[..., 0]
        return self._tokenize(strings.reshape(-1)), strings.shape

    def __call__(self, inputs):
        """Vectorize ``inputs`` (a string, or a list/array of strings of shape (N,) or (N, 1))."""
        strings = self._strings(inputs, "inputs")
        rows, lead = self._rows(strings)
        lookup = self._ids.get
        oov = self._ids[OOV_TOKEN]
        if self.output_mode == "int":
            if self.split is None and self.output_sequence_length is None:
                return np.array([lookup(t, oov) for row in rows for t in row], np.int64).reshape(strings.shape)
            width = self.output_sequence_length
            if width is None:
                width = max((len(row) for row in rows), default=0)
            ids = np.zeros((len(rows), width), np.int64)
            for index, row in enumerate(rows):
                kept = [lookup(t, oov) for t in row[:width]]
                ids[index, :len(kept)] = kept
            return ids.reshape(lead + (width,))
        width = self.max_tokens if self.pad_to_max_tokens and self.max_tokens else len(self._vocabulary)
        out = np.zeros((len(rows), width), np.float32)
        for index, row in enumerate(rows):
            for token in row:
                out[index, lookup(token, oov)] += 1.0
        if self.output_mode == "multi_hot":
            np.minimum(out, 1.0, out=out)
        return out.reshape(lead + (width,))

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {"name": self.name, "max_tokens": self.max_tokens, "standardize": self.standardize,
                "split": self.split, "ngrams": self.ngrams, "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": self.pad_to_max_tokens, "vocabulary": self._input_vocabulary,
                "encoding": self.encoding, "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config):
        config = {key: value for key, value in config.items() if key != "vocabulary_size"}
        return cls(**config)

    def __repr__(self):
        return f"TextVectorization(output_mode={self.output_mode!r}, vocabulary_size={self.vocabulary_size()})"


__all__ = ["TextVectorization"]
