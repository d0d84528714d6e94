"""``pad_sequences``: Keras's ``keras.utils.pad_sequences`` (also ``keras.preprocessing.sequence``).

Behaviour follows Keras 3 (``keras/src/utils/sequence_utils.py``) case by case:
the output is ``np.full((len(sequences), maxlen) + sample_shape, value, dtype)``
with each sequence truncated and written at the front or the back; the sample
shape (the shape of one step) is taken from the first non-empty sequence and
every other one must match it; empty sequences are rows of ``value`` only;
``dtype=object`` (or a string dtype) pads variable-length strings.

Where Keras fails with a bare NumPy error or a wrong answer, rnnkit raises a
named error instead (a string ``value`` with a numeric ``dtype``, a sequence
whose elements do not convert to ``dtype``, an unknown ``padding``/``truncating``
even when every sequence is empty) or returns the obvious result
(``maxlen=0`` gives ``(n, 0)``; Keras fails on it with ``truncating="pre"``).
"""
import numbers

import numpy as np

from .._validate import choice, describe
from ..errors import RnnkitTypeError, RnnkitValueError


def _lengths_and_sample_shape(sequences):
    lengths, sample_shape = [], None
    for index, seq in enumerate(sequences):
        try:
            lengths.append(len(seq))
        except TypeError:
            raise RnnkitValueError(
                f"sequences must be a list of iterables (lists or arrays of steps), but sequences[{index}] "
                f"is {describe(seq)}"
            ) from None
        if sample_shape is None and len(seq):
            try:
                sample_shape = np.asarray(seq).shape[1:]
            except ValueError:  # NumPy refuses ragged nesting
                raise RnnkitValueError(f"sequences[{index}] has steps of different shapes: every step must "
                                       f"have one shape") from None
    return lengths, (sample_shape or ())


def _is_text_dtype(dtype):
    return dtype == np.dtype(object) or np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or truncate) a list of sequences into one array, Keras's ``pad_sequences``.

    Args:
        sequences: a list (anything with ``len``) of N sequences; each is a list or array of
            steps, every step of the same shape (scalars usually: token ids).
        maxlen: None (the longest sequence's length) or the int length T of the output.
        dtype: dtype of the output, "int32" by default (float sequences are truncated towards
            zero then, as in Keras); ``object`` or a string dtype for strings.
        padding: "pre" (pad at the front, the default) or "post".
        truncating: "pre" (drop the first steps of a longer sequence, the default) or "post".
        value: the padding value (a number, or a string with ``dtype=object``/a string dtype).

    Returns:
        An array of shape (N, T) + step shape and dtype ``dtype``.

    Example:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
        array([[0, 0, 1],
               [0, 2, 3],
               [4, 5, 6]], dtype=int32)
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2, padding="post", truncating="post")
        array([[1, 0],
               [2, 3],
               [4, 5]], dtype=int32)
    """
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise RnnkitValueError(f"sequences must be a list of sequences (anything with len()), "
                               f"got {describe(sequences)}")
    choice("padding", padding, ("pre", "post"))
    choice("truncating", truncating, ("pre", "post"))
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        raise RnnkitTypeError(f"dtype must be a NumPy dtype such as 'int32', 'float32' or object, "
                              f"got {describe(dtype)}") from None
    lengths, sample_shape = _lengths_and_sample_shape(sequences)
    if maxlen is None:
        if not lengths:
            raise RnnkitValueError("sequences is empty and maxlen is None: give maxlen to get an array of "
                                   "shape (0, maxlen)")
        maxlen = max(lengths)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 0:
        raise RnnkitValueError(f"maxlen must be None or an integer >= 0, got {describe(maxlen)}")
    maxlen = int(maxlen)
    if isinstance(value, str) and not _is_text_dtype(out_dtype):
        raise RnnkitValueError(
            f"value {value!r} is a string but dtype is {out_dtype}: use dtype=object for variable-length "
            f"strings"
        )
    try:
        padded = np.full((len(lengths), maxlen) + sample_shape, value, dtype=out_dtype)
    except (TypeError, ValueError) as error:
        raise RnnkitValueError(f"value {value!r} cannot be stored with dtype {out_dtype}: {error}") from None
    for index, (seq, length) in enumerate(zip(sequences, lengths)):
        if not length or not maxlen:
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        try:
            kept = np.asarray(kept, dtype=out_dtype)
        except (TypeError, ValueError) as error:
            raise RnnkitValueError(
                f"sequences[{index}] cannot be converted to dtype {out_dtype} ({error}); for strings use "
                f"dtype=object, for ragged steps make every step the same shape"
            ) from None
        if kept.shape[1:] != sample_shape:
            raise RnnkitValueError(
                f"every step must have the shape of the first non-empty sequence's steps {sample_shape}, but "
                f"sequences[{index}] has steps of shape {kept.shape[1:]}"
            )
        if padding == "post":
            padded[index, :len(kept)] = kept
        else:
            padded[index, maxlen - len(kept):] = kept
    return padded


__all__ = ["pad_sequences"]
