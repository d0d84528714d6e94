"""Keras's ``keras.preprocessing`` aliases: ``sequence.pad_sequences``, ``timeseries_dataset_from_array``,
and (Keras 2's) ``text``. The implementations live in :mod:`rnnkit.utils`."""
from ..utils.timeseries import timeseries_dataset_from_array
from . import sequence, text

__all__ = ["sequence", "text", "timeseries_dataset_from_array"]
