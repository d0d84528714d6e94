"""``keras.preprocessing.sequence`` alias: :func:`pad_sequences` and ``TimeseriesGenerator``'s successor,
:func:`timeseries_dataset_from_array` (both implemented in :mod:`rnnkit.utils`)."""
from ..utils.sequence import pad_sequences
from ..utils.timeseries import timeseries_dataset_from_array

__all__ = ["pad_sequences", "timeseries_dataset_from_array"]
