"""Utilities with Keras's names: data helpers, seeding, session reset and drawing a model's graph.

Data helpers (``keras.utils`` / ``keras.preprocessing`` names): :func:`pad_sequences`,
:func:`to_categorical`, :func:`timeseries_dataset_from_array` (a :class:`Dataset` of
NumPy batches), :class:`PyDataset` and :class:`TextVectorization`. Every dataset object
here is a plain iterable of batches (``(x, y)`` tuples, or ``x`` alone) with ``len``,
which is all a training loop needs to consume it. :func:`plot_model` / :func:`model_to_dot`
draw a model's graph.
"""
from ..random import set_random_seed
from .dataset import BatchArray, Dataset
from .numerical import to_categorical
from .plot_model import GraphvizNotFoundError, model_to_dot, plot_model
from .py_dataset import PyDataset
from .sequence import pad_sequences
from .text_vectorization import TextVectorization
from .timeseries import timeseries_dataset_from_array


def clear_session():
    """Restart default layer names (``dense``, ``dense_1``, ...) from scratch, as Keras's ``clear_session``."""
    from ..layers.base import reset_name_counters

    reset_name_counters()


__all__ = ["set_random_seed", "clear_session", "pad_sequences", "to_categorical", "timeseries_dataset_from_array",
           "PyDataset", "TextVectorization", "Dataset", "BatchArray", "plot_model", "model_to_dot",
           "GraphvizNotFoundError"]
