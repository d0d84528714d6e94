"""Keras's ``keras.preprocessing`` names: ``sequence.pad_sequences``, ``timeseries_dataset_from_array``,
and ``text`` (Keras 2's ``Tokenizer``, ``text_to_word_sequence``, ... and Keras 3's ``TextVectorization``).
The array utilities live in :mod:`rnnkit.utils`."""
from ..utils.timeseries import timeseries_dataset_from_array
from . import sequence, text

__all__ = ["sequence", "text", "timeseries_dataset_from_array"]
